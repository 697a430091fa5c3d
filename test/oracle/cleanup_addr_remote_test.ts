/*
 * cleanup_addr_remote_test - header address rewriting for mail from remote SMTP clients, against the real cleanup(8)
 *
 * A throwaway real Postfix receives mail over SMTP on two loopback ports
 * (Python smtplib as the client). local_header_rewrite_clients is empty,
 * so every client is remote. Port A's smtpd uses a cleanup with
 * remote_header_rewrite_domain = domain.invalid: headers are rewritten
 * in the "remote" context (unqualified addresses get @domain.invalid)
 * and then canonical-mapped and masqueraded. Port B's smtpd uses a
 * cleanup (-o remote_header_rewrite_domain=) where the parameter is
 * empty: Postfix leaves the headers of remote mail alone, canonical
 * mapping and masquerading included. The envelope is rewritten in the
 * "local" context either way. header_checks HOLD keeps every message in
 * hold/. Postern's cleanupAddrSender/Recipient and cleanupRewriteHeader
 * (header context "remote" for A, null for B) must give the same
 * envelope and the same header lines. Port C's cleanup also has
 * enable_original_recipient = no and duplicate_filter_limit = 1, and its
 * message repeats recipients: the same recipient records must survive
 * the duplicate filter, with empty original recipients.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLEANUP_FLAG } from '../../src/global/cleanup_user.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { readQueueFile, type QueueFile } from '../../src/global/queue_file_read.js';
import { type AddrRewriteContext, cleanupAddrInit, cleanupAddrRecipient, cleanupAddrSender, cleanupDupFilter } from '../../src/cleanup/cleanup_addr.js';
import { cleanupRewriteHeader, localAddrRewriter } from '../../src/cleanup/cleanup_rewrite.js';
import { runSmtplib } from '../lib/peers.js';
import { ORACLE_MAIN_BASE, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';
import { waitUntil } from '../lib/temp_dir.js';

const HOLD_WAIT_MS = 20_000;
const COMPLETE_MODE_BIT = 0o100;
const SENDER = 'joe@origin.example';
const RECIPIENTS = ['jdoe@origin.example', 'u@host.corp.example'];
/** Address headers of every message (name, value). */
const HEADERS: Array<[string, string]> = [
  ['From', 'Joe <joe>'],
  ['To', 'jdoe@origin.example, bare, u@host.corp.example'],
  ['Cc', '"B" <bob@old.example> (x)'],
  ['Reply-To', 'list@host.corp.example'],
  ['Resent-To', 'ann'],
];

interface Port {
  name: string;
  port: number;
  headerContext: AddrRewriteContext | null;
  overrides: Record<string, string>;
  recipients: string[];
}

let oracle: OracleConfig;
const ports: Port[] = [];
const held = new Map<string, QueueFile>();

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  assert.ok(existsSync(POSTFIX_PROGRAMS.postfix), `${POSTFIX_PROGRAMS.postfix} is missing: install the postfix package`);
  ports.push(
    { name: 'A', port: await freePort(), headerContext: 'remote', overrides: {}, recipients: RECIPIENTS },
    { name: 'B', port: await freePort(), headerContext: null, overrides: { remote_header_rewrite_domain: '' }, recipients: RECIPIENTS },
    {
      name: 'C',
      port: await freePort(),
      headerContext: 'remote',
      overrides: { enable_original_recipient: 'no', duplicate_filter_limit: '1' },
      recipients: ['a@remote.example', 'A@remote.example', 'b@remote.example', 'b@remote.example', 'a@remote.example'],
    },
  );
  oracle = makeOracleConfig({
    prefix: 'postern-cleanup-addr-remote-',
    // A foreground master (no "postfix start" and its checks) needs these made.
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'queue/incoming', 'queue/hold', 'data'],
    main: {
      ...ORACLE_MAIN_BASE,
      myorigin: 'origin.example',
      mydomain: 'origin.example',
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      in_flow_delay: '0s',
      smtpd_peername_lookup: 'no',
      // No proxymap, anvil or local recipient checks in this instance.
      local_recipient_maps: '',
      alias_maps: '',
      smtpd_client_connection_count_limit: '0',
      smtpd_client_connection_rate_limit: '0',
      local_header_rewrite_clients: '',
      remote_header_rewrite_domain: 'domain.invalid',
      canonical_maps: 'inline:{ jdoe@origin.example=john.doe@origin.example, @old.example=@new.example }',
      masquerade_domains: 'corp.example',
      header_checks: 'regexp:$config_directory/header_checks',
    },
    master: [
      `127.0.0.1:${ports[0]!.port} inet n - n - - smtpd`,
      `127.0.0.1:${ports[1]!.port} inet n - n - - smtpd -o cleanup_service_name=cleanup_nohdr`,
      `127.0.0.1:${ports[2]!.port} inet n - n - - smtpd -o cleanup_service_name=cleanup_noorcpt`,
      'cleanup unix n - n - 0 cleanup',
      'cleanup_nohdr unix n - n - 0 cleanup -o remote_header_rewrite_domain=',
      'cleanup_noorcpt unix n - n - 0 cleanup -o enable_original_recipient=no -o duplicate_filter_limit=1',
      'rewrite unix - - n - - trivial-rewrite',
      'qmgr unix n - n 300 1 qmgr',
      'anvil unix - - n - 1 anvil',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  writeFileSync(join(oracle.confDir, 'header_checks'), '/^Subject: remote case/ HOLD\n');
  await oracle.startMaster(join(oracle.queueDir, 'private', 'rewrite'));
  for (const p of ports) {
    const message = `${HEADERS.map(([n, v]) => `${n}: ${v}`).join('\r\n')}\r\nSubject: remote case ${p.name}\r\n\r\nbody\r\n`;
    let r = await runSmtplib({ port: p.port, from: SENDER, to: p.recipients, message, ehlo: 'client.example' });
    for (let attempt = 0; !r.ok && attempt < 20 && r.error?.type === 'ConnectionRefusedError'; attempt++) {
      await new Promise((res) => setTimeout(res, 250));
      r = await runSmtplib({ port: p.port, from: SENDER, to: p.recipients, message, ehlo: 'client.example' });
    }
    assert.ok(r.ok, `port ${p.name}: ${JSON.stringify(r.error)}\n${oracle.readLog()}`);
  }
  const dir = join(oracle.queueDir, 'hold');
  const files = (): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => (statSync(join(dir, f)).mode & COMPLETE_MODE_BIT) !== 0) : []);
  assert.ok(await waitUntil(() => files().length >= ports.length, HOLD_WAIT_MS), `messages missing from hold\n${oracle.readLog()}`);
  for (const f of files()) {
    const q = readQueueFile(join(dir, f), { content: true });
    assert.ok(q.ok, q.ok ? '' : q.error.message);
    const subject = q.file.content?.find((t) => t.text.toString('latin1').startsWith('Subject: remote case '));
    assert.ok(subject, `no test subject in ${f}`);
    held.set(subject.text.toString('latin1').slice('Subject: remote case '.length), q.file);
  }
});

after(async () => {
  await oracle?.cleanup();
});

function queuedHeader(q: QueueFile, name: string): string[] {
  const lines = (q.content ?? []).map((t) => t.text.toString('latin1'));
  const start = lines.findIndex((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  assert.ok(start >= 0, `no ${name} header in ${q.path}`);
  let end = start + 1;
  while (end < lines.length && /^[ \t]/.test(lines[end]!)) end += 1;
  return lines.slice(start, end);
}

const TITLES: Record<string, string> = {
  A: 'remote_header_rewrite_domain set: headers rewritten in the remote context',
  B: 'remote_header_rewrite_domain empty: headers untouched',
  C: 'enable_original_recipient = no, duplicate_filter_limit = 1',
};

for (const name of Object.keys(TITLES)) {
  test(`remote client, ${TITLES[name]}`, async () => {
    const p = ports.find((x) => x.name === name)!;
    const q = held.get(name);
    assert.ok(q, `message ${name} was not held`);
    const config = loadMailConfig({ configDir: oracle.confDir, overrides: p.overrides });
    const deps = cleanupAddrInit(config, localAddrRewriter(config));
    const ctx = { queueId: 'QID', flags: CLEANUP_FLAG.MASK_EXTERNAL, smtputf8: 0 };
    const dups = cleanupDupFilter(deps);
    assert.equal((await cleanupAddrSender(deps, ctx, dups, SENDER)).sender, q.sender);
    const rcpts: Array<[string, string]> = [];
    for (const r of p.recipients) {
      const out = (await cleanupAddrRecipient(deps, ctx, dups, { recipient: r, orcpt: r, dsnOrcpt: '', dsnNotify: 0 })).out;
      rcpts.push(...out.map((o): [string, string] => [o.recipient, o.orcpt]));
    }
    assert.deepEqual(rcpts, q.recipients.map((r): [string, string] => [r.address, r.original ?? '']));
    for (const [h, value] of HEADERS) {
      const r = await cleanupRewriteHeader(deps, { ...ctx, headerRewriteContext: p.headerContext }, `${h}: ${value}`);
      const lines = r.text.split('\n').map((l, i) => (i === 0 || /^[ \t]/.test(l) ? l : `\t${l}`));
      assert.deepEqual(lines, queuedHeader(q, h), `${h}: ${value}`);
      if (p.headerContext === null) assert.equal(r.changed, false);
    }
  });
}
