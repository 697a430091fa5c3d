/*
 * qmgr_sched_test - one test per scheduler rule (windows, feedback, dead destinations, throttled transports,
 * recipient limits and per-recipient queues, rate delays, process limits, preemption)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dsnMake } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import { QmgrScheduler, type SchedDelivery, type SchedMessage } from './qmgr_sched.js';
import { defaultTransportParams, type TransportParams } from './qmgr_transport_params.js';

const REFUSED = dsnMake('4.4.1', 'connect to a.example[192.0.2.1]:25: Connection refused');
const CRASH = dsnMake('4.3.0', 'unknown mail transport error');

function rcpt(address: string, offset = 0): Recipient {
  return { origAddress: address, address, offset, dsnOrcpt: '', dsnNotify: 0 };
}

function setup(over: Partial<TransportParams> = {}, processLimit = 100, extra: Record<string, TransportParams> = {}) {
  let now = 1_000_000;
  const logs: string[] = [];
  const sched = new QmgrScheduler({
    clock: { now: () => now },
    transportParams: (name) => extra[name] ?? defaultTransportParams(name, processLimit, over),
    transportRetryMs: 60_000,
    deadDestinationRetryMs: 300_000,
    recipientDelimiter: '+',
    log: (level, text) => logs.push(`${level}: ${text}`),
  });
  let n = 0;
  const message = (arrival = now): SchedMessage => ({ queueId: `Q${++n}`, arrival });
  const drain = (): SchedDelivery[] => {
    const out: SchedDelivery[] = [];
    for (let d = sched.select(); d; d = sched.select()) out.push(d);
    return out;
  };
  const add = (msg: SchedMessage, nexthop: string, addrs: string[], transport = 'smtp') => {
    const deferred = sched.addRecipients(msg, transport, nexthop, addrs.map((a, i) => rcpt(a, i)));
    return deferred;
  };
  return {
    sched,
    logs,
    message,
    drain,
    add,
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

test('slow start: a new destination gets initial_destination_concurrency deliveries', () => {
  const s = setup();
  for (let i = 0; i < 30; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const first = s.drain();
  assert.equal(first.length, 5);
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 5);
  assert.equal(s.sched.busyDeliveries, 5);
  assert.equal(s.sched.activeMessages, 30);
  assert.equal(s.sched.activeRecipients, 30);
});

test('positive feedback "1": the window grows by one per delivery up to busy + initial and the limit', () => {
  const s = setup({ destinationConcurrencyLimit: 7 });
  for (let i = 0; i < 30; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const busy = s.drain();
  const r = s.sched.deliveryDone(busy[0], { kind: 'ok' });
  assert.deepEqual(r.finished.map((m) => m.queueId), ['Q1']);
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 6);
  assert.equal(s.drain().length, 2);
  for (const d of busy.slice(1)) s.sched.deliveryDone(d, { kind: 'ok' });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 7, 'capped at the destination concurrency limit');
});

test('positive feedback "1/concurrency": one window step per window-size successes', () => {
  const s = setup({ positiveFeedback: '1/concurrency' });
  for (let i = 0; i < 40; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const windows: number[] = [];
  // Keep the destination busy: complete one delivery at a time, refill.
  let busy = s.drain();
  for (let k = 0; k < 12; k++) {
    s.sched.deliveryDone(busy.shift() as SchedDelivery, { kind: 'ok' });
    windows.push(s.sched.queueInfo('smtp', 'a.example')?.window as number);
    busy = busy.concat(s.drain());
  }
  // 1/5 per success: the 5th success reaches 1 (with the feedback/2 margin); then 1/6 per success.
  assert.deepEqual(windows, [5, 5, 5, 5, 6, 6, 6, 6, 6, 6, 7, 7]);
});

test('negative feedback and the failed cohort limit make a destination dead; its waiting mail is deferred', () => {
  const s = setup();
  const msgs: SchedMessage[] = [];
  for (let i = 0; i < 20; i++) {
    const m = s.message();
    msgs.push(m);
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const busy = s.drain();
  assert.equal(busy.length, 5);
  // Feedback 1 from window 5: failure -1 → window 3 (overshoot margin), cohorts 1/5.
  s.sched.deliveryDone(busy[0], { kind: 'site-fail', dsn: REFUSED });
  let q = s.sched.queueInfo('smtp', 'a.example');
  assert.equal(q?.window, 3);
  assert.equal(q?.failCohorts, 0.2);
  s.sched.deliveryDone(busy[1], { kind: 'site-fail', dsn: REFUSED });
  q = s.sched.queueInfo('smtp', 'a.example');
  assert.equal(q?.window, 2);
  assert.ok(Math.abs((q?.failCohorts as number) - (0.2 + 1 / 3)) < 1e-12);
  const r = s.sched.deliveryDone(busy[2], { kind: 'site-fail', dsn: REFUSED });
  q = s.sched.queueInfo('smtp', 'a.example');
  assert.equal(q?.dead, true);
  assert.equal(q?.window, 0);
  // 15 waiting messages deferred with the hop status, Postfix's prefix added.
  assert.equal(r.deferred.length, 15);
  for (const w of r.deferred) {
    assert.equal(w.dsn.status, '4.4.1');
    assert.equal(w.dsn.reason, 'delivery temporarily suspended: connect to a.example[192.0.2.1]:25: Connection refused');
    assert.equal(w.nexthop, 'a.example');
    assert.equal(w.transport, 'smtp');
  }
  assert.equal(r.finished.length, 16);
  // New mail for the dead destination is deferred at once; nothing is selected.
  const m = s.message();
  const d = s.add(m, 'a.example', ['late@a.example']);
  assert.equal(d.length, 1);
  assert.equal(d[0].dsn.reason, q?.dsn?.reason);
  assert.deepEqual(s.sched.messageReady(m), [m]);
  assert.equal(s.drain().length, 0);
  // The two deliveries still out complete; a failure on a dead queue changes nothing.
  s.sched.deliveryDone(busy[3], { kind: 'site-fail', dsn: REFUSED });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.dead, true);
  // The destination is retried after deadDestinationRetryMs, with the busy count as window.
  assert.equal(s.sched.nextWakeup(), s.now() + 300_000);
  s.advance(300_000);
  assert.equal(s.sched.nextWakeup(), null);
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 1);
  s.sched.deliveryDone(busy[4], { kind: 'ok' });
  assert.equal(s.sched.queueInfo('smtp', 'a.example'), null, 'discarded when empty');
  assert.equal(s.sched.activeMessages, 0);
});

test('a success while a destination is dead revives it with window = busy count', () => {
  const s = setup({ failedCohortLimit: 1, negativeFeedback: '1' });
  for (let i = 0; i < 10; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const busy = s.drain();
  for (const d of busy.slice(0, 3)) s.sched.deliveryDone(d, { kind: 'site-fail', dsn: REFUSED });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.dead, true);
  s.sched.deliveryDone(busy[3], { kind: 'ok' });
  const q = s.sched.queueInfo('smtp', 'a.example');
  assert.equal(q?.dead, false);
  assert.equal(q?.window, 2, 'the busy count, the completing delivery included');
  assert.equal(q?.failCohorts, 0);
});

test('failed cohort limit 0 never kills a destination; the window stays >= 1', () => {
  const s = setup({ failedCohortLimit: 0 });
  for (let i = 0; i < 12; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  let busy = s.drain();
  for (let k = 0; k < 12 && busy.length > 0; k++) {
    s.sched.deliveryDone(busy.shift() as SchedDelivery, { kind: 'site-fail', dsn: REFUSED });
    const q = s.sched.queueInfo('smtp', 'a.example');
    if (q) assert.ok(q.window >= 1 && !q.dead);
    busy = busy.concat(s.drain());
  }
  assert.equal(s.sched.activeMessages, 0);
});

test('an empty hop status without reason counts as success; invalid status becomes 4.0.0', () => {
  const s = setup({ failedCohortLimit: 1 });
  for (let i = 0; i < 8; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const busy = s.drain();
  s.sched.deliveryDone(busy[0], { kind: 'site-fail', dsn: dsnMake('', '') });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 6);
  // Window 6: cohorts 1/6 + 1/4 + 1/3 + 1/2 reach 1 at the fourth failure.
  for (const d of busy.slice(1, 5)) s.sched.deliveryDone(d, { kind: 'site-fail', dsn: dsnMake('x', '') });
  const q = s.sched.queueInfo('smtp', 'a.example');
  assert.equal(q?.dead, true);
  assert.equal(q?.dsn?.status, '4.0.0');
  assert.equal(q?.dsn?.reason, 'delivery temporarily suspended: unknown error');
});

test('agent failure throttles the transport for transport_retry_time and defers all its waiting mail', () => {
  const s = setup();
  for (const dom of ['a.example', 'b.example', 'c.example']) {
    for (let i = 0; i < 7; i++) {
      const m = s.message();
      s.add(m, dom, [`u${i}@${dom}`]);
      s.sched.messageReady(m);
    }
  }
  const busy = s.drain();
  assert.equal(busy.length, 15);
  const r = s.sched.deliveryDone(busy[0], { kind: 'transport-fail', dsn: CRASH });
  const n = r.deferred.reduce((k, w) => k + w.recipients.length, 0);
  assert.equal(n, 7, 'the crashed delivery and the 6 waiting entries');
  assert.ok(r.deferred.some((w) => w.message.queueId === busy[0].message.queueId));
  for (const w of r.deferred) assert.deepEqual(w.dsn, CRASH);
  assert.equal(s.sched.transportInfo('smtp')?.dead, true);
  // New recipients for a dead transport: deferred at once with its DSN.
  const m = s.message();
  assert.deepEqual(s.add(m, 'd.example', ['x@d.example'])[0].dsn, CRASH);
  s.sched.messageReady(m);
  // Other transports are not affected.
  const m2 = s.message();
  s.add(m2, 'e.example', ['y@e.example'], 'relay');
  s.sched.messageReady(m2);
  const more = s.drain();
  assert.deepEqual(more.map((d) => d.transport), ['relay']);
  assert.equal(s.sched.nextWakeup(), s.now() + 60_000);
  s.advance(60_000);
  assert.equal(s.sched.transportInfo('smtp')?.dead, false);
});

test('a delivery that succeeds revives a throttled transport early', () => {
  const s = setup();
  for (let i = 0; i < 2; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const [d1, d2] = s.drain();
  s.sched.deliveryDone(d1, { kind: 'transport-fail', dsn: CRASH });
  assert.equal(s.sched.transportInfo('smtp')?.dead, true);
  s.sched.deliveryDone(d2, { kind: 'ok' });
  assert.equal(s.sched.transportInfo('smtp')?.dead, false);
});

test('destination recipient limit splits a message into entries', () => {
  const s = setup({ destinationRecipientLimit: 3 });
  const m = s.message();
  s.add(m, 'a.example', ['1@a.example', '2@a.example']);
  s.add(m, 'a.example', ['3@a.example', '4@a.example', '5@a.example', '6@a.example', '7@a.example']);
  s.sched.messageReady(m);
  const ds = s.drain();
  assert.deepEqual(
    ds.map((d) => d.recipients.map((r) => r.address.split('@')[0]).join(',')),
    ['1,2,3', '4,5,6', '7'],
  );
});

test('destination recipient limit 1: queues are localpart@nexthop without the extension, lowercased', () => {
  const s = setup({}, 100, { local: defaultTransportParams('local', 100, { destinationRecipientLimit: 1, destinationConcurrencyLimit: 2 }) });
  const m = s.message();
  s.add(m, 'Host.Example', ['Joe+box@Host.Example', 'joe@host.example', 'ann@host.example', 'owner-list@host.example'], 'local');
  s.sched.messageReady(m);
  const ds = s.drain();
  assert.deepEqual(ds.map((d) => d.queueName), ['joe@host.example', 'ann@host.example', 'owner-list@host.example', 'joe@host.example']);
  assert.ok(ds.every((d) => d.recipients.length === 1 && d.nexthop === 'Host.Example'));
  // The error and retry transports keep nexthop queues.
  const s2 = setup({}, 100, { error: defaultTransportParams('error', 100, { destinationRecipientLimit: 1 }) });
  assert.equal(s2.sched.queueNameOf('error', '5.1.1 User unknown', rcpt('a@b')), '5.1.1 user unknown');
});

test('process limit: never more busy deliveries than the transport limit', () => {
  const s = setup({}, 3);
  for (const dom of ['a.example', 'b.example']) {
    for (let i = 0; i < 4; i++) {
      const m = s.message();
      s.add(m, dom, [`u${i}@${dom}`]);
      s.sched.messageReady(m);
    }
  }
  const ds = s.drain();
  assert.equal(ds.length, 3);
  s.sched.deliveryDone(ds[0], { kind: 'ok' });
  assert.equal(s.drain().length, 1);
  assert.equal(s.sched.transportInfo('smtp')?.busy, 3);
});

test('destination rate delay: concurrency 1 and one delivery per delay', () => {
  const s = setup({ destinationRateDelayMs: 10_000, initialDestinationConcurrency: 5 });
  assert.equal(s.sched.transportInfo('smtp'), null);
  for (let i = 0; i < 3; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  assert.equal(s.sched.transportInfo('smtp')?.destConcurrencyLimit, 1);
  assert.equal(s.sched.transportInfo('smtp')?.initDestConcurrency, 1);
  const [d1, extra] = s.drain();
  assert.equal(extra, undefined);
  s.advance(500);
  s.sched.deliveryDone(d1, { kind: 'ok' });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.suspended, true);
  assert.equal(s.drain().length, 0);
  assert.equal(s.sched.nextWakeup(), s.now() + 10_000);
  s.advance(9_999);
  assert.equal(s.drain().length, 0);
  s.advance(1);
  assert.equal(s.drain().length, 1);
});

test('transport rate delay: at most one delivery start per delay over all destinations', () => {
  const s = setup({ transportRateDelayMs: 2_000 });
  for (const dom of ['a.example', 'b.example', 'c.example']) {
    const m = s.message();
    s.add(m, dom, [`u@${dom}`]);
    s.sched.messageReady(m);
  }
  assert.equal(s.drain().length, 1);
  assert.equal(s.sched.nextWakeup(), s.now() + 2_000);
  s.advance(2_000);
  assert.equal(s.drain().length, 1);
});

test('reviveAll forgets dead destinations and transports', () => {
  const s = setup();
  for (let i = 0; i < 4; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.add(m, 'b.example', [`u${i}@b.example`]);
    s.sched.messageReady(m);
  }
  const busy = s.drain();
  const toA = busy.filter((d) => d.nexthop === 'a.example');
  for (const d of toA.slice(0, 3)) s.sched.deliveryDone(d, { kind: 'site-fail', dsn: REFUSED });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.dead, true);
  s.sched.reviveAll();
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.dead, false);
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 1, 'busy count at revival');
});

test('preemption: a one-recipient message passes a big one after it earned a slot', () => {
  const s = setup();
  const big = s.message(0);
  for (let i = 0; i < 30; i++) s.add(big, `d${i}.example`, [`u@d${i}.example`]);
  s.sched.messageReady(big);
  const small = s.message(1000);
  s.add(small, 'x.example', ['v@x.example']);
  s.sched.messageReady(small);
  const order = s.drain().map((d) => d.message.queueId);
  assert.equal(order.length, 31);
  assert.deepEqual(order.slice(0, 3), [big.queueId, small.queueId, big.queueId]);
});

test('no preemption with delivery_slot_cost 1, or when the big job is below minimum slots * cost', () => {
  for (const [over, entries] of [
    [{ deliverySlotCost: 1 }, 30],
    [{}, 14],
  ] as Array<[Partial<TransportParams>, number]>) {
    const s = setup(over);
    const big = s.message(0);
    for (let i = 0; i < entries; i++) s.add(big, `d${i}.example`, [`u@d${i}.example`]);
    s.sched.messageReady(big);
    const small = s.message(1000);
    s.add(small, 'x.example', ['v@x.example']);
    s.sched.messageReady(small);
    const order = s.drain().map((d) => d.message.queueId);
    assert.equal(order[order.length - 1], small.queueId);
  }
});

test('feedback debug lines and malformed feedback warnings go to the log callback', () => {
  const s = setup({ concurrencyFeedbackDebug: true, positiveFeedback: '5' });
  const m = s.message();
  s.add(m, 'a.example', ['u@a.example']);
  s.sched.messageReady(m);
  const [d] = s.drain();
  s.sched.deliveryDone(d, { kind: 'ok' });
  assert.deepEqual(s.logs, [
    'warn: default_destination_concurrency_positive_feedback: ignoring malformed or unreasonable feedback: 5',
    'info: smtp: default_destination_concurrency_positive_feedback feedback type 0 value at 5: 1',
    'info: smtp: default_destination_concurrency_negative_feedback feedback type 0 value at 5: 1',
    'info: qmgr_queue_unthrottle: feedback 1',
    'info: qmgr_queue_unthrottle: queue a.example: limit 20 window 6 success 0 failure 0 fail_cohorts 0',
  ]);
});

test('session caching: enabled for back-to-back deliveries, store dropped when concurrency falls', () => {
  const s = setup();
  for (let i = 0; i < 4; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  const [d1, d2, d3, d4] = s.drain();
  assert.deepEqual([d1.connLoad, d1.connStore], [false, false], 'no delivery done yet');
  s.sched.deliveryDone(d1, { kind: 'ok' });
  const m = s.message();
  s.add(m, 'a.example', ['v@a.example']);
  s.sched.messageReady(m);
  const [d5] = s.drain();
  assert.deepEqual([d5.connLoad, d5.connStore], [true, true], 'back to back within a second');
  for (const d of [d2, d3, d4, d5]) s.sched.deliveryDone(d, { kind: 'ok' });
  assert.equal(s.sched.queueInfo('smtp', 'a.example'), null);
});

test('snapshot shows transports, jobs and queues', () => {
  const s = setup();
  const m = s.message();
  s.add(m, 'b.example', ['x@b.example']);
  s.add(m, 'a.example', ['y@a.example']);
  s.sched.messageReady(m);
  s.drain();
  const snap = s.sched.snapshot() as { transports: Array<{ name: string; busy: number; queues: Array<{ name: string; busy: number; window: number }> }> };
  assert.equal(snap.transports[0].name, 'smtp');
  assert.equal(snap.transports[0].busy, 2);
  assert.deepEqual(
    snap.transports[0].queues.map((q) => [q.name, q.busy, q.window]),
    [
      ['a.example', 1, 5],
      ['b.example', 1, 5],
    ],
  );
});

test('congestion warning when one destination holds more than a fifth of the active queue limit', () => {
  let now = 0;
  const logs: string[] = [];
  const sched = new QmgrScheduler({
    clock: { now: () => now },
    transportParams: (name) => defaultTransportParams(name, 100),
    transportRetryMs: 60_000,
    deadDestinationRetryMs: 300_000,
    clogWarnTimeMs: 300_000,
    activeLimit: 10,
    log: (level, text) => logs.push(`${level}: ${text}`),
  });
  for (let i = 0; i < 4; i++) {
    const m = { queueId: `Q${i}`, arrival: 0 };
    sched.addRecipients(m, 'smtp', i === 3 ? 'b.example' : 'a.example', [rcpt(`u${i}@x`)]);
    sched.messageReady(m);
  }
  assert.deepEqual(logs, [
    'warn: mail for a.example is using up 3 of 3 active queue entries',
    'warn: you may need to reduce smtp connect and helo timeouts',
    'warn: so that Postfix quickly skips unavailable hosts',
    'warn: you may need to increase the main.cf minimal_backoff_time and maximal_backoff_time',
    'warn: so that Postfix wastes less time on undeliverable mail',
    'warn: you may need to increase the master.cf smtp process limit',
    'warn: please avoid flushing the whole queue when you have',
    'warn: lots of deferred mail, that is bad for performance',
    'warn: to turn off these warnings specify: qmgr_clog_warn_time = 0',
  ]);
  now += 299_999;
  const m = { queueId: 'Q9', arrival: now };
  sched.addRecipients(m, 'smtp', 'a.example', [rcpt('v@x')]);
  assert.equal(logs.length, 9, 'once per qmgr_clog_warn_time');
});

test('a flushed message revives its dead destination and transport before assignment', () => {
  const s = setup();
  for (let i = 0; i < 3; i++) {
    const m = s.message();
    s.add(m, 'a.example', [`u${i}@a.example`]);
    s.sched.messageReady(m);
  }
  for (const d of s.drain()) s.sched.deliveryDone(d, { kind: 'site-fail', dsn: REFUSED });
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.dead, true);
  const m = s.message();
  assert.equal(s.sched.addRecipients(m, 'smtp', 'a.example', [rcpt('x@a.example')], { flush: true }).length, 0);
  s.sched.messageReady(m);
  assert.equal(s.sched.queueInfo('smtp', 'a.example')?.window, 5);
  assert.equal(s.drain().length, 1);
});
