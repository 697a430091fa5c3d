/*
 * qmgr_sim - drive the scheduler core with virtual time and fault models
 *
 * What it does: simulate() feeds a QmgrScheduler with messages that
 * arrive at given virtual times, starts every delivery select() offers,
 * completes each after a latency that the destination's fault model
 * decides, and reports the outcome the model decides: "ok" (delivered),
 * "slow" (ok after a long latency), "dead" (every attempt is a site
 * failure, as "connect to HOST: Connection refused"), "throttle" (a site
 * accepts at most N concurrent sessions and answers 421 to the others),
 * "flaky" (every Nth attempt fails), and a transport model whose first
 * N deliveries crash the agent. Time jumps from event to event (the next
 * completion, arrival or scheduler wakeup), so thousands of messages take
 * milliseconds. It records what tests assert: per-destination peak
 * concurrency and window history, per-transport peak busy count, when
 * destinations went dead, when each message finished, what was deferred,
 * and optionally a line-per-event trace for golden files.
 *
 * What it does not do: retry deferred mail (a deferred recipient stays
 * deferred: one active-queue pass), model the queue file or the agents'
 * per-recipient results, or use real time or randomness beyond its own
 * seeded generator.
 *
 * DIAGNOSTICS
 * A run that exceeds maxEvents or maxTimeMs throws (a livelock is a bug).
 */
import { dsnMake, type Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import { QmgrScheduler, type DeliveryOutcome, type SchedDelivery, type SchedMessage } from './qmgr_sched.js';
import type { TransportParams } from './qmgr_transport_params.js';

export type FaultModel =
  | { kind: 'ok'; latencyMs?: number }
  | { kind: 'slow'; latencyMs: number }
  | { kind: 'dead'; latencyMs?: number }
  | { kind: 'throttle'; maxSessions: number; latencyMs?: number; rejectLatencyMs?: number }
  | { kind: 'flaky'; failEvery: number; latencyMs?: number };

export interface SimMessageSpec {
  queueId: string;
  arrival: number;
  transport?: string;
  /** Recipient addresses; the domain is the destination (nexthop). */
  recipients: string[];
}

export interface SimOptions {
  transports: Record<string, TransportParams>;
  /** Fault model per destination (nexthop); others use defaultModel. */
  destinations?: Record<string, FaultModel>;
  defaultModel?: FaultModel;
  /** Transport name → number of first deliveries whose agent crashes. */
  crashFirst?: Record<string, number>;
  messages: SimMessageSpec[];
  transportRetryMs?: number;
  deadDestinationRetryMs?: number;
  recipientDelimiter?: string;
  /** Record a trace line per event. */
  trace?: boolean;
  /** Latency jitter 0..1 (fraction of latency), from a seeded generator. */
  jitter?: number;
  seed?: number;
  maxEvents?: number;
  maxTimeMs?: number;
}

export interface SimResult {
  endTime: number;
  deliveries: number;
  /** Recipients delivered. */
  delivered: number;
  /** Recipients the agent deferred (site failure) or that crashed with the agent. */
  agentDeferred: number;
  /** Recipients the scheduler deferred (dead destination/transport). */
  schedDeferred: number;
  peakBusy: Record<string, number>;
  /** Peak concurrent deliveries per destination queue (transport/queue). */
  peakConcurrency: Record<string, number>;
  /** Window after each completion, per destination queue. */
  windows: Record<string, number[]>;
  /** When each destination queue went dead, with the failures it took. */
  deadAt: Record<string, { time: number; failures: number }[]>;
  /** Site failures per destination queue. */
  failures: Record<string, number>;
  /** Finish time per message. */
  finished: Record<string, number>;
  /** Start time of each message's first delivery. */
  firstStart: Record<string, number>;
  deferredReasons: Record<string, number>;
  trace: string[];
}

const DEFAULT_LATENCY_MS = 1000;
const DEFAULT_REJECT_LATENCY_MS = 100;
const DEFAULT_MAX_EVENTS = 2_000_000;
const DEFAULT_MAX_TIME_MS = 30 * 24 * 3600 * 1000;

/** mulberry32: a small deterministic generator. */
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

interface Pending {
  at: number;
  seq: number;
  d: SchedDelivery;
  outcome: DeliveryOutcome;
  key: string;
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at >= 0 ? address.slice(at + 1).toLowerCase() : '';
}

export function simulate(opts: SimOptions): SimResult {
  let now = 0;
  const clock = { now: () => now };
  const sched = new QmgrScheduler({
    clock,
    transportParams: (name) => {
      const p = opts.transports[name];
      if (!p) throw new Error(`simulate: no parameters for transport ${name}`);
      return p;
    },
    transportRetryMs: opts.transportRetryMs ?? 60_000,
    deadDestinationRetryMs: opts.deadDestinationRetryMs ?? 300_000,
    recipientDelimiter: opts.recipientDelimiter,
  });
  const random = rng(opts.seed ?? 1);
  const jitter = opts.jitter ?? 0;
  const r: SimResult = {
    endTime: 0,
    deliveries: 0,
    delivered: 0,
    agentDeferred: 0,
    schedDeferred: 0,
    peakBusy: {},
    peakConcurrency: {},
    windows: {},
    deadAt: {},
    failures: {},
    finished: {},
    firstStart: {},
    deferredReasons: {},
    trace: [],
  };
  const log = (line: string): void => {
    if (opts.trace) r.trace.push(`${now} ${line}`);
  };
  const arrivals = [...opts.messages].sort((a, b) => a.arrival - b.arrival);
  let nextArrival = 0;
  const pending: Pending[] = [];
  let seq = 0;
  const sessions = new Map<string, number>();
  const transportBusy = new Map<string, number>();
  const attempts = new Map<string, number>();
  const crashes = new Map<string, number>(Object.entries(opts.crashFirst ?? {}));
  const msgs = new Map<string, SchedMessage>();
  /** Dead state per destination queue after the last completion there (for transitions). */
  const deadNow = new Map<string, boolean>();

  const noteDeferred = (list: { recipients: readonly Recipient[]; dsn: Dsn; nexthop: string; message: SchedMessage }[]): void => {
    for (const w of list) {
      r.schedDeferred += w.recipients.length;
      r.deferredReasons[w.dsn.reason] = (r.deferredReasons[w.dsn.reason] ?? 0) + w.recipients.length;
      log(`defer ${w.message.queueId} ${w.nexthop} n=${w.recipients.length} (${w.dsn.reason})`);
    }
  };
  const noteFinished = (list: SchedMessage[]): void => {
    for (const m of list) {
      r.finished[m.queueId] = now;
      log(`finished ${m.queueId}`);
    }
  };

  const arrive = (spec: SimMessageSpec): void => {
    const msg: SchedMessage = { queueId: spec.queueId, arrival: spec.arrival };
    msgs.set(spec.queueId, msg);
    const byDest = new Map<string, Recipient[]>();
    spec.recipients.forEach((address, i) => {
      const dom = domainOf(address);
      const list = byDest.get(dom) ?? [];
      list.push({ origAddress: address, address, offset: i, dsnOrcpt: '', dsnNotify: 0 });
      byDest.set(dom, list);
    });
    log(`arrive ${spec.queueId} nrcpt=${spec.recipients.length}`);
    const transport = spec.transport ?? Object.keys(opts.transports)[0];
    for (const [dom, list] of byDest) noteDeferred(sched.addRecipients(msg, transport, dom, list));
    noteFinished(sched.messageReady(msg));
  };

  const model = (nexthop: string): FaultModel => opts.destinations?.[nexthop] ?? opts.defaultModel ?? { kind: 'ok' };
  const lat = (ms: number): number => Math.round(ms * (1 + jitter * random()));

  const start = (d: SchedDelivery): void => {
    r.deliveries++;
    const key = `${d.transport}/${d.queueName}`;
    const busyNow = (sessions.get(key) ?? 0) + 1;
    sessions.set(key, busyNow);
    r.peakConcurrency[key] = Math.max(r.peakConcurrency[key] ?? 0, busyNow);
    const tbusy = (transportBusy.get(d.transport) ?? 0) + 1;
    transportBusy.set(d.transport, tbusy);
    r.peakBusy[d.transport] = Math.max(r.peakBusy[d.transport] ?? 0, tbusy);
    if (r.firstStart[d.message.queueId] === undefined) r.firstStart[d.message.queueId] = now;
    const n = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, n);
    const m = model(d.nexthop);
    let outcome: DeliveryOutcome = { kind: 'ok' };
    let latency = m.latencyMs ?? DEFAULT_LATENCY_MS;
    const crashLeft = crashes.get(d.transport) ?? 0;
    if (crashLeft > 0) {
      crashes.set(d.transport, crashLeft - 1);
      outcome = { kind: 'transport-fail', dsn: dsnMake('4.3.0', 'unknown mail transport error') };
    } else if (m.kind === 'dead') {
      outcome = { kind: 'site-fail', dsn: dsnMake('4.4.1', `connect to ${d.nexthop}[192.0.2.1]:25: Connection refused`) };
    } else if (m.kind === 'throttle' && busyNow > m.maxSessions) {
      latency = m.rejectLatencyMs ?? DEFAULT_REJECT_LATENCY_MS;
      outcome = {
        kind: 'site-fail',
        dsn: dsnMake('4.7.0', `host ${d.nexthop}[192.0.2.1] refused to talk to me: 421 4.7.0 Too many connections`),
      };
    } else if (m.kind === 'flaky' && n % m.failEvery === 0) {
      outcome = { kind: 'site-fail', dsn: dsnMake('4.4.2', `conversation with ${d.nexthop}[192.0.2.1] timed out`) };
    }
    const at = now + lat(latency);
    pending.push({ at, seq: seq++, d, outcome, key });
    log(`start #${d.id} ${d.message.queueId} ${key} n=${d.recipients.length}`);
  };

  const complete = (p: Pending): void => {
    sessions.set(p.key, (sessions.get(p.key) ?? 1) - 1);
    transportBusy.set(p.d.transport, (transportBusy.get(p.d.transport) ?? 1) - 1);
    const { d, outcome } = p;
    const res = sched.deliveryDone(d, outcome);
    if (outcome.kind === 'ok') r.delivered += d.recipients.length;
    else if (outcome.kind === 'site-fail') {
      r.agentDeferred += d.recipients.length;
      r.failures[p.key] = (r.failures[p.key] ?? 0) + 1;
    } else {
      // The crashed delivery's own recipients come back in res.deferred.
    }
    log(`done #${d.id} ${d.message.queueId} ${p.key} ${outcome.kind}`);
    const info = sched.queueInfo(d.transport, d.queueName);
    const w = info ? info.window : 0;
    (r.windows[p.key] ??= []).push(w);
    const wasDead = deadNow.get(p.key) ?? false;
    deadNow.set(p.key, info?.dead ?? false);
    if (info?.dead && !wasDead) (r.deadAt[p.key] ??= []).push({ time: now, failures: r.failures[p.key] ?? 0 });
    noteDeferred(res.deferred);
    noteFinished(res.finished);
  };

  const maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
  const maxTime = opts.maxTimeMs ?? DEFAULT_MAX_TIME_MS;
  let events = 0;
  for (;;) {
    if (++events > maxEvents) throw new Error(`simulate: more than ${maxEvents} events at ${now} ms`);
    while (nextArrival < arrivals.length && arrivals[nextArrival].arrival <= now) arrive(arrivals[nextArrival++]);
    for (let d = sched.select(); d; d = sched.select()) start(d);
    // The next event: earliest completion (ties in start order), arrival or wakeup.
    let best = -1;
    for (let i = 0; i < pending.length; i++) {
      if (best < 0 || pending[i].at < pending[best].at || (pending[i].at === pending[best].at && pending[i].seq < pending[best].seq)) best = i;
    }
    const tDone = best >= 0 ? pending[best].at : Infinity;
    const tArrive = nextArrival < arrivals.length ? arrivals[nextArrival].arrival : Infinity;
    const wake = sched.nextWakeup();
    const tWake = wake !== null && (sched.activeMessages > 0 || nextArrival < arrivals.length) ? Math.max(wake, now) : Infinity;
    const next = Math.min(tDone, tArrive, tWake);
    if (next === Infinity) break;
    if (next > maxTime) throw new Error(`simulate: virtual time limit ${maxTime} ms exceeded`);
    if (next === tDone) {
      now = tDone;
      const p = pending.splice(best, 1)[0];
      complete(p);
    } else {
      now = next;
    }
  }
  r.endTime = now;
  if (sched.activeMessages !== 0 || sched.busyDeliveries !== 0) {
    throw new Error(`simulate: ended with ${sched.activeMessages} messages, ${sched.busyDeliveries} deliveries in core`);
  }
  return r;
}
