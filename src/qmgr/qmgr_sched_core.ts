/*
 * qmgr_sched_core - the state and rules behind QmgrScheduler (Postfix qmgr_message.c assign, qmgr_deliver.c update, qmgr_entry.c done, qmgr_defer.c)
 *
 * What it does: SchedCore owns the transports, destination queues,
 * messages and deliveries in progress. It assigns recipients to queues
 * (queue name = nexthop, or localpart-without-extension@nexthop when the
 * transport's destination recipient limit is 1, except for the error and
 * retry transports; lowercased) and to entries of at most the
 * destination recipient limit; it defers recipients at once when their
 * transport or destination is dead; it runs the selection round robin
 * over transports that are alive, below their process limit and not rate
 * locked; it applies a delivery's outcome as qmgr_deliver_update() does
 * (agent failure: throttle the transport and defer everything it has
 * waiting, this delivery's recipients included; site failure: prefix
 * "delivery temporarily suspended: ", negative feedback, and when the
 * queue dies defer its waiting entries; otherwise positive feedback and
 * revive the transport) and disposes of entries as qmgr_entry_done()
 * (rate delay suspension, blocker update, queue and message disposal).
 * Timers (dead queue revival after deadDestinationRetryMs, transport
 * revival after transportRetryMs, rate delay resumption) are due times
 * checked whenever the core is called.
 *
 * What it does not do: I/O, real timers, logging of its own (the
 * optional log callback gets Postfix's feedback debug lines and
 * configuration warnings).
 *
 * DIAGNOSTICS
 * Unknown deliveries or recipients for a finished message throw an Error.
 */
import type { Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import type { DeferredWork, DeliveryOutcome, QmgrSchedulerOptions, SchedDelivery, SchedMessage } from './qmgr_sched.js';
import {
  entryUnselect,
  jobBlockerUpdate,
  jobCreate,
  jobEntrySelect,
  jobFree,
  jobObtain,
  peerAdd,
  peerFree,
  type SchedEntry,
  type SchedJob,
  type SchedMsgState,
  type SchedPeer,
} from './qmgr_sched_job.js';
import { SchedQueue } from './qmgr_sched_queue.js';
import { clogWarnings, destinationQueueName, schedSnapshot } from './qmgr_sched_snapshot.js';
import { SchedTransport } from './qmgr_sched_transport.js';

/** qmgr_deliver.c's prefix for a destination's hop status. */
export const SUSPENDED = 'delivery temporarily suspended: ';
/** Postfix MAIL_SERVICE_ERROR and MAIL_SERVICE_RETRY: never per-recipient queues. */
export const DEFAULT_ERROR_TRANSPORTS = ['error', 'retry'] as const;

const WHICH = { TODO: 0, BUSY: 1 } as const;
/** qmgr_message_active_limit's default, when the daemon does not pass the setting. */
const QMGR_MESSAGE_ACTIVE_LIMIT_DEFAULT = 20000;

/** Postfix dsn_valid(): "X.Y.Z" with class 2, 4 or 5. */
export function dsnValid(status: string): boolean {
  return /^[245]\.\d{1,3}\.\d{1,3}$/.test(status);
}

export class SchedCore {
  readonly #opts: QmgrSchedulerOptions;
  readonly #transports = new Map<string, SchedTransport>();
  /** Round-robin transport order (Postfix prepends new transports). */
  #transportOrder: SchedTransport[] = [];
  readonly #messages = new Map<SchedMessage, SchedMsgState>();
  readonly #deliveries = new Map<number, SchedEntry>();
  #nextId = 1;
  #recipients = 0;
  #finished: SchedMessage[] = [];
  /** Earliest pending timer (ms); Infinity = none known. */
  #nextTimer = Infinity;

  constructor(opts: QmgrSchedulerOptions) {
    this.#opts = opts;
  }

  #now(): number {
    return this.#opts.clock.now();
  }

  #nowSec(now = this.#now()): number {
    return Math.floor(now / 1000);
  }

  #noteTimer(due: number): void {
    if (due < this.#nextTimer) this.#nextTimer = due;
  }

  #feedbackLog(t: SchedTransport): ((text: string) => void) | undefined {
    const log = this.#opts.log;
    if (!log || !t.params.concurrencyFeedbackDebug) return undefined;
    if ((this.#opts.errorTransports ?? DEFAULT_ERROR_TRANSPORTS).includes(t.name)) return undefined;
    return (text) => log('info', text);
  }

  transport(name: string): SchedTransport {
    let t = this.#transports.get(name);
    if (!t) {
      t = new SchedTransport(this.#opts.transportParams(name));
      for (const w of t.warnings) this.#opts.log?.('warn', w);
      if (t.params.concurrencyFeedbackDebug) for (const line of t.feedbackInitLines()) this.#opts.log?.('info', line);
      this.#transports.set(name, t);
      this.#transportOrder.unshift(t);
    }
    return t;
  }

  /** The destination queue name of a recipient (Postfix qmgr_message_resolve()). */
  queueName(t: SchedTransport, nexthop: string, rcpt: Recipient): string {
    const errorish = (this.#opts.errorTransports ?? DEFAULT_ERROR_TRANSPORTS).includes(t.name);
    return destinationQueueName(nexthop, rcpt.address, !errorish && t.recipientLimit === 1, this.#opts);
  }

  #state(msg: SchedMessage): SchedMsgState {
    let m = this.#messages.get(msg);
    if (!m) {
      m = { msg, refcount: 0, rcptCount: 0, ready: false, done: false, jobs: new Map(), queuedSec: Math.floor(msg.arrival / 1000) };
      this.#messages.set(msg, m);
    }
    return m;
  }

  addRecipients(msg: SchedMessage, transport: string, nexthop: string, rcpts: readonly Recipient[], flush = false): DeferredWork[] {
    const now = this.#now();
    this.#runTimers(now);
    const m = this.#state(msg);
    if (m.done) throw new Error(`qmgr_sched: recipients for finished message ${msg.queueId}`);
    const t = this.transport(transport);
    if (flush && t.deadDsn) t.unthrottle();
    if (t.deadDsn) {
      return rcpts.length ? [{ recipients: [...rcpts], message: msg, transport, nexthop, dsn: { ...t.deadDsn } }] : [];
    }
    const deferred = new Map<SchedQueue, Recipient[]>();
    let job: SchedJob | undefined;
    for (const rcpt of rcpts) {
      const qname = this.queueName(t, nexthop, rcpt);
      let q = t.queues.get(qname);
      if (!q) {
        q = new SchedQueue(t, qname, nexthop);
        t.addQueue(q);
      }
      // This message is being flushed: give a dead destination another chance.
      if (flush && q.throttled) q.unthrottle(this.#feedbackLog(t));
      if (q.throttled) {
        const list = deferred.get(q) ?? [];
        list.push(rcpt);
        deferred.set(q, list);
        continue;
      }
      job = m.jobs.get(t.name) ?? jobCreate(m, t);
      let peer = job.peerByQueue.get(q);
      if (!peer) {
        peer = { job, queue: q, entries: [], refcount: 0 };
        job.peerByQueue.set(q, peer);
        peerAdd(job, peer);
      }
      const last = peer.entries[peer.entries.length - 1];
      const limit = t.recipientLimit;
      if (last && (limit === 0 || last.recipients.length < limit)) {
        last.recipients.push(rcpt);
      } else {
        this.#entryCreate(peer, m).recipients.push(rcpt);
      }
      job.rcptCount++;
      m.rcptCount++;
      this.#recipients++;
    }
    if (job && m.ready) jobObtain(job);
    const out: DeferredWork[] = [];
    for (const [q, list] of deferred) {
      out.push({ recipients: list, message: msg, transport, nexthop, dsn: { ...(q.dsn as Dsn) } });
    }
    return out;
  }

  #entryCreate(peer: SchedPeer, m: SchedMsgState): SchedEntry {
    const q = peer.queue;
    if (q.throttled) throw new Error(`qmgr_entry_create: dead queue: ${q.name}`);
    const entry: SchedEntry = { message: m, queue: q, peer, recipients: [], delivery: null };
    m.refcount++;
    peer.entries.push(entry);
    peer.refcount++;
    q.todo.add(entry);
    peer.job.readEntries++;
    this.#clogWarn(q);
    return entry;
  }

  /** Postfix qmgr_entry_create()'s warning when one destination takes much of the active queue. */
  #clogWarn(q: SchedQueue): void {
    const warnMs = this.#opts.clogWarnTimeMs ?? 0;
    const log = this.#opts.log;
    if (!log || warnMs <= 0 || this.#opts.helpfulWarnings === false) return;
    const now = this.#now();
    if (now < q.clogTimeToWarn) return;
    const lines = clogWarnings(q, this.#messages.size, this.#opts.activeLimit ?? QMGR_MESSAGE_ACTIVE_LIMIT_DEFAULT);
    if (lines.length === 0) return;
    for (const line of lines) log('warn', line);
    q.clogTimeToWarn = now + warnMs;
  }

  messageReady(msg: SchedMessage): SchedMessage[] {
    const m = this.#state(msg);
    if (m.done || m.ready) return [];
    m.ready = true;
    for (const job of m.jobs.values()) if (job.readEntries > job.selectedEntries) jobObtain(job);
    if (m.refcount === 0) this.#messageDone(m);
    return this.#takeFinished();
  }

  #takeFinished(): SchedMessage[] {
    const f = this.#finished;
    this.#finished = [];
    return f;
  }

  #messageDone(m: SchedMsgState): void {
    m.done = true;
    for (const job of [...m.jobs.values()]) jobFree(job);
    this.#messages.delete(m.msg);
    this.#finished.push(m.msg);
  }

  select(): SchedDelivery | null {
    const now = this.#now();
    this.#runTimers(now);
    const nowSec = this.#nowSec(now);
    for (let k = 0; k < this.#transportOrder.length; k++) {
      const t = this.#transportOrder[k];
      if (!t.canStart(now) || !t.hasReadyQueue()) continue;
      const entry = jobEntrySelect(t, nowSec);
      if (!entry) continue;
      this.#transportOrder.splice(k, 1);
      this.#transportOrder.push(t);
      t.busy++;
      if (t.transportRateDelayMs > 0) {
        t.rateLockUntil = now + t.transportRateDelayMs;
        this.#noteTimer(t.rateLockUntil);
      }
      const q = entry.queue;
      const d: SchedDelivery = {
        id: this.#nextId++,
        message: entry.message.msg,
        transport: t.name,
        nexthop: q.nexthop,
        queueName: q.name,
        recipients: entry.recipients,
        connLoad: q.connLoad,
        connStore: q.connStore,
      };
      entry.delivery = d;
      this.#deliveries.set(d.id, entry);
      return d;
    }
    return null;
  }

  deliveryDone(d: SchedDelivery, outcome: DeliveryOutcome): { deferred: DeferredWork[]; finished: SchedMessage[] } {
    const entry = this.#deliveries.get(d.id);
    if (!entry) throw new Error(`qmgr_sched: unknown delivery ${d.id}`);
    const now = this.#now();
    this.#runTimers(now);
    this.#deliveries.delete(d.id);
    entry.delivery = null;
    const q = entry.queue;
    const t = q.transport;
    t.busy--;
    const deferred: DeferredWork[] = [];
    if (outcome.kind === 'transport-fail') {
      entryUnselect(entry);
      t.throttle(outcome.dsn, now, this.#opts.transportRetryMs);
      this.#noteTimer(t.deadUntil);
      for (const queue of [...t.queueOrder]) this.#deferTodo(queue, outcome.dsn, deferred, now);
      return { deferred, finished: this.#takeFinished() };
    }
    let problem = false;
    if (outcome.kind === 'site-fail') {
      const status = outcome.dsn.status;
      const reason = outcome.dsn.reason;
      if (status !== '') {
        const hop: Dsn = {
          ...outcome.dsn,
          status: dsnValid(status) ? status : '4.0.0',
          reason: SUSPENDED + (reason === '' ? 'unknown error' : reason),
        };
        problem = true;
        if (q.ready) {
          q.throttle(hop, now, this.#opts.deadDestinationRetryMs, this.#feedbackLog(t));
          if (q.throttled) {
            this.#noteTimer(q.deadUntil);
            this.#deferTodo(q, q.dsn as Dsn, deferred, now);
          }
        }
      } else if (reason !== '') {
        problem = true;
      }
    }
    if (!problem) {
      t.unthrottle();
      if (q.ready || q.throttled) q.unthrottle(this.#feedbackLog(t));
    }
    this.#entryDone(entry, WHICH.BUSY, now);
    return { deferred, finished: this.#takeFinished() };
  }

  /** Postfix qmgr_defer_todo(): give up on a queue's waiting entries for now. */
  #deferTodo(q: SchedQueue, dsn: Dsn, out: DeferredWork[], now: number): void {
    for (const entry of [...q.todo]) {
      out.push({
        recipients: [...entry.recipients],
        message: entry.message.msg,
        transport: q.transport.name,
        nexthop: q.nexthop,
        dsn: { ...dsn },
      });
      this.#entryDone(entry, WHICH.TODO, now);
    }
  }

  /** Postfix qmgr_entry_done(). */
  #entryDone(entry: SchedEntry, which: number, now: number): void {
    const q = entry.queue;
    const peer = entry.peer;
    const job = peer.job;
    const t = q.transport;
    const m = entry.message;
    if (which === WHICH.BUSY) {
      q.busy.delete(entry);
    } else {
      const i = peer.entries.indexOf(entry);
      if (i >= 0) peer.entries.splice(i, 1);
      job.selectedEntries++;
      q.todo.delete(entry);
    }
    const n = entry.recipients.length;
    job.rcptCount -= n;
    m.rcptCount -= n;
    this.#recipients -= n;
    if (which === WHICH.BUSY && t.rateDelayMs > 0) {
      if (q.throttled) q.unthrottle(this.#feedbackLog(t));
      if (q.ready) {
        q.suspend(now, t.rateDelayMs);
        this.#noteTimer(q.suspendedUntil);
      }
    }
    if (!q.suspended && q.blockerTag === t.blockerTag) jobBlockerUpdate(q);
    peer.refcount--;
    if (peer.refcount === 0) peerFree(job, peer);
    if (which === WHICH.BUSY) q.lastDone = this.#nowSec(now);
    if (q.empty && q.ready) t.removeQueue(q);
    m.refcount--;
    if (m.refcount === 0 && m.ready && !m.done) this.#messageDone(m);
  }

  /** Fires every timer that is due: dead queue/transport revival, rate delay resumption. */
  #runTimers(now: number): void {
    if (now < this.#nextTimer) return;
    let next = Infinity;
    for (const t of this.#transports.values()) {
      if (t.deadDsn) {
        if (t.deadUntil <= now) t.unthrottle();
        else next = Math.min(next, t.deadUntil);
      }
      if (t.rateLockUntil > now) next = Math.min(next, t.rateLockUntil);
      for (const q of [...t.queueOrder]) {
        if (q.throttled) {
          if (q.deadUntil <= now) {
            q.unthrottle(this.#feedbackLog(t));
            if (q.ready && q.empty) t.removeQueue(q);
          } else next = Math.min(next, q.deadUntil);
        } else if (q.suspended) {
          if (q.suspendedUntil <= now) {
            q.resume();
            if (q.ready && q.empty) t.removeQueue(q);
            else jobBlockerUpdate(q);
          } else next = Math.min(next, q.suspendedUntil);
        }
      }
    }
    this.#nextTimer = next;
  }

  nextWakeup(): number | null {
    this.#runTimers(this.#now());
    return this.#nextTimer === Infinity ? null : this.#nextTimer;
  }

  /** Postfix qmgr_enable_all(). */
  reviveAll(): void {
    for (const t of this.#transports.values()) {
      if (t.deadDsn) t.unthrottle();
      for (const q of [...t.queueOrder]) {
        if (q.throttled) q.unthrottle(this.#feedbackLog(t));
        if (q.ready && q.empty) t.removeQueue(q);
      }
    }
    this.#nextTimer = -Infinity;
    this.#runTimers(this.#now());
  }

  get activeRecipients(): number {
    return this.#recipients;
  }
  get activeMessages(): number {
    return this.#messages.size;
  }
  get busyDeliveries(): number {
    return this.#deliveries.size;
  }

  /** Transport and queue state (timers that are due fire first), for tests and the simulator. */
  queueState(transport: string, name: string): SchedQueue | undefined {
    this.#runTimers(this.#now());
    return this.#transports.get(transport)?.queues.get(name);
  }
  transportState(transport: string): SchedTransport | undefined {
    this.#runTimers(this.#now());
    return this.#transports.get(transport);
  }

  snapshot(): object {
    return schedSnapshot(this.#now(), this.#messages.size, this.#recipients, this.#deliveries.size, [...this.#transports.values()]);
  }
}
