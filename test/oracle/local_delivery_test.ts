/*
 * local_delivery_test - Postern's local(8) against the real Postfix local(8) on the same cases
 *
 * The real Postfix 3.7 (a throwaway instance: pickup, cleanup, qmgr,
 * local, bounce...) delivers one message to a set of alias and user
 * recipients; Postern's local delivers a message with the same body to
 * the same aliases through localDeliver() in-process. The test compares,
 * per recipient, the outcome (sent/bounced/deferred), the DSN status and
 * the reason text from Postfix's log line, and the mbox framing Postfix
 * writes (From_ line, Return-Path:, X-Original-To:, Delivered-To: with
 * the recipient's case kept, >From quoting, the closing empty line).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeOracleConfig, ORACLE_MAIN_BASE, ORACLE_MAIL_SERVICES } from '../lib/postfix_oracle.js';
import { makeLocalHarness } from '../../src/local/local_testlib.js';

const EXIT_SH = '#!/bin/sh\ncat >/dev/null\n[ -n "$2" ] && echo "$2 text"\nexit $1\n';
const BODY = ['Subject: t', '', 'body', 'From me', '>From x', '.dot'];
/** Local parts delivered by both; "mbox" resolves to a real user (nobody for Postfix, alice for Postern). */
const CASES = ['plain', 'dsn', 'nouser', 'tempfail', 'slow', 'tofile', 'Mbox+Ext', 'nosuch', 'restricted'];
const WAIT_MS = 20_000;

function aliases(root: string, user: string): string {
  return [
    `plain |"${root}/exit.sh 1 oops"`,
    `dsn |"${root}/exit.sh 1 5.7.1"`,
    `nouser |"${root}/exit.sh 67"`,
    `tempfail |"${root}/exit.sh 75"`,
    `slow |"/bin/sleep 5"`,
    `tofile ${root}/out/file.mbox`,
    `mbox ${user}`,
    `restricted :include:${root}/list`,
  ].join('\n') + '\n';
}

function prepare(root: string): void {
  chmodSync(root, 0o755);
  mkdirSync(join(root, 'out'));
  chmodSync(join(root, 'out'), 0o777);
  writeFileSync(join(root, 'exit.sh'), EXIT_SH, { mode: 0o755 });
  writeFileSync(join(root, 'list'), '"|/bin/true"\n');
}

/** "to=<x>, ... dsn=D, status=S (R)" per local part, from Postfix's log. */
function parseLog(log: string, id: string): Map<string, [string, string, string]> {
  const out = new Map<string, [string, string, string]>();
  const re = new RegExp(`${id}: to=<([^>]*)>(?:, orig_to=<([^>]*)>)?, relay=local, .*?dsn=([\\d.]+), status=(\\w+) \\((.*)\\)$`, 'gm');
  for (const m of log.matchAll(re)) {
    const key = (m[2] ?? m[1]!).split('@')[0]!;
    out.set(key, [m[4]!, m[3]!, m[5]!]);
  }
  return out;
}

/** The mbox with the date of the From_ line masked and the message headers Postfix's pickup added removed. */
function framing(mbox: string): string {
  return mbox
    .replace(/^(From \S+  )\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/m, '$1DATE')
    .replace(/^(Received|Message-Id|Date|From): .*\n(\t.*\n)*/gm, '');
}

test('local(8) outcomes, reasons and mbox framing match Postfix 3.7', async (t) => {
  const queueDirs = ['incoming', 'active', 'deferred', 'bounce', 'defer', 'trace', 'maildrop', 'public', 'private', 'pid', 'saved', 'corrupt', 'hold', 'flush'];
  const o = makeOracleConfig({ master: [...ORACLE_MAIL_SERVICES], ownedDirs: [...queueDirs.map((d) => `queue/${d}`), 'data'] });
  t.after(() => o.cleanup());
  prepare(o.root);
  mkdirSync(join(o.root, 'spool'));
  chmodSync(join(o.root, 'spool'), 0o1777);
  writeFileSync(join(o.root, 'aliases'), aliases(o.root, 'nobody'));
  const settings: Record<string, string> = {
    ...ORACLE_MAIN_BASE,
    mydestination: 'oracle.example',
    alias_maps: `texthash:${o.root}/aliases`,
    alias_database: '',
    mail_spool_directory: join(o.root, 'spool'),
    recipient_delimiter: '+',
    local_recipient_maps: '',
    command_time_limit: '1s',
    inet_interfaces: 'loopback-only',
    inet_protocols: 'ipv4',
    mailbox_delivery_lock: 'dotlock',
    bounce_notice_recipient: 'postmaster',
    notify_classes: '',
  };
  const mainCf = join(o.confDir, 'main.cf');
  writeFileSync(mainCf, readFileSync(mainCf, 'utf8') + Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  const past = new Date(Date.now() - 120_000);
  utimesSync(mainCf, past, past);
  // A foreground master starts in a fraction of the time "postfix start" takes.
  await o.startMaster(join(o.queueDir, 'public', 'pickup'));
  const r = await o.run('/usr/sbin/sendmail', ['-f', 'sender@remote.test', ...CASES.map((c) => `${c}@oracle.example`)], { input: BODY.join('\n') + '\n' });
  assert.ok(!r.stderr, r.stderr);
  let real = new Map<string, [string, string, string]>();
  const deadline = Date.now() + WAIT_MS;
  let id = '';
  while (Date.now() < deadline) {
    const log = o.readLog();
    id = /postfix\/pickup\[\d+\]: ([0-9A-F]+): uid=/.exec(log)?.[1] ?? '';
    if (id) real = parseLog(log, id);
    if (real.size === CASES.length) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal(real.size, CASES.length, o.readLog());
  const realMbox = framing(readFileSync(join(o.root, 'spool', 'nobody'), 'latin1'));
  const realFile = framing(readFileSync(join(o.root, 'out', 'file.mbox'), 'latin1'));

  // Postern, same aliases and body.
  const h = makeLocalHarness(t);
  mkdirSync(join(h.root, 'x'));
  prepare(join(h.root, 'x'));
  const root = join(h.root, 'x');
  writeFileSync(join(h.root, 'etc', 'aliases'), aliases(root, 'alice'));
  h.writeConf({ myhostname: 'oracle.example', mydestination: 'oracle.example', alias_maps: `texthash:${join(h.root, 'etc', 'aliases')}`, command_time_limit: '1s' });
  const req = await h.submit({ rcpts: CASES.map((c) => `${c}@oracle.example`), lines: BODY });
  const { events } = await h.run(req);
  const ours = new Map<string, [string, string, string]>();
  const word = { sent: 'sent', bounce: 'bounced', defer: 'deferred' } as Record<string, string>;
  for (const e of events) ours.set(e.origRcpt.split('@')[0]!, [word[e.kind] ?? e.kind, e.dsn.status, e.dsn.reason]);
  const norm = (m: Map<string, [string, string, string]>, base: string, user: string): Record<string, string> =>
    Object.fromEntries([...m].map(([k, v]) => [k, v.join(' | ').replaceAll(base, 'ROOT').replaceAll(user, 'USER')]));
  assert.deepEqual(norm(ours, root, 'alice'), norm(real, o.root, 'nobody'));
  assert.equal(framing(readFileSync(join(h.spool, 'alice'), 'latin1')), realMbox);
  assert.equal(framing(readFileSync(join(root, 'out', 'file.mbox'), 'latin1')), realFile);
  assert.ok(existsSync(join(root, 'out', 'file.mbox')));
});
