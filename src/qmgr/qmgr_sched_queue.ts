/*
 * qmgr_sched_queue - per-destination queues and their concurrency window (Postfix qmgr_queue.c)
 *
 * What it does: SchedQueue is one destination of one transport: its todo
 * and busy entries and its window. The window starts at the transport's
 * initial concurrency (slow start) and moves with the feedback of
 * qmgr_queue_unthrottle() (positive, after each delivery without a site
 * failure: success += feedback; whole units grow the window while it is
 * below busy + initial concurrency and the limit) and
 * qmgr_queue_throttle() (negative, after a site failure: failure -=
 * feedback; whole units shrink it, never below 1). Each failure adds
 * 1/window to the failed pseudo-cohort count; reaching the transport's
 * failed cohort limit makes the queue dead (window 0, STAT_THROTTLED) with
 * the failure's DSN until deadUntil. A rate-limited queue is suspended
 * (window -1) after each delivery until suspendedUntil. The window state
 * values are Postfix's QMGR_QUEUE_STAT_*.
 *
 * What it does not do: defer entries (the core does, with the DSN kept
 * here), select entries (qmgr_sched_job.ts) or log by itself (the log
 * callback receives the destination_concurrency_feedback_debug lines).
 *
 * DIAGNOSTICS
 * Calls in the wrong state throw (Postfix panics).
 */
import type { Dsn } from '../global/dsn.js';
import { feedbackValue, formatG } from './qmgr_sched_feedback.js';
import type { SchedEntry } from './qmgr_sched_job.js';
import type { SchedTransport } from './qmgr_sched_transport.js';

/** Postfix QMGR_QUEUE_STAT_*: window values that are states. */
export const QUEUE_STAT = { THROTTLED: 0, SUSPENDED: -1 } as const;

/** Debug log sink: (text) for destination_concurrency_feedback_debug. */
export type FeedbackLog = (text: string) => void;

export class SchedQueue {
  readonly name: string;
  readonly nexthop: string;
  readonly transport: SchedTransport;
  /** > 0 ready (the concurrency window), 0 dead, -1 suspended. */
  window: number;
  success = 0;
  failure = 0;
  failCohorts = 0;
  readonly todo = new Set<SchedEntry>();
  readonly busy = new Set<SchedEntry>();
  /** The DSN of a dead queue ("delivery temporarily suspended: ..."). */
  dsn: Dsn | null = null;
  deadUntil = 0;
  suspendedUntil = 0;
  blockerTag = 0;
  /** No congestion warning before this time (ms). */
  clogTimeToWarn = 0;
  /** Last delivery completion, whole seconds (Postfix event_time()). */
  lastDone = 0;
  /** Session caching: DEL_REQ_FLAG_CONN_LOAD / CONN_STORE state. */
  connLoad = false;
  connStore = false;

  constructor(transport: SchedTransport, name: string, nexthop: string) {
    this.transport = transport;
    this.name = name;
    this.nexthop = nexthop;
    this.window = transport.initDestConcurrency;
  }

  get todoRefcount(): number {
    return this.todo.size;
  }
  get busyRefcount(): number {
    return this.busy.size;
  }
  get ready(): boolean {
    return this.window > 0;
  }
  get throttled(): boolean {
    return this.window === QUEUE_STAT.THROTTLED;
  }
  get suspended(): boolean {
    return this.window === QUEUE_STAT.SUSPENDED;
  }
  get empty(): boolean {
    return this.todo.size === 0 && this.busy.size === 0;
  }

  /** Postfix QMGR_LOG_WINDOW. */
  #logWindow(fn: string, log: FeedbackLog | undefined): void {
    if (!log) return;
    log(
      `${fn}: queue ${this.name}: limit ${this.transport.destConcurrencyLimit} window ${this.window}` +
        ` success ${formatG(this.success)} failure ${formatG(this.failure)} fail_cohorts ${formatG(this.failCohorts)}`,
    );
  }

  /** Postfix qmgr_queue_unthrottle(): positive feedback, or revival of a dead queue. */
  unthrottle(log?: FeedbackLog): void {
    const fn = 'qmgr_queue_unthrottle';
    const t = this.transport;
    if (!this.throttled && !this.ready) throw new Error(`${fn}: queue ${this.name}: bad queue status ${this.window}`);
    this.failCohorts = 0;
    if (this.throttled) {
      this.dsn = null;
      this.deadUntil = 0;
      // Back from the almost grave: the busy count is the best guess.
      this.window = this.busyRefcount > 0 ? this.busyRefcount : t.initDestConcurrency;
      this.success = this.failure = 0;
      this.#logWindow(fn, log);
      return;
    }
    if (t.destConcurrencyLimit === 0 || t.destConcurrencyLimit > this.window) {
      if (this.window < this.busyRefcount + t.initDestConcurrency) {
        const feedback = feedbackValue(t.posFeedback, this.window);
        if (log) log(`${fn}: feedback ${formatG(feedback)}`);
        this.success += feedback;
        while (this.success + feedback / 2 >= t.posFeedback.hysteresis) {
          this.window += t.posFeedback.hysteresis;
          this.success -= t.posFeedback.hysteresis;
          this.failure = 0;
        }
        if (t.destConcurrencyLimit > 0 && this.window > t.destConcurrencyLimit) this.window = t.destConcurrencyLimit;
      }
    }
    this.#logWindow(fn, log);
  }

  /** Postfix qmgr_queue_throttle(): negative feedback; dead at the failed cohort limit. */
  throttle(dsn: Dsn, now: number, deadRetryMs: number, log?: FeedbackLog): void {
    const fn = 'qmgr_queue_throttle';
    const t = this.transport;
    if (!this.ready) throw new Error(`${fn}: queue ${this.name}: bad queue status ${this.window}`);
    if (this.dsn) throw new Error(`${fn}: queue ${this.name}: spurious reason ${this.dsn.reason}`);
    this.failCohorts += 1 / this.window;
    if (t.failCohortLimit > 0 && this.failCohorts >= t.failCohortLimit) this.window = QUEUE_STAT.THROTTLED;
    if (this.ready) {
      const feedback = feedbackValue(t.negFeedback, this.window);
      if (log) log(`${fn}: feedback ${formatG(feedback)}`);
      this.failure -= feedback;
      while (this.failure - feedback / 2 < 0) {
        this.window -= t.negFeedback.hysteresis;
        this.success = 0;
        this.failure += t.negFeedback.hysteresis;
      }
      if (this.window < 1) this.window = 1;
    }
    if (this.throttled) {
      this.dsn = { ...dsn };
      this.deadUntil = now + deadRetryMs;
      this.connLoad = this.connStore = false;
    }
    this.#logWindow(fn, log);
  }

  /** Postfix qmgr_queue_suspend(): rate delay between deliveries. */
  suspend(now: number, delayMs: number): void {
    if (!this.ready) throw new Error(`qmgr_queue_suspend: queue ${this.name}: bad queue status ${this.window}`);
    if (this.busyRefcount > 0) throw new Error(`qmgr_queue_suspend: queue ${this.name}: queue is busy`);
    this.window = QUEUE_STAT.SUSPENDED;
    this.suspendedUntil = now + delayMs;
  }

  /** Postfix qmgr_queue_resume(). */
  resume(): void {
    if (!this.suspended) throw new Error(`qmgr_queue_resume: queue ${this.name}: bad queue status ${this.window}`);
    this.window = 1;
    this.suspendedUntil = 0;
  }
}
