/*
 * virtual_delivery_test - virtual(8) compared with the real Postfix virtual(8)
 *
 * What it tests: the same virtual mailbox configuration (a Maildir, an
 * mbox, an unknown recipient, a uid below virtual_minimum_uid) served by
 * the real Postfix 3.7 virtual(8) (a throwaway instance; mail submitted
 * with its sendmail) and by Postern's virtual(8) in-process: the log
 * outcome (dsn, status, reason, with the paths made relative) of each
 * recipient, and the lines virtual(8) puts in front of the message
 * (Return-Path:, X-Original-To:, Delivered-To:) in the Maildir file and
 * in the mbox (after the From_ line, whose date differs by nature).
 *
 * What it does not test: the message content cleanup adds (Received:,
 * Message-ID:), which differs between the two submissions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, chmodSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeOracleConfig, ORACLE_MAIN_BASE, ORACLE_MAIL_SERVICES } from '../lib/postfix_oracle.js';
import { AgentHarness } from '../../src/global/agent_harness_test_lib.js';
import { createVirtualDeliver, virtualSettings } from '../../src/virtual/virtual.js';
import { getpwnam } from '../../src/util/pwd_lookup.js';

const NOBODY = getpwnam('nobody');
const ORACLE_WAIT_MS = 30_000;
const RCPTS = ['box@vdom.test', 'mb@vdom.test', 'unknown@vdom.test', 'lowuid@vdom.test'];

function virtualParams(base: string): Record<string, string> {
  return {
    virtual_mailbox_domains: 'vdom.test',
    virtual_mailbox_base: base,
    virtual_mailbox_maps: 'inline:{ box@vdom.test=box/, mb@vdom.test=mb, lowuid@vdom.test=low/ }',
    virtual_uid_maps: `inline:{ box@vdom.test=${NOBODY!.uid}, mb@vdom.test=${NOBODY!.uid}, lowuid@vdom.test=5 }`,
    virtual_gid_maps: `static:${NOBODY!.gid}`,
    virtual_mailbox_lock: 'dotlock',
  };
}

function mailBase(root: string): string {
  const base = join(root, 'vmail');
  mkdirSync(base, { recursive: true });
  chmodSync(root, 0o755);
  chownSync(base, NOBODY!.uid, NOBODY!.gid);
  return base;
}

function outcome(line: string, base: string): string {
  const m = /, dsn=(\S+), status=(\w+) \((.*)\)$/.exec(line);
  return m ? `${m[1]} ${m[2]} (${m[3]!.split(base).join('BASE')})` : `unparsed: ${line}`;
}

/** The header lines virtual(8) prepends: Maildir file start, and mbox after the From_ line. */
function prepended(base: string): string[] {
  const dir = join(base, 'box', 'new');
  const md = readFileSync(join(dir, readdirSync(dir)[0]!), 'utf8').split('\n').slice(0, 3);
  const mb = readFileSync(join(base, 'mb'), 'utf8').split('\n');
  assert.match(mb[0]!, /^From s@x\.test  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
  return [...md, ...mb.slice(1, 4)];
}

async function oracle(): Promise<{ outcomes: Map<string, string>; headers: string[] }> {
  const o = makeOracleConfig({ prefix: 'postern-virtual-oracle-', ownedDirs: ['data'], main: { ...ORACLE_MAIN_BASE, alias_maps: '', local_recipient_maps: '' }, master: [...ORACLE_MAIL_SERVICES, 'virtual unix - n n - - virtual'] });
  try {
    const base = mailBase(o.root);
    const main = Object.entries(virtualParams(base)).map(([k, v]) => `${k} = ${v}`);
    const pc = await o.postconf(['-e', ...main]);
    assert.equal(pc.status, 0, pc.stderr);
    await o.start();
    const r = await o.run('/usr/sbin/sendmail', ['-f', 's@x.test', ...RCPTS], { input: 'Subject: t\n\nFrom here\n' });
    assert.equal(r.status, 0, r.stderr);
    const found = new Map<string, string>();
    const deadline = Date.now() + ORACLE_WAIT_MS;
    while (found.size < RCPTS.length && Date.now() < deadline) {
      for (const line of o.readLog().split('\n')) {
        const m = /postfix\/virtual\[\d+\]: \w+: to=<([^>]+)>, relay=virtual/.exec(line);
        if (m) found.set(m[1]!, outcome(line, base));
      }
      if (found.size < RCPTS.length) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(found.size, RCPTS.length, o.readLog());
    return { outcomes: found, headers: prepended(base) };
  } finally {
    await o.cleanup();
  }
}

async function postern(): Promise<{ outcomes: Map<string, string>; headers: string[] }> {
  const h = new AgentHarness((dir) => virtualParams(join(dir, 'vmail')), { serviceName: 'virtual' });
  try {
    const base = mailBase(h.dir);
    const q = await h.enqueue({ sender: 's@x.test', recipients: RCPTS.map((address) => ({ address })), lines: ['Subject: t', '', 'From here'] });
    await h.deliver(createVirtualDeliver(virtualSettings(h.config)), h.request(q, { nexthop: 'vdom.test' }));
    const found = new Map<string, string>();
    for (const line of h.logLines(new RegExp(`^${q.queueId}: to=<`))) {
      const m = /to=<([^>]+)>/.exec(line);
      found.set(m![1]!, outcome(line, base));
    }
    return { outcomes: found, headers: prepended(base) };
  } finally {
    h.close();
  }
}

test('virtual: outcomes and prepended headers as the real Postfix virtual(8)', async () => {
  assert.ok(NOBODY, 'the nobody account must exist');
  const [real, ours] = await Promise.all([oracle(), postern()]);
  for (const r of RCPTS) assert.equal(ours.outcomes.get(r), real.outcomes.get(r), `recipient ${r}`);
  assert.deepEqual(ours.headers, real.headers);
});
