/*
 * cleanup_addr_oracle_test - Postern's cleanup address stages against the real cleanup(8)
 *
 * A throwaway real Postfix (pickup, cleanup, trivial-rewrite, qmgr and
 * postlogd; header_checks HOLD every test message, so each accepted
 * message stays in hold/ exactly as cleanup wrote it: without a qmgr to
 * trigger, the real cleanup pauses a second per message) is configured
 * with canonical_maps, sender_canonical_maps (envelope_sender class
 * only), recipient_canonical_maps, virtual_alias_maps with low recursion
 * and expansion limits, masquerade_domains with a '!' exception,
 * masquerade_exceptions, propagate_unmatched_extensions = canonical,
 * sender_bcc_maps, recipient_bcc_maps and always_bcc, in texthash: and
 * inline: tables. Each case is a message submitted through the real
 * sendmail (-f sender, recipients as arguments, address headers in the
 * message). For each queue file we compare, with what Postern's
 * cleanup_addr/cleanup_rewrite functions produce for the same inputs and
 * the same main.cf (rewriting computed in-process by rewrite_addr.ts):
 * the envelope sender, every recipient record group (recipient, original
 * recipient, DSN ORCPT, DSN NOTIFY, envelope or extracted segment), the
 * address header lines exactly as written (regenerated and folded when
 * an address changed, untouched otherwise), and cleanup's warnings for
 * the message. Cases that hit a virtual alias limit never reach the
 * queue: their warning in the maillog is compared with the warning and
 * CLEANUP_STAT.DEFER status Postern's functions produce.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../../src/global/cleanup_user.js';
import { HDR_OPT, headerOptsFind } from '../../src/global/header_opts.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { readQueueFile, type QueueFile } from '../../src/global/queue_file_read.js';
import { headerAddresses } from '../../src/global/tok822_rewrite.js';
import { type MsgSink, msgSetSinks } from '../../src/util/msg.js';
import {
  type CleanupAddrDeps,
  CleanupAddrError,
  cleanupAddrFinish,
  cleanupAddrInit,
  cleanupAddrRecipient,
  cleanupAddrSender,
  cleanupDupFilter,
  type RecipientOut,
} from '../../src/cleanup/cleanup_addr.js';
import { cleanupRewriteHeader, localAddrRewriter } from '../../src/cleanup/cleanup_rewrite.js';
import { ORACLE_MAIN_BASE, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { ADDR_CASES, DEFERRED_CASES, ORACLE_TABLES, type AddrCase } from './cleanup_addr_cases.js';

const QUEUE_WAIT_MS = 30_000;
const LOG_WAIT_MS = 20_000;
const MODEL_QUEUE_ID = 'QID';
/** How many sendmail processes run at once. */
const SUBMIT_PARALLEL = 10;
/** Postfix marks a finished queue file by its owner execute bit. */
const COMPLETE_MODE_BIT = 0o100;

const MAIN: Record<string, string> = {
  ...ORACLE_MAIN_BASE,
  myorigin: 'origin.example',
  mydomain: 'origin.example',
  mydestination: 'origin.example',
  inet_protocols: 'ipv4',
  recipient_delimiter: '+',
  canonical_maps: 'texthash:$config_directory/canonical',
  sender_canonical_maps: 'inline:{ sender@origin.example=Sender.Canon@origin.example }, texthash:$config_directory/sender_canonical',
  sender_canonical_classes: 'envelope_sender',
  recipient_canonical_maps: 'texthash:$config_directory/recipient_canonical',
  virtual_alias_maps: 'texthash:$config_directory/virtual',
  virtual_alias_recursion_limit: '5',
  virtual_alias_expansion_limit: '8',
  masquerade_domains: '!keep.corp.example, corp.example',
  masquerade_exceptions: 'root',
  propagate_unmatched_extensions: 'canonical',
  sender_bcc_maps: 'inline:{ boss@origin.example=archive-boss@remote.example }',
  recipient_bcc_maps: 'texthash:$config_directory/recipient_bcc',
  always_bcc: 'always@origin.example',
  in_flow_delay: '0s',
  header_checks: 'regexp:$config_directory/header_checks',
};

const MASTER = [
  'pickup unix n - n 60 1 pickup',
  'cleanup unix n - n - 0 cleanup',
  'rewrite unix - - n - - trivial-rewrite',
  'postlog unix-dgram n - n - 1 postlogd',
  'qmgr unix n - n 300 1 qmgr',
];

let oracle: OracleConfig;
let deps: CleanupAddrDeps;
/** Queue files by case index. */
const queued = new Map<number, { qid: string; file: QueueFile }>();
let maillog = '';

function heldFiles(): string[] {
  const dir = join(oracle.queueDir, 'hold');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => (statSync(join(dir, f)).mode & COMPLETE_MODE_BIT) !== 0);
}

function messageText(c: AddrCase, index: number): Buffer {
  const headers = c.headers.map(([name, value]) => `${name}: ${value}\n`).join('');
  return Buffer.from(`${headers}Subject: addr case ${index}\n\nbody\n`, 'latin1');
}

async function submit(c: AddrCase, index: number): Promise<void> {
  const args = c.extract ? ['-t'] : ['--', ...c.rcpts];
  const r = await oracle.run(POSTFIX_PROGRAMS.sendmail, ['-i', '-C', oracle.confDir, '-f', c.sender, ...args], { input: messageText(c, index) });
  assert.equal(r.status, 0, `sendmail failed for case ${index}: ${r.stderr}`);
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (const p of [POSTFIX_PROGRAMS.postfix, POSTFIX_PROGRAMS.sendmail]) assert.ok(existsSync(p), `${p} is missing: install the postfix package`);
  oracle = makeOracleConfig({ prefix: 'postern-cleanup-addr-', ownedDirs: ['data'], main: MAIN, master: MASTER });
  for (const [name, text] of Object.entries(ORACLE_TABLES)) writeFileSync(join(oracle.confDir, name), text);
  writeFileSync(join(oracle.confDir, 'header_checks'), '/^Subject: addr case / HOLD\n');
  await oracle.start();
  const all = [...ADDR_CASES, ...DEFERRED_CASES];
  for (let i = 0; i < all.length; i += SUBMIT_PARALLEL) {
    await Promise.all(all.slice(i, i + SUBMIT_PARALLEL).map((c, j) => submit(c, i + j)));
  }
  const arrived = await waitUntil(() => heldFiles().length >= ADDR_CASES.length, QUEUE_WAIT_MS);
  assert.ok(arrived, `only ${heldFiles().length} of ${ADDR_CASES.length} messages reached hold\n${oracle.readLog()}`);
  for (const f of heldFiles()) {
    const q = readQueueFile(join(oracle.queueDir, 'hold', f), { content: true });
    assert.ok(q.ok, q.ok ? '' : q.error.message);
    const subject = q.file.content?.find((t) => t.text.toString('latin1').startsWith('Subject: addr case '));
    assert.ok(subject, `no test subject in ${f}`);
    queued.set(Number(subject.text.toString('latin1').slice('Subject: addr case '.length)), { qid: f, file: q.file });
  }
  const deferredSeen = await waitUntil(() => {
    const log = oracle.readLog();
    return DEFERRED_CASES.every((c) => deferredWarning(log, c.key) !== null);
  }, LOG_WAIT_MS);
  maillog = oracle.readLog();
  assert.ok(deferredSeen, `the virtual alias limit warnings are missing from the maillog\n${maillog}`);
  // Postern's side reads the very same main.cf and tables.
  deps = cleanupAddrInit(loadMailConfig({ configDir: oracle.confDir }), localAddrRewriter(loadMailConfig({ configDir: oracle.confDir })));
});

after(async () => {
  msgSetSinks([]);
  await oracle?.cleanup();
});

/** Runs f with Postern's warnings captured. */
async function capture<T>(f: () => Promise<T>): Promise<{ value: T | Error; warnings: string[] }> {
  const warnings: string[] = [];
  const sink: MsgSink = { write: (severity, text) => void (severity === 'warning' && warnings.push(text)) };
  msgSetSinks([sink]);
  try {
    return { value: await f(), warnings };
  } catch (e) {
    return { value: e as Error, warnings };
  } finally {
    msgSetSinks([]);
  }
}

interface ModelRecipient {
  address: string;
  original: string;
  dsnOrcpt: string;
  dsnNotify: number;
  segment: 'envelope' | 'extracted';
}

/** sendmail -t: the addresses of To/Cc/Bcc, or of Resent-To/Cc/Bcc when there is a Resent- header. */
function extractedRecipients(c: AddrCase): string[] {
  const resent = c.headers.some(([name]) => /^resent-/i.test(name));
  const wanted = (resent ? ['resent-to', 'resent-cc', 'resent-bcc'] : ['to', 'cc', 'bcc']);
  return c.headers
    .filter(([name]) => wanted.includes(name.toLowerCase()))
    .flatMap(([, value]) => headerAddresses(value, 0).addresses.map((a) => a.internal));
}

/** What Postern's address stages make of a case. */
async function posternModel(c: AddrCase): Promise<{ sender: string; recipients: ModelRecipient[]; headers: string[][] }> {
  const ctx = { queueId: MODEL_QUEUE_ID, flags: CLEANUP_FLAG.MASK_EXTERNAL, smtputf8: 0 };
  const dups = cleanupDupFilter(deps);
  const recipients: ModelRecipient[] = [];
  const add = (segment: 'envelope' | 'extracted', list: RecipientOut[]): void => {
    for (const r of list) recipients.push({ address: r.recipient, original: r.orcpt, dsnOrcpt: r.dsnOrcpt, dsnNotify: r.dsnNotify, segment });
  };
  // sendmail records each address as tok822 parses and internalizes it.
  const internal = (a: string): string => headerAddresses(a, 0).addresses[0]?.internal ?? a;
  const s = await cleanupAddrSender(deps, ctx, dups, internal(c.sender));
  add('envelope', s.out);
  for (const rcpt of c.rcpts) {
    const address = internal(rcpt);
    const r = await cleanupAddrRecipient(deps, ctx, dups, { recipient: address, orcpt: address, dsnOrcpt: '', dsnNotify: 0 });
    add('envelope', r.out);
  }
  const extracted = c.extract ? extractedRecipients(c) : [];
  for (const address of extracted) {
    const r = await cleanupAddrRecipient(deps, ctx, dups, { recipient: address, orcpt: address, dsnOrcpt: '', dsnNotify: 0 });
    add('extracted', r.out);
  }
  add('extracted', await cleanupAddrFinish(deps, ctx, dups, { haveRecipient: c.rcpts.length + extracted.length > 0 }));
  const headers: string[][] = [];
  for (const [name, value] of c.headers) {
    const r = await cleanupRewriteHeader(deps, { ...ctx, headerRewriteContext: 'local' }, `${name}: ${value}`);
    // cleanup_out_header: a continuation line without leading white space gets a tab.
    headers.push(r.text.split('\n').map((l, i) => (i === 0 || /^[ \t]/.test(l) ? l : `\t${l}`)));
  }
  return { sender: s.sender, recipients, headers };
}

/** The header lines (with continuation lines) of the n-th header called `name`. */
function queuedHeader(q: QueueFile, name: string, n: number, absentOk: true): string[] | null;
function queuedHeader(q: QueueFile, name: string, n: number): string[];
function queuedHeader(q: QueueFile, name: string, n: number, absentOk = false): string[] | null {
  const lines = (q.content ?? []).map((t) => t.text.toString('latin1'));
  let seen = 0;
  for (let start = 0; start < lines.length; start++) {
    if (!lines[start]!.toLowerCase().startsWith(`${name.toLowerCase()}:`)) continue;
    if (seen++ < n) continue;
    let end = start + 1;
    while (end < lines.length && /^[ \t]/.test(lines[end]!)) end += 1;
    return lines.slice(start, end);
  }
  if (absentOk) return null;
  assert.fail(`no header ${name} #${n} in ${q.path}`);
}

/** cleanup's warnings for one queue id, without the "QUEUEID: " prefix. */
function oracleWarnings(qid: string): string[] {
  const re = new RegExp(`postfix/cleanup\\[\\d+\\]: warning: ${qid}: (.*)$`);
  return maillog
    .split('\n')
    .map((l) => re.exec(l)?.[1])
    .filter((x): x is string => x !== undefined);
}

for (const [i, c] of ADDR_CASES.entries()) {
  test(`cleanup address case ${i}: ${c.name}`, async () => {
    const q = queued.get(i);
    assert.ok(q, `case ${i} did not reach hold`);
    const { value: model, warnings } = await capture(() => posternModel(c));
    assert.ok(!(model instanceof Error), `Postern failed: ${model instanceof Error ? model.message : ''}`);
    assert.equal(model.sender, q.file.sender, 'envelope sender');
    const real = q.file.recipients.map((r) => ({
      address: r.address,
      original: r.original ?? '',
      dsnOrcpt: r.dsnOrcpt ?? '',
      dsnNotify: r.dsnNotify ?? 0,
      segment: r.segment,
    }));
    assert.deepEqual(model.recipients, real, 'recipient records');
    const nth = new Map<string, number>();
    for (const [h, [name]] of c.headers.entries()) {
      if ((headerOptsFind(`${name}:`)?.flags ?? 0) & HDR_OPT.DROP) {
        assert.equal(queuedHeader(q.file, name, 0, true), null, `${name} is dropped from the message`);
        continue;
      }
      const n = nth.get(name.toLowerCase()) ?? 0;
      nth.set(name.toLowerCase(), n + 1);
      assert.deepEqual(model.headers[h], queuedHeader(q.file, name, n), `header ${name}: ${c.headers[h]![1]}`);
    }
    const prefix = `${MODEL_QUEUE_ID}: `;
    assert.deepEqual(
      warnings.map((w) => (w.startsWith(prefix) ? w.slice(prefix.length) : w)),
      oracleWarnings(q.qid),
      'cleanup warnings',
    );
  });
}

/** The real cleanup's warning (without queue id) about `key`, or null. */
function deferredWarning(log: string, key: string): string | null {
  for (const line of log.split('\n')) {
    const m = /postfix\/cleanup\[\d+\]: warning: [0-9A-Za-z]+: (.*)$/.exec(line);
    if (m && m[1]!.includes(` for ${key} `)) return m[1]!;
  }
  return null;
}

for (const c of DEFERRED_CASES) {
  test(`cleanup address limit: ${c.name}`, async () => {
    const expected = deferredWarning(maillog, c.key);
    assert.ok(expected !== null, `the maillog has no cleanup warning about ${c.key}`);
    const { value, warnings } = await capture(() => posternModel(c));
    assert.ok(value instanceof CleanupAddrError, `Postern accepted a message the real cleanup deferred: ${String(value)}`);
    assert.equal(value.status, CLEANUP_STAT.DEFER);
    assert.equal(value.reason, '4.6.0 Alias expansion error');
    assert.deepEqual(warnings, [`${MODEL_QUEUE_ID}: ${expected}`]);
  });
}
