/*
 * error_test - error(8) and the retry service driven over a UNIX socket as qmgr drives them
 *
 * Expected log lines, warnings and reply statuses were checked against
 * the real Postfix 3.7.11 error(8) (service error with "5.1.1 no such
 * user here", "4.7.1 try later", "plain text"; service retry with "5.7.1
 * go away" and "plain text"; soft_bounce = yes with "5.1.1 ..."; sendmail
 * -bv through error and retry). The delivery status filter test follows
 * postconf(5) (only that a warning is logged is asserted; its wording is
 * ours). The stand-in bounce/defer/trace services record what the agent
 * sends them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BOUNCE_CMD, type BounceRequest } from '../global/bounce_clnt.js';
import { DEL_STAT } from '../global/deliver_request.js';
import { type AgentBench, FIXED_STATS_DELAYS, fixedStats, startAgentBench } from '../global/delivery_agent_test_lib.js';
import { errorDeliver } from './error.js';

async function bench(o: Partial<Parameters<typeof startAgentBench>[0]> = {}): Promise<AgentBench> {
  return startAgentBench({ service: 'error', programName: 'error', deliver: errorDeliver, ...o });
}

function appended(r: BounceRequest): [string, string, string, string] {
  assert.equal(r.command, BOUNCE_CMD.APPEND);
  assert.ok(r.command === BOUNCE_CMD.APPEND);
  return [r.rcpt.address, r.dsn.status, r.dsn.action, r.dsn.reason];
}

test('error: each recipient bounced with the next-hop status and text, crossed off, reply OK', async () => {
  const b = await bench();
  try {
    const qf = await b.queueFile([{ address: 'Bob@example.com' }, { address: 'carol@example.com' }]);
    const r = await b.call(b.request(qf, '5.1.1 no such user here', fixedStats()));
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(r.reply, { status: DEL_STAT.OK, hop: null });
    assert.deepEqual(b.log, [
      `${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=5.1.1, status=bounced (no such user here)`,
      `${qf.queueId}: to=<carol@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=5.1.1, status=bounced (no such user here)`,
    ]);
    assert.deepEqual(b.received.bounce.map(appended), [
      ['Bob@example.com', '5.1.1', 'failed', 'no such user here'],
      ['carol@example.com', '5.1.1', 'failed', 'no such user here'],
    ]);
    assert.deepEqual(b.done(qf.path), [true, true]);
  } finally {
    await b.close();
  }
});

test('error: a 4.x.x or missing status bounces with 5.0.0 (the warning for a bad one), as Postfix 3.7', async () => {
  const b = await bench();
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }, { address: 'b@example.com' }]);
    assert.ok((await b.call(b.request(qf, '4.7.1 try later', fixedStats(), [0]))).ok);
    assert.ok((await b.call(b.request(qf, 'plain text', fixedStats(), [1]))).ok);
    assert.deepEqual(b.log, [
      'warning: bounce_append: ignoring dsn code "4.7.1"',
      `${qf.queueId}: to=<a@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=5.0.0, status=bounced (try later)`,
      `${qf.queueId}: to=<b@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=5.0.0, status=bounced (plain text)`,
    ]);
    assert.deepEqual(b.done(qf.path), [true, true]);
  } finally {
    await b.close();
  }
});

test('retry: each recipient deferred (4.0.0 for a non-4 status), never crossed off, reply DEFER', async () => {
  const b = await bench({ service: 'retry' });
  try {
    const qf = await b.queueFile([{ address: 'a@example.com' }, { address: 'b@example.com' }]);
    let r = await b.call(b.request(qf, '5.7.1 go away', fixedStats(), [0]));
    assert.ok(r.ok);
    assert.deepEqual(r.reply, { status: DEL_STAT.DEFER, hop: null });
    r = await b.call(b.request(qf, '4.4.3 later', fixedStats(), [1]));
    assert.ok(r.ok && r.reply.status === DEL_STAT.DEFER);
    assert.deepEqual(b.log, [
      'warning: defer_append: ignoring dsn code "5.7.1"',
      `${qf.queueId}: to=<a@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.0.0, status=deferred (go away)`,
      `${qf.queueId}: to=<b@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.4.3, status=deferred (later)`,
    ]);
    assert.deepEqual(b.received.defer.map(appended), [
      ['a@example.com', '4.0.0', 'delayed', 'go away'],
      ['b@example.com', '4.4.3', 'delayed', 'later'],
    ]);
    assert.deepEqual(b.done(qf.path), [false, false]);
  } finally {
    await b.close();
  }
});

test('soft_bounce = yes: 5.x.x logged as SOFTBOUNCE with a 4.x.x status, written to the defer log, kept, reply DEFER', async () => {
  const b = await bench({ main: { soft_bounce: 'yes' } });
  try {
    const qf = await b.queueFile([{ address: 'Bob@example.com' }]);
    const r = await b.call(b.request(qf, '5.1.1 no such user here', fixedStats()));
    assert.ok(r.ok);
    assert.deepEqual(r.reply, { status: DEL_STAT.DEFER, hop: null });
    assert.deepEqual(b.log, [`${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.1.1, status=SOFTBOUNCE (no such user here)`]);
    assert.deepEqual(b.received.defer.map(appended), [['Bob@example.com', '4.1.1', 'delayed', 'no such user here']]);
    assert.deepEqual(b.received.bounce, []);
    assert.deepEqual(b.done(qf.path), [false]);
  } finally {
    await b.close();
  }
});

test('bounce service failure: the recipient is deferred with 4.3.0 "bounce or trace service failure" instead', async () => {
  const b = await bench({ bounce: 'fail' });
  try {
    const qf = await b.queueFile([{ address: 'Bob@example.com' }]);
    const r = await b.call(b.request(qf, '5.1.1 no such user here', fixedStats()));
    assert.ok(r.ok);
    assert.equal(r.reply.status, DEL_STAT.DEFER);
    assert.deepEqual(b.log, [`${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.3.0, status=deferred (bounce or trace service failure)`]);
    assert.deepEqual(b.received.defer.map(appended), [['Bob@example.com', '4.3.0', 'delayed', 'bounce or trace service failure']]);
    assert.deepEqual(b.done(qf.path), [false]);
  } finally {
    await b.close();
  }
  const none = await bench({ bounce: 'absent', defer: 'absent' });
  try {
    const qf = await none.queueFile([{ address: 'Bob@example.com' }]);
    const r = await none.call(none.request(qf, '5.1.1 no such user here', fixedStats()));
    assert.ok(r.ok);
    assert.equal(r.reply.status, DEL_STAT.DEFER);
    assert.deepEqual(none.log, [
      `warning: ${qf.queueId}: defer service failure`,
      `${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.3.0, status=deferred (bounce or trace service failure)`,
    ]);
    assert.deepEqual(none.done(qf.path), [false]);
  } finally {
    await none.close();
  }
});

test('delivery status filter (<program>_delivery_status_filter): a bounce turned into a deferral and back, a class change refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dsn-filter-'));
  const table = join(dir, 'filter');
  writeFileSync(table, ['/^5\\.1\\.1 (.*)/ 4.4.7 softened: $1', '/^4\\.0\\.0 (.*)/ 5.7.9 hardened: $1', '/^5\\.2\\.2 .*/ 2.0.0 nope'].join('\n') + '\n');
  // error(8) has no filter in Postfix; run its logic under a program name that has one.
  try {
    const b = await bench({ programName: 'pipe', main: { pipe_delivery_status_filter: `regexp:${table}` } });
    try {
      const qf = await b.queueFile([{ address: 'a@example.com' }, { address: 'b@example.com' }]);
      const one = await b.call(b.request(qf, '5.1.1 no such user', fixedStats(), [0]));
      assert.ok(one.ok, b.log.join('\n'));
      assert.equal(one.reply.status, DEL_STAT.DEFER, b.log.join('\n'));
      const two = await b.call(b.request(qf, '5.2.2 mailbox full', fixedStats(), [1]));
      assert.ok(two.ok && two.reply.status === DEL_STAT.OK);
      assert.equal(b.log[0], `${qf.queueId}: to=<a@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=4.4.7, status=deferred (softened: no such user)`);
      assert.match(b.log[1]!, /^warning: pipe_delivery_status_filter: /);
      assert.equal(b.log[2], `${qf.queueId}: to=<b@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=5.2.2, status=bounced (mailbox full)`);
      assert.deepEqual(b.done(qf.path), [false, true]);
    } finally {
      await b.close();
    }
    const r = await bench({ service: 'retry', programName: 'pipe', main: { pipe_delivery_status_filter: `regexp:${table}` } });
    try {
      const rq = await r.queueFile([{ address: 'c@example.com' }]);
      const three = await r.call(r.request(rq, 'try again', fixedStats()));
      assert.ok(three.ok && three.reply.status === DEL_STAT.OK, r.log.join('\n'));
      assert.deepEqual(r.log, [`${rq.queueId}: to=<c@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=5.7.9, status=bounced (hardened: try again)`]);
      assert.deepEqual(r.received.bounce.map(appended), [['c@example.com', '5.7.9', 'failed', 'hardened: try again']]);
    } finally {
      await r.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sendmail -bv (flags 515): error and retry both record "undeliverable" with the trace service, cross off, reply OK', async () => {
  for (const [service, nexthop, status, reason] of [
    ['error', '5.1.1 nope', '5.1.1', 'nope'],
    ['retry', '4.1.1 later', '4.1.1', 'later'],
  ] as const) {
    const b = await bench({ service });
    try {
      const qf = await b.queueFile([{ address: 'Bob@example.com' }]);
      const req = b.request(qf, nexthop, fixedStats());
      req.flags = 515;
      const r = await b.call(req);
      assert.ok(r.ok);
      assert.deepEqual(r.reply, { status: DEL_STAT.OK, hop: null }, service);
      assert.deepEqual(b.log, [`${qf.queueId}: to=<Bob@example.com>, relay=none, ${FIXED_STATS_DELAYS}, dsn=${status}, status=undeliverable (${reason})`]);
      assert.deepEqual(b.received.trace.map(appended), [['Bob@example.com', status, 'undeliverable', reason]]);
      assert.deepEqual([b.received.bounce.length, b.received.defer.length], [0, 0]);
      assert.deepEqual(b.done(qf.path), [true]);
    } finally {
      await b.close();
    }
  }
});
