/*
 * bounce_dsn_test - Postern's delivery status notifications against the real Postfix's, for the same failures
 *
 * What it does: a throwaway Postfix 3.7 instance bounces mail through its
 * error(8) transport (two recipients, one with a reason long enough to
 * wrap; a RET=HDRS message; a bounce of a bounce, which goes to the
 * postmaster; a bounce of a double-bounce, which is discarded) and sends
 * a NOTIFY=SUCCESS notice for mail its discard(8) transport takes; its
 * notifications stay in its deferred queue (defer_transports = smtp) and
 * are read back with the real postcat. Postern's bounce daemon is then
 * given the same messages (through Postern's cleanup) and the same
 * recipient statuses (through bounce_clnt) and its notifications are
 * compared with Postfix's after Python's email package parsed both: the
 * same headers (From, Subject, To, Auto-Submitted, MIME), the same MIME
 * tree with the same Content-Description/Type/Transfer-Encoding, the
 * same text, the same delivery-status fields (ids and dates blanked), the
 * same returned message or headers; and the same log lines.
 *
 * Also a message larger than bounce_size_limit (headers only) and a
 * delay warning (retry transport, delay_warning_time = 1s).
 *
 * What it does not do: test when qmgr asks for warnings or expiry.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bounceFlush, bounceLogAppend, deferWarn, traceFlush } from '../../src/global/bounce_clnt.js';
import { DSN_NOTIFY, DSN_RET, dsnMake } from '../../src/global/dsn.js';
import type { Recipient } from '../../src/global/recipient_list.js';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, type OracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { type DsnStructure, dsnStructures, makeOurBounce, normalizeDsn, type OurBounce } from './bounce_dsn_lib.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { formatBounceLogEntry, parseBounceLog } from '../../src/global/bounce_log.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const WAIT_MS = 25_000;
const LONG_REASON = 'this recipient is not accepted here because the administrator decided that mail for it must be refused with a long explanation';
const MAIN = {
  ...ORACLE_MAIN_BASE,
  alias_maps: '',
  local_recipient_maps: '',
  notify_classes: 'bounce, 2bounce, resource, software',
};
const ORACLE_MAIN = {
  ...MAIN,
  transport_maps: `inline:{ { bad.example = error:5.1.1 mailbox unavailable }, { long.example = error:5.7.1 ${LONG_REASON} }, { ok.example = discard:kept for testing }, { slow.example = retry:4.4.1 try again later } }`,
  defer_transports: 'smtp',
  // Delay warnings within a second or two: the deferred queue is scanned and retried at once.
  delay_warning_time: '1s',
  queue_run_delay: '1s',
  minimal_backoff_time: '1s',
  maximal_backoff_time: '2s',
};
const OUR_MAIN = { ...MAIN, delay_warning_time: '1s' };
const BIG_BODY = Array.from({ length: 900 }, (_, i) => `line ${i} of a message larger than bounce_size_limit (50000 bytes by default)`);

interface Msg {
  key: string;
  sender: string;
  args: string[];
  rcpts: string[];
}

const MSGS: Msg[] = [
  { key: 'm1', sender: 'sender@sender.example', args: [], rcpts: ['a@bad.example', 'b@long.example'] },
  { key: 'm2', sender: 'sender@sender.example', args: ['-N', 'success'], rcpts: ['c@ok.example'] },
  { key: 'm3', sender: '', args: [], rcpts: ['d@bad.example'] },
  { key: 'm4', sender: 'sender@sender.example', args: ['-R', 'hdrs'], rcpts: ['e@bad.example'] },
  { key: 'm5', sender: 'double-bounce@oracle.example', args: [], rcpts: ['f@bad.example'] },
  { key: 'm6', sender: 'sender@sender.example', args: [], rcpts: ['g@bad.example'] },
  { key: 'm7', sender: 'sender@sender.example', args: [], rcpts: ['h@slow.example'] },
];

const lines = (key: string): string[] => [`Subject: test ${key}`, `Message-ID: <${key}@test.example>`, '', `body of ${key}`, 'second line', ...(key === 'm6' ? BIG_BODY : [])];

let real: OracleConfig | null = null;
let ours: OurBounce | null = null;
let work = '';
const realIds = new Map<string, string>();
const realLog = (): string => real?.readLog() ?? '';

function noticeIn(log: string, orig: string, what: string): string | null {
  const m = new RegExp(`\\]: ${orig}: ${what}: (\\w+)`).exec(log);
  return m ? m[1]! : null;
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'postern-bounce-dsn-'));
  real = makeOracleConfig({ prefix: 'postern-bounce-oracle-', ownedDirs: ['data'], main: ORACLE_MAIN, master: [...ORACLE_MAIL_SERVICES] });
  await real.start();
  const sent = await Promise.all(MSGS.map((m) => real!.run(POSTFIX_PROGRAMS.sendmail, ['-f', m.sender === '' ? '<>' : m.sender, ...m.args, ...m.rcpts], { input: lines(m.key).join('\n') + '\n' })));
  for (const r of sent) assert.equal(r.status, 0, `sendmail failed: ${r.stderr}`);
  const idOf = (key: string): string | null => new RegExp(`(\\w+): message-id=<${key}@test\\.example>`).exec(realLog())?.[1] ?? null;
  assert.ok(await waitUntil(() => MSGS.every((m) => idOf(m.key) !== null), WAIT_MS), `messages not accepted\n${realLog()}`);
  for (const m of MSGS) realIds.set(m.key, idOf(m.key)!);
  const want = (): boolean => {
    const log = realLog();
    const ids = [
      noticeIn(log, realIds.get('m1')!, 'sender non-delivery notification'),
      noticeIn(log, realIds.get('m2')!, 'sender delivery status notification'),
      noticeIn(log, realIds.get('m3')!, 'postmaster non-delivery notification'),
      noticeIn(log, realIds.get('m4')!, 'sender non-delivery notification'),
      noticeIn(log, realIds.get('m6')!, 'sender non-delivery notification'),
      noticeIn(log, realIds.get('m7')!, 'sender delay notification'),
    ];
    return ids.every((id) => id !== null && new RegExp(`${id}: to=<[^>]*>, .*status=deferred`).test(log)) && log.includes(`${realIds.get('m5')}: undeliverable postmaster notification discarded`);
  };
  assert.ok(await waitUntil(want, WAIT_MS), `Postfix did not produce the notifications\n${realLog()}`);
  ours = makeOurBounce(join(work, 'ours'), OUR_MAIN);
});

after(async () => {
  ours?.close();
  await real?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Case {
  key: string;
  realWhat: string;
  service: 'bounce' | 'trace' | 'defer';
  notify: number;
  ret: number;
}

const CASES: Case[] = [
  { key: 'm1', realWhat: 'sender non-delivery notification', service: 'bounce', notify: 0, ret: 0 },
  { key: 'm2', realWhat: 'sender delivery status notification', service: 'trace', notify: DSN_NOTIFY.SUCCESS, ret: 0 },
  { key: 'm3', realWhat: 'postmaster non-delivery notification', service: 'bounce', notify: 0, ret: 0 },
  { key: 'm4', realWhat: 'sender non-delivery notification', service: 'bounce', notify: 0, ret: DSN_RET.HDRS },
  { key: 'm6', realWhat: 'sender non-delivery notification', service: 'bounce', notify: 0, ret: 0 },
  { key: 'm7', realWhat: 'sender delay notification', service: 'defer', notify: 0, ret: 0 },
];

interface Notice {
  orig: string;
  id: string;
  s: DsnStructure;
}

/** Per case key (and "m1-pm" for m1's postmaster copy): Postfix's notice and Postern's. */
const realN = new Map<string, Notice>();
const ourN = new Map<string, Notice>();

/** The recipient statuses Postfix reported, to give Postern's bounce the same log entries. */
function statusesOf(s: DsnStructure): Array<{ rcpt: Recipient; status: string; action: string; reason: string }> {
  const ds = s.root.parts!.find((p) => p.content_type === 'message/delivery-status')!;
  return ds.blocks!.slice(1).map((b) => {
    const f = new Map(b.map(([k, v]) => [k.toLowerCase(), v.replace(/\n\s+/g, ' ')]));
    const addr = f.get('final-recipient')!.replace(/^rfc822; /, '');
    return {
      rcpt: { origAddress: addr, address: addr, offset: 0, dsnOrcpt: f.get('original-recipient') ?? '', dsnNotify: 0 },
      status: f.get('status')!,
      action: f.get('action')!,
      reason: f.get('diagnostic-code')!.replace(/^X-Postfix; /, ''),
    };
  });
}

/** Collects both sides' notices with two python runs (python starts slowly). */
async function collect(): Promise<void> {
  const realItems: Array<{ key: string; orig: string; id: string; text: string }> = [];
  const wanted: Array<[string, string, string]> = CASES.map((c) => [c.key, c.key, c.realWhat]);
  wanted.push(['m1-pm', 'm1', 'postmaster non-delivery notification']);
  for (const [key, msg, what] of wanted) {
    const orig = realIds.get(msg)!;
    const id = noticeIn(realLog(), orig, what);
    assert.ok(id, `no ${what} for ${orig}`);
    const r = await real!.run(POSTFIX_PROGRAMS.postcat, ['-c', real!.confDir, '-bh', '-q', id]);
    assert.equal(r.status, 0, r.stderr);
    realItems.push({ key, orig, id, text: r.stdout });
  }
  const rs = await dsnStructures(work, realItems.map((x) => ({ name: `real-${x.id}`, message: x.text })));
  realItems.forEach((x, i) => realN.set(x.key, { orig: x.orig, id: x.id, s: rs[i]! }));

  const ourItems: Array<{ key: string; orig: string; id: string }> = [];
  for (const c of CASES) {
    const m = MSGS.find((x) => x.key === c.key)!;
    const id = await ours!.submit(m.sender, m.rcpts, lines(c.key));
    const qf = ours!.queueFile('incoming', id);
    for (const st of statusesOf(realN.get(c.key)!.s)) {
      const rcpt = { ...st.rcpt, offset: qf.recipients.find((r) => r.address === st.rcpt.address)?.offset ?? 0, dsnNotify: c.notify };
      assert.equal(await bounceLogAppend(ours!.clientOpts, c.service, 0, id, rcpt, dsnMake(st.status, st.reason, { action: st.action })), 0);
    }
    const flush = c.service === 'trace' ? traceFlush : c.service === 'defer' ? deferWarn : bounceFlush;
    assert.equal(await flush(ours!.clientOpts, 0, 'incoming', id, '7bit', 0, m.sender, '', c.ret), 0);
    const n = ours!.notices(c.realWhat).find((x) => x.orig === id);
    assert.ok(n, `Postern logged no "${id}: ${c.realWhat}: ..."\n${ours!.logs.join('\n')}`);
    ourItems.push({ key: c.key, orig: id, id: n.id });
    if (c.key === 'm1') {
      const pm = ours!.notices('postmaster non-delivery notification').find((x) => x.orig === id);
      assert.ok(pm, 'Postern sent no postmaster copy');
      ourItems.push({ key: 'm1-pm', orig: id, id: pm.id });
    }
  }
  const os = await dsnStructures(work, ourItems.map((x) => ({ name: `ours-${x.id}`, message: ours!.content('incoming', x.id) })));
  ourItems.forEach((x, i) => ourN.set(x.key, { orig: x.orig, id: x.id, s: os[i]! }));
}

function same(key: string): void {
  const r = realN.get(key)!;
  const o = ourN.get(key)!;
  assert.deepEqual(normalizeDsn(o.s, [o.orig, o.id]), normalizeDsn(r.s, [r.orig, r.id]));
}

test('non-delivery notification: same structure, text and delivery-status fields as Postfix', async () => {
  await collect();
  // Sanity: the oracle's notice is what this test is about.
  assert.deepEqual(realN.get('m1')!.s.root.parts!.map((p) => p.content_type), ['text/plain', 'message/delivery-status', 'message/rfc822']);
  same('m1');
});

test('notify_classes bounce: the postmaster copy (headers only, from double-bounce) as Postfix', () => {
  assert.equal(realN.get('m1-pm')!.s.root.parts![2]!.content_type, 'text/rfc822-headers');
  same('m1-pm');
  assert.equal(ours!.queueFile('incoming', ourN.get('m1-pm')!.id).sender, 'double-bounce@oracle.example');
});

test('RET=HDRS: the headers only, as text/rfc822-headers', () => {
  assert.equal(realN.get('m4')!.s.root.parts![2]!.content_type, 'text/rfc822-headers');
  same('m4');
});

test('a message over bounce_size_limit: the headers only, as Postfix', () => {
  assert.equal(realN.get('m6')!.s.root.parts![2]!.content_type, 'text/rfc822-headers');
  same('m6');
});

test('delay warning: the same notification as Postfix', () => {
  assert.deepEqual(realN.get('m7')!.s.root.parts!.map((p) => p.content_type), ['text/plain', 'message/delivery-status', 'text/rfc822-headers']);
  same('m7');
});

test('NOTIFY=SUCCESS: the same delivery status notification as Postfix', () => {
  same('m2');
});

test('bounce of a bounce: postmaster notification from double-bounce, as Postfix', () => {
  same('m3');
  assert.equal(ours!.queueFile('incoming', ourN.get('m3')!.id).sender, 'double-bounce@oracle.example');
});

test('bounce of a double-bounce: discarded with the same warning as Postfix', async () => {
  const realId = realIds.get('m5')!;
  assert.match(realLog(), new RegExp(`postfix/bounce\\[\\d+\\]: warning: ${realId}: undeliverable postmaster notification discarded`));
  const m = MSGS.find((x) => x.key === 'm5')!;
  const id = await ours!.submit(m.sender, m.rcpts, lines('m5'));
  const rcpt: Recipient = { origAddress: '', address: 'f@bad.example', offset: 0, dsnOrcpt: '', dsnNotify: 0 };
  assert.equal(await bounceLogAppend(ours!.clientOpts, 'bounce', 0, id, rcpt, dsnMake('5.1.1', 'mailbox unavailable', { action: 'failed' })), 0);
  const before = ours!.logs.length;
  assert.equal(await bounceFlush(ours!.clientOpts, 0, 'incoming', id, '7bit', 0, m.sender, '', 0), 0);
  assert.deepEqual(ours!.logs.slice(before), [`warning: ${id}: undeliverable postmaster notification discarded`]);
});

test('protocol and log format: bounce_clnt appends through the real bounce(8); its log is what formatBounceLogEntry writes', async () => {
  const opts = { queueDir: real!.queueDir, timeoutMs: 10_000 };
  const id = 'ABCDEF0123';
  const rcpt: Recipient = { origAddress: 'Orig@Example.Net', address: 'to@example.com', offset: 1234, dsnOrcpt: 'rfc822;orig@example.net', dsnNotify: DSN_NOTIFY.FAILURE | DSN_NOTIFY.DELAY };
  const dsn = dsnMake('4.4.1', 'connect to mx.example.com[192.0.2.1]:25: Connection refused', { action: 'delayed', dtype: 'smtp', dtext: '421 busy', mtype: 'dns', mname: 'mx.example.com' });
  const rcpt2: Recipient = { origAddress: '', address: 'two@example.com', offset: 0, dsnOrcpt: '', dsnNotify: 0 };
  const dsn2 = dsnMake('4.3.0', 'plain reason', { action: 'delayed' });
  assert.equal(await bounceLogAppend(opts, 'defer', 0, id, rcpt, dsn), 0);
  assert.equal(await bounceLogAppend(opts, 'defer', 0, id, rcpt2, dsn2), 0);
  const text = readFileSync(join(real!.queueDir, 'defer', 'A', id), 'utf8');
  assert.equal(text, formatBounceLogEntry(rcpt, dsn, true) + formatBounceLogEntry(rcpt2, dsn2, true));
  const parsed = parseBounceLog(text, 'defer');
  assert.deepEqual(parsed, [
    { rcpt: { ...rcpt, origAddress: 'Orig@Example.Net' }, dsn },
    { rcpt: { ...rcpt2, offset: -1 }, dsn: dsn2 },
  ]);
  // The real server refuses what Postfix's refuses, and bounce_clnt reports it.
  assert.equal(await bounceLogAppend(opts, 'defer', 0, 'not/an/id', rcpt2, dsn2), -1);
  // Postfix logs every service of the bounce program as postfix/bounce, as Postern does.
  assert.ok(await waitUntil(() => /postfix\/bounce\[\d+\]: warning: malformed queue id: not\/an\/id/.test(realLog()), 5000), realLog());
  // TRACE for a message without a trace log: nothing to send, success.
  assert.equal(await traceFlush(opts, 0, 'deferred', id, '', 0, 'sender@sender.example', '', 0), 0);
});
