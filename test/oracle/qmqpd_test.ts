/*
 * qmqpd_test - our qmqpd against the real qmqpd(8), with a QMQP client written here
 *
 * What it does: starts a throwaway real Postfix with two qmqpd services
 * on loopback ports (one authorizing 127.0.0.1, one authorizing nobody
 * we are), cleanup and trivial-rewrite, and no qmgr (queue files stay
 * in incoming). Our qmqpdService() runs in this process behind its own
 * loopback listeners with the same settings, sending to the real
 * cleanup, and a second time to our cleanup (cleanupService on a socket
 * of its own). Each case is one QMQP request built with the netstring
 * encoder below (or raw bytes for protocol errors): the replies must be
 * equal (queue IDs masked) and so must the real postcat's view of the
 * queue files (IDs, dates, client ports masked).
 *
 * What it does not do: DNS (the client is 127.0.0.1, named localhost by
 * /etc/hosts for both), or timeouts (qmqpd_netstring_test does).
 *
 * DIAGNOSTICS
 * Assertion failures name the case and show both replies or files.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runProgram } from '../lib/paths.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, writeMainCf, type OracleConfig } from '../lib/postfix_oracle.js';
import { freePort, waitForPort } from '../lib/proc.js';
import { waitUntil } from '../lib/temp_dir.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import { namadrListInit } from '../../src/global/namadr_list.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { qmqpdService } from '../../src/qmqpd/qmqpd.js';
import { msgSetSinks } from '../../src/util/msg.js';

const WAIT_MS = 30_000;
const REPLY_MAX = 4096;

/** The netstring encoder of this test's QMQP client. */
function ns(data: string | Buffer): Buffer {
  const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return Buffer.concat([Buffer.from(`${b.length}:`), b, Buffer.from(',')]);
}

function qmqp(message: string | Buffer, sender: string, recipients: string[]): Buffer {
  return ns(Buffer.concat([ns(message), ns(sender), ...recipients.map((r) => ns(r))]));
}

interface Case {
  name: string;
  request: Buffer;
  /** Use the service that does not authorize us. */
  denied?: boolean;
  queued: boolean;
}

const CASES: Case[] = [
  { name: 'one recipient', request: qmqp('Subject: test\nFrom: a@b\n\nhello\n', 'sender@example.com', ['rcpt1@example.com']), queued: true },
  { name: 'several recipients', request: qmqp('Subject: t\n\nbody\n', 's@x', ['r1@x', 'r2@y', 'r3@z']), queued: true },
  { name: 'quoted recipient', request: qmqp('Subject: t\n\nbody\n', 's@x', ['"odd user"@x']), queued: true },
  { name: 'VERP sender', request: qmqp('Subject: t\n\nbody\n', 'list-@origin.example-@[]', ['r@x']), queued: true },
  { name: 'From_ lines', request: qmqp('From x Sat\n>From y\nSubject: a\n\nbody\nFrom inside\n', 's@x', ['r@y']), queued: true },
  { name: 'leading white space', request: qmqp(' leading\nSubject: a\n\nbody', 's@x', ['r@y']), queued: true },
  { name: 'long line, no newline at end', request: qmqp(`Subject: a\n\n${'x'.repeat(5000)}\n${'y'.repeat(2048)}\nlast`, 's@x', ['r@y']), queued: true },
  { name: '8-bit content', request: qmqp(Buffer.from('Subject: caf\xe9\n\nh\xe9llo \xff\n', 'latin1'), 's@x', ['r@y']), queued: true },
  { name: 'null sender', request: qmqp('Subject: a\n\nb\n', '', ['r@y']), queued: true },
  { name: 'no recipients', request: qmqp('Subject: a\n\nb\n', 's@x', []), queued: false },
  { name: 'bad VERP delimiter', request: qmqp('Subject: a\n\nb\n', 'list#@origin.example-@[]', ['r@x']), queued: false },
  { name: 'netstring format error', request: Buffer.from('5:abc,'), queued: false },
  { name: 'sender too long', request: qmqp('Subject: a\n\nb\n', `${'s'.repeat(3000)}@x`, ['r@x']), queued: false },
  { name: 'client not authorized', request: qmqp('Subject: a\n\nb\n', 's@x', ['r@x']), denied: true, queued: false },
];

const MAIN = { ...ORACLE_MAIN_BASE, qmqpd_authorized_clients: '127.0.0.1', qmqpd_error_delay: '0s' };
const DENY_LIST = '192.0.2.1';

let real: OracleConfig;
let ours: OracleConfig;
let oursConfig: MailConfig;
let ports: { real: number; realDenied: number; ours: number; oursDenied: number; oursOwn: number };
const servers: Server[] = [];
const sockets = new Set<import('node:net').Socket>();

function incoming(queueDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  walk(join(queueDir, 'incoming'));
  return out.sort();
}

function send(port: number, request: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const s = connect(port, '127.0.0.1', () => s.write(request));
    s.setTimeout(WAIT_MS, () => s.destroy(new Error('reply timeout')));
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      size += b.length;
      if (size > REPLY_MAX) s.destroy(new Error('reply too long'));
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      // A server that refuses a request closes before reading all of it: the
      // reset may overtake the close, but not the reply that came first.
      if (err.code === 'ECONNRESET' && size > 0) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(new Error(`port ${port}: ${err.message} after ${size} reply bytes`));
    });
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

const DATE = /\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/g;

async function postcat(file: string): Promise<string> {
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', real.confDir, file], { env: real.env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .replace(/\b[0-9A-F]{10,12}\b/g, 'QUEUEID')
    .replace(DATE, 'DATE')
    .replace(/client_port=\d+/g, 'client_port=PORT')
    // The data offset depends on the length of the client port numbers.
    .replace(/^(message_size: +\d+) +\d+/m, '$1 OFFSET')
    .replace(/^Message-Id: <\d{14}\./m, 'Message-Id: <TIME.')
    .split('\n')
    .filter((l) => !/^(create_time|message_arrival_time):/.test(l) && !l.startsWith('*** '))
    .join('\n');
}

/** As the single-server skeleton does: the connection ends when the service returns. */
function serve(s: import('node:net').Socket, opts: Parameters<typeof qmqpdService>[2]): void {
  void qmqpdService(s, oursConfig, opts).finally(() => s.end());
}

async function listen(handler: (s: import('node:net').Socket) => void): Promise<number> {
  const port = await freePort();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    handler(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return port;
}

before(async () => {
  const realPort = await freePort();
  const deniedPort = await freePort();
  real = makeOracleConfig({
    prefix: 'postern-qmqpd-real-',
    ownedDirs: ['data'],
    main: MAIN,
    master: [
      `127.0.0.1:${realPort} inet n - n - - qmqpd`,
      `127.0.0.1:${deniedPort} inet n - n - - qmqpd -o qmqpd_authorized_clients=${DENY_LIST}`,
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  await real.start();
  await waitForPort(realPort);
  ours = makeOracleConfig({ prefix: 'postern-qmqpd-ours-', main: MAIN, queueDirs: ['incoming', 'public'] });
  writeMainCf(ours.confDir, { ...MAIN, queue_directory: ours.queueDir, maillog_file: '' });
  oursConfig = loadMailConfig({ configDir: ours.confDir });
  const ownCleanup = cleanupService(oursConfig, { triggerQmgr: false });
  const cleanupPath = join(ours.queueDir, 'public', 'cleanup');
  const cs = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    void ownCleanup.serve(s);
  });
  servers.push(cs);
  await new Promise<void>((r) => cs.listen(cleanupPath, () => r()));
  const realCleanup = join(real.queueDir, 'public', 'cleanup');
  const denied = namadrListInit('qmqpd_authorized_clients', 0, DENY_LIST);
  ports = {
    real: realPort,
    realDenied: deniedPort,
    ours: await listen((s) => serve(s, { cleanupEndpoint: realCleanup })),
    oursDenied: await listen((s) => serve(s, { cleanupEndpoint: realCleanup, clients: denied })),
    oursOwn: await listen((s) => serve(s, { cleanupEndpoint: cleanupPath })),
  };
  msgSetSinks([{ write: () => {} }]);
  await runAll();
});

after(async () => {
  msgSetSinks([]);
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  await real?.cleanup();
  await ours?.cleanup();
});

interface Outcome {
  real: string;
  ours: string;
  own: string;
}
const outcomes = new Map<string, Outcome>();

function queued(reply: string): string | null {
  return /queued as ([0-9A-F]+),$/.exec(reply)?.[1] ?? null;
}

/** Every file in incoming must belong to a queued reply once cleanup has dropped the refused ones. */
async function settled(queueDir: string, replies: string[]): Promise<void> {
  const ids = new Set(replies.map(queued).filter((x): x is string => x !== null));
  const extra = (): string[] => incoming(queueDir).filter((f) => !ids.has(f.slice(f.lastIndexOf('/') + 1)));
  assert.ok(await waitUntil(() => extra().length === 0, WAIT_MS), `queue files nobody was told about: ${extra().join(' ')}`);
}

async function runAll(): Promise<void> {
  // All requests at once: the reply names each queue file.
  await Promise.all(
    CASES.map(async (c) => {
      const [r, o, w] = await Promise.all([
        send(c.denied ? ports.realDenied : ports.real, c.request),
        send(c.denied ? ports.oursDenied : ports.ours, c.request),
        send(c.denied ? ports.oursDenied : ports.oursOwn, c.request),
      ]);
      outcomes.set(c.name, { real: r, ours: o, own: w });
    }),
  );
  const all = [...outcomes.values()];
  await settled(real.queueDir, [...all.map((o) => o.real), ...all.map((o) => o.ours), ...all.map((o) => o.own)]);
  await settled(ours.queueDir, all.map((o) => o.own));
}

for (const c of CASES) {
  test(`qmqpd oracle: ${c.name}`, async () => {
    const o = outcomes.get(c.name);
    assert.ok(o, 'case did not run');
    const mask = (r: string): string => r.replace(/queued as [0-9A-F]+/, 'queued as QUEUEID');
    assert.equal(mask(o.ours), mask(o.real));
    assert.equal(mask(o.own), mask(o.real), 'our qmqpd + our cleanup: reply');
    assert.match(o.real, c.queued ? /^\d+:KOk: queued as / : /^\d+:[DZ]/);
    if (!c.queued) return;
    const expected = await postcat(join(real.queueDir, 'incoming', queued(o.real)!));
    assert.equal(await postcat(join(real.queueDir, 'incoming', queued(o.ours)!)), expected, 'our qmqpd + real cleanup');
    assert.equal(await postcat(join(ours.queueDir, 'incoming', queued(o.own)!)), expected, 'our qmqpd + our cleanup');
  });
}
