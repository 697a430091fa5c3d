/*
 * smtp_oracle_test - Postern's smtp(8) against the real Postfix smtp(8): same request, same sink, same result
 *
 * What it does: runs a throwaway real Postfix instance and, for each
 * case, writes the same message as two queue files (one in a queue of
 * the real instance, one in Postern's), sends the same delivery request
 * to the real smtp(8) (private/smtp of the instance) and to Postern's
 * agent, both towards one smtp-sink started with the case's options, and
 * compares: the agent's reply (status and hop DSN), what the sink got
 * (MAIL FROM and RCPT TO parameters, HELO, content byte for byte —
 * including the 8BITMIME downgrade and smtp_line_length_limit breaking),
 * which recipients were crossed off, and the per-recipient log lines
 * without their delay fields and queue IDs ("to=<...>, relay=...,
 * dsn=..., status=... (reason)").
 *
 * What it does not do: DNS-based cases (the real smtp would use the
 * machine's resolver; smtp_mx_test.ts covers those with dnsmasq).
 *
 * DIAGNOSTICS
 * Assertion failures show both sides; the real instance's maillog is
 * shown when its log line does not come.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEL_REQ_FLAG_DEFLT, type DeliverReply, type DeliverRequest, deliverRequestCall } from '../../src/global/deliver_request.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { writeQueueFile } from '../../src/global/queue_file_write.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { startSmtpSink, type SinkMessage } from '../lib/peers.js';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE, type OracleConfig, postfixIds } from '../lib/postfix_oracle.js';
import { freePort, waitFor } from '../lib/proc.js';
import { makeSmtpHarness, type Message, type SmtpHarness } from '../system/smtp_harness.js';

const TEST_QUEUE = 'stest';
const HELO = 'oracle.example';

interface Case {
  name: string;
  sinkArgs: string[];
  msg: Message;
  /** Next-hop; PORT is replaced by the sink's port. */
  nexthop?: string;
  /** Stop the sink before delivering (connection refused). */
  sinkDown?: boolean;
  /** lmtp(8) instead of smtp(8) (the sink speaks LMTP with -L). */
  lmtp?: boolean;
  /** The sink listens on a UNIX-domain socket; next-hop unix:PATH. */
  unixSink?: boolean;
  /** main.cf overrides: a master.cf service of the real instance with -o, a harness of ours with the same. */
  config?: Record<string, string>;
}

const MIME_8BIT = [
  'Subject: 8bit',
  'MIME-Version: 1.0',
  'Content-Type: multipart/alternative; boundary="=_b"',
  'Content-Transfer-Encoding: 8bit',
  '',
  '--=_b',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Grüße = Größe, trailing tab\t',
  `${'ä'.repeat(40)} ${'x'.repeat(50)}`,
  '--=_b',
  'Content-Type: message/rfc822',
  'Content-Transfer-Encoding: 8bit',
  '',
  'Subject: inner',
  'Content-Type: text/plain',
  'Content-Transfer-Encoding: 8bit',
  '',
  'inner ünïcode',
  '--=_b--',
].map((l) => Buffer.from(l, 'utf8'));

const PLAIN = ['Subject: oracle', 'Message-ID: <oracle@postern.test>', '', 'first', '.dot', '..two', `${'L'.repeat(1500)}`, 'end'];
const two = [{ address: 'one@remote.test' }, { address: 'two@remote.test', original: 'Two@Remote.test' }];

const CASES: Case[] = [
  { name: 'success, DSN parameters, long line broken', sinkArgs: [], msg: { sender: 's@postern.test', recipients: [{ address: 'one@remote.test', dsnNotify: 6, dsnOrcpt: 'rfc822;one@remote.test' }, two[1]!], lines: PLAIN, dsnEnvid: 'E1', dsnRet: 2 } },
  { name: 'RCPT 5xx', sinkArgs: ['-f', 'RCPT'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'MAIL 5xx', sinkArgs: ['-f', 'MAIL'], msg: { sender: '', recipients: two, lines: PLAIN } },
  { name: 'DATA 4xx', sinkArgs: ['-r', 'DATA'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'end of data 5xx', sinkArgs: ['-f', '.'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: '5xx greeting', sinkArgs: ['-f', 'CONNECT'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'EHLO 421', sinkArgs: ['-Q', 'EHLO'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'no PIPELINING', sinkArgs: ['-p'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: '8BITMIME downgrade', sinkArgs: ['-8'], msg: { sender: 's@postern.test', recipients: two, lines: MIME_8BIT, encoding: '8bit' } },
  { name: '8BITMIME passed on', sinkArgs: [], msg: { sender: 's@postern.test', recipients: two, lines: MIME_8BIT, encoding: '8bit' } },
  { name: 'connection refused', sinkArgs: [], sinkDown: true, msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'disconnect after RCPT', sinkArgs: ['-q', 'RCPT'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'disconnect after end of data', sinkArgs: ['-q', '.'], msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: '5xx greeting, smtp_skip_5xx_greeting = no', sinkArgs: ['-f', 'CONNECT'], config: { smtp_skip_5xx_greeting: 'no' }, msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'smtp_line_length_limit = 40', sinkArgs: [], config: { smtp_line_length_limit: '40' }, msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'smtp_never_send_ehlo = yes', sinkArgs: [], config: { smtp_never_send_ehlo: 'yes' }, msg: { sender: 's@postern.test', recipients: two, lines: MIME_8BIT, encoding: '8bit' } },
  { name: 'LMTP success', lmtp: true, sinkArgs: ['-L'], nexthop: 'inet:127.0.0.1:PORT', msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'LMTP end of data 5xx per recipient', lmtp: true, sinkArgs: ['-L', '-f', '.'], nexthop: 'inet:127.0.0.1:PORT', msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'LMTP over a UNIX-domain socket', lmtp: true, unixSink: true, sinkArgs: ['-L'], nexthop: 'unix:PATH', msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'LMTP over a UNIX-domain socket, RCPT 5xx', lmtp: true, unixSink: true, sinkArgs: ['-L', '-f', 'RCPT'], nexthop: 'unix:PATH', msg: { sender: 's@postern.test', recipients: two, lines: PLAIN } },
  { name: 'LMTP 8bit to a server without 8BITMIME', lmtp: true, sinkArgs: ['-L', '-8'], nexthop: 'inet:127.0.0.1:PORT', msg: { sender: 's@postern.test', recipients: two, lines: MIME_8BIT, encoding: '8bit' } },
];

const HARNESS_MAIN = { myhostname: HELO, smtp_helo_name: HELO, lmtp_lhlo_name: HELO, inet_protocols: 'ipv4', smtp_connect_timeout: '5s' };

let oracle: OracleConfig;
/** Per case: the real agent's queue ID and our normalised log lines, compared by the last test. */
const pendingLogs: Array<{ name: string; realId: string; count: number; ours: string[] }> = [];
let h: SmtpHarness;

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this test runs a Postfix instance and needs root');
  oracle = makeOracleConfig({
    prefix: 'smtp-oracle-',
    ownedDirs: ['data'],
    main: { ...ORACLE_MAIN_BASE, inet_protocols: 'ipv4', smtp_helo_name: HELO, lmtp_lhlo_name: HELO, smtp_connect_timeout: '5s' },
    master: [
      ...ORACLE_MAIL_SERVICES,
      'lmtp unix - - n - - lmtp',
      ...CASES.flatMap((c, i) => (c.config ? [`smtp${i} unix - - n - - smtp ${Object.entries(c.config).map(([k, v]) => `-o ${k}=${v}`).join(' ')}`] : [])),
    ],
  });
  await oracle.start();
  await waitFor('the real smtp socket', () => existsSync(join(oracle.queueDir, 'private', 'smtp')), 10_000);
  const { uid, gid } = postfixIds();
  mkdirSync(join(oracle.queueDir, TEST_QUEUE));
  chownSync(join(oracle.queueDir, TEST_QUEUE), uid, gid);
  h = makeSmtpHarness(HARNESS_MAIN);
});

after(async () => {
  h?.close();
  await oracle?.cleanup();
});

function serviceOf(c: Case): string {
  return c.lmtp ? 'lmtp' : c.config ? `smtp${CASES.indexOf(c)}` : 'smtp';
}

async function realSmtp(c: Case, nexthop: string): Promise<{ reply: DeliverReply; queueId: string; done: boolean[] }> {
  const { uid, gid } = postfixIds();
  const w = await writeQueueFile(
    { queueDir: oracle.queueDir, queueName: TEST_QUEUE, longQueueIds: false, hashDepth: 1, hashQueues: ['deferred', 'defer'] },
    { sender: c.msg.sender, recipients: c.msg.recipients, lines: c.msg.lines },
  );
  chownSync(w.path, uid, gid);
  const qf = readQueueFile(w.path);
  assert.ok(qf.ok);
  const now = Date.now();
  const req: DeliverRequest = {
    flags: DEL_REQ_FLAG_DEFLT,
    queueName: TEST_QUEUE,
    queueId: w.queueId,
    dataOffset: qf.file.contentOffset,
    dataSize: qf.file.size!.contentSize,
    nexthop,
    encoding: c.msg.encoding ?? '',
    smtputf8: 0,
    sender: c.msg.sender,
    dsnEnvid: c.msg.dsnEnvid ?? '',
    dsnRet: c.msg.dsnRet ?? 0,
    msgStats: { incomingArrival: now, activeArrival: now, agentHandoff: now, connSetupDone: 0, deliverDone: 0, reuseCount: 0 },
    clientName: '',
    clientAddr: '',
    clientPort: '',
    clientProto: '',
    clientHelo: '',
    saslMethod: '',
    saslUsername: '',
    saslSender: '',
    logIdent: w.queueId,
    rewriteContext: 'local',
    recipients: qf.file.recipients.map((r) => ({ origAddress: r.original ?? '', address: r.address, offset: r.offset, dsnOrcpt: r.dsnOrcpt ?? '', dsnNotify: r.dsnNotify ?? 0 })),
  };
  const r = await deliverRequestCall(join(oracle.queueDir, 'private', serviceOf(c)), req, { timeoutMs: 30_000 });
  assert.ok(r.ok, r.ok ? '' : r.message);
  const after = readQueueFile(w.path);
  return { reply: r.reply, queueId: w.queueId, done: after.ok ? after.file.recipients.map((x) => x.done) : [] };
}

/** "to=<..>, relay=.., dsn=.., status=.. (..)" per recipient, sorted; delays and queue id dropped. */
function normalise(lines: string[], queueId: string): string[] {
  return lines
    .filter((l) => l.includes(`${queueId}: to=<`))
    .map((l) => l.replace(/^.*?: to=</, 'to=<').replace(/, delay=[^,]+, delays=[^,]+/, '').replace(/queued as [0-9A-Za-z]+/, 'queued as ID'))
    .sort();
}

function sinkView(m: SinkMessage): object {
  return { helo: m.helo, mail: m.mailArgs, rcpt: m.rcptArgs, content: m.content };
}

/** smtp-sink on a UNIX-domain socket (peers.ts starts it on TCP only). */
async function startUnixSink(args: string[]): Promise<{ path: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'smtp-oracle-unix-'));
  chmodSync(dir, 0o777);
  const path = join(dir, 'sink.sock');
  const child = spawn('/usr/sbin/smtp-sink', ['-u', 'nobody', ...args, `unix:${path}`, '16'], { stdio: 'ignore' });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  await waitFor('smtp-sink on a UNIX socket', () => existsSync(path), 10_000);
  return {
    path,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

for (const c of CASES.filter((x) => !x.unixSink)) {
  test(`same as Postfix: ${c.name}`, async () => {
    const sink = await startSmtpSink({ extraArgs: c.sinkArgs });
    try {
      let port = sink.port;
      if (c.sinkDown) {
        port = await freePort();
        await sink.stop();
      }
      const nexthop = (c.nexthop ?? '[127.0.0.1]:PORT').replace('PORT', String(port));
      const real = await realSmtp(c, nexthop);
      const realMsgs = c.sinkDown ? [] : sink.messages();
      const hc = c.config ? makeSmtpHarness({ ...HARNESS_MAIN, ...c.config }) : h;
      try {
      const ours = await hc.queue(c.msg, nexthop);
      ours.req.recipients.forEach((r, i) => (r.origAddress = c.msg.recipients[i]!.original ?? ''));
      const reply = await hc.deliver(c.lmtp ? SMTP_MODE.LMTP : SMTP_MODE.SMTP, ours.req);
      const ourMsgs = c.sinkDown ? [] : sink.messages().slice(realMsgs.length);
      assert.deepEqual({ status: reply.status, hop: reply.hop }, { status: real.reply.status, hop: real.reply.hop }, 'agent reply');
      assert.deepEqual(ourMsgs.map(sinkView), realMsgs.map(sinkView), 'what the sink received');
      assert.deepEqual(hc.reread(ours.path).recipients.map((r) => r.done), real.done, 'recipients crossed off');
      pendingLogs.push({ name: c.name, realId: real.queueId, count: c.msg.recipients.length, ours: normalise(hc.logs, ours.req.queueId) });
      } finally {
        if (hc !== h) hc.close();
      }
    } finally {
      await sink.stop();
    }
  });
}

for (const c of CASES.filter((x) => x.unixSink)) {
  test(`same as Postfix: ${c.name}`, async () => {
    const sink = await startUnixSink(c.sinkArgs);
    try {
      const nexthop = c.nexthop!.replace('PATH', sink.path);
      const real = await realSmtp(c, nexthop);
      const ours = await h.queue(c.msg, nexthop);
      ours.req.recipients.forEach((r, i) => (r.origAddress = c.msg.recipients[i]!.original ?? ''));
      const reply = await h.deliver(SMTP_MODE.LMTP, ours.req);
      assert.deepEqual({ status: reply.status, hop: reply.hop }, { status: real.reply.status, hop: real.reply.hop }, 'agent reply');
      assert.deepEqual(h.reread(ours.path).recipients.map((r) => r.done), real.done, 'recipients crossed off');
      pendingLogs.push({ name: c.name, realId: real.queueId, count: c.msg.recipients.length, ours: normalise(h.logs, ours.req.queueId) });
    } finally {
      await sink.stop();
    }
  });
}


/* The real instance's log lines arrive through postlogd, the first ones only after it started: compare them all at the end. */
test('same log lines as Postfix, case by case', async () => {
  assert.equal(pendingLogs.length, CASES.length);
  const want = (): number => pendingLogs.filter((p) => normalise(oracle.readLog().split('\n'), p.realId).length < p.count).length;
  await waitFor('the real agents\' log lines', () => want() === 0, 20_000).catch(() => assert.fail(`log lines missing:\n${oracle.readLog()}`));
  const log = oracle.readLog().split('\n');
  for (const p of pendingLogs) assert.deepEqual(p.ours, normalise(log, p.realId), `log lines of case "${p.name}"`);
});
