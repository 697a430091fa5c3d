/*
 * qmgr_sched_transport - one delivery transport in the scheduler (Postfix qmgr_transport.c)
 *
 * What it does: SchedTransport holds a transport's derived limits (the
 * destination concurrency limit forced to 1 by a destination rate delay,
 * the initial concurrency capped by the limit, the slot loan factor
 * 100 - discount, parsed feedback), its destination queues (newest first,
 * as Postfix prepends them), its job list (the preemption order), the
 * busy delivery count against the process limit, the throttle state
 * ("dead" for transport_retry_time after an agent failure, with the DSN
 * that defers new recipients) and the transport rate delay lock.
 * transportSelectable() is qmgr_transport_select()'s test for one
 * transport.
 *
 * What it does not do: choose jobs or entries (qmgr_sched_job.ts), adjust
 * destination windows (qmgr_sched_queue.ts) or log.
 *
 * DIAGNOSTICS
 * Malformed feedback values come back in `warnings` for the caller to log.
 */
import type { Dsn } from '../global/dsn.js';
import { feedbackValue, formatG, parseFeedback, type Feedback } from './qmgr_sched_feedback.js';
import type { SchedJob } from './qmgr_sched_job.js';
import type { SchedQueue } from './qmgr_sched_queue.js';
import type { TransportParams } from './qmgr_transport_params.js';

/** The default_* parameter a feedback warning names when the transport has no setting of its own. */
const POS_FEEDBACK_DEFAULT = 'default_destination_concurrency_positive_feedback';
const NEG_FEEDBACK_DEFAULT = 'default_destination_concurrency_negative_feedback';

export class SchedTransport {
  readonly name: string;
  readonly params: TransportParams;
  /** Effective destination concurrency limit (1 with a destination rate delay; 0 = none). */
  readonly destConcurrencyLimit: number;
  /** Effective initial destination concurrency (never above the limit). */
  readonly initDestConcurrency: number;
  /** Entries per delivery request; 0 = no limit. */
  readonly recipientLimit: number;
  readonly rateDelayMs: number;
  readonly transportRateDelayMs: number;
  readonly failCohortLimit: number;
  readonly slotCost: number;
  readonly slotLoan: number;
  /** 100 - delivery_slot_discount. */
  readonly slotLoanFactor: number;
  readonly minSlots: number;
  readonly posFeedback: Feedback;
  readonly negFeedback: Feedback;
  readonly warnings: string[] = [];

  /** Destination queues by name; queueOrder is the round-robin list (newest first). */
  readonly queues = new Map<string, SchedQueue>();
  queueOrder: SchedQueue[] = [];
  /** The scheduler's job list (preemption order), doubly linked through SchedJob.prev/next. */
  jobHead: SchedJob | null = null;
  jobTail: SchedJob | null = null;
  jobCurrent: SchedJob | null = null;
  /** Odd, bumped by 2 when the blockers must be reconsidered. */
  blockerTag = 1;
  /** Deliveries in progress (against processLimit). */
  busy = 0;
  /** Throttled ("dead") until this time, with this DSN; null = alive. */
  deadDsn: Dsn | null = null;
  deadUntil = 0;
  /** No new delivery before this time (transport rate delay). */
  rateLockUntil = 0;

  constructor(params: TransportParams) {
    this.name = params.name;
    this.params = params;
    let limit = params.destinationConcurrencyLimit;
    if (params.destinationRateDelayMs > 0) limit = 1;
    this.destConcurrencyLimit = limit;
    this.initDestConcurrency =
      limit === 0 || limit >= params.initialDestinationConcurrency ? params.initialDestinationConcurrency : limit;
    this.recipientLimit = params.destinationRecipientLimit;
    this.rateDelayMs = params.destinationRateDelayMs;
    this.transportRateDelayMs = params.transportRateDelayMs ?? 0;
    this.failCohortLimit = params.failedCohortLimit;
    this.slotCost = params.deliverySlotCost;
    this.slotLoan = params.deliverySlotLoan;
    this.slotLoanFactor = 100 - Math.min(100, Math.max(0, params.deliverySlotDiscount));
    this.minSlots = params.minimumDeliverySlots;
    const pos = parseFeedback(params.positiveFeedback, params.positiveFeedbackName ?? POS_FEEDBACK_DEFAULT);
    const neg = parseFeedback(params.negativeFeedback, params.negativeFeedbackName ?? NEG_FEEDBACK_DEFAULT);
    this.posFeedback = pos.feedback;
    this.negFeedback = neg.feedback;
    for (const w of [pos.warning, neg.warning]) if (w) this.warnings.push(w);
  }

  /** Postfix qmgr_feedback_init()'s debug lines: each feedback at the initial concurrency. */
  feedbackInitLines(): string[] {
    const init = this.params.initialDestinationConcurrency;
    const names = [this.params.positiveFeedbackName ?? POS_FEEDBACK_DEFAULT, this.params.negativeFeedbackName ?? NEG_FEEDBACK_DEFAULT];
    return [this.posFeedback, this.negFeedback].map(
      (fb, i) => `${this.name}: ${names[i]} feedback type ${fb.index} value at ${init}: ${formatG(feedbackValue(fb, init))}`,
    );
  }

  get dead(): boolean {
    return this.deadDsn !== null;
  }

  /** Postfix qmgr_transport_throttle(): dead for retryMs unless it already is. */
  throttle(dsn: Dsn, now: number, retryMs: number): void {
    if (this.deadDsn) return;
    this.deadDsn = { ...dsn };
    this.deadUntil = now + retryMs;
  }

  /** Postfix qmgr_transport_unthrottle(). */
  unthrottle(): void {
    this.deadDsn = null;
    this.deadUntil = 0;
  }

  /** May this transport start one more delivery now (process limit, throttle, rate lock)? */
  canStart(now: number): boolean {
    if (this.dead) return false;
    if (this.rateLockUntil > now) return false;
    return this.params.processLimit <= 0 || this.busy < this.params.processLimit;
  }

  /** qmgr_transport_select()'s test: some queue has room and work. */
  hasReadyQueue(): boolean {
    for (const q of this.queueOrder) if (q.window > q.busyRefcount && q.todo.size > 0) return true;
    return false;
  }

  /** The job list as an array (for snapshots). */
  jobs(): SchedJob[] {
    const out: SchedJob[] = [];
    for (let j = this.jobHead; j; j = j.next) out.push(j);
    return out;
  }

  addQueue(q: SchedQueue): void {
    this.queues.set(q.name, q);
    this.queueOrder.unshift(q);
  }

  removeQueue(q: SchedQueue): void {
    this.queues.delete(q.name);
    const i = this.queueOrder.indexOf(q);
    if (i >= 0) this.queueOrder.splice(i, 1);
  }
}
