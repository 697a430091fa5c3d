/*
 * qmgr_params - the main.cf and master.cf settings the queue manager daemon reads
 *
 * What it does: readQmgrParams(config) collects, once at start-up, every
 * parameter that qmgr(8) uses outside the scheduler core: the queue
 * directory and its hashing, queue_run_delay, minimal_backoff_time,
 * maximal_backoff_time, maximal_queue_lifetime, bounce_queue_lifetime,
 * transport_retry_time, qmgr_message_active_limit,
 * qmgr_message_recipient_limit (raised to the active limit with Postfix's
 * warning), qmgr_message_recipient_minimum, defer_transports, double_bounce_sender, recipient_delimiter,
 * qmgr_ipc_timeout, qmgr_daemon_timeout, and the process limit of each
 * master.cf service (maxproc, default_process_limit for '-'), which is a
 * transport's process limit. backoffSeconds() is Postfix's per-message
 * exponential backoff (time in queue, clamped to the backoff bounds).
 *
 * What it does not do: read the per-transport scheduler parameters
 * (qmgr_transport_params.ts, Q1's) or watch main.cf for changes.
 *
 * DIAGNOSTICS
 * "qmgr_message_recipient_limit is smaller than qmgr_message_active_limit"
 * warning, as Postfix. A master.cf that cannot be read is a warning; the
 * process limits then fall back to default_process_limit.
 */
import { msgWarn } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import { readMasterCf } from '../global/master_cf.js';
import { splitQueueNames, type QueueHashOptions } from '../global/mail_queue.js';

/** Postfix reads at most this many recipients of one message at a time ("keep interrupt latency in check"). */
export const QMGR_RCPT_BATCH_MAX = 5000;

/** Postfix limits maximal_queue_lifetime and bounce_queue_lifetime to 100 days. */
export const QMGR_MAX_QUEUE_TIME_SECONDS = 8_640_000;

export interface QmgrParams {
  queueDir: string;
  hash: QueueHashOptions;
  /** queue_run_delay, seconds. */
  queueRunDelay: number;
  minBackoff: number;
  maxBackoff: number;
  /** maximal_queue_lifetime, seconds. */
  maxQueueTime: number;
  /** bounce_queue_lifetime, seconds. */
  dsnQueueTime: number;
  transportRetryTime: number;
  activeLimit: number;
  rcptLimit: number;
  /** qmgr_message_recipient_minimum: recipients read at least per batch. */
  rcptMinimum: number;
  deferTransports: readonly string[];
  doubleBounceSender: string;
  recipientDelimiter: string;
  /** qmgr_ipc_timeout, ms: connecting to a delivery agent and its announcement. */
  ipcTimeoutMs: number;
  /** qmgr_daemon_timeout, ms: waiting for a delivery agent's status. */
  daemonTimeoutMs: number;
  /** The master.cf maxproc of each service (what limits a transport). */
  processLimits: ReadonlyMap<string, number>;
  defaultProcessLimit: number;
}

function clampTime(value: number): number {
  return Math.min(value, QMGR_MAX_QUEUE_TIME_SECONDS);
}

/** Reads master.cf's maxproc per unix service; '-' means default_process_limit. */
export function readProcessLimits(config: MailConfig, defaultLimit: number): Map<string, number> {
  const limits = new Map<string, number>();
  let entries;
  try {
    entries = readMasterCf(config.configDir, { warn: () => undefined });
  } catch (err) {
    msgWarn(`cannot read master.cf in ${config.configDir}: ${err instanceof Error ? err.message : String(err)}`);
    return limits;
  }
  for (const e of entries) {
    if (e.type !== 'unix') continue;
    const n = e.maxproc === '-' ? defaultLimit : Number(e.maxproc.replace(/\?$/, ''));
    if (Number.isInteger(n) && n >= 0) limits.set(e.service, n);
  }
  return limits;
}

export function readQmgrParams(config: MailConfig): QmgrParams {
  const activeLimit = Math.max(1, config.getInt('qmgr_message_active_limit'));
  let rcptLimit = Math.max(1, config.getInt('qmgr_message_recipient_limit'));
  if (rcptLimit < activeLimit) {
    msgWarn('qmgr_message_recipient_limit is smaller than qmgr_message_active_limit');
    rcptLimit = activeLimit;
  }
  const defaultProcessLimit = config.getInt('default_process_limit');
  return {
    queueDir: config.get('queue_directory'),
    hash: { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) },
    queueRunDelay: Math.max(1, config.getTime('queue_run_delay')),
    minBackoff: Math.max(1, config.getTime('minimal_backoff_time')),
    maxBackoff: Math.max(1, config.getTime('maximal_backoff_time')),
    maxQueueTime: clampTime(config.getTime('maximal_queue_lifetime')),
    dsnQueueTime: clampTime(config.getTime('bounce_queue_lifetime')),
    transportRetryTime: Math.max(1, config.getTime('transport_retry_time')),
    activeLimit,
    rcptLimit,
    rcptMinimum: Math.max(1, config.getInt('qmgr_message_recipient_minimum')),
    deferTransports: config.getList('defer_transports'),
    doubleBounceSender: config.get('double_bounce_sender'),
    recipientDelimiter: config.get('recipient_delimiter'),
    ipcTimeoutMs: Math.max(1, config.getTime('qmgr_ipc_timeout')) * 1000,
    daemonTimeoutMs: Math.max(1, config.getTime('qmgr_daemon_timeout')) * 1000,
    processLimits: readProcessLimits(config, defaultProcessLimit),
    defaultProcessLimit,
  };
}

/**
 * Postfix qmgr_active_done_3_generic: the next attempt is as far in the
 * future as the message is old, within [minimal, maximal]_backoff_time;
 * minimal_backoff_time when the create time is unknown. Seconds.
 */
export function backoffSeconds(p: Pick<QmgrParams, 'minBackoff' | 'maxBackoff'>, nowSec: number, createTimeSec: number): number {
  if (createTimeSec <= 0) return p.minBackoff;
  let delay = Math.floor(nowSec - createTimeSec);
  if (delay > p.maxBackoff) delay = p.maxBackoff;
  if (delay < p.minBackoff) delay = p.minBackoff;
  return delay;
}

/** Postfix: has the message outlived maximal_queue_lifetime (bounce_queue_lifetime for sender "")? */
export function messageExpired(p: Pick<QmgrParams, 'maxQueueTime' | 'dsnQueueTime'>, nowSec: number, createTimeSec: number, sender: string): boolean {
  return nowSec >= createTimeSec + (sender !== '' ? p.maxQueueTime : p.dsnQueueTime);
}
