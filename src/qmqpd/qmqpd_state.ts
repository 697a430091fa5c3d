/*
 * qmqpd_state - one QMQP transaction: sender, attributes, content, reply (Postfix qmqpd.c)
 *
 * What it does: QmqpSession is the per-connection state. writeQmqpSender()
 * handles the sender netstring (VERP "prefix@origin-@[]" form, the 'S'
 * and 'V' records) and the client attributes Postfix 3.7's qmqpd records
 * (log_client_name/address/port, log_message_origin, log_protocol_name,
 * client_name/address/port, client_address_type, protocol_name).
 * writeQmqpContent() writes 'M', the Received: header and the content
 * lines. qmqpdStatusReply() maps the cleanup status to the reply code
 * and text, as qmqpd_send_status.
 *
 * What it does not do: read the network (qmqpd.ts, qmqpd_netstring.ts).
 *
 * DIAGNOSTICS
 * None of its own; the texts are the replies ("Error: message too large").
 */
import type { CleanupSession } from '../global/cleanup_clnt.js';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import type { MailConfig } from '../global/mail_conf.js';
import { mailDate } from '../global/mail_date.js';
import { MAIL_ATTR, MAIL_PROTO } from '../global/mail_proto.js';
import { quote822Local } from '../global/quote_822_local.js';
import { REC_TYPE } from '../global/rec_type.js';
import type { QmqpdPeer } from './qmqpd_peer.js';

/** Reply codes (Postfix qmqpd.h). */
export const QMQPD_STAT = { OK: 'K', RETRY: 'Z', HARD: 'D' } as const;

export interface QmqpSession {
  config: MailConfig;
  peer: QmqpdPeer;
  queueId: string | null;
  where: string | null;
  err: number;
  whyRejected: string;
  /** Arrival time, ms since the epoch. */
  arrival: number;
  sender: string;
  recipient: string | null;
  rcptCount: number;
  abort?: () => void;
}

const VERP_SUFFIX = '-@[]';

export function writeQmqpSender(s: QmqpSession, cleanup: CleanupSession, raw: Buffer): void {
  let text = raw.toString('latin1');
  let verp: string | null = null;
  const endOrigin = text.length - VERP_SUFFIX.length;
  const at = text.indexOf('@');
  const endPrefix = at - 1;
  if (endOrigin > 0 && text.endsWith(VERP_SUFFIX) && at >= 0 && endPrefix < endOrigin - 2 && endPrefix > 0) {
    verp = `${text[endPrefix]}=`;
    const filter = s.config.get('verp_delimiter_filter');
    if (!filter.includes(verp[0]!) || !filter.includes(verp[1]!)) {
      s.err |= CLEANUP_STAT.CONT;
      s.whyRejected = `Invalid VERP delimiters: "${verp}". Need two characters from "${filter}"`;
    }
    text = text.slice(0, endPrefix) + text.slice(endPrefix + 1, endOrigin);
  }
  if (s.err === CLEANUP_STAT.OK) cleanup.record(REC_TYPE.FROM, Buffer.from(text, 'latin1'));
  if (verp !== null && s.err === CLEANUP_STAT.OK) cleanup.record(REC_TYPE.VERP, verp);
  s.sender = text;
  const p = s.peer;
  cleanup.attr(MAIL_ATTR.LOG_CLIENT_NAME, p.name);
  cleanup.attr(MAIL_ATTR.LOG_CLIENT_ADDR, p.rfcAddr);
  cleanup.attr(MAIL_ATTR.LOG_CLIENT_PORT, p.port);
  cleanup.attr(MAIL_ATTR.LOG_ORIGIN, p.namaddr);
  cleanup.attr(MAIL_ATTR.LOG_PROTO_NAME, MAIL_PROTO.QMQP);
  cleanup.attr(MAIL_ATTR.ACT_CLIENT_NAME, p.name);
  cleanup.attr(MAIL_ATTR.ACT_CLIENT_ADDR, p.rfcAddr);
  cleanup.attr(MAIL_ATTR.ACT_CLIENT_PORT, p.port);
  cleanup.attr(MAIL_ATTR.ACT_CLIENT_AF, String(p.addrFamily));
  cleanup.attr(MAIL_ATTR.ACT_PROTO_NAME, MAIL_PROTO.QMQP);
}

const FROM_LINE = /^>*From /;

export function writeQmqpContent(s: QmqpSession, cleanup: CleanupSession, message: Buffer): void {
  const config = s.config;
  const host = config.get('myhostname');
  const mailName = config.get('mail_name');
  const date = mailDate(Math.floor(s.arrival / 1000));
  cleanup.record(REC_TYPE.MESG, '');
  cleanup.record(REC_TYPE.NORM, `Received: from ${s.peer.name} (${s.peer.name} [${s.peer.rfcAddr}])`);
  if (s.rcptCount === 1 && s.recipient !== null) {
    cleanup.record(REC_TYPE.NORM, `\tby ${host} (${mailName}) with ${MAIL_PROTO.QMQP} id ${s.queueId}`);
    cleanup.record(REC_TYPE.NORM, Buffer.from(`\tfor <${quote822Local(s.recipient)}>; ${date}`, 'latin1'));
  } else {
    cleanup.record(REC_TYPE.NORM, `\tby ${host} (${mailName}) with ${MAIL_PROTO.QMQP}`);
    cleanup.record(REC_TYPE.NORM, `\tid ${s.queueId}; ${date}`);
  }
  const lineLimit = config.getInt('line_length_limit');
  let first = true;
  for (let next = 0; next < message.length; ) {
    const nl = message.indexOf(0x0a, next);
    const limitEnd = next + lineLimit;
    let end: number;
    let type: number;
    if (nl >= 0 && nl <= limitEnd) {
      end = nl;
      type = REC_TYPE.NORM;
    } else {
      end = Math.min(message.length, limitEnd);
      type = REC_TYPE.CONT;
    }
    const line = message.subarray(next, end);
    next = type === REC_TYPE.NORM ? end + 1 : end;
    if (first) {
      if (FROM_LINE.test(line.toString('latin1', 0, Math.min(line.length, 1024)))) {
        cleanup.record(type, Buffer.concat([Buffer.from('X-Mailbox-Line: '), line]));
        continue;
      }
      first = false;
      if (line.length > 0 && (line[0] === 0x20 || line[0] === 0x09)) cleanup.record(REC_TYPE.NORM, '');
    }
    cleanup.record(type, line);
  }
}

/** The reply for the transaction's status: [log it, code, text]. */
export function qmqpdStatusReply(s: QmqpSession): [boolean, string, string] {
  const err = s.err;
  if (err === CLEANUP_STAT.OK) return [false, QMQPD_STAT.OK, `Ok: queued as ${s.queueId}`];
  if (err & CLEANUP_STAT.BAD) return [true, QMQPD_STAT.RETRY, `Error: internal error ${err}`];
  if (err & CLEANUP_STAT.SIZE) return [true, QMQPD_STAT.HARD, 'Error: message too large'];
  if (err & CLEANUP_STAT.HOPS) return [true, QMQPD_STAT.HARD, 'Error: too many hops'];
  if (err & CLEANUP_STAT.CONT) return [true, QMQPD_STAT.HARD, `Error: ${s.whyRejected}`];
  if (err & CLEANUP_STAT.WRITE) return [true, QMQPD_STAT.RETRY, 'Error: queue file write error'];
  if (err & CLEANUP_STAT.RCPT) return [true, QMQPD_STAT.HARD, 'Error: no recipients specified'];
  return [true, QMQPD_STAT.RETRY, `Error: internal error ${err}`];
}
