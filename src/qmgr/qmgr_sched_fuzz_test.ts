/*
 * qmgr_sched_fuzz_test - random operation sequences against the scheduler core: no exception, limits hold,
 * every recipient comes back exactly once (in a finished delivery or as deferred work), nothing stays in core
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dsnMake } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import { QmgrScheduler, type DeliveryOutcome, type SchedDelivery, type SchedMessage } from './qmgr_sched.js';
import { defaultTransportParams, type TransportParams } from './qmgr_transport_params.js';

/** mulberry32, seeded. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TRANSPORTS: Record<string, TransportParams> = {
  smtp: defaultTransportParams('smtp', 6, { destinationRecipientLimit: 3, minimumDeliverySlots: 1 }),
  relay: defaultTransportParams('relay', 3, { destinationRateDelayMs: 1500, failedCohortLimit: 2, negativeFeedback: '1/concurrency' }),
  local: defaultTransportParams('local', 2, { destinationRecipientLimit: 1, destinationConcurrencyLimit: 2, transportRateDelayMs: 300 }),
};

const stats = { deferred: 0, dead: 0, suspended: 0, delivered: 0 };

function runOnce(seed: number): void {
  const random = rng(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  let now = 0;
  const sched = new QmgrScheduler({
    clock: { now: () => now },
    transportParams: (name) => TRANSPORTS[name],
    transportRetryMs: 5000,
    deadDestinationRetryMs: 8000,
    recipientDelimiter: '+',
  });
  const seen = new Map<string, number>();
  const count = (m: SchedMessage, rcpts: readonly Recipient[]) => {
    for (const r of rcpts) {
      const k = `${m.queueId}/${r.offset}`;
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
  };
  let expected = 0;
  const busy: SchedDelivery[] = [];
  const busyPer = new Map<string, number>();
  for (let step = 0; step < 600; step++) {
    const op = random();
    if (op < 0.25) {
      const m: SchedMessage = { queueId: `S${seed}M${step}`, arrival: now };
      const n = 1 + Math.floor(random() * 8);
      const groups = new Map<string, Recipient[]>();
      for (let i = 0; i < n; i++) {
        const transport = pick(['smtp', 'smtp', 'relay', 'local']);
        const dom = pick(['a.example', 'b.example', 'c.example', 'd.example']);
        const key = `${transport} ${dom}`;
        const list = groups.get(key) ?? [];
        list.push({ origAddress: '', address: `${pick(['joe', 'ann', 'joe+x', 'bob'])}@${dom}`, offset: i, dsnOrcpt: '', dsnNotify: 0 });
        groups.set(key, list);
        expected++;
      }
      for (const [key, list] of groups) {
        const [transport, dom] = key.split(' ');
        for (const w of sched.addRecipients(m, transport, dom, list)) count(w.message, w.recipients);
      }
      sched.messageReady(m);
    } else if (op < 0.55) {
      for (let d = sched.select(); d; d = sched.select()) {
        busy.push(d);
        const k = `${d.transport}/${d.queueName}`;
        busyPer.set(k, (busyPer.get(k) ?? 0) + 1);
        const limit = TRANSPORTS[d.transport].destinationRateDelayMs > 0 ? 1 : TRANSPORTS[d.transport].destinationConcurrencyLimit;
        assert.ok((busyPer.get(k) ?? 0) <= limit, `${k} concurrency`);
        assert.ok((sched.transportInfo(d.transport)?.busy ?? 0) <= TRANSPORTS[d.transport].processLimit);
      }
    } else if (op < 0.9 && busy.length > 0) {
      const d = busy.splice(Math.floor(random() * busy.length), 1)[0];
      const k = `${d.transport}/${d.queueName}`;
      busyPer.set(k, (busyPer.get(k) ?? 1) - 1);
      const x = random();
      const outcome: DeliveryOutcome =
        x < 0.6
          ? { kind: 'ok' }
          : x < 0.93
            ? { kind: 'site-fail', dsn: dsnMake('4.4.1', 'connection refused') }
            : { kind: 'transport-fail', dsn: dsnMake('4.3.0', 'unknown mail transport error') };
      const res = sched.deliveryDone(d, outcome);
      if (outcome.kind !== 'transport-fail') count(d.message, d.recipients);
      if (outcome.kind === 'ok') stats.delivered++;
      for (const w of res.deferred) count(w.message, w.recipients);
      stats.deferred += res.deferred.length;
      const q = sched.queueInfo(d.transport, d.queueName);
      if (q?.dead) stats.dead++;
      if (q?.suspended) stats.suspended++;
    } else if (op < 0.93) {
      sched.reviveAll();
    } else {
      const wake = sched.nextWakeup();
      now = wake !== null && random() < 0.7 ? Math.max(now, wake) : now + Math.floor(random() * 3000);
    }
  }
  // Drain: complete everything successfully, letting time pass for timers.
  for (let guard = 0; guard < 100_000 && (busy.length > 0 || sched.activeMessages > 0); guard++) {
    for (let d = sched.select(); d; d = sched.select()) busy.push(d);
    const d = busy.shift();
    if (d) {
      sched.deliveryDone(d, { kind: 'ok' });
      count(d.message, d.recipients);
    } else {
      const wake = sched.nextWakeup();
      assert.ok(wake !== null, `stuck with ${sched.activeMessages} messages`);
      now = Math.max(now + 1, wake);
    }
  }
  assert.equal(sched.activeMessages, 0);
  assert.equal(sched.activeRecipients, 0);
  assert.equal(sched.busyDeliveries, 0);
  assert.equal(seen.size, expected);
  for (const [k, n] of seen) assert.equal(n, 1, k);
}

test('random operation sequences keep every invariant', () => {
  for (let seed = 1; seed <= 30; seed++) runOnce(seed);
  // The sequences reached the interesting states.
  for (const [k, v] of Object.entries(stats)) assert.ok(v > 20, `${k}: ${v}`);
});
