/*
 * qmgr_sched - the queue manager's in-memory scheduler, a pure core (Postfix nqmgr)
 *
 * What it does: QmgrScheduler holds the active queue's recipients the
 * way Postfix's nqmgr does (SCHEDULER_README; qmgr_transport.c,
 * qmgr_queue.c, qmgr_entry.c, qmgr_job.c, qmgr_peer.c, qmgr_feedback.c):
 * transports with their process limit, destination queues with a
 * concurrency window that starts at the initial concurrency and moves
 * with positive/negative feedback, failed cohorts that mark a destination
 * dead, transports throttled for transport_retry_time, entries of at most
 * the destination recipient limit, destination rate delays, and the
 * job/peer/slot preemption that lets small messages pass a big one, plus
 * the transport rate delay and session caching flags. The daemon adds
 * recipients, calls messageReady(), asks select() for the next delivery
 * until it returns null, reports each outcome with deliveryDone(), and
 * sleeps until nextWakeup(). queueInfo()/transportInfo()/snapshot() show
 * the state; the implementation is split over qmgr_sched_core.ts
 * (assignment, outcomes, timers), qmgr_sched_job.ts (jobs, peers,
 * preemption), qmgr_sched_queue.ts (windows, feedback, dead/suspended),
 * qmgr_sched_transport.ts, qmgr_sched_feedback.ts and
 * qmgr_sched_snapshot.ts.
 *
 * What it does not do: any I/O, timers or clock reads of its own (time
 * comes only from the QmgrClock), resolve addresses, read queue files,
 * talk to delivery agents, log or write defer logs (the daemon does, with
 * the DeferredWork it gets back).
 *
 * DIAGNOSTICS
 * Inconsistent calls (deliveryDone for an unknown delivery, recipients
 * for a finished message) throw an Error: they are daemon bugs. Log
 * lines (malformed feedback, destination_concurrency_feedback_debug,
 * qmgr_clog_warn_time congestion warnings) go to the optional log
 * callback with Postfix's wording.
 */
import type { Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import type { TransportParams } from './qmgr_transport_params.js';
import { SchedCore } from './qmgr_sched_core.js';

/** The only source of time for the core. */
export interface QmgrClock {
  /** Milliseconds (any epoch; the simulator starts at 0). */
  now(): number;
}

/** A message as the scheduler knows it; the daemon may extend it. */
export interface SchedMessage {
  readonly queueId: string;
  /** Arrival time (ms), for job order. */
  readonly arrival: number;
}

/** One delivery request the daemon must hand to a delivery agent. */
export interface SchedDelivery {
  readonly id: number;
  readonly message: SchedMessage;
  readonly transport: string;
  readonly nexthop: string;
  /** Destination key: nexthop, or rcpt@nexthop with a destination recipient limit of 1. */
  readonly queueName: string;
  readonly recipients: readonly Recipient[];
  /** Session caching (Postfix queue dflags): set DEL_REQ_FLAG_CONN_LOAD / DEL_REQ_FLAG_CONN_STORE. */
  readonly connLoad: boolean;
  readonly connStore: boolean;
}

export type DeliveryOutcome =
  /** The agent answered: its recipients are finished (delivered/bounced/deferred by the agent itself). */
  | { kind: 'ok' }
  /** The agent said DEFER with a hop DSN: the destination is throttled (dead after the failed cohort limit). */
  | { kind: 'site-fail'; dsn: Dsn }
  /** The agent crashed / protocol error: the transport is throttled for transport_retry_time. */
  | { kind: 'transport-fail'; dsn: Dsn };

/**
 * Recipients the scheduler gives up on now: the daemon defer_appends them
 * with relay=none and exactly this DSN (the core already added Postfix's
 * "delivery temporarily suspended: " prefix where Postfix does).
 */
export interface DeferredWork {
  recipients: readonly Recipient[];
  message: SchedMessage;
  transport: string;
  nexthop: string;
  dsn: Dsn;
}

export interface QueueInfo {
  /** > 0 the concurrency window; 0 dead; -1 suspended (rate delay). */
  window: number;
  busy: number;
  todo: number;
  dead: boolean;
  suspended: boolean;
  success: number;
  failure: number;
  failCohorts: number;
  dsn: Dsn | null;
}

export interface TransportInfo {
  busy: number;
  dead: boolean;
  dsn: Dsn | null;
  destConcurrencyLimit: number;
  initDestConcurrency: number;
  /** Queue ids in job list (scheduling) order. */
  jobs: string[];
}

export interface QmgrSchedulerOptions {
  clock: QmgrClock;
  transportParams(transport: string): TransportParams;
  /** transport_retry_time in ms. */
  transportRetryMs: number;
  /**
   * How long a dead destination stays dead before it is tried again (ms).
   * Postfix keeps a dead queue until its last deferred message is gone
   * and then, in qmgr_queue_unthrottle_wrapper, revives it after
   * var_min_backoff_time; the daemon passes minimal_backoff_time.
   */
  deadDestinationRetryMs: number;
  /** recipient_delimiter, for per-recipient queue names (destination recipient limit 1). */
  recipientDelimiter?: string;
  /** double_bounce_sender (never split at the delimiter). */
  doubleBounceSender?: string;
  /** Transports that never get per-recipient queues (Postfix: error and retry). */
  errorTransports?: readonly string[];
  /** qmgr_clog_warn_time in ms: warn when one destination holds more than 1/5 of qmgr_message_active_limit entries; 0/absent = off. */
  clogWarnTimeMs?: number;
  /** qmgr_message_active_limit (for that warning). */
  activeLimit?: number;
  /** helpful_warnings (default yes). */
  helpfulWarnings?: boolean;
  /** Log sink for configuration warnings, congestion warnings and destination_concurrency_feedback_debug lines. */
  log?: (level: 'info' | 'warn', text: string) => void;
}

export class QmgrScheduler {
  readonly #core: SchedCore;

  constructor(opts: QmgrSchedulerOptions) {
    this.#core = new SchedCore(opts);
  }

  /**
   * Adds a message's recipients for one transport/nexthop: splits them per
   * destination (nexthop, or rcpt@nexthop when the destination recipient
   * limit is 1) and per destination recipient limit into entries. A dead
   * destination or throttled transport defers them at once, unless
   * opts.flush (the message is being flushed, Postfix QMGR_FLUSH_EACH):
   * then the transport and the destinations are revived first.
   */
  addRecipients(
    msg: SchedMessage,
    transport: string,
    nexthop: string,
    rcpts: readonly Recipient[],
    opts: { flush?: boolean } = {},
  ): DeferredWork[] {
    return this.#core.addRecipients(msg, transport, nexthop, rcpts, opts.flush === true);
  }

  /**
   * All recipients of msg were added: its jobs may run. Returns the
   * message itself when nothing of it is left in the scheduler (no
   * recipients, or all deferred by addRecipients): the daemon must then
   * finish it at once (qmgr_active_done), as no deliveryDone will.
   */
  messageReady(msg: SchedMessage): SchedMessage[] {
    return this.#core.messageReady(msg);
  }

  /** The next delivery that may start now, marked busy; null when none. Call until null. */
  select(): SchedDelivery | null {
    return this.#core.select();
  }

  /**
   * Reports a delivery's outcome. For 'site-fail' pass the agent's hop DSN
   * as received (the core sanitizes it and adds the "delivery temporarily
   * suspended: " prefix); for 'transport-fail' pass Postfix's 4.3.0
   * "unknown mail transport error" / "mail transport unavailable" DSN: this
   * delivery's own recipients come back in `deferred` with it.
   */
  deliveryDone(d: SchedDelivery, outcome: DeliveryOutcome): { deferred: DeferredWork[]; finished: SchedMessage[] } {
    return this.#core.deliveryDone(d, outcome);
  }

  /** The earliest time (ms) at which select() may yield more because time passed; null = none. */
  nextWakeup(): number | null {
    return this.#core.nextWakeup();
  }

  /** qmgr 'F' trigger: forget dead destinations and throttled transports. */
  reviveAll(): void {
    this.#core.reviveAll();
  }

  get activeRecipients(): number {
    return this.#core.activeRecipients;
  }

  get activeMessages(): number {
    return this.#core.activeMessages;
  }

  get busyDeliveries(): number {
    return this.#core.busyDeliveries;
  }

  /** One destination queue's state (null when not in core): for logging, tests and the simulator. */
  queueInfo(transport: string, queueName: string): QueueInfo | null {
    const q = this.#core.queueState(transport, queueName);
    if (!q) return null;
    return {
      window: q.window,
      busy: q.busyRefcount,
      todo: q.todoRefcount,
      dead: q.throttled,
      suspended: q.suspended,
      success: q.success,
      failure: q.failure,
      failCohorts: q.failCohorts,
      dsn: q.dsn ? { ...q.dsn } : null,
    };
  }

  /** A transport's state (null when never used). */
  transportInfo(transport: string): TransportInfo | null {
    const t = this.#core.transportState(transport);
    if (!t) return null;
    return {
      busy: t.busy,
      dead: t.dead,
      dsn: t.deadDsn ? { ...t.deadDsn } : null,
      destConcurrencyLimit: t.destConcurrencyLimit,
      initDestConcurrency: t.initDestConcurrency,
      jobs: t.jobs().map((j) => j.message.msg.queueId),
    };
  }

  /** The destination queue name a recipient gets (nexthop, or localpart@nexthop with recipient limit 1). */
  queueNameOf(transport: string, nexthop: string, rcpt: Recipient): string {
    return this.#core.queueName(this.#core.transport(transport), nexthop, rcpt);
  }

  /** A plain-object view of the state, for tests, logging and golden files. */
  snapshot(): object {
    return this.#core.snapshot();
  }
}
