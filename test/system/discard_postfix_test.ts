/*
 * discard_postfix_test - Postern's delivery request protocol and delivery log line against the real Postfix
 *
 * (1) Postern as qmgr, the real discard(8) as agent: deliverRequestCall()
 * hands the real agent requests for a queue file Postern wrote, with
 * chosen MsgStats time stamps (agent hand-off, connection set-up and
 * delivery done included, so every delay the agent logs is fixed). The
 * real agent must accept each request, answer OK, log exactly the line
 * formatLogAdhoc() makes for the same input (delay precision with
 * delay_logging_resolution_limit 0, 2 and 6, orig_to, conn_use,
 * info_log_address_format), and cross the recipients off in our file.
 *
 * (2) The real qmgr, Postern's discard(8) as agent: the instance's
 * default_transport is a socket this test serves with
 * serveDeliveryConnection() + discardDeliver(); the real qmgr must see
 * every recipient done (it logs "removed"), and our log lines must have
 * the form the real discard's have for the same next-hop.
 *
 * (3) The real qmgr and bounce(8), Postern's error(8) as agent: our
 * bounceAppend() must reach the real bounce service, which then sends
 * the sender's non-delivery notification, and qmgr removes the message;
 * our line is the one the real error(8) logs for a next-hop without a
 * status: "dsn=5.0.0, status=bounced (error.example)".
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE, type OracleConfig, postfixIds } from '../lib/postfix_oracle.js';
import { DEL_REQ_FLAG_DEFLT, DEL_STAT, deliverRequestCall, emptyDeliverRequest } from '../../src/global/deliver_request.js';
import { dsnMake } from '../../src/global/dsn.js';
import { formatLogAdhoc } from '../../src/global/log_adhoc.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import type { MsgStats } from '../../src/global/msg_stats.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { writeQueueFile } from '../../src/global/queue_file_write.js';
import { serveDeliveryConnection } from '../../src/global/delivery_agent.js';
import { discardDeliver } from '../../src/discard/discard.js';
import { errorDeliver } from '../../src/error/error.js';
import { msgSetSinks, type MsgSink } from '../../src/util/msg.js';

const WAIT_STEP_MS = 50;
const WAIT_STEPS = 200;
/** Queue directory for the files of test (1), out of qmgr's way. */
const TEST_QUEUE = 'dtest';

let oracle: OracleConfig;
let confDirs: string;

/** main.cf values the extra discard services override, and a MailConfig with the same for formatLogAdhoc. */
const SERVICES: Record<string, Record<string, string>> = {
  discard: {},
  discard0: { delay_logging_resolution_limit: '0' },
  discard6: { delay_logging_resolution_limit: '6' },
  discardi: { info_log_address_format: 'internal' },
};

function configFor(service: string): MailConfig {
  const dir = join(confDirs, service);
  const lines = Object.entries(SERVICES[service]!).map(([k, v]) => `${k} = ${v}\n`);
  writeFileSync(join(dir, 'main.cf'), lines.join(''));
  return loadMailConfig({ configDir: dir });
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this test runs a Postfix instance and needs root');
  oracle = makeOracleConfig({
    prefix: 'discard-postfix-',
    ownedDirs: ['data'],
    main: { ...ORACLE_MAIN_BASE, inet_protocols: 'ipv4', default_transport: 'capture', transport_maps: 'inline:{error.example=capture2}' },
    master: [
      ...ORACLE_MAIL_SERVICES,
      ...Object.entries(SERVICES)
        .filter(([name]) => name !== 'discard')
        .map(([name, o]) => `${name} unix - - n - - discard ${Object.entries(o).map(([k, v]) => `-o ${k}=${v}`).join(' ')}`),
    ],
  });
  confDirs = mkdtempSync(join(tmpdir(), 'discard-postfix-conf-'));
  for (const s of Object.keys(SERVICES)) mkdirSync(join(confDirs, s));
  await oracle.start();
  await waitFor(() => existsSync(join(oracle.queueDir, 'private', 'discard6')), 'the discard sockets');
});

after(async () => {
  await oracle?.cleanup();
  if (confDirs) rmSync(confDirs, { recursive: true, force: true });
});

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < WAIT_STEPS; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
  }
  assert.fail(`timed out waiting for ${what}\n${oracle.readLog()}`);
}

interface Case {
  service: string;
  /** Offsets in seconds from the arrival: active, hand-off, connection set-up (null: none), done. */
  t: [number, number, number | null, number];
  address: string;
  orig: string;
  reuse?: number;
}

const CASES: Case[] = [
  { service: 'discard', t: [0.0004, 0.012345, 0.01238, 1.5], address: 'a1@example.com', orig: 'a1@example.com' },
  { service: 'discard', t: [0.999999, 10.949999, null, 12.3456], address: 'a2@example.com', orig: 'A2@Example.COM' },
  { service: 'discard', t: [123.456, 124.0, 124.004999, 200.5], address: 'a3@example.com', orig: 'other@example.com', reuse: 2 },
  { service: 'discard', t: [9.95, 9.951, 9.96, 99.949], address: 'a4@example.com', orig: '' },
  { service: 'discard0', t: [0.0123, 1.56, 1.57, 12.5], address: 'a5@example.com', orig: 'a5@example.com' },
  { service: 'discard6', t: [0.000123, 0.0001234, 0.1234567, 3.0000015], address: 'a6@example.com', orig: 'a6@example.com' },
  { service: 'discard6', t: [1.5, 1.25, 1.0, 1.000001], address: 'a7@example.com', orig: 'a7@example.com' },
  { service: 'discard', t: [0.05, 0.1, 0.1, 0.1], address: 'john doe@example.com', orig: 'john doe@example.com' },
  { service: 'discardi', t: [0.05, 0.1, 0.1, 0.1], address: 'john doe@example.com', orig: 'x y@example.com' },
];

test('(1) the real discard(8) takes our requests, logs our log_adhoc line and crosses off our queue file', async () => {
  const { uid, gid } = postfixIds();
  // A queue of our own: the real qmgr moves files it finds in active/ (and locks them).
  mkdirSync(join(oracle.queueDir, TEST_QUEUE));
  chownSync(join(oracle.queueDir, TEST_QUEUE), uid, gid);
  const { path, queueId } = await writeQueueFile(
    { queueDir: oracle.queueDir, queueName: TEST_QUEUE, longQueueIds: false, hashDepth: 1, hashQueues: ['deferred', 'defer'] },
    {
      sender: 'sender@example.org',
      recipients: CASES.map((c) => ({ address: c.address, ...(c.orig ? { original: c.orig } : {}) })),
      lines: ['Subject: discard me', '', 'body'],
    },
  );
  chownSync(path, uid, gid);
  const qf = readQueueFile(path);
  assert.ok(qf.ok);
  const base = Math.floor(Date.now() / 1000) * 1000 - 3_600_000 + 0.25;
  const expected: string[] = [];
  for (const [i, c] of CASES.entries()) {
    const r = qf.file.recipients[i]!;
    const stats: MsgStats = {
      incomingArrival: base,
      activeArrival: base + c.t[0] * 1000,
      agentHandoff: base + c.t[1] * 1000,
      connSetupDone: c.t[2] === null ? 0 : base + c.t[2] * 1000,
      deliverDone: base + c.t[3] * 1000,
      reuseCount: c.reuse ?? 0,
    };
    const rcpt = { origAddress: c.orig, address: c.address, offset: r.offset, dsnOrcpt: '', dsnNotify: 0 };
    const req = emptyDeliverRequest({
      flags: DEL_REQ_FLAG_DEFLT,
      queueName: TEST_QUEUE,
      queueId,
      dataOffset: qf.file.contentOffset,
      dataSize: 40,
      nexthop: `next hop ${i}`,
      sender: 'sender@example.org',
      msgStats: stats,
      recipients: [rcpt],
    });
    const reply = await deliverRequestCall(join(oracle.queueDir, 'private', c.service), req, { timeoutMs: 10_000 });
    assert.ok(reply.ok, reply.ok ? '' : reply.message);
    assert.deepEqual(reply.reply, { status: DEL_STAT.OK, hop: null }, `case ${i}`);
    expected.push(formatLogAdhoc({ config: configFor(c.service) }, queueId, stats, rcpt, 'none', dsnMake('2.0.0', `next hop ${i}`), 'sent'));
  }
  const got = (): string[] =>
    oracle
      .readLog()
      .split('\n')
      .filter((l) => l.includes(`${queueId}: to=<`))
      .map((l) => l.replace(/^.*?postfix\/discard\[\d+\]: /, ''));
  await waitFor(() => got().length >= CASES.length, 'the discard log lines');
  assert.deepEqual(got(), expected);
  const after = readQueueFile(path);
  assert.ok(after.ok);
  assert.deepEqual(after.file.recipients.map((r) => r.done), CASES.map(() => true));
});

test('(2) the real qmgr delivers through Postern discard(8): every recipient done, log lines in Postfix form', async () => {
  const lines: string[] = [];
  const sink: MsgSink = { write: (sev, text) => lines.push(sev === 'info' ? text : `${sev}: ${text}`) };
  const config = loadMailConfig({ configDir: oracle.confDir });
  const sock = join(oracle.queueDir, 'private', 'capture');
  const server: Server = createServer((s) => {
    void serveDeliveryConnection(s, discardDeliver, {
      config,
      serviceName: 'capture',
      serviceType: 'unix',
      programName: 'discard',
      args: [],
      signal: new AbortController().signal,
    }).finally(() => s.destroy());
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const { uid, gid } = postfixIds();
  chownSync(sock, uid, gid);
  msgSetSinks([sink]);
  try {
    const sent = await oracle.run('/usr/sbin/sendmail', ['-f', 'alice@example.org', 'Bob@example.com', 'carol@example.net'], { input: 'Subject: hi\n\nbody\n' });
    assert.equal(sent.status, 0, sent.stderr);
    await waitFor(() => /: removed/.test(oracle.readLog()), 'qmgr to remove the message');
  } finally {
    msgSetSinks([]);
    server.close();
  }
  const id = /postfix\/qmgr\[\d+\]: ([0-9A-F]+): removed/.exec(oracle.readLog())?.[1];
  assert.ok(id, oracle.readLog());
  const ours = lines.filter((l) => l.startsWith(`${id}: to=<`)).sort();
  assert.equal(ours.length, 2, lines.join('\n'));
  const re = (to: string, domain: string) =>
    new RegExp(`^${id}: to=<${to}>, relay=none, delay=\\d+(\\.\\d+)?, delays=(\\d+(\\.\\d+)?/){3}\\d+(\\.\\d+)?, dsn=2\\.0\\.0, status=sent \\(${domain.replace('.', '\\.')}\\)$`);
  assert.match(ours[0]!, re('Bob@example.com', 'example.com'));
  assert.match(ours[1]!, re('carol@example.net', 'example.net'));
});

test('(3) the real qmgr and bounce(8) with Postern error(8): bounced, notification sent, message removed', async () => {
  const lines: string[] = [];
  const sink: MsgSink = { write: (sev, text) => lines.push(sev === 'info' ? text : `${sev}: ${text}`) };
  const config = loadMailConfig({ configDir: oracle.confDir });
  const sock = join(oracle.queueDir, 'private', 'capture2');
  const server: Server = createServer((s) => {
    void serveDeliveryConnection(s, errorDeliver, {
      config,
      serviceName: 'error',
      serviceType: 'unix',
      programName: 'error',
      args: [],
      signal: new AbortController().signal,
    }).finally(() => s.destroy());
  });
  await new Promise<void>((r) => server.listen(sock, r));
  const { uid, gid } = postfixIds();
  chownSync(sock, uid, gid);
  msgSetSinks([sink]);
  try {
    const sent = await oracle.run('/usr/sbin/sendmail', ['-f', 'alice@example.org', 'zed@error.example'], { input: 'Subject: bounce me\n\nbody\n' });
    assert.equal(sent.status, 0, sent.stderr);
    await waitFor(() => lines.some((l) => l.includes(' to=<zed@error.example>')) && removedAfterBounce(), 'the bounce notification and the removal');
  } finally {
    msgSetSinks([]);
    server.close();
  }
  const ours = lines.filter((l) => l.includes(' to=<zed@error.example>'));
  assert.equal(ours.length, 1, lines.join('\n'));
  assert.match(ours[0]!, /^([0-9A-F]+): to=<zed@error\.example>, relay=none, delay=\d+(\.\d+)?, delays=(\d+(\.\d+)?\/){3}\d+(\.\d+)?, dsn=5\.0\.0, status=bounced \(error\.example\)$/);
  const qid = ours[0]!.split(':')[0]!;
  assert.match(oracle.readLog(), new RegExp(`postfix/bounce\\[\\d+\\]: ${qid}: sender non-delivery notification: [0-9A-F]+`));
  assert.match(oracle.readLog(), new RegExp(`postfix/qmgr\\[\\d+\\]: ${qid}: removed`));
});

/** The message that went to error.example has been bounced and removed by the real Postfix. */
function removedAfterBounce(): boolean {
  const log = oracle.readLog();
  const m = /bounce\[\d+\]: ([0-9A-F]+): sender non-delivery notification/.exec(log);
  return m !== null && new RegExp(`qmgr\\[\\d+\\]: ${m[1]}: removed`).test(log);
}
