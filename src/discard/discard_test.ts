/*
 * discard_test - discard(8) driven over a UNIX socket as qmgr drives it
 *
 * Expected log lines and warnings were checked against the real Postfix
 * 3.7.11 discard(8) (next-hops "example.com", "2.7.1 gone fishing",
 * "5.1.1 bad idea"; the delays of fixedStats() are those the real agent
 * logged for the same time stamps in test/system/discard_postfix_test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEL_REQ_FLAG, DEL_STAT } from '../global/deliver_request.js';
import { type AgentBench, FIXED_STATS_DELAYS, fixedStats, startAgentBench } from '../global/delivery_agent_test_lib.js';
import { BOUNCE_CMD } from '../global/bounce_clnt.js';
import { DSN_NOTIFY } from '../global/dsn.js';
import { discardDeliver } from './discard.js';

async function bench(o: Partial<Parameters<typeof startAgentBench>[0]> = {}): Promise<AgentBench> {
  return startAgentBench({ service: 'discard', programName: 'discard', deliver: discardDeliver, ...o });
}

test('every recipient is logged as sent with the next-hop as reason and crossed off', async () => {
  const b = await bench();
  try {
    const qf = await b.queueFile([{ address: 'Bob@example.com' }, { address: 'carol@example.com', original: 'Carol.Alias@example.com' }]);
    const r = await b.call(b.request(qf, 'example.com', fixedStats()));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(r.reply, { status: DEL_STAT.OK, hop: null });
    assert.deepEqual(b.log, [
      `${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=2.0.0, status=sent (example.com)`,
      `${qf.queueId}: to=<carol@example.com>, orig_to=<Carol.Alias@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=2.0.0, status=sent (example.com)`,
    ]);
    assert.deepEqual(b.done(qf.path), [true, true]);
    assert.deepEqual(b.received, { bounce: [], defer: [], trace: [] });
  } finally {
    await b.close();
  }
});

test('a next-hop with a status: 2.x.x is used, anything else becomes 2.0.0 with a warning', async () => {
  const b = await bench();
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }, { address: 'b@example.com' }]);
    let r = await b.call(b.request(qf, '2.7.1 gone fishing', fixedStats(), [0]));
    assert.ok(r.ok && r.reply.status === DEL_STAT.OK);
    r = await b.call(b.request(qf, '5.1.1 bad idea', fixedStats(), [1]));
    assert.ok(r.ok && r.reply.status === DEL_STAT.OK);
    assert.deepEqual(b.log, [
      `${qf.queueId}: to=<a@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=2.7.1, status=sent (gone fishing)`,
      'warning: sent: ignoring dsn code "5.1.1"',
      `${qf.queueId}: to=<b@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=2.0.0, status=sent (bad idea)`,
    ]);
    assert.deepEqual(b.done(qf.path), [true, true]);
  } finally {
    await b.close();
  }
});

test('NOTIFY=SUCCESS goes to the trace service first; when it fails the recipient is deferred, not crossed off', async () => {
  const ok = await bench();
  try {
    const qf = await ok.queueFile([{ address: 'n@example.com', dsnNotify: DSN_NOTIFY.SUCCESS }]);
    const r = await ok.call(ok.request(qf, 'example.com', fixedStats()));
    assert.ok(r.ok && r.reply.status === DEL_STAT.OK);
    assert.equal(ok.received.trace.length, 1);
    const t = ok.received.trace[0]!;
    assert.equal(t.command, BOUNCE_CMD.APPEND);
    assert.ok(t.command === BOUNCE_CMD.APPEND);
    assert.equal(t.queueId, qf.queueId);
    assert.equal(t.rcpt.address, 'n@example.com');
    assert.deepEqual([t.dsn.status, t.dsn.action, t.dsn.reason], ['2.0.0', 'delivered', 'example.com']);
    assert.deepEqual(ok.done(qf.path), [true]);
  } finally {
    await ok.close();
  }
  const bad = await bench({ trace: 'fail' });
  try {
    const qf = await bad.queueFile([{ address: 'n@example.com', dsnNotify: DSN_NOTIFY.SUCCESS }]);
    const r = await bad.call(bad.request(qf, 'example.com', fixedStats()));
    assert.ok(r.ok);
    assert.equal(r.reply.status, DEL_STAT.DEFER);
    assert.deepEqual(bad.log, [
      `warning: ${qf.queueId}: trace service failure`,
      `${qf.queueId}: to=<n@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.3.0, status=deferred (${qf.queueId}: trace service failed)`,
    ]);
    assert.equal(bad.received.defer.length, 1);
    assert.deepEqual(bad.done(qf.path), [false]);
  } finally {
    await bad.close();
  }
});

test('sendmail -bv (flags 515 as the real qmgr sends them): trace record "deliverable", logged so, crossed off', async () => {
  const b = await bench();
  try {
    const qf = await b.queueFile([{ address: 'Bob@example.com' }]);
    const req = b.request(qf, 'example.com', fixedStats());
    req.flags = 515;
    const r = await b.call(req);
    assert.ok(r.ok && r.reply.status === DEL_STAT.OK);
    assert.deepEqual(b.log, [`${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=2.0.0, status=deliverable (example.com)`]);
    assert.equal(b.received.trace.length, 1);
    const t = b.received.trace[0]!;
    assert.ok(t.command === BOUNCE_CMD.APPEND);
    // Only the trace bits go to the service (DEL_REQ_FLAG_SUCCESS would read as BOUNCE_FLAG_CLEAN there).
    assert.equal(t.flags, DEL_REQ_FLAG.USR_VRFY);
    assert.deepEqual([t.dsn.status, t.dsn.action, t.dsn.reason], ['2.0.0', 'deliverable', 'example.com']);
    assert.deepEqual(b.done(qf.path), [true]);
  } finally {
    await b.close();
  }
});
