/*
 * deliver_request - the queue manager to delivery agent protocol (Postfix deliver_request.c, qmgr_deliver.c)
 *
 * What it does: the bytes qmgr and a delivery agent exchange over
 * private/<transport>, as Postfix 3.7 sends them (attr0 form):
 *
 *   agent: protocol=delivery_request_protocol                (one list)
 *   qmgr:  flags queue_name queue_id offset size nexthop encoding smtputf8
 *          sender envelope_id ret_flags time(=msg_stats, 88 raw bytes in
 *          base64) log_client_name log_client_address log_client_port
 *          log_protocol_name log_helo_name sasl_method sasl_username
 *          sasl_sender log_ident rewrite_context recipient_count   (one list)
 *   qmgr:  original_recipient recipient offset dsn_orig_rcpt notify_flags
 *                                                    (one list per recipient)
 *   agent: status diag_type diag_text mta_type mta_mname action reason
 *          (the hop DSN, all empty when none) status=0|-1         (one list)
 *
 * encodeDeliverRequest()/decodeDeliverRequest() and the reply codecs are
 * pure (deliver_request_codec.ts, re-exported here); deliverRequestCall() is qmgr's side of one delivery (connect, wait
 * for the announcement, send, read the reply, each step bounded);
 * readDeliverRequest()/writeDeliverReply() are the agent's side on an
 * Attr0Stream (delivery_agent.ts runs them).
 *
 * The MSG_STATS layout is that of Postfix on LP64 Linux: five struct
 * timeval (incoming_arrival, active_arrival, agent_handoff,
 * conn_setup_done, deliver_done; 8-byte seconds + 8-byte microseconds,
 * little endian) and an int reuse_count, padded to 88 bytes.
 *
 * What it does not do: open the queue file, log or report recipient
 * status (delivery_agent.ts, sent.ts, bounce.ts, defer.ts), or choose
 * which recipients go into a request (qmgr).
 *
 * DIAGNOSTICS
 * Decoders return { ok: false, message } for a list that does not fit;
 * deliverRequestCall() never throws: an IpcFailure says what went wrong.
 */
import { Attr0Stream } from '../util/attr0_stream.js';
import {
  checkDeliverAnnouncement,
  decodeDeliverRecipient,
  decodeDeliverReply,
  decodeDeliverRequestHead,
  DELIVER_FRAME_LIMITS,
  encodeDeliverReply,
  encodeDeliverRequest,
} from './deliver_request_codec.js';
import type { Dsn } from './dsn.js';
import { type Endpoint, type IpcFailure, endpointLabel, openEndpoint } from './ipc/attr_clnt.js';
import { type MsgStats, emptyMsgStats } from './msg_stats.js';
import type { Recipient } from './recipient_list.js';

/** The codecs and field lists (deliver_request_codec.ts) are part of this module's API. */
export * from './deliver_request_codec.js';

/** Request flags (Postfix deliver_request.h DEL_REQ_FLAG_*). */
export const DEL_REQ_FLAG = {
  /** Delete successful recipients from the queue file (and bounced ones). */
  SUCCESS: 1 << 0,
  /** Delete bounced recipients (not functional in Postfix either). */
  BOUNCE: 1 << 1,
  /** MTA-requested address probe (address verification). */
  MTA_VRFY: 1 << 8,
  /** User-requested address probe (sendmail -bv). */
  USR_VRFY: 1 << 9,
  /** Record and deliver (sendmail -v). */
  RECORD: 1 << 10,
  /** Consult the opportunistic connection cache. */
  CONN_LOAD: 1 << 11,
  /** Update the opportunistic connection cache. */
  CONN_STORE: 1 << 12,
} as const;

/**
 * The request's smtputf8 attribute (Postfix smtputf8.h SMTPUTF8_FLAG_*;
 * Postfix has no SMTPUTF8 bit among the DEL_REQ_FLAGs): the client asked
 * for SMTPUTF8, and which parts of the message need it.
 */
export const SMTPUTF8_FLAG = {
  NONE: 0,
  REQUESTED: 1 << 0,
  HEADER: 1 << 1,
  SENDER: 1 << 2,
  RECIPIENT: 1 << 3,
} as const;

/** DEL_REQ_FLAG_DEFLT: delete successful and bounced recipients. */
export const DEL_REQ_FLAG_DEFLT = DEL_REQ_FLAG.SUCCESS | DEL_REQ_FLAG.BOUNCE;
/** DEL_REQ_FLAG_CONN_MASK. */
export const DEL_REQ_FLAG_CONN_MASK = DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
/** Mail that uses the trace(8) service (DEL_REQ_TRACE_FLAGS_MASK). */
export const DEL_REQ_TRACE_FLAGS_MASK = DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.RECORD;
/** Mail that is not delivered at all, only traced (DEL_REQ_TRACE_ONLY_MASK). */
export const DEL_REQ_TRACE_ONLY_MASK = DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY;

export function delReqTraceFlags(flags: number): number {
  return flags & DEL_REQ_TRACE_FLAGS_MASK;
}
export function delReqTraceOnly(flags: number): number {
  return flags & DEL_REQ_TRACE_ONLY_MASK;
}

/** Per-recipient status (Postfix DEL_RCPT_STAT_*). */
export const DEL_RCPT_STAT = { OK: 0, DEFER: 1, BOUNCE: 2, TODO: 3 } as const;


export interface DeliverRequest {
  flags: number;
  queueName: string;
  queueId: string;
  dataOffset: number;
  dataSize: number;
  nexthop: string;
  encoding: string;
  smtputf8: number;
  sender: string;
  dsnEnvid: string;
  dsnRet: number;
  msgStats: MsgStats;
  clientName: string;
  clientAddr: string;
  clientPort: string;
  clientProto: string;
  clientHelo: string;
  saslMethod: string;
  saslUsername: string;
  saslSender: string;
  logIdent: string;
  rewriteContext: string;
  recipients: Recipient[];
}

export interface DeliverReply {
  status: number /* DEL_STAT */;
  /** The hop status: set with DEFER when the destination (not one recipient) failed. */
  hop: Dsn | null;
}

/** A request filled with Postfix's "not available" values (empty strings, zero stats). */
export function emptyDeliverRequest(fields: Partial<DeliverRequest> = {}): DeliverRequest {
  return {
    flags: DEL_REQ_FLAG_DEFLT,
    queueName: 'active',
    queueId: '',
    dataOffset: 0,
    dataSize: 0,
    nexthop: '',
    encoding: '',
    smtputf8: 0,
    sender: '',
    dsnEnvid: '',
    dsnRet: 0,
    msgStats: emptyMsgStats(),
    clientName: '',
    clientAddr: '',
    clientPort: '',
    clientProto: '',
    clientHelo: '',
    saslMethod: '',
    saslUsername: '',
    saslSender: '',
    logIdent: '',
    rewriteContext: '',
    recipients: [],
    ...fields,
  };
}

// ---------------------------------------------------------------- qmgr side

/**
 * One delivery, qmgr's side: connect, wait for the agent's announcement
 * (onReady then fires: the agent took the job), send the request, read
 * the reply. Each step is bounded by timeoutMs.
 */
export async function deliverRequestCall(
  endpoint: Endpoint,
  req: DeliverRequest,
  opts: { timeoutMs: number; onReady?: () => void },
): Promise<{ ok: true; reply: DeliverReply } | IpcFailure> {
  const label = endpointLabel(endpoint);
  let bytes: Buffer;
  try {
    bytes = encodeDeliverRequest(req);
  } catch (err) {
    return { ok: false, kind: 'request', message: `${label}: ${err instanceof Error ? err.message : String(err)}` };
  }
  const opened = await openEndpoint(endpoint, opts.timeoutMs);
  if (!opened.ok) return opened;
  const io = new Attr0Stream(opened.stream, { limits: DELIVER_FRAME_LIMITS });
  try {
    const hello = await io.readFrame(opts.timeoutMs);
    if (!hello.ok) return failure(hello.kind, `${label}: reading protocol announcement: ${hello.message}`);
    const check = checkDeliverAnnouncement(hello.frame);
    if (!check.ok) return { ok: false, kind: 'announce', message: `${label}: ${check.message}` };
    opts.onReady?.();
    if (!(await io.writeBytes(bytes, opts.timeoutMs))) {
      return io.writeTimedOut
        ? { ok: false, kind: 'timeout', message: `${label}: write timeout after ${opts.timeoutMs} ms` }
        : { ok: false, kind: 'closed', message: `${label}: write error: connection closed` };
    }
    const r = await io.readFrame(opts.timeoutMs);
    if (!r.ok) return failure(r.kind, `${label}: reading reply: ${r.message}`);
    const reply = decodeDeliverReply(r.frame);
    if (!reply.ok) return { ok: false, kind: 'reply', message: `${label}: malformed reply: ${reply.message}` };
    return { ok: true, reply: reply.value };
  } finally {
    // The agent sees end-of-input at close; a half-close first would only add work.
    io.destroy();
  }
}

function failure(kind: string, message: string): IpcFailure {
  return { ok: false, kind: kind === 'eof' ? 'closed' : (kind as IpcFailure['kind']), message };
}

// ---------------------------------------------------------------- agent side

/** Reads one request (after the announcement was sent); null plus a reason when it does not fit. */
export async function readDeliverRequest(io: Attr0Stream, timeoutMs: number): Promise<{ ok: true; req: DeliverRequest } | { ok: false; eof: boolean; message: string }> {
  const head = await io.readFrame(timeoutMs);
  if (!head.ok) return { ok: false, eof: head.kind === 'eof', message: head.message };
  const h = decodeDeliverRequestHead(head.frame);
  if (!h.ok) return { ok: false, eof: false, message: `error receiving common attributes: ${h.message}` };
  const { req, rcptCount } = h.value;
  for (let i = 0; i < rcptCount; i++) {
    const f = await io.readFrame(timeoutMs);
    if (!f.ok) return { ok: false, eof: false, message: `error receiving recipient attributes: ${f.message}` };
    const r = decodeDeliverRecipient(f.frame);
    if (!r.ok) return { ok: false, eof: false, message: `error receiving recipient attributes: ${r.message}` };
    req.recipients.push(r.value);
  }
  return { ok: true, req };
}

/** Writes the final reply; false when the client went away. */
export function writeDeliverReply(io: Attr0Stream, reply: DeliverReply, timeoutMs: number): Promise<boolean> {
  return io.writeBytes(encodeDeliverReply(reply), timeoutMs);
}
