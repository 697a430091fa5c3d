/*
 * qmgr_sim_test - the scheduler core under the virtual-time simulator: window growth, dead destinations,
 * 4xx throttling, agent crashes, no starvation behind a 10k-recipient message, process limits, golden schedules
 *
 * Set QMGR_SIM_UPDATE_GOLDEN=1 to rewrite the golden files (then review the diff by hand).
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { srcPath } from '../../test/lib/paths.js';
import { simulate, type FaultModel, type SimMessageSpec } from './qmgr_sim.js';
import { defaultTransportParams, type TransportParams } from './qmgr_transport_params.js';

function singles(n: number, dest: string, every = 0, prefix = 'M'): SimMessageSpec[] {
  const out: SimMessageSpec[] = [];
  for (let i = 0; i < n; i++) out.push({ queueId: `${prefix}${String(i).padStart(4, '0')}`, arrival: i * every, recipients: [`u${i}@${dest}`] });
  return out;
}

function smtp(processLimit: number, over: Partial<TransportParams> = {}): Record<string, TransportParams> {
  return { smtp: defaultTransportParams('smtp', processLimit, over) };
}

test('window growth: slow start at 5, +1 per delivery, capped at the concurrency limit', () => {
  const r = simulate({ transports: smtp(100), defaultModel: { kind: 'ok', latencyMs: 1000 }, messages: singles(100, 'a.example'), trace: true });
  const starts0 = r.trace.filter((l) => /^0 start /.test(l));
  assert.equal(starts0.length, 5, 'initial_destination_concurrency deliveries at time 0');
  const w = r.windows['smtp/a.example'];
  assert.deepEqual(w.slice(0, 16), [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 20]);
  assert.equal(r.peakConcurrency['smtp/a.example'], 20);
  assert.equal(r.delivered, 100);
  assert.equal(Object.keys(r.finished).length, 100);
});

test('dead destination: declared dead after the failed cohort limit; waiting mail deferred, none tried', () => {
  const r = simulate({
    transports: smtp(100),
    destinations: { 'dead.example': { kind: 'dead', latencyMs: 2000 } },
    messages: [...singles(20, 'dead.example'), ...singles(5, 'ok.example', 0, 'K')],
  });
  // Feedback 1 from window 5: cohorts 1/5 + 1/3 + 1/2 >= 1 at the third failure.
  assert.deepEqual(r.deadAt, { 'smtp/dead.example': [{ time: 2000, failures: 3 }] });
  assert.equal(r.deliveries, 10, '5 to the dead site, 5 to the live one');
  assert.equal(r.schedDeferred, 15);
  assert.deepEqual(r.deferredReasons, {
    'delivery temporarily suspended: connect to dead.example[192.0.2.1]:25: Connection refused': 15,
  });
  assert.equal(r.delivered, 5);
  assert.equal(r.agentDeferred, 5);
});

test('dead destination with failed cohort limit 10 and 1/concurrency: keeps trying at window 1', () => {
  const r = simulate({
    transports: smtp(100, { failedCohortLimit: 10, negativeFeedback: '1/concurrency' }),
    destinations: { 'dead.example': { kind: 'dead', latencyMs: 1000 } },
    messages: singles(40, 'dead.example'),
  });
  assert.ok(r.deadAt['smtp/dead.example']);
  const w = r.windows['smtp/dead.example'];
  assert.ok(w.includes(1), `window reached 1: ${w.join(',')}`);
  assert.ok(r.failures['smtp/dead.example'] >= 10);
});

test('4xx throttling site: 1/concurrency feedback settles the window at the site limit, never dead', () => {
  const messages = singles(300, 'thr.example', 10);
  const model: FaultModel = { kind: 'throttle', maxSessions: 3, latencyMs: 1000, rejectLatencyMs: 100 };
  const gentle = simulate({
    transports: smtp(100, { failedCohortLimit: 10, positiveFeedback: '1/concurrency', negativeFeedback: '1/concurrency' }),
    destinations: { 'thr.example': model },
    messages,
  });
  assert.deepEqual(gentle.deadAt, {});
  const w = gentle.windows['smtp/thr.example'];
  const settled = w.slice(20, -10);
  assert.ok(settled.every((x) => x >= 3 && x <= 4), `window in [3,4]: ${settled.join(',')}`);
  assert.equal(gentle.delivered + gentle.agentDeferred, 300);
  assert.ok(gentle.delivered > 200, `delivered ${gentle.delivered}`);
  // Postfix's defaults (feedback 1, cohort limit 1) oscillate more and give up on the site.
  const harsh = simulate({ transports: smtp(100), destinations: { 'thr.example': model }, messages });
  assert.ok(harsh.deadAt['smtp/thr.example'], 'dead with the default cohort limit');
  assert.ok(harsh.schedDeferred > 0);
  assert.ok(harsh.delivered < gentle.delivered);
});

test('agent crash: the transport is throttled for transport_retry_time and its waiting mail deferred', () => {
  const r = simulate({
    transports: smtp(100),
    crashFirst: { smtp: 1 },
    defaultModel: { kind: 'ok', latencyMs: 500 },
    transportRetryMs: 60_000,
    messages: [...singles(10, 'a.example'), ...singles(3, 'b.example', 0, 'L').map((m) => ({ ...m, arrival: 61_000 }))],
    trace: true,
  });
  assert.equal(r.deferredReasons['unknown mail transport error'], 6, 'the crashed request and the 5 waiting');
  assert.equal(r.delivered, 4 + 3, 'the other 4 in flight, and the mail after the retry time');
  assert.ok(r.trace.some((l) => /^61000 start .* L0000 smtp\/b.example/.test(l)));
});

test('no starvation: one-recipient messages pass a 10,000-recipient message; not so without preemption', () => {
  const big: string[] = [];
  for (let i = 0; i < 10_000; i++) big.push(`b${i}@d${i % 50}.example`);
  const messages: SimMessageSpec[] = [{ queueId: 'BIG', arrival: 0, recipients: big }];
  for (let i = 0; i < 60; i++) messages.push({ queueId: `S${String(i).padStart(3, '0')}`, arrival: 1000 + i * 1000, recipients: [`s${i}@d${i % 50}.example`] });
  const run = (over: Partial<TransportParams>) => {
    const r = simulate({ transports: smtp(10, over), defaultModel: { kind: 'ok', latencyMs: 1000 }, messages });
    assert.equal(r.peakBusy.smtp, 10);
    assert.equal(r.delivered, 10_060);
    return { big: r.finished.BIG, latency: messages.slice(1).map((m) => r.finished[m.queueId] - m.arrival) };
  };
  const pre = run({});
  assert.equal(pre.big, 23_000, 'the big message pays 5 slots per preemption but still finishes');
  assert.ok(Math.max(...pre.latency) <= 2000, `small message latency ${Math.max(...pre.latency)}`);
  const fifo = run({ deliverySlotCost: 1 });
  assert.equal(fifo.big, 20_000);
  assert.ok(Math.max(...fifo.latency) >= 15_000, 'without preemption the first small ones wait for the big one');
});

test('1000 messages to 50 destinations with slow, dead and throttling sites: limits hold, nothing is lost', () => {
  const messages: SimMessageSpec[] = [];
  let total = 0;
  for (let i = 0; i < 1000; i++) {
    const rc: string[] = [];
    for (let k = 0; k <= i % 3; k++) rc.push(`u${i}.${k}@d${(i * 7 + k * 13) % 50}.example`);
    total += rc.length;
    messages.push({ queueId: `M${String(i).padStart(4, '0')}`, arrival: i * 20, recipients: rc });
  }
  const destinations: Record<string, FaultModel> = {};
  for (let d = 0; d < 50; d++) {
    const kind = d % 10;
    destinations[`d${d}.example`] =
      kind === 1
        ? { kind: 'slow', latencyMs: 20_000 }
        : kind === 2
          ? { kind: 'dead', latencyMs: 5000 }
          : kind === 3
            ? { kind: 'throttle', maxSessions: 2, latencyMs: 1500 }
            : kind === 4
              ? { kind: 'flaky', failEvery: 7, latencyMs: 800 }
              : { kind: 'ok', latencyMs: 800 };
  }
  const started = Date.now();
  const r = simulate({ transports: smtp(30), destinations, messages, jitter: 0.5, seed: 7 });
  assert.ok(Date.now() - started < 5000, 'fast');
  assert.ok(r.peakBusy.smtp <= 30);
  assert.equal(r.peakBusy.smtp, 30, 'the process limit was reached');
  for (const [key, peak] of Object.entries(r.peakConcurrency)) assert.ok(peak <= 20, `${key} ${peak}`);
  assert.equal(r.delivered + r.agentDeferred + r.schedDeferred, total);
  assert.equal(Object.keys(r.finished).length, 1000);
  for (let d = 0; d < 50; d++) {
    const key = `smtp/d${d}.example`;
    if (d % 10 === 2) assert.ok(r.deadAt[key], `${key} dead`);
    if (d % 10 === 0 || d % 10 >= 5) assert.equal(r.deadAt[key], undefined, `${key} alive`);
  }
  // Slow destinations still grew their window beyond the initial concurrency.
  assert.ok(r.peakConcurrency['smtp/d1.example'] > 5);
});

test('simulations are deterministic', () => {
  const opts = {
    transports: smtp(5),
    destinations: { 'b.example': { kind: 'flaky', failEvery: 3, latencyMs: 700 } as FaultModel },
    messages: [...singles(20, 'a.example', 100), ...singles(20, 'b.example', 150, 'B')],
    jitter: 0.3,
    seed: 42,
    trace: true,
  };
  assert.deepEqual(simulate(opts).trace, simulate(opts).trace);
});

/** A small schedule whose every line was checked by hand against the rules (see the golden file's header). */
function goldenSchedule(): string[] {
  const transports = {
    smtp: defaultTransportParams('smtp', 3, { destinationRecipientLimit: 2 }),
    local: defaultTransportParams('local', 2, { destinationRecipientLimit: 1, destinationConcurrencyLimit: 2 }),
  };
  const messages: SimMessageSpec[] = [
    { queueId: 'A1', arrival: 0, recipients: ['a@ok.example', 'b@ok.example', 'c@ok.example', 'x@dead.example'] },
    { queueId: 'B2', arrival: 0, recipients: ['y@dead.example'] },
    { queueId: 'C3', arrival: 0, recipients: ['z@dead.example'] },
    { queueId: 'D4', arrival: 500, recipients: ['s@slow.example'] },
    { queueId: 'E5', arrival: 4000, recipients: ['w@dead.example', 'v@ok.example'] },
    { queueId: 'F6', arrival: 0, transport: 'local', recipients: ['joe@localhost', 'joe+x@localhost', 'ann@localhost'] },
  ];
  const r = simulate({
    transports,
    destinations: { 'dead.example': { kind: 'dead', latencyMs: 1000 }, 'slow.example': { kind: 'slow', latencyMs: 10_000 } },
    defaultModel: { kind: 'ok', latencyMs: 1000 },
    recipientDelimiter: '+',
    messages,
    trace: true,
  });
  return r.trace;
}

/** Preemption: a 16-entry job (>= minimum_delivery_slots * cost) lets small jobs pass on a 2-process transport. */
function preemptSchedule(): string[] {
  const big: string[] = [];
  for (let i = 0; i < 16; i++) big.push(`b${i}@d${i}.example`);
  return simulate({
    transports: smtp(2),
    defaultModel: { kind: 'ok', latencyMs: 1000 },
    messages: [
      { queueId: 'BIG', arrival: 0, recipients: big },
      { queueId: 'S1', arrival: 1500, recipients: ['s1@x.example'] },
      { queueId: 'S2', arrival: 1500, recipients: ['s2@y.example', 's3@z.example'] },
      { queueId: 'S3', arrival: 5500, recipients: ['s4@x.example'] },
    ],
    trace: true,
  }).trace;
}

for (const [name, run] of [
  ['basic.golden', goldenSchedule],
  ['preempt.golden', preemptSchedule],
] as Array<[string, () => string[]]>) {
  test(`golden schedule ${name}`, () => {
    const file = srcPath('src', 'qmgr', 'testdata', 'sched', name);
    const got = run().join('\n') + '\n';
    if (process.env.QMGR_SIM_UPDATE_GOLDEN === '1') {
      const header = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('#'));
      writeFileSync(file, header.join('\n') + '\n' + got);
    }
    const want = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    assert.equal(got, want);
  });
}
