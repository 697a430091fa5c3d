/*
 * qmgr_loop_test - the queue manager daemon in process: scans, moves, backoff, finishing
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { MAIL_QUEUE } from '../global/mail_queue.js';
import { readQueueFile } from '../global/queue_file_read.js';
import { BOUNCE_CMD } from '../global/bounce_clnt.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { makeQmgrHarness, type Harness } from './qmgr_test_lib.js';
import { parseQmgrTrigger } from './qmgr_trigger.js';
import { backoffSeconds, messageExpired } from './qmgr_params.js';
import { QMGR_SCAN } from './qmgr_scan.js';

const BOUND_MS = 5000;

async function settle(h: Harness): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`qmgr did not settle; log:\n${h.logs.join('\n')}`)), BOUND_MS);
  });
  try {
    // Twice: a finished message frees room, which may start another feed.
    await Promise.race([h.daemon.whenIdle(), timeout]);
    await new Promise((r) => setImmediate(r));
    await Promise.race([h.daemon.whenIdle(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

test('parseQmgrTrigger collapses requests as Postfix', () => {
  assert.deepEqual(parseQmgrTrigger(Buffer.from('I')), { incoming: QMGR_SCAN.START, deferred: 0 });
  assert.deepEqual(parseQmgrTrigger(Buffer.from('W')), { incoming: QMGR_SCAN.START, deferred: 0 });
  const f = parseQmgrTrigger(Buffer.from('FADI'));
  assert.equal(f.incoming, QMGR_SCAN.START | QMGR_SCAN.ALL | QMGR_SCAN.FLUSH_ONCE | QMGR_SCAN.FLUSH_DFXP);
  assert.equal(f.deferred, QMGR_SCAN.START | QMGR_SCAN.ALL | QMGR_SCAN.FLUSH_ONCE | QMGR_SCAN.FLUSH_DFXP);
  assert.deepEqual(parseQmgrTrigger(Buffer.from('?')), { incoming: 0, deferred: 0 });
});

test('backoff doubles with the time in queue, within the bounds', () => {
  const p = { minBackoff: 300, maxBackoff: 4000 };
  assert.equal(backoffSeconds(p, 1000, 990), 300);
  assert.equal(backoffSeconds(p, 10000, 9000), 1000);
  assert.equal(backoffSeconds(p, 100000, 1000), 4000);
  assert.equal(backoffSeconds(p, 1000, 0), 300);
  const q = { maxQueueTime: 5 * 86400, dsnQueueTime: 86400 };
  assert.equal(messageExpired(q, 2 * 86400, 0, 'a@b'), false);
  assert.equal(messageExpired(q, 2 * 86400, 0, ''), true);
});

test('active files go back to incoming at start and are delivered and removed', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const { queueId } = await h.enqueue(MAIL_QUEUE.ACTIVE, 'sender@example.org', ['ok1@example.com', 'ok2@example.com']);
  await h.daemon.start();
  await settle(h);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.ACTIVE, queueId)), false);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.INCOMING, queueId)), false);
  assert.match(h.logs.join('\n'), new RegExp(`^${queueId}: from=<sender@example.org>, size=\\d+, nrcpt=2 \\(queue active\\)$`, 'm'));
  assert.ok(h.logs.includes(`${queueId}: removed`), h.logs.join('\n'));
  const reqs = h.requests.get('fake') ?? [];
  assert.equal(reqs.length, 1);
  assert.equal(reqs[0]!.nexthop, 'example.com');
  assert.deepEqual(reqs[0]!.recipients.map((r) => r.address), ['ok1@example.com', 'ok2@example.com']);
  assert.equal(reqs[0]!.queueName, MAIL_QUEUE.ACTIVE);
});

test('a deferred message gets its next attempt time from the backoff', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const young = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['defer1@example.com', 'ok@example.com']);
  const old = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['defer2@example.com'], { arrivalSec: nowSec() - 1000 });
  const older = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['defer3@example.com'], { arrivalSec: nowSec() - 86400 });
  const before = nowSec();
  await h.daemon.start();
  await settle(h);
  const after = nowSec();
  const mtime = (id: string): number => Math.floor(statSync(h.pathOf(MAIL_QUEUE.DEFERRED, id)).mtimeMs / 1000);
  // minimal_backoff_time = 100s, maximal_backoff_time = 4000s in the harness.
  assert.ok(mtime(young.queueId) >= before + 100 && mtime(young.queueId) <= after + 100, `young: ${mtime(young.queueId) - before}`);
  assert.ok(mtime(old.queueId) >= before + 1000 && mtime(old.queueId) <= after + 1001, `old: ${mtime(old.queueId) - before}`);
  assert.ok(mtime(older.queueId) >= before + 4000 && mtime(older.queueId) <= after + 4000, `older: ${mtime(older.queueId) - before}`);
  // The defer log has the deferred recipient; the delivered one is crossed off.
  assert.match(readFileSync(h.pathOf(MAIL_QUEUE.DEFER, young.queueId), 'utf8'), /^defer1@example.com 4\.2\.0 fake temporary failure$/m);
  assert.equal(h.logs.some((l) => l === `${young.queueId}: removed`), false);
});

test('a deferred file is not scanned before its time, unless asked to ignore time stamps', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.DEFERRED, 'sender@example.org', ['ok@example.com']);
  const future = nowSec() + 3600;
  utimesSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId), future, future);
  await h.daemon.start();
  await settle(h);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId)), true);
  h.daemon.trigger(Buffer.from('AD'));
  await settle(h);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId)), false);
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
});

test('an unfinished incoming file (mode 0600) and the hold queue are left alone', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['ok@example.com']);
  chmodSync(h.pathOf(MAIL_QUEUE.INCOMING, m.queueId), 0o600);
  const held = await h.enqueue(MAIL_QUEUE.HOLD, 'sender@example.org', ['ok@example.com']);
  await h.daemon.start();
  h.daemon.trigger(Buffer.from('FADI'));
  await settle(h);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.INCOMING, m.queueId)), true);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.HOLD, held.queueId)), true);
  assert.equal(h.requests.size, 0);
});

test('the deferred queue is scanned again every queue_run_delay', async (t) => {
  const h = await makeQmgrHarness({ mainCf: { queue_run_delay: '1s' } });
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.DEFERRED, 'sender@example.org', ['ok@example.com']);
  const soon = nowSec() + 2;
  utimesSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId), soon, soon);
  await h.daemon.start();
  await settle(h);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId)), true, 'not before its time');
  const deadline = Date.now() + BOUND_MS;
  while (!h.logs.includes(`${m.queueId}: removed`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
});

test('a corrupt file goes to the corrupt queue with Postfix warnings', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const id = 'ABCDEF12345';
  const path = h.pathOf(MAIL_QUEUE.INCOMING, id);
  writeFileSync(path, Buffer.from([0x43, 0x05, 0x31, 0x32]));
  chmodSync(path, 0o700);
  await h.daemon.start();
  await settle(h);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.CORRUPT, id)), true);
  // Postfix: rec_get() names the file, qmgr_message_read() and qmgr_active_corrupt() the message.
  assert.deepEqual(h.logs.filter((l) => l.startsWith('warning: ')), [
    `warning: active/${id}: unexpected EOF in data, record type 67 length 5`,
    `warning: ${id}: message rejected: missing end record`,
    `warning: saving corrupt file "${id}" from queue "active" to queue "corrupt"`,
  ]);
});

test('an expired message is returned to the sender and removed', async (t) => {
  const h = await makeQmgrHarness({ mainCf: { maximal_queue_lifetime: '1d' } });
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['defer@example.com'], { arrivalSec: nowSec() - 2 * 86400 });
  await h.daemon.start();
  await settle(h);
  assert.ok(h.logs.includes(`${m.queueId}: from=<sender@example.org>, status=expired, returned to sender`), h.logs.join('\n'));
  assert.ok(h.bounceRequests.some((b) => b.service === 'defer' && b.req.command === BOUNCE_CMD.FLUSH && b.req.queueId === m.queueId));
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
});

test('a bounced recipient is flushed to the bounce service, then the message is removed', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['bounce@example.com']);
  await h.daemon.start();
  await settle(h);
  const flush = h.bounceRequests.find((b) => b.service === 'bounce' && b.req.command === BOUNCE_CMD.FLUSH);
  assert.ok(flush, JSON.stringify(h.bounceRequests));
  assert.equal(flush.req.queueId, m.queueId);
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.BOUNCE, m.queueId)), false);
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
});

test('defer_transports sends recipients to the retry service until a flush', async (t) => {
  const h = await makeQmgrHarness({ mainCf: { defer_transports: 'fake' } });
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['ok@example.com']);
  await h.daemon.start();
  await settle(h);
  const retry = h.requests.get('retry') ?? [];
  assert.equal(retry.length, 1);
  assert.equal(retry[0]!.nexthop, '4.3.2 deferred transport');
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId)), true);
  assert.match(h.logs.join('\n'), /status=deferred \(deferred transport\)/);
  // postqueue -f: F lifts defer_transports, A ignores the time stamp.
  h.daemon.trigger(Buffer.from('FADI'));
  await settle(h);
  assert.equal((h.requests.get('fake') ?? []).length, 1);
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
});

test('an unreachable transport defers with "mail transport unavailable"', async (t) => {
  const h = await makeQmgrHarness({ deadTransports: ['fake'] });
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['ok@example.com']);
  await h.daemon.start();
  await settle(h);
  assert.ok(h.logs.some((l) => l.startsWith('warning: connect to transport private/fake: ')), h.logs.join('\n'));
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId)), true);
  assert.match(readFileSync(h.pathOf(MAIL_QUEUE.DEFER, m.queueId), 'utf8'), /^ok@example.com 4\.3\.0 mail transport unavailable$/m);
});

test('local mail to the double-bounce address is discarded', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, '', ['double-bounce@mx.example.org']);
  await h.daemon.start();
  await settle(h);
  assert.match(h.logs.join('\n'), new RegExp(`${m.queueId}: to=<double-bounce@mx.example.org>, relay=none, .*status=sent \\(undeliverable postmaster notification discarded\\)`));
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
  assert.equal(h.requests.size, 0);
});

test('a delay warning is sent once when its time has come, and the W record is cleared', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const due = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['defer@example.com'], { warnSec: nowSec() - 10 });
  const later = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['defer@example.com'], { warnSec: nowSec() + 3600 });
  await h.daemon.start();
  await settle(h);
  const warns = h.bounceRequests.filter((b) => b.service === 'defer' && b.req.command === BOUNCE_CMD.WARN).map((b) => b.req.queueId);
  assert.deepEqual(warns, [due.queueId]);
  const r = readQueueFile(h.pathOf(MAIL_QUEUE.DEFERRED, due.queueId));
  assert.ok(r.ok);
  assert.equal(Number(r.file.other.get('W')), -1);
  const r2 = readQueueFile(h.pathOf(MAIL_QUEUE.DEFERRED, later.queueId));
  assert.ok(r2.ok);
  assert.ok(Number(r2.file.other.get('W')) > nowSec());
});

test('recipients are read in batches bounded by qmgr_message_recipient_limit', async (t) => {
  const h = await makeQmgrHarness({
    mainCf: { qmgr_message_active_limit: '2', qmgr_message_recipient_limit: '2', qmgr_message_recipient_minimum: '1' },
  });
  t.after(() => h.close());
  // One destination: without batches the five would travel in one request.
  const rcpts = ['ok1@a.example', 'ok2@a.example', 'ok3@a.example', 'ok4@a.example', 'ok5@a.example'];
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', rcpts);
  await h.daemon.start();
  await settle(h);
  const reqs = h.requests.get('fake') ?? [];
  assert.deepEqual(reqs.flatMap((r) => r.recipients.map((x) => x.address)).sort(), rcpts);
  assert.deepEqual(reqs.map((r) => r.recipients.length), [2, 2, 1]);
  assert.equal(h.logs.filter((l) => l.includes('(queue active)')).length, 1);
  assert.ok(h.logs.includes(`${m.queueId}: removed`), h.logs.join('\n'));
  assert.equal(existsSync(h.pathOf(MAIL_QUEUE.ACTIVE, m.queueId)), false);
});

test('a failed destination is suspended: the scheduler defers its other mail with the hop reason', async (t) => {
  const h = await makeQmgrHarness({ mainCf: { fake_destination_concurrency_limit: '1' } });
  t.after(() => h.close());
  const a = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['site1@s.example']);
  const b = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['site2@s.example']);
  await h.daemon.start();
  await settle(h);
  // One delivery reached the agent and failed; the other message never did.
  assert.equal((h.requests.get('fake') ?? []).length, 1);
  const suspended = h.logs.filter((l) => / to=<site\d@s\.example>, relay=none, .*status=deferred \(delivery temporarily suspended: connect to fake: Connection refused\)$/.test(l));
  assert.equal(suspended.length, 1, h.logs.join('\n'));
  for (const m of [a, b]) assert.equal(existsSync(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId)), true);
});

test('sendmail -v: the trace is flushed once and the request record is killed', async (t) => {
  const h = await makeQmgrHarness();
  t.after(() => h.close());
  const m = await h.enqueue(MAIL_QUEUE.INCOMING, 'sender@example.org', ['ok@example.com', 'defer@example.com'], {
    attrs: [['trace_flags', String(DEL_REQ_FLAG.RECORD)]],
  });
  await h.daemon.start();
  await settle(h);
  const traces = h.bounceRequests.filter((b) => b.service === 'trace' && b.req.command === BOUNCE_CMD.TRACE);
  assert.equal(traces.length, 1);
  const r = readQueueFile(h.pathOf(MAIL_QUEUE.DEFERRED, m.queueId));
  assert.ok(r.ok);
  assert.equal(r.file.attrs.some((a) => a.name === 'trace_flags'), false);
  assert.equal(r.file.other.has('K'), true);
});
