/*
 * cleanup_test - the cleanup service in this process: files, statuses, failures, concurrency
 *
 * Postern's cleanup_clnt.ts talks to cleanupService() through its
 * in-process endpoint or a UNIX socket in a temporary queue directory.
 * The byte-for-byte comparison with the real cleanup is in
 * test/oracle/cleanup_queue_file_test.ts; here: the ready mode, the qmgr
 * trigger, hold, a client that disappears or stalls (no file left
 * behind), garbage, oversized records, many concurrent clients, and the
 * service running inside the server skeleton of src/master/mail_server.ts.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { cleanupOpen } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { createDuplexPair } from '../global/ipc/attr_inproc.js';
import { MailConfig } from '../global/mail_conf.js';
import { readQueueFile } from '../global/queue_file_read.js';
import { REC_TYPE } from '../global/rec_type.js';
import { encodeRecord } from '../global/record.js';
import { createMailServer } from '../master/mail_server.js';
import { encodeAttr0 } from '../util/attr0.js';
import { msgSetSinks } from '../util/msg.js';
import { type CleanupService, cleanupService } from './cleanup.js';

let dir = '';
const logs: string[] = [];

function config(o: Record<string, string> = {}): MailConfig {
  return new MailConfig(join(dir, 'etc'), [], {
    queue_directory: dir,
    myhostname: 'host.example',
    mydomain: 'example',
    myorigin: 'origin.example',
    mydestination: '',
    compatibility_level: '3.6',
    ...o,
  });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-cleanup-'));
  for (const d of ['incoming', 'hold', 'public', 'private']) mkdirSync(join(dir, d));
  msgSetSinks([{ write: (sev, text) => void logs.push(`${sev}: ${text}`) }]);
});
after(() => {
  msgSetSinks([]);
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  logs.length = 0;
});

const BASIC: Array<[number, string]> = [
  [REC_TYPE.TIME, '1764361000 5'],
  [REC_TYPE.ATTR, 'rewrite_context=remote'],
  [REC_TYPE.FROM, 'joe@example.org'],
  [REC_TYPE.RCPT, 'bob@example.com'],
  [REC_TYPE.MESG, ''],
  [REC_TYPE.NORM, 'Received: by test'],
  [REC_TYPE.NORM, 'Subject: hi'],
  [REC_TYPE.NORM, ''],
  [REC_TYPE.NORM, 'body'],
  [REC_TYPE.XTRA, ''],
];

async function submit(svc: CleanupService, recs: Array<[number, string]>, flags: number = CLEANUP_FLAG.MASK_EXTERNAL) {
  const r = await cleanupOpen({ queueDir: dir, flags, endpoint: svc.endpoint(), timeoutMs: 5000 });
  if (!r.ok) assert.fail(r.reason);
  for (const [t, d] of recs) r.session.record(t, d);
  return { queueId: r.session.queueId, ...(await r.session.end()) };
}

function files(q: string): string[] {
  return readdirSync(join(dir, q));
}

test('a message lands in incoming, complete, and qmgr is triggered', async () => {
  const triggers: string[] = [];
  const qmgr = createServer((s) => s.on('data', (b) => triggers.push(b.toString('latin1'))));
  await new Promise<void>((r) => qmgr.listen(join(dir, 'public', 'qmgr'), r));
  try {
    const svc = cleanupService(config());
    const res = await submit(svc, BASIC);
    assert.deepEqual({ status: res.status, reason: res.reason }, { status: 0, reason: '' });
    const path = join(dir, 'incoming', res.queueId);
    assert.equal(statSync(path).mode & 0o777, 0o700);
    const q = readQueueFile(path, { content: true });
    assert.ok(q.ok, !q.ok ? q.error.message : '');
    assert.equal(q.file.sender, 'joe@example.org');
    assert.deepEqual(q.file.recipients.map((x) => x.address), ['bob@example.com']);
    assert.equal(q.file.size?.rcptCount, 1);
    rmSync(path);
    assert.ok(logs.includes(`info: ${res.queueId}: message-id=<>`), logs.join('\n'));
    for (let i = 0; i < 100 && triggers.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(triggers.join('').replace(/\0$/, ''), 'I');
  } finally {
    qmgr.close();
    rmSync(join(dir, 'public', 'qmgr'), { force: true });
  }
});

test('status bits and no file on rejection', async () => {
  const svc = cleanupService(config({ hopcount_limit: '1' }), { triggerQmgr: false });
  const res = await submit(svc, BASIC);
  assert.equal(res.status, CLEANUP_STAT.HOPS);
  assert.ok(logs.includes(`warning: ${res.queueId}: message rejected: hopcount exceeded`), logs.join('\n'));
  const none = await submit(cleanupService(config(), { triggerQmgr: false }), BASIC.filter(([t]) => t !== REC_TYPE.RCPT));
  assert.equal(none.status, CLEANUP_STAT.RCPT);
  assert.deepEqual(files('incoming'), []);
});

test('a HOLD request puts the message in the hold queue', async () => {
  const svc = cleanupService(config(), { triggerQmgr: false });
  const res = await submit(svc, [[REC_TYPE.FLGS, String(CLEANUP_FLAG.HOLD)], ...BASIC]);
  assert.equal(res.status, 0);
  assert.deepEqual(files('hold'), [res.queueId]);
  assert.equal(statSync(join(dir, 'hold', res.queueId)).mode & 0o777, 0o700);
  rmSync(join(dir, 'hold', res.queueId));
});

test('a client that goes away leaves no file', async () => {
  const svc = cleanupService(config(), { triggerQmgr: false });
  const [client, server] = createDuplexPair();
  const done = svc.serve(server);
  client.on('data', () => undefined);
  client.write(encodeAttr0([{ name: 'flags', value: '0' }]));
  client.write(Buffer.concat(BASIC.slice(0, 5).map(([t, d]) => encodeRecord(t, d))));
  await new Promise((r) => setTimeout(r, 50));
  client.destroy();
  await done;
  assert.deepEqual(files('incoming'), []);
});

test('a client that leaves right after its end record does not lose the message', async () => {
  const svc = cleanupService(config(), { triggerQmgr: false });
  const path = join(dir, 'public', 'leaver');
  let served: Promise<void> = Promise.resolve();
  const listener = createServer((sock) => {
    served = svc.serve(sock);
  });
  await new Promise<void>((r) => listener.listen(path, r));
  try {
    const sock = connect(path);
    sock.on('error', () => undefined);
    // A real client reads the announcement (its queue id) first.
    await new Promise<void>((r) => sock.once('data', () => r()));
    const all = Buffer.concat([encodeAttr0([{ name: 'flags', value: '0' }]), ...BASIC.map(([t, d]) => encodeRecord(t, d)), encodeRecord(REC_TYPE.END, '')]);
    // All bytes reach the socket, then the client is gone without reading the reply.
    await new Promise<void>((r) => sock.end(all, () => r()));
    sock.destroy();
    for (let i = 0; i < 200 && files('incoming').length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    await served;
    const left = files('incoming');
    assert.equal(left.length, 1, logs.join('\n'));
    assert.equal(statSync(join(dir, 'incoming', left[0]!)).mode & 0o777, 0o700);
    rmSync(join(dir, 'incoming', left[0]!));
  } finally {
    listener.close();
  }
});

test('a client that stalls is timed out (ipc_timeout) and leaves no file', async () => {
  const svc = cleanupService(config({ ipc_timeout: '1s' }), { triggerQmgr: false });
  const [client, server] = createDuplexPair();
  const done = svc.serve(server);
  client.on('data', () => undefined);
  client.write(encodeAttr0([{ name: 'flags', value: '0' }]));
  await done;
  assert.deepEqual(files('incoming'), []);
  assert.ok(logs.some((l) => /read timeout/.test(l)), logs.join('\n'));
  client.destroy();
});

test('a malformed flags list: internal protocol error', async () => {
  const svc = cleanupService(config(), { triggerQmgr: false });
  const [client, server] = createDuplexPair();
  const done = svc.serve(server);
  const got: Buffer[] = [];
  client.on('data', (b: Buffer) => got.push(b));
  client.write(Buffer.concat([encodeAttr0([{ name: 'flags', value: 'many' }]), ...BASIC.map(([t, d]) => encodeRecord(t, d)), encodeRecord(REC_TYPE.END, '')]));
  await done;
  const text = Buffer.concat(got).toString('latin1');
  assert.match(text, /status\x001\x00reason\x00\x00\x00$/);
  assert.deepEqual(files('incoming'), []);
  client.destroy();
});

test('an oversized record drops the connection and the file', async () => {
  const svc = cleanupService(config(), { triggerQmgr: false });
  const r = await cleanupOpen({ queueDir: dir, flags: 0, endpoint: svc.endpoint(), timeoutMs: 5000 });
  assert.ok(r.ok);
  r.session.record(REC_TYPE.TIME, 'x'.repeat(2 * 1024 * 1024));
  const reply = await r.session.end();
  assert.equal(reply.status, CLEANUP_STAT.WRITE);
  await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(files('incoming'), []);
});

test('many concurrent clients in one process', async () => {
  const svc = cleanupService(config(), { triggerQmgr: false });
  const results = await Promise.all(Array.from({ length: 30 }, () => submit(svc, BASIC)));
  assert.ok(results.every((r) => r.status === 0));
  const ids = new Set(results.map((r) => r.queueId));
  assert.equal(ids.size, 30);
  assert.deepEqual(new Set(files('incoming')), ids);
  for (const id of ids) rmSync(join(dir, 'incoming', id));
});

test('runs inside the single-server skeleton on a UNIX socket', async () => {
  const cfg = config();
  const svc = cleanupService(cfg, { triggerQmgr: false });
  const ms = createMailServer('single', { programName: 'cleanup', service: (s) => svc.serve(s) }, { config: cfg, serviceName: 'cleanup' });
  await ms.init();
  const path = join(dir, 'public', 'cleanup');
  const listener: Server = createServer((sock) => ms.client(sock));
  await new Promise<void>((r) => listener.listen(path, r));
  try {
    const r = await cleanupOpen({ queueDir: dir, flags: CLEANUP_FLAG.MASK_EXTERNAL, timeoutMs: 5000 });
    assert.ok(r.ok, !r.ok ? r.reason : '');
    for (const [t, d] of BASIC) r.session.record(t, d);
    const reply = await r.session.end();
    assert.equal(reply.status, 0);
    assert.ok(existsSync(join(dir, 'incoming', r.session.queueId)));
    rmSync(join(dir, 'incoming', r.session.queueId));
  } finally {
    listener.close();
    ms.stop();
  }
});
