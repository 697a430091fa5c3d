/*
 * error_master_test - discard(8), error(8) and the retry service as master runs them
 *
 * A Postern instance runs postlogd and the three agent services (no
 * qmgr: this test is qmgr). For a queue file Postern wrote in active/,
 * deliverRequestCall() hands each agent a request over its
 * private/<service> socket, exactly as qmgr will: the agents must start
 * under master through deliveryAgentMain(), answer with Postfix's
 * statuses, log Postfix's lines to the maillog (checked against the real
 * Postfix in src/discard/discard_test.ts, src/error/error_test.ts) and
 * cross off what they delivered or bounced — and only that.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { PosternInstance } from '../lib/instance.js';
import { postfixIds } from '../lib/postfix_oracle.js';
import { DEL_STAT, deliverRequestCall, emptyDeliverRequest } from '../../src/global/deliver_request.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { writeQueueFile } from '../../src/global/queue_file_write.js';

let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'error-master-',
    masterLines: [
      'postlog unix-dgram n - n - 1 postlogd',
      'discard unix - - n - - discard',
      'error unix - - n - - error',
      'retry unix - - n - - error',
    ],
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

async function queueFile(addresses: string[]) {
  const active = join(inst.queueDir, 'active');
  if (!existsSync(active)) mkdirSync(active);
  const { path, queueId } = await writeQueueFile(
    { queueDir: inst.queueDir, queueName: 'active', longQueueIds: false, hashDepth: 1, hashQueues: ['deferred', 'defer'] },
    { sender: 'sender@example.org', recipients: addresses.map((address) => ({ address })), lines: ['Subject: x', '', 'body'] },
  );
  // The agents run as mail_owner when master runs as root.
  if (process.getuid?.() === 0) {
    const { uid, gid } = postfixIds();
    chownSync(path, uid, gid);
  }
  const r = readQueueFile(path);
  assert.ok(r.ok);
  return { path, queueId, file: r.file };
}

async function deliver(service: string, qf: Awaited<ReturnType<typeof queueFile>>, nexthop: string) {
  const req = emptyDeliverRequest({
    queueName: 'active',
    queueId: qf.queueId,
    dataOffset: qf.file.contentOffset,
    nexthop,
    sender: 'sender@example.org',
    recipients: qf.file.recipients.map((r) => ({ origAddress: r.address, address: r.address, offset: r.offset, dsnOrcpt: '', dsnNotify: 0 })),
  });
  req.msgStats.incomingArrival = Date.now() - 1000;
  req.msgStats.activeArrival = Date.now() - 500;
  const r = await deliverRequestCall(join(inst.queueDir, 'private', service), req, { timeoutMs: 15_000 });
  assert.ok(r.ok, r.ok ? '' : `${r.message}\n${inst.log()}`);
  return r.reply;
}

const DELAYS = 'delay=\\d+(\\.\\d+)?, delays=\\d+(\\.\\d+)?/\\d+(\\.\\d+)?/0/\\d+(\\.\\d+)?';

test('discard under master: sent, crossed off', async () => {
  const qf = await queueFile(['a@example.com', 'b@example.com']);
  assert.deepEqual(await deliver('discard', qf, 'example.com'), { status: DEL_STAT.OK, hop: null });
  await inst.waitLog(new RegExp(`postfix/discard\\[\\d+\\]: ${qf.queueId}: to=<b@example\\.com>, relay=none, ${DELAYS}, dsn=2\\.0\\.0, status=sent \\(example\\.com\\)`));
  assert.match(inst.log(), new RegExp(`postfix/discard\\[\\d+\\]: ${qf.queueId}: to=<a@example\\.com>, relay=none, ${DELAYS}, dsn=2\\.0\\.0, status=sent \\(example\\.com\\)`));
  const r = readQueueFile(qf.path);
  assert.ok(r.ok);
  assert.deepEqual(r.file.recipients.map((x) => x.done), [true, true]);
});

test('retry under master: deferred (no defer service: the warning), kept, DEFER', async () => {
  const qf = await queueFile(['c@example.com']);
  assert.deepEqual(await deliver('retry', qf, '4.4.1 host down'), { status: DEL_STAT.DEFER, hop: null });
  await inst.waitLog(new RegExp(`postfix/error\\[\\d+\\]: ${qf.queueId}: to=<c@example\\.com>, relay=none, ${DELAYS}, dsn=4\\.4\\.1, status=deferred \\(host down\\)`));
  assert.match(inst.log(), new RegExp(`postfix/error\\[\\d+\\]: warning: ${qf.queueId}: defer service failure`));
  const r = readQueueFile(qf.path);
  assert.ok(r.ok);
  assert.deepEqual(r.file.recipients.map((x) => x.done), [false]);
});

test('error under master without a bounce service: deferred with 4.3.0, kept, DEFER', async () => {
  const qf = await queueFile(['d@example.com']);
  assert.deepEqual(await deliver('error', qf, '5.1.1 no such user'), { status: DEL_STAT.DEFER, hop: null });
  await inst.waitLog(new RegExp(`postfix/error\\[\\d+\\]: ${qf.queueId}: to=<d@example\\.com>, relay=none, ${DELAYS}, dsn=4\\.3\\.0, status=deferred \\(bounce or trace service failure\\)`));
  const r = readQueueFile(qf.path);
  assert.ok(r.ok);
  assert.deepEqual(r.file.recipients.map((x) => x.done), [false]);
});
