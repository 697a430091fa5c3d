/*
 * qmgr_transport_params - the per-transport scheduler parameters (Postfix qmgr_transport.c qmgr_transport_create)
 *
 * What it does: TransportParams gathers, for one transport (master.cf
 * service name), every limit the scheduler core applies: the process
 * limit, destination concurrency window limits and feedback, the failed
 * cohort limit, the destination recipient limit, the rate delay and the
 * job/peer/slot preemption knobs. readTransportParams() reads them as
 * Postfix's get_mail_conf_*2(transport, suffix, default) does: the
 * per-transport parameter `<transport>_<suffix>` when it is set (or has a
 * built-in default of its own, as local_destination_concurrency_limit = 2
 * and local_destination_recipient_limit = 1), else the default_* (or
 * initial_destination_concurrency) parameter, with the same minimum
 * values qmgr enforces.
 *
 * What it does not do: parse master.cf (the caller passes the process
 * limit it found there), validate feedback syntax (qmgr_sched_feedback.ts
 * does, with Postfix's warnings), or look anything up more than once per
 * call (the daemon caches the result per transport).
 *
 * DIAGNOSTICS
 * A number below its minimum, or a malformed number/time, is fatal with
 * Postfix's wording through MailConfig / msgFatal.
 */
import type { MailConfig } from '../global/mail_conf.js';
import { msgFatal } from '../util/msg.js';

export interface TransportParams {
  /** Transport (master.cf service) name. */
  name: string;
  /** master.cf maxproc of the transport's service; default_process_limit for '-'. 0 = unlimited. */
  processLimit: number;
  /** <transport>_destination_concurrency_limit; 0 = no limit (only processLimit). */
  destinationConcurrencyLimit: number;
  /** <transport>_initial_destination_concurrency. */
  initialDestinationConcurrency: number;
  /** <transport>_destination_recipient_limit; 0 = no limit; 1 = per-recipient destinations. */
  destinationRecipientLimit: number;
  /** <transport>_destination_rate_delay in ms; 0 = none. */
  destinationRateDelayMs: number;
  /** <transport>_destination_concurrency_failed_cohort_limit. */
  failedCohortLimit: number;
  /** <transport>_destination_concurrency_positive_feedback, e.g. "1/concurrency" or "1". */
  positiveFeedback: string;
  /** <transport>_destination_concurrency_negative_feedback. */
  negativeFeedback: string;
  /** destination_concurrency_feedback_debug. */
  concurrencyFeedbackDebug: boolean;
  /** <transport>_delivery_slot_cost. */
  deliverySlotCost: number;
  /** <transport>_delivery_slot_loan. */
  deliverySlotLoan: number;
  /** <transport>_delivery_slot_discount (percent). */
  deliverySlotDiscount: number;
  /** <transport>_minimum_delivery_slots. */
  minimumDeliverySlots: number;
  /** <transport>_recipient_limit (transport_recipient_limit: in-memory recipients per transport). */
  recipientLimit: number;
  /** <transport>_extra_recipient_limit. */
  extraRecipientLimit: number;
  /** <transport>_recipient_refill_limit. */
  recipientRefillLimit: number;
  /** <transport>_recipient_refill_delay in ms. */
  recipientRefillDelayMs: number;
  /** <transport>_transport_rate_delay in ms (at most one delivery start per delay); 0/absent = none. */
  transportRateDelayMs?: number;
  /** The parameter name a feedback warning names (Postfix: the per-transport one when its value differs from the default). */
  positiveFeedbackName?: string;
  negativeFeedbackName?: string;
}

/** Per-transport suffix and the global parameter it falls back to, with qmgr's minimum. */
export const TRANSPORT_PARAM_SPECS = {
  destinationConcurrencyLimit: { suffix: '_destination_concurrency_limit', fallback: 'default_destination_concurrency_limit', min: 0 },
  initialDestinationConcurrency: { suffix: '_initial_destination_concurrency', fallback: 'initial_destination_concurrency', min: 1 },
  destinationRecipientLimit: { suffix: '_destination_recipient_limit', fallback: 'default_destination_recipient_limit', min: 0 },
  failedCohortLimit: {
    suffix: '_destination_concurrency_failed_cohort_limit',
    fallback: 'default_destination_concurrency_failed_cohort_limit',
    min: 0,
  },
  deliverySlotCost: { suffix: '_delivery_slot_cost', fallback: 'default_delivery_slot_cost', min: 0 },
  deliverySlotLoan: { suffix: '_delivery_slot_loan', fallback: 'default_delivery_slot_loan', min: 0 },
  deliverySlotDiscount: { suffix: '_delivery_slot_discount', fallback: 'default_delivery_slot_discount', min: 0, max: 100 },
  minimumDeliverySlots: { suffix: '_minimum_delivery_slots', fallback: 'default_minimum_delivery_slots', min: 0 },
  recipientLimit: { suffix: '_recipient_limit', fallback: 'default_recipient_limit', min: 0 },
  extraRecipientLimit: { suffix: '_extra_recipient_limit', fallback: 'default_extra_recipient_limit', min: 0 },
  recipientRefillLimit: { suffix: '_recipient_refill_limit', fallback: 'default_recipient_refill_limit', min: 1 },
} as const;

export const TRANSPORT_TIME_SPECS = {
  destinationRateDelayMs: { suffix: '_destination_rate_delay', fallback: 'default_destination_rate_delay', min: 0 },
  recipientRefillDelayMs: { suffix: '_recipient_refill_delay', fallback: 'default_recipient_refill_delay', min: 1 },
  transportRateDelayMs: { suffix: '_transport_rate_delay', fallback: 'default_transport_rate_delay', min: 0 },
} as const;

export const FEEDBACK_SPECS = {
  positiveFeedback: {
    suffix: '_destination_concurrency_positive_feedback',
    fallback: 'default_destination_concurrency_positive_feedback',
  },
  negativeFeedback: {
    suffix: '_destination_concurrency_negative_feedback',
    fallback: 'default_destination_concurrency_negative_feedback',
  },
} as const;

/** The name to read: the per-transport one when set or built in (local_*), else the fallback. */
function paramName(config: MailConfig, transport: string, suffix: string, fallback: string): string {
  const own = transport + suffix;
  if (config.isSet(own)) return own;
  const spec = config.spec(own);
  // A per-transport parameter with a default of its own (local_destination_concurrency_limit = 2)
  // wins; a derived one ("$default_...") is the fallback itself.
  if (spec && !spec.defaultValue.startsWith('$')) return own;
  return fallback;
}

function checkMin(name: string, value: number, min: number): number {
  if (value < min) msgFatal(`invalid ${name} parameter value ${value} < ${min}`);
  return value;
}

/** Reads one transport's scheduler parameters, as Postfix qmgr_transport_create() does. */
export function readTransportParams(config: MailConfig, transport: string, processLimit: number): TransportParams {
  const ints: Record<string, number> = {};
  for (const [key, s] of Object.entries(TRANSPORT_PARAM_SPECS)) {
    const name = paramName(config, transport, s.suffix, s.fallback);
    ints[key] = checkMin(name, config.getInt(name), s.min);
    if ('max' in s && ints[key] > s.max) msgFatal(`invalid ${name} parameter value ${ints[key]} > ${s.max}`);
  }
  const times: Record<string, number> = {};
  for (const [key, s] of Object.entries(TRANSPORT_TIME_SPECS)) {
    const name = paramName(config, transport, s.suffix, s.fallback);
    times[key] = checkMin(name, config.getTime(name), s.min) * 1000;
  }
  const fb: Record<string, string> = {};
  const fbName: Record<string, string> = {};
  for (const [key, s] of Object.entries(FEEDBACK_SPECS)) {
    fb[key] = config.get(paramName(config, transport, s.suffix, s.fallback)).trim();
    fbName[key] = fb[key] !== config.get(s.fallback).trim() ? transport + s.suffix : s.fallback;
  }
  return {
    name: transport,
    processLimit,
    destinationConcurrencyLimit: ints.destinationConcurrencyLimit,
    initialDestinationConcurrency: ints.initialDestinationConcurrency,
    destinationRecipientLimit: ints.destinationRecipientLimit,
    destinationRateDelayMs: times.destinationRateDelayMs,
    failedCohortLimit: ints.failedCohortLimit,
    positiveFeedback: fb.positiveFeedback,
    negativeFeedback: fb.negativeFeedback,
    concurrencyFeedbackDebug: config.getBool('destination_concurrency_feedback_debug'),
    deliverySlotCost: ints.deliverySlotCost,
    deliverySlotLoan: ints.deliverySlotLoan,
    deliverySlotDiscount: ints.deliverySlotDiscount,
    minimumDeliverySlots: ints.minimumDeliverySlots,
    recipientLimit: ints.recipientLimit,
    extraRecipientLimit: ints.extraRecipientLimit,
    recipientRefillLimit: ints.recipientRefillLimit,
    recipientRefillDelayMs: times.recipientRefillDelayMs,
    transportRateDelayMs: times.transportRateDelayMs,
    positiveFeedbackName: fbName.positiveFeedback,
    negativeFeedbackName: fbName.negativeFeedback,
  };
}

/** Postfix's built-in defaults, for tests and the simulator (no main.cf). */
export function defaultTransportParams(name: string, processLimit = 100, over: Partial<TransportParams> = {}): TransportParams {
  return {
    name,
    processLimit,
    destinationConcurrencyLimit: 20,
    initialDestinationConcurrency: 5,
    destinationRecipientLimit: 50,
    destinationRateDelayMs: 0,
    failedCohortLimit: 1,
    positiveFeedback: '1',
    negativeFeedback: '1',
    concurrencyFeedbackDebug: false,
    deliverySlotCost: 5,
    deliverySlotLoan: 3,
    deliverySlotDiscount: 50,
    minimumDeliverySlots: 3,
    recipientLimit: 20000,
    extraRecipientLimit: 1000,
    recipientRefillLimit: 100,
    recipientRefillDelayMs: 5000,
    transportRateDelayMs: 0,
    ...over,
  };
}
