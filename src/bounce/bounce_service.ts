/*
 * bounce_service - what every bounce(8) service routine shares (Postfix bounce_service.h)
 *
 * What it does: BounceContext bundles the parameters the bounce daemon
 * reads (bounce_size_limit, maximal_queue_lifetime, delay_warning_time,
 * notify_classes, bounce_notice_recipient, 2bounce_notice_recipient,
 * delay_notice_recipient, the templates, mail_name, myhostname, the queue
 * directory and its hashing) and the clock; readBounceContext() reads
 * them from main.cf. Also Postfix's predefined addresses
 * (mail_addr_double_bounce: double_bounce_sender@myhostname), the
 * notify_classes bits (mail_error.c) and the DSN NOTIFY filter that
 * postmaster copies use.
 *
 * What it does not do: talk to clients (bounce.ts) or compose messages
 * (bounce_notify_util.ts).
 *
 * DIAGNOSTICS
 * An unknown notify_classes name is fatal, as Postfix's name_mask().
 */
import { msgFatal } from '../util/msg.js';
import { type BounceTemplates, bounceTemplatesFromConfig } from '../global/bounce_template.js';
import { DSN_NOTIFY_OK } from '../global/dsn.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { MailConfig } from '../global/mail_conf.js';
import { type QueueHashOptions, queuePath, splitQueueNames } from '../global/mail_queue.js';

/** Postfix MAIL_ADDR_MAIL_DAEMON. */
export const MAIL_ADDR_MAIL_DAEMON = 'MAILER-DAEMON';
/** Postfix MAIL_ADDR_EMPTY: the sender of a single bounce. */
export const MAIL_ADDR_EMPTY = '';

/** notify_classes bits (Postfix mail_error.h MAIL_ERROR_*). */
export const MAIL_ERROR = {
  POLICY: 1 << 0,
  PROTOCOL: 1 << 1,
  BOUNCE: 1 << 2,
  SOFTWARE: 1 << 3,
  RESOURCE: 1 << 4,
  '2BOUNCE': 1 << 5,
  DELAY: 1 << 6,
  DATA: 1 << 7,
} as const;

const MAIL_ERROR_NAMES: Readonly<Record<string, number>> = {
  bounce: MAIL_ERROR.BOUNCE,
  '2bounce': MAIL_ERROR['2BOUNCE'],
  data: MAIL_ERROR.DATA,
  delay: MAIL_ERROR.DELAY,
  policy: MAIL_ERROR.POLICY,
  protocol: MAIL_ERROR.PROTOCOL,
  resource: MAIL_ERROR.RESOURCE,
  software: MAIL_ERROR.SOFTWARE,
};

/** Parses notify_classes (Postfix name_mask with mail_error_masks). */
export function notifyClassMask(value: string): number {
  let mask = 0;
  for (const w of value.split(/[\s,]+/).filter((x) => x !== '')) {
    const bit = MAIL_ERROR_NAMES[w.toLowerCase()];
    if (bit === undefined) msgFatal(`unknown notify_classes value "${w}" in "${value}"`);
    mask |= bit;
  }
  return mask;
}

/** Postmaster copies report every recipient, whatever its NOTIFY (Postfix DSN_NOTIFY_OVERRIDE). */
export const DSN_NOTIFY_OVERRIDE = DSN_NOTIFY_OK;

export interface BounceContext {
  config: MailConfig;
  queueDir: string;
  hash: QueueHashOptions;
  templates: BounceTemplates;
  myhostname: string;
  mailName: string;
  /** bounce_size_limit */
  bounceLimit: number;
  /** maximal_queue_lifetime, seconds */
  maxQueueTime: number;
  /** notify_classes as MAIL_ERROR bits */
  notifyMask: number;
  /** bounce_notice_recipient, 2bounce_notice_recipient, delay_notice_recipient */
  bounceRcpt: string;
  twoBounceRcpt: string;
  delayRcpt: string;
  /** double_bounce_sender@myhostname */
  doubleBounce: string;
  /** backwards_bounce_logfile_compatibility */
  oldLogCompat: boolean;
  /** enable_threaded_bounces */
  threadedBounce: boolean;
  /** smtputf8_enable */
  smtputf8Enable: boolean;
  /** internal_mail_filter_classes contains "bounce" */
  filterBounce: boolean;
  /** Where notifications are submitted (default public/$cleanup_service_name). */
  cleanupEndpoint?: Endpoint;
  /** Bound on each cleanup exchange, ms. */
  ipcTimeoutMs: number;
  /** Seconds since the epoch (tests may fix it). */
  now(): number;
}

export interface BounceContextOptions {
  cleanupEndpoint?: Endpoint;
  now?: () => number;
}

/** Reads the bounce daemon's parameters from main.cf. */
export function readBounceContext(config: MailConfig, opts: BounceContextOptions = {}): BounceContext {
  const myhostname = config.get('myhostname');
  const ctx: BounceContext = {
    config,
    queueDir: config.get('queue_directory'),
    hash: { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) },
    templates: bounceTemplatesFromConfig(config),
    myhostname,
    mailName: config.get('mail_name'),
    bounceLimit: config.getInt('bounce_size_limit'),
    maxQueueTime: config.getTime('maximal_queue_lifetime'),
    notifyMask: notifyClassMask(config.get('notify_classes')),
    bounceRcpt: config.get('bounce_notice_recipient'),
    twoBounceRcpt: config.get('2bounce_notice_recipient'),
    delayRcpt: config.get('delay_notice_recipient'),
    doubleBounce: `${config.get('double_bounce_sender')}@${myhostname}`,
    oldLogCompat: config.getBool('backwards_bounce_logfile_compatibility'),
    threadedBounce: config.getBool('enable_threaded_bounces'),
    smtputf8Enable: config.getBool('smtputf8_enable'),
    filterBounce: config.getList('internal_mail_filter_classes').some((c) => c.toLowerCase() === 'bounce'),
    ipcTimeoutMs: config.getTime('ipc_timeout') * 1000,
    now: opts.now ?? (() => Math.floor(Date.now() / 1000)),
  };
  if (opts.cleanupEndpoint) ctx.cleanupEndpoint = opts.cleanupEndpoint;
  return ctx;
}

/** queue_directory/<queue>/<hash>/<id> for this context. */
export function bouncePath(ctx: BounceContext, queueName: string, queueId: string): string {
  return queuePath(ctx.queueDir, queueName, queueId, ctx.hash);
}
