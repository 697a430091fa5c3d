/*
 * bounce_clnt - client of the bounce, defer and trace services (Postfix bounce.c, defer.c, trace.c client side)
 *
 * What it does: BOUNCE_PROTOCOL declares the delivery status protocol as
 * Postfix 3.7 speaks it (the server announces
 * protocol=delivery_status_protocol; the client sends one list that starts
 * with nrequest=BOUNCE_CMD_* and continues with that command's attributes;
 * the server answers status=0 or -1). bounceLogAppend() appends one
 * recipient record to the per-message log of the bounce, defer or trace
 * service; bounceFlush(), deferFlush(), deferWarn() and traceFlush() ask
 * the service to send a notification from that log; bounceOne() bounces
 * one recipient without a log. Each opens private/<service> (the names
 * bounce_service_name, defer_service_name, trace_service_name) and sends
 * exactly the attributes Postfix's clients send, in the same order:
 *
 *   APPEND: nrequest flags queue_id original_recipient recipient offset
 *           dsn_orig_rcpt notify_flags status diag_type diag_text mta_type
 *           mta_mname action reason
 *   FLUSH/WARN/TRACE: nrequest flags queue_name queue_id encoding smtputf8
 *           sender envelope_id ret_flags
 *   VERP:   as FLUSH, then verp_delimiters
 *   ONE:    as FLUSH, then the recipient and DSN attributes of APPEND
 *
 * What it does not do: log the delivery (sent.ts, bounce.ts, defer.ts do
 * that and decide which service to call, soft_bounce included), choose the
 * DSN action (the callers put "failed"/"delayed"/... in the Dsn), or write
 * logs and notifications itself (the bounce(8) daemon does).
 *
 * DIAGNOSTICS
 * Never throws. A request that could not be completed returns -1; the
 * flush calls log Postfix's "QUEUEID: status=deferred (bounce failed)"
 * where Postfix's bounce_flush() does.
 */
import { type Attr0Frame, encodeAttr0, isGroup, parseInt32 } from '../util/attr0.js';
import { attr, type FieldList, type Fields, printFields, type ScanResult, scanFields } from '../util/attr0_scan.js';
import { msgInfo } from '../util/msg.js';
import type { Dsn } from './dsn.js';
import { AttrClient, DEF_IPC_TIMEOUT_MS, type Endpoint } from './ipc/attr_clnt.js';
import { announcementParts, describeFields, type Protocol } from './ipc/protocol.js';
import { ATTR0_DEFAULT_LIMITS } from '../util/attr0.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_CLASS, mailPathname } from './mail_proto.js';
import type { Recipient } from './recipient_list.js';

/** Bounce/defer protocol commands (Postfix bounce.h BOUNCE_CMD_*). */
export const BOUNCE_CMD = {
  APPEND: 0,
  FLUSH: 1,
  WARN: 2,
  VERP: 3,
  ONE: 4,
  TRACE: 5,
} as const;
export type BounceCmd = (typeof BOUNCE_CMD)[keyof typeof BOUNCE_CMD];

/** Request flags (Postfix bounce.h BOUNCE_FLAG_*). */
export const BOUNCE_FLAG = {
  NONE: 0,
  /** Remove the log when the request fails. */
  CLEAN: 1 << 0,
  /** Delete the recipients from the queue file (defer flush: the message expired). */
  DELRCPT: 1 << 1,
  /** Backwards compatibility name. */
  KEEP: 0,
} as const;

/** Postfix NO_RELAY_AGENT. */
export const NO_RELAY_AGENT = 'none';

/** The longest string attribute the server accepts (a reason can carry a long SMTP reply). */
export const BOUNCE_MAX_ATTR_BYTES = 64 * 1024;

const S = () => attr.str({ maxBytes: BOUNCE_MAX_ATTR_BYTES });

/** Recipient attributes, Postfix rcpt_print() order. */
export const RCPT_FIELDS = {
  [MAIL_ATTR.ORCPT]: S(),
  [MAIL_ATTR.RECIP]: S(),
  [MAIL_ATTR.OFFSET]: attr.long(),
  [MAIL_ATTR.DSN_ORCPT]: S(),
  [MAIL_ATTR.DSN_NOTIFY]: attr.int(),
} as const satisfies FieldList;

/** DSN attributes, Postfix dsn_print() order. */
export const DSN_FIELDS = {
  [MAIL_ATTR.DSN_STATUS]: S(),
  [MAIL_ATTR.DSN_DTYPE]: S(),
  [MAIL_ATTR.DSN_DTEXT]: S(),
  [MAIL_ATTR.DSN_MTYPE]: S(),
  [MAIL_ATTR.DSN_MNAME]: S(),
  [MAIL_ATTR.DSN_ACTION]: S(),
  [MAIL_ATTR.WHY]: S(),
} as const satisfies FieldList;

const APPEND_FIELDS = {
  [MAIL_ATTR.FLAGS]: attr.int(),
  [MAIL_ATTR.QUEUEID]: S(),
  ...RCPT_FIELDS,
  ...DSN_FIELDS,
} as const satisfies FieldList;

const NOTIFY_FIELDS = {
  [MAIL_ATTR.FLAGS]: attr.int(),
  [MAIL_ATTR.QUEUE]: S(),
  [MAIL_ATTR.QUEUEID]: S(),
  [MAIL_ATTR.ENCODING]: S(),
  [MAIL_ATTR.SMTPUTF8]: attr.int(),
  [MAIL_ATTR.SENDER]: S(),
  [MAIL_ATTR.DSN_ENVID]: S(),
  [MAIL_ATTR.DSN_RET]: attr.int(),
} as const satisfies FieldList;

const VERP_FIELDS = { ...NOTIFY_FIELDS, [MAIL_ATTR.VERPDL]: S() } as const satisfies FieldList;
const ONE_FIELDS = { ...NOTIFY_FIELDS, ...RCPT_FIELDS, ...DSN_FIELDS } as const satisfies FieldList;

/** What a FLUSH/WARN/TRACE/VERP/ONE request says about the message. */
export interface BounceNotifyArgs {
  flags: number;
  queueName: string;
  queueId: string;
  encoding: string;
  smtputf8: number;
  sender: string;
  dsnEnvid: string;
  dsnRet: number;
}

/** One decoded request. */
export type BounceRequest =
  | { command: typeof BOUNCE_CMD.APPEND; flags: number; queueId: string; rcpt: Recipient; dsn: Dsn }
  | ({ command: typeof BOUNCE_CMD.FLUSH | typeof BOUNCE_CMD.WARN | typeof BOUNCE_CMD.TRACE } & BounceNotifyArgs)
  | ({ command: typeof BOUNCE_CMD.VERP; verpDelims: string } & BounceNotifyArgs)
  | ({ command: typeof BOUNCE_CMD.ONE; rcpt: Recipient; dsn: Dsn } & BounceNotifyArgs);

export interface BounceReply {
  status: number;
}

function rcptValues(r: Recipient): Fields<typeof RCPT_FIELDS> {
  return {
    [MAIL_ATTR.ORCPT]: r.origAddress ?? '',
    [MAIL_ATTR.RECIP]: r.address,
    [MAIL_ATTR.OFFSET]: r.offset,
    [MAIL_ATTR.DSN_ORCPT]: r.dsnOrcpt ?? '',
    [MAIL_ATTR.DSN_NOTIFY]: r.dsnNotify,
  };
}

function dsnValues(d: Dsn): Fields<typeof DSN_FIELDS> {
  return {
    [MAIL_ATTR.DSN_STATUS]: d.status,
    [MAIL_ATTR.DSN_DTYPE]: d.dtype ?? '',
    [MAIL_ATTR.DSN_DTEXT]: d.dtext ?? '',
    [MAIL_ATTR.DSN_MTYPE]: d.mtype ?? '',
    [MAIL_ATTR.DSN_MNAME]: d.mname ?? '',
    [MAIL_ATTR.DSN_ACTION]: d.action ?? '',
    [MAIL_ATTR.WHY]: d.reason,
  };
}

function notifyValues(a: BounceNotifyArgs): Fields<typeof NOTIFY_FIELDS> {
  return {
    [MAIL_ATTR.FLAGS]: a.flags,
    [MAIL_ATTR.QUEUE]: a.queueName,
    [MAIL_ATTR.QUEUEID]: a.queueId,
    [MAIL_ATTR.ENCODING]: a.encoding,
    [MAIL_ATTR.SMTPUTF8]: a.smtputf8,
    [MAIL_ATTR.SENDER]: a.sender,
    [MAIL_ATTR.DSN_ENVID]: a.dsnEnvid,
    [MAIL_ATTR.DSN_RET]: a.dsnRet,
  };
}

type AnyValues = Record<string, string | number>;

function rcptFrom(v: AnyValues): Recipient {
  return {
    origAddress: String(v[MAIL_ATTR.ORCPT]),
    address: String(v[MAIL_ATTR.RECIP]),
    offset: Number(v[MAIL_ATTR.OFFSET]),
    dsnOrcpt: String(v[MAIL_ATTR.DSN_ORCPT]),
    dsnNotify: Number(v[MAIL_ATTR.DSN_NOTIFY]),
  };
}

function dsnFrom(v: AnyValues): Dsn {
  return {
    status: String(v[MAIL_ATTR.DSN_STATUS]),
    dtype: String(v[MAIL_ATTR.DSN_DTYPE]),
    dtext: String(v[MAIL_ATTR.DSN_DTEXT]),
    mtype: String(v[MAIL_ATTR.DSN_MTYPE]),
    mname: String(v[MAIL_ATTR.DSN_MNAME]),
    action: String(v[MAIL_ATTR.DSN_ACTION]),
    reason: String(v[MAIL_ATTR.WHY]),
  };
}

function notifyFrom(v: AnyValues): BounceNotifyArgs {
  return {
    flags: Number(v[MAIL_ATTR.FLAGS]),
    queueName: String(v[MAIL_ATTR.QUEUE]),
    queueId: String(v[MAIL_ATTR.QUEUEID]),
    encoding: String(v[MAIL_ATTR.ENCODING]),
    smtputf8: Number(v[MAIL_ATTR.SMTPUTF8]),
    sender: String(v[MAIL_ATTR.SENDER]),
    dsnEnvid: String(v[MAIL_ATTR.DSN_ENVID]),
    dsnRet: Number(v[MAIL_ATTR.DSN_RET]),
  };
}

function fieldsOf(command: number): FieldList | null {
  switch (command) {
    case BOUNCE_CMD.APPEND:
      return APPEND_FIELDS;
    case BOUNCE_CMD.FLUSH:
    case BOUNCE_CMD.WARN:
    case BOUNCE_CMD.TRACE:
      return NOTIFY_FIELDS;
    case BOUNCE_CMD.VERP:
      return VERP_FIELDS;
    case BOUNCE_CMD.ONE:
      return ONE_FIELDS;
    default:
      return null;
  }
}

function encodeBounceRequest(r: BounceRequest): Buffer {
  const head: Attr0Frame = [{ name: MAIL_ATTR.NREQ, value: String(r.command) }];
  let body: Attr0Frame;
  switch (r.command) {
    case BOUNCE_CMD.APPEND:
      body = printFields(APPEND_FIELDS, {
        [MAIL_ATTR.FLAGS]: r.flags,
        [MAIL_ATTR.QUEUEID]: r.queueId,
        ...rcptValues(r.rcpt),
        ...dsnValues(r.dsn),
      } as Fields<typeof APPEND_FIELDS>);
      break;
    case BOUNCE_CMD.VERP:
      body = printFields(VERP_FIELDS, { ...notifyValues(r), [MAIL_ATTR.VERPDL]: r.verpDelims } as Fields<typeof VERP_FIELDS>);
      break;
    case BOUNCE_CMD.ONE:
      body = printFields(ONE_FIELDS, { ...notifyValues(r), ...rcptValues(r.rcpt), ...dsnValues(r.dsn) } as Fields<typeof ONE_FIELDS>);
      break;
    default:
      body = printFields(NOTIFY_FIELDS, notifyValues(r));
  }
  return encodeAttr0([...head, ...body]);
}

function decodeBounceRequest(frame: Attr0Frame): ScanResult<BounceRequest> {
  const first = frame[0];
  if (!first || isGroup(first) || first.name !== MAIL_ATTR.NREQ) {
    return { ok: false, message: first ? `unexpected attribute ${isGroup(first) ? '{...}' : first.name} (expecting: ${MAIL_ATTR.NREQ})` : `missing attribute ${MAIL_ATTR.NREQ}` };
  }
  const command = parseInt32(first.value);
  const fields = command === null ? null : fieldsOf(command);
  if (command === null || !fields) return { ok: false, message: `unknown command: ${first.value.slice(0, 20)}` };
  const r = scanFields(fields, frame.slice(1), { strict: true });
  if (!r.ok) return r;
  const v = r.value as AnyValues;
  switch (command) {
    case BOUNCE_CMD.APPEND:
      return { ok: true, value: { command, flags: Number(v[MAIL_ATTR.FLAGS]), queueId: String(v[MAIL_ATTR.QUEUEID]), rcpt: rcptFrom(v), dsn: dsnFrom(v) } };
    case BOUNCE_CMD.VERP:
      return { ok: true, value: { command, ...notifyFrom(v), verpDelims: String(v[MAIL_ATTR.VERPDL]) } };
    case BOUNCE_CMD.ONE:
      return { ok: true, value: { command, ...notifyFrom(v), rcpt: rcptFrom(v), dsn: dsnFrom(v) } };
    default:
      return { ok: true, value: { command: command as typeof BOUNCE_CMD.FLUSH, ...notifyFrom(v) } };
  }
}

const REPLY_FIELDS = { [MAIL_ATTR.STATUS]: attr.int() } as const satisfies FieldList;

/** The delivery status protocol (announce, requests, status reply). */
export const BOUNCE_PROTOCOL: Protocol<BounceRequest, BounceReply> = Object.freeze({
  name: MAIL_ATTR_PROTO.BOUNCE,
  announce: true,
  format: '0' as const,
  limits: Object.freeze({ ...ATTR0_DEFAULT_LIMITS }),
  encodeRequest: encodeBounceRequest,
  decodeRequest: decodeBounceRequest,
  encodeReply(r: BounceReply): Buffer {
    return encodeAttr0(printFields(REPLY_FIELDS, { [MAIL_ATTR.STATUS]: r.status }));
  },
  decodeReply(frame: Attr0Frame): ScanResult<BounceReply> {
    const r = scanFields(REPLY_FIELDS, frame, { strict: true });
    return r.ok ? { ok: true, value: { status: r.value[MAIL_ATTR.STATUS] } } : r;
  },
  ...announcementParts(MAIL_ATTR_PROTO.BOUNCE, '0', {}),
  describe(): string {
    return [
      `The server announces: ${MAIL_ATTR.PROTO} = ${MAIL_ATTR_PROTO.BOUNCE}`,
      `Request: ${MAIL_ATTR.NREQ} (int) = APPEND ${BOUNCE_CMD.APPEND}:`,
      ...describeFields(APPEND_FIELDS),
      `${MAIL_ATTR.NREQ} = FLUSH ${BOUNCE_CMD.FLUSH}, WARN ${BOUNCE_CMD.WARN}, TRACE ${BOUNCE_CMD.TRACE}:`,
      ...describeFields(NOTIFY_FIELDS),
      `${MAIL_ATTR.NREQ} = VERP ${BOUNCE_CMD.VERP}:`,
      ...describeFields(VERP_FIELDS),
      `${MAIL_ATTR.NREQ} = ONE ${BOUNCE_CMD.ONE}:`,
      ...describeFields(ONE_FIELDS),
      'Reply:',
      ...describeFields(REPLY_FIELDS),
    ].join('\n');
  },
});

/** How to reach the services. */
export interface BounceClientOptions {
  queueDir: string;
  /** Bound on connect, announcement and the exchange (default: Postfix's ipc_timeout, 3600 s). */
  timeoutMs?: number;
  /** Overrides private/<service> (tests). */
  endpoint?: (service: string) => Endpoint;
  /** bounce_service_name, defer_service_name, trace_service_name when not the defaults. */
  serviceNames?: Partial<Record<'bounce' | 'defer' | 'trace', string>>;
}

export type BounceService = 'bounce' | 'defer' | 'trace';

function serviceName(opts: BounceClientOptions, service: BounceService): string {
  return opts.serviceNames?.[service] || service;
}

/** Sends one request; 0 when the service answered status 0, else -1. */
export async function bounceRequest(opts: BounceClientOptions, service: BounceService, req: BounceRequest): Promise<number> {
  const name = serviceName(opts, service);
  const endpoint = opts.endpoint ? opts.endpoint(name) : mailPathname(opts.queueDir, MAIL_CLASS.PRIVATE, name);
  const client = new AttrClient(BOUNCE_PROTOCOL, { endpoint, timeoutMs: opts.timeoutMs ?? DEF_IPC_TIMEOUT_MS });
  try {
    const r = await client.request(req);
    return r.ok && r.reply.status === 0 ? 0 : -1;
  } finally {
    client.close();
  }
}

/** Appends one recipient's status to queue_directory/<service>/<id> (BOUNCE_CMD_APPEND). */
export function bounceLogAppend(opts: BounceClientOptions, service: BounceService, flags: number, queueId: string, rcpt: Recipient, dsn: Dsn): Promise<number> {
  return bounceRequest(opts, service, { command: BOUNCE_CMD.APPEND, flags, queueId, rcpt, dsn });
}

function notifyArgs(flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number): BounceNotifyArgs {
  return { flags, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet };
}

/** Sends the non-delivery notification for bounce/<id> and removes the log (Postfix bounce_flush). */
export async function bounceFlush(
  opts: BounceClientOptions, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number,
): Promise<number> {
  const st = await bounceRequest(opts, 'bounce', { command: BOUNCE_CMD.FLUSH, ...notifyArgs(flags, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet) });
  if (st !== 0 && (flags & BOUNCE_FLAG.CLEAN) === 0) msgInfo(`${queueId}: status=deferred (bounce failed)`);
  return st;
}

/** VERP-style flush (Postfix bounce_flush_verp). */
export async function bounceFlushVerp(
  opts: BounceClientOptions, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number, verpDelims: string,
): Promise<number> {
  const st = await bounceRequest(opts, 'bounce', { command: BOUNCE_CMD.VERP, ...notifyArgs(flags, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet), verpDelims });
  if (st !== 0 && (flags & BOUNCE_FLAG.CLEAN) === 0) msgInfo(`${queueId}: status=deferred (bounce failed)`);
  return st;
}

/** The message expired: bounce every deferred recipient from defer/<id> (Postfix defer_flush; adds DELRCPT). */
export function deferFlush(
  opts: BounceClientOptions, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number,
): Promise<number> {
  return bounceRequest(opts, 'defer', { command: BOUNCE_CMD.FLUSH, ...notifyArgs(flags | BOUNCE_FLAG.DELRCPT, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet) });
}

/** Delay warning from defer/<id>; the log stays (Postfix defer_warn). */
export function deferWarn(
  opts: BounceClientOptions, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number,
): Promise<number> {
  return bounceRequest(opts, 'defer', { command: BOUNCE_CMD.WARN, ...notifyArgs(flags, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet) });
}

/** Delivery status (success/trace) notice from trace/<id> (Postfix trace_flush). */
export function traceFlush(
  opts: BounceClientOptions, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number,
): Promise<number> {
  return bounceRequest(opts, 'trace', { command: BOUNCE_CMD.TRACE, ...notifyArgs(flags, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet) });
}

/** Bounces one recipient at once, without a log (Postfix bounce_one; the caller sets dsn.action "failed"). */
export function bounceOne(
  opts: BounceClientOptions, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, sender: string, dsnEnvid: string, dsnRet: number,
  rcpt: Recipient, dsn: Dsn,
): Promise<number> {
  return bounceRequest(opts, 'bounce', { command: BOUNCE_CMD.ONE, ...notifyArgs(flags, queueName, queueId, encoding, smtputf8, sender, dsnEnvid, dsnRet), rcpt, dsn });
}
