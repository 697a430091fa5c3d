/*
 * deliver_request_codec - the bytes of the delivery request protocol (Postfix deliver_request.c, qmgr_deliver.c, msg_stats_print.c, rcpt_print.c, dsn_print.c)
 *
 * What it does: the attribute lists of deliver_request.ts as pure
 * encoders and decoders: the agent's announcement, qmgr's common list
 * (with MSG_STATS as Postfix's raw struct in base64), one list per
 * recipient, and the agent's reply (hop DSN, then the status, -1 on the
 * wire for DEFER). Field lists are in Postfix 3.7's wire order; strings
 * are bounded by DELIVER_REQUEST_LIMITS.
 *
 * What it does not do: sockets and timeouts (deliver_request.ts), or
 * anything with the queue file.
 *
 * DIAGNOSTICS
 * Decoders return { ok: false, message }; encoders throw Attr0Error for a
 * caller bug (a NUL in a string, a non-integer).
 */
import { type Attr0Frame, type Attr0Limits, encodeAttr0 } from '../util/attr0.js';
import { attr, type Fields, printFields, type ScanResult, scanFields } from '../util/attr0_scan.js';
import type { DeliverReply, DeliverRequest } from './deliver_request.js';
import type { Dsn } from './dsn.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from './mail_proto.js';
import type { MsgStats } from './msg_stats.js';
import type { Recipient } from './recipient_list.js';

/**
 * Delivery request status as this API gives it: OK (Postfix DEL_STAT_FINAL:
 * every recipient delivered, bounced or deferred by the agent) or DEFER
 * (anything else). On the wire DEFER is Postfix's -1 ("4294967295"); any
 * non-zero status read from the wire is DEFER, as qmgr reads it.
 */
export const DEL_STAT = { OK: 0, DEFER: 1 } as const;
/** Postfix's DEL_STAT_DEFER as sent on the wire. */
export const DEL_STAT_WIRE_DEFER = -1;

/** Size of Postfix's MSG_STATS on LP64 (5 × struct timeval + int, padded). */
export const MSG_STATS_WIRE_SIZE = 88;
const TIMEVAL_SIZE = 16;
const MSG_STATS_REUSE_OFFSET = 5 * TIMEVAL_SIZE;

/** Upper bounds on what an agent accepts from qmgr. */
export const DELIVER_REQUEST_LIMITS = {
  /** Recipients in one request (qmgr sends at most *_destination_recipient_limit). */
  maxRecipients: 100_000,
  /** Bytes of one string attribute (an address, or a hop reason quoting a long multi-line SMTP reply). */
  maxStringBytes: 64 * 1024,
} as const;

const STR = { maxBytes: DELIVER_REQUEST_LIMITS.maxStringBytes };

/** The common attributes, in Postfix 3.7's wire order. */
export const DELIVER_REQUEST_FIELDS = {
  [MAIL_ATTR.FLAGS]: attr.int(),
  [MAIL_ATTR.QUEUE]: attr.str(STR),
  [MAIL_ATTR.QUEUEID]: attr.str(STR),
  [MAIL_ATTR.OFFSET]: attr.long(),
  [MAIL_ATTR.SIZE]: attr.long(),
  [MAIL_ATTR.NEXTHOP]: attr.str(STR),
  [MAIL_ATTR.ENCODING]: attr.str(STR),
  [MAIL_ATTR.SMTPUTF8]: attr.int(),
  [MAIL_ATTR.SENDER]: attr.str(STR),
  [MAIL_ATTR.DSN_ENVID]: attr.str(STR),
  [MAIL_ATTR.DSN_RET]: attr.int(),
  [MAIL_ATTR.TIME]: attr.data({ maxBytes: 1024 }),
  [MAIL_ATTR.LOG_CLIENT_NAME]: attr.str(STR),
  [MAIL_ATTR.LOG_CLIENT_ADDR]: attr.str(STR),
  [MAIL_ATTR.LOG_CLIENT_PORT]: attr.str(STR),
  [MAIL_ATTR.LOG_PROTO_NAME]: attr.str(STR),
  [MAIL_ATTR.LOG_HELO_NAME]: attr.str(STR),
  [MAIL_ATTR.SASL_METHOD]: attr.str(STR),
  [MAIL_ATTR.SASL_USERNAME]: attr.str(STR),
  [MAIL_ATTR.SASL_SENDER]: attr.str(STR),
  [MAIL_ATTR.LOG_IDENT]: attr.str(STR),
  [MAIL_ATTR.RWR_CONTEXT]: attr.str(STR),
  [MAIL_ATTR.RCPT_COUNT]: attr.int({ min: 0, max: DELIVER_REQUEST_LIMITS.maxRecipients }),
} as const;

/** One recipient (Postfix rcpt_print.c), its own list. */
export const DELIVER_RCPT_FIELDS = {
  [MAIL_ATTR.ORCPT]: attr.str(STR),
  [MAIL_ATTR.RECIP]: attr.str(STR),
  [MAIL_ATTR.OFFSET]: attr.long(),
  [MAIL_ATTR.DSN_ORCPT]: attr.str(STR),
  [MAIL_ATTR.DSN_NOTIFY]: attr.int(),
} as const;

/** The hop DSN (Postfix dsn_print.c) followed by the status (deliver_request_final). */
export const DELIVER_REPLY_FIELDS = {
  [MAIL_ATTR.DSN_STATUS]: attr.str(STR),
  [MAIL_ATTR.DSN_DTYPE]: attr.str(STR),
  [MAIL_ATTR.DSN_DTEXT]: attr.str(STR),
  [MAIL_ATTR.DSN_MTYPE]: attr.str(STR),
  [MAIL_ATTR.DSN_MNAME]: attr.str(STR),
  [MAIL_ATTR.DSN_ACTION]: attr.str(STR),
  [MAIL_ATTR.WHY]: attr.str(STR),
} as const;

/** The reply's two lists of names collide on "status" (DSN status, then request status): keep the wire order by hand. */
const REPLY_STATUS_NAME = MAIL_ATTR.STATUS;

/** Frame limits for both ends: strings as DELIVER_REQUEST_LIMITS, the rest the attr0 defaults. */
export const DELIVER_FRAME_LIMITS: Partial<Attr0Limits> = { maxStringBytes: DELIVER_REQUEST_LIMITS.maxStringBytes + 1 };

// ---------------------------------------------------------------- msg_stats

const TWO_32 = 0x1_0000_0000;

/** A 64-bit little-endian integer; without a BigInt for the usual (safe, non-negative) values. */
function putInt64(buf: Buffer, off: number, n: number): void {
  if (Number.isSafeInteger(n) && n >= 0) {
    buf.writeUInt32LE(n % TWO_32, off);
    buf.writeUInt32LE(Math.floor(n / TWO_32), off + 4);
  } else {
    buf.writeBigInt64LE(BigInt(n), off);
  }
}

function putTimeval(buf: Buffer, off: number, ms: number): void {
  const t = Math.max(0, Math.round(ms * 1000)); // microseconds
  const sec = Math.floor(t / 1_000_000);
  const usec = t - sec * 1_000_000;
  putInt64(buf, off, sec);
  putInt64(buf, off + 8, usec);
}

function getTimeval(buf: Buffer, off: number): number {
  const sec = Number(buf.readBigInt64LE(off));
  const usec = Number(buf.readBigInt64LE(off + 8));
  if (sec <= 0) return 0;
  return sec * 1000 + usec / 1000;
}

/** MsgStats as Postfix's MSG_STATS bytes (ms values keep microseconds as fractions). */
export function encodeMsgStats(s: MsgStats): Buffer {
  const buf = Buffer.alloc(MSG_STATS_WIRE_SIZE);
  putTimeval(buf, 0 * TIMEVAL_SIZE, s.incomingArrival);
  putTimeval(buf, 1 * TIMEVAL_SIZE, s.activeArrival);
  putTimeval(buf, 2 * TIMEVAL_SIZE, s.agentHandoff);
  putTimeval(buf, 3 * TIMEVAL_SIZE, s.connSetupDone);
  putTimeval(buf, 4 * TIMEVAL_SIZE, s.deliverDone);
  buf.writeInt32LE(s.reuseCount | 0, MSG_STATS_REUSE_OFFSET);
  return buf;
}

export function decodeMsgStats(buf: Buffer): ScanResult<MsgStats> {
  if (buf.length !== MSG_STATS_WIRE_SIZE) {
    return { ok: false, message: `msg_stats: expected ${MSG_STATS_WIRE_SIZE} bytes, got ${buf.length}` };
  }
  return {
    ok: true,
    value: {
      incomingArrival: getTimeval(buf, 0 * TIMEVAL_SIZE),
      activeArrival: getTimeval(buf, 1 * TIMEVAL_SIZE),
      agentHandoff: getTimeval(buf, 2 * TIMEVAL_SIZE),
      connSetupDone: getTimeval(buf, 3 * TIMEVAL_SIZE),
      deliverDone: getTimeval(buf, 4 * TIMEVAL_SIZE),
      reuseCount: buf.readInt32LE(MSG_STATS_REUSE_OFFSET),
    },
  };
}

// ---------------------------------------------------------------- codecs

/** The agent's first list: protocol=delivery_request_protocol. */
export function encodeDeliverAnnouncement(): Buffer {
  return encodeAttr0([{ name: MAIL_ATTR.PROTO, value: MAIL_ATTR_PROTO.DELIVER }]);
}

export function checkDeliverAnnouncement(frame: Attr0Frame): ScanResult<null> {
  const e = frame[0];
  if (frame.length !== 1 || !e || !('name' in e) || e.name !== MAIL_ATTR.PROTO) {
    return { ok: false, message: 'missing protocol announcement' };
  }
  if (e.value !== MAIL_ATTR_PROTO.DELIVER) {
    return { ok: false, message: `unexpected protocol: "${e.value.slice(0, 100)}", expected "${MAIL_ATTR_PROTO.DELIVER}"` };
  }
  return { ok: true, value: null };
}

/** The whole request: the common list and one list per recipient. */
export function encodeDeliverRequest(req: DeliverRequest): Buffer {
  const common: Fields<typeof DELIVER_REQUEST_FIELDS> = {
    [MAIL_ATTR.FLAGS]: req.flags,
    [MAIL_ATTR.QUEUE]: req.queueName,
    [MAIL_ATTR.QUEUEID]: req.queueId,
    [MAIL_ATTR.OFFSET]: req.dataOffset,
    [MAIL_ATTR.SIZE]: req.dataSize,
    [MAIL_ATTR.NEXTHOP]: req.nexthop,
    [MAIL_ATTR.ENCODING]: req.encoding,
    [MAIL_ATTR.SMTPUTF8]: req.smtputf8,
    [MAIL_ATTR.SENDER]: req.sender,
    [MAIL_ATTR.DSN_ENVID]: req.dsnEnvid,
    [MAIL_ATTR.DSN_RET]: req.dsnRet,
    [MAIL_ATTR.TIME]: encodeMsgStats(req.msgStats),
    [MAIL_ATTR.LOG_CLIENT_NAME]: req.clientName,
    [MAIL_ATTR.LOG_CLIENT_ADDR]: req.clientAddr,
    [MAIL_ATTR.LOG_CLIENT_PORT]: req.clientPort,
    [MAIL_ATTR.LOG_PROTO_NAME]: req.clientProto,
    [MAIL_ATTR.LOG_HELO_NAME]: req.clientHelo,
    [MAIL_ATTR.SASL_METHOD]: req.saslMethod,
    [MAIL_ATTR.SASL_USERNAME]: req.saslUsername,
    [MAIL_ATTR.SASL_SENDER]: req.saslSender,
    [MAIL_ATTR.LOG_IDENT]: req.logIdent,
    [MAIL_ATTR.RWR_CONTEXT]: req.rewriteContext,
    [MAIL_ATTR.RCPT_COUNT]: req.recipients.length,
  };
  const parts = [encodeAttr0(printFields(DELIVER_REQUEST_FIELDS, common))];
  for (const r of req.recipients) parts.push(encodeDeliverRecipient(r));
  return Buffer.concat(parts);
}

export function encodeDeliverRecipient(r: Recipient): Buffer {
  return encodeAttr0(
    printFields(DELIVER_RCPT_FIELDS, {
      [MAIL_ATTR.ORCPT]: r.origAddress,
      [MAIL_ATTR.RECIP]: r.address,
      [MAIL_ATTR.OFFSET]: r.offset,
      [MAIL_ATTR.DSN_ORCPT]: r.dsnOrcpt,
      [MAIL_ATTR.DSN_NOTIFY]: r.dsnNotify,
    }),
  );
}

/** The common list, with an empty recipient list and the count to read. */
export function decodeDeliverRequestHead(frame: Attr0Frame): ScanResult<{ req: DeliverRequest; rcptCount: number }> {
  const r = scanFields(DELIVER_REQUEST_FIELDS, frame, { strict: true });
  if (!r.ok) return r;
  const v = r.value;
  const stats = decodeMsgStats(v[MAIL_ATTR.TIME]);
  if (!stats.ok) return stats;
  return {
    ok: true,
    value: {
      rcptCount: v[MAIL_ATTR.RCPT_COUNT],
      req: {
        flags: v[MAIL_ATTR.FLAGS],
        queueName: v[MAIL_ATTR.QUEUE],
        queueId: v[MAIL_ATTR.QUEUEID],
        dataOffset: v[MAIL_ATTR.OFFSET],
        dataSize: v[MAIL_ATTR.SIZE],
        nexthop: v[MAIL_ATTR.NEXTHOP],
        encoding: v[MAIL_ATTR.ENCODING],
        smtputf8: v[MAIL_ATTR.SMTPUTF8],
        sender: v[MAIL_ATTR.SENDER],
        dsnEnvid: v[MAIL_ATTR.DSN_ENVID],
        dsnRet: v[MAIL_ATTR.DSN_RET],
        msgStats: stats.value,
        clientName: v[MAIL_ATTR.LOG_CLIENT_NAME],
        clientAddr: v[MAIL_ATTR.LOG_CLIENT_ADDR],
        clientPort: v[MAIL_ATTR.LOG_CLIENT_PORT],
        clientProto: v[MAIL_ATTR.LOG_PROTO_NAME],
        clientHelo: v[MAIL_ATTR.LOG_HELO_NAME],
        saslMethod: v[MAIL_ATTR.SASL_METHOD],
        saslUsername: v[MAIL_ATTR.SASL_USERNAME],
        saslSender: v[MAIL_ATTR.SASL_SENDER],
        logIdent: v[MAIL_ATTR.LOG_IDENT],
        rewriteContext: v[MAIL_ATTR.RWR_CONTEXT],
        recipients: [],
      },
    },
  };
}

export function decodeDeliverRecipient(frame: Attr0Frame): ScanResult<Recipient> {
  const r = scanFields(DELIVER_RCPT_FIELDS, frame, { strict: true });
  if (!r.ok) return r;
  const v = r.value;
  return {
    ok: true,
    value: {
      origAddress: v[MAIL_ATTR.ORCPT],
      address: v[MAIL_ATTR.RECIP],
      offset: v[MAIL_ATTR.OFFSET],
      dsnOrcpt: v[MAIL_ATTR.DSN_ORCPT],
      dsnNotify: v[MAIL_ATTR.DSN_NOTIFY],
    },
  };
}

/** Decodes a whole request from its lists (head first). */
export function decodeDeliverRequest(frames: Attr0Frame[]): ScanResult<DeliverRequest> {
  const head = frames[0];
  if (!head) return { ok: false, message: 'no request' };
  const h = decodeDeliverRequestHead(head);
  if (!h.ok) return h;
  if (frames.length - 1 !== h.value.rcptCount) {
    return { ok: false, message: `expected ${h.value.rcptCount} recipient lists, got ${frames.length - 1}` };
  }
  for (const f of frames.slice(1)) {
    const r = decodeDeliverRecipient(f);
    if (!r.ok) return r;
    h.value.req.recipients.push(r.value);
  }
  return { ok: true, value: h.value.req };
}

export function encodeDeliverReply(reply: DeliverReply): Buffer {
  const d = reply.hop;
  const frame = printFields(DELIVER_REPLY_FIELDS, {
    [MAIL_ATTR.DSN_STATUS]: d?.status ?? '',
    [MAIL_ATTR.DSN_DTYPE]: d?.dtype ?? '',
    [MAIL_ATTR.DSN_DTEXT]: d?.dtext ?? '',
    [MAIL_ATTR.DSN_MTYPE]: d?.mtype ?? '',
    [MAIL_ATTR.DSN_MNAME]: d?.mname ?? '',
    [MAIL_ATTR.DSN_ACTION]: d?.action ?? '',
    [MAIL_ATTR.WHY]: d?.reason ?? '',
  });
  const wire = reply.status === DEL_STAT.OK ? 0 : DEL_STAT_WIRE_DEFER;
  frame.push({ name: REPLY_STATUS_NAME, value: String(wire >>> 0) });
  return encodeAttr0(frame);
}

export function decodeDeliverReply(frame: Attr0Frame): ScanResult<DeliverReply> {
  const last = frame[frame.length - 1];
  if (!last || !('name' in last) || last.name !== REPLY_STATUS_NAME) return { ok: false, message: 'missing request status' };
  const r = scanFields(DELIVER_REPLY_FIELDS, frame.slice(0, -1), { strict: true });
  if (!r.ok) return r;
  if (!/^\d{1,10}$/.test(last.value) || Number(last.value) > 0xffffffff) {
    return { ok: false, message: `malformed numerical data for status: ${last.value.slice(0, 100)}` };
  }
  const v = r.value;
  const hop: Dsn = {
    status: v[MAIL_ATTR.DSN_STATUS],
    dtype: v[MAIL_ATTR.DSN_DTYPE],
    dtext: v[MAIL_ATTR.DSN_DTEXT],
    mtype: v[MAIL_ATTR.DSN_MTYPE],
    mname: v[MAIL_ATTR.DSN_MNAME],
    action: v[MAIL_ATTR.DSN_ACTION],
    reason: v[MAIL_ATTR.WHY],
  };
  // Postfix's dummy DSN (all empty) means "no hop status".
  const none = hop.status === '' && hop.reason === '';
  return { ok: true, value: { status: Number(last.value) === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: none ? null : hop } };
}
