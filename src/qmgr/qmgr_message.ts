/*
 * qmgr_message - one message in the active queue, read from its queue file (Postfix qmgr_message.c)
 *
 * What it does: qmgrMessageRead() reads an active queue file with
 * readQueueFile() and builds the QmgrMessage the daemon works with: the
 * envelope (arrival and create time, sender, size record, encoding,
 * SMTPUTF8, DSN envelope ID and RET, client and SASL logging attributes,
 * log_ident, rewrite_context, trace flags, the delay warning record,
 * content filter and redirect records) and the recipients that are still
 * to be delivered. It logs the "opened" line exactly as Postfix:
 *
 *   QUEUEID: from=<sender>, size=N, nrcpt=N (queue active)
 *
 * A file that does not read as a queue file, or lacks the arrival time,
 * sender or size record, is rejected with Postfix's warning ("QUEUEID:
 * message rejected: missing end record" and the like); the caller moves it
 * to the corrupt queue.
 *
 * What it does not do: resolve recipients (qmgr_resolve.ts), move the
 * file, or read recipients in batches: every undelivered recipient is
 * read at once (Postfix reads qmgr_message_recipient_limit at a time).
 *
 * DIAGNOSTICS
 * Warnings as Postfix's qmgr_message_read(); none for a good file.
 */
import { readFileSync } from 'node:fs';
import { msgInfo, msgWarn } from '../util/msg.js';
import type { MailConfig } from '../global/mail_conf.js';
import { readQueueFile, type QueueFile } from '../global/queue_file_read.js';
import { QUEUE_ATTR } from '../global/queue_file_write.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { decodeRecordComplete } from '../global/record.js';
import { REC_TYPE } from '../global/rec_type.js';
import { DSN_NOTIFY, DSN_RET } from '../global/dsn.js';
import { DEL_REQ_FLAG, DEL_REQ_TRACE_FLAGS_MASK } from '../global/deliver_request.js';
import { logAddrForm } from '../global/log_adhoc.js';
import type { Recipient } from '../global/recipient_list.js';
import type { SchedMessage } from './qmgr_sched.js';

/** What the delivery agents report through the message (Postfix DELIVER_STAT_DEFER in message->flags). */
export const QMGR_MSG_DEFER = 1;

export interface QmgrMessage extends SchedMessage {
  readonly queueId: string;
  /** Arrival (the 'T' record), ms. */
  readonly arrival: number;
  queueName: string;
  path: string;
  /** Scan flags this message was fed with (QMGR_SCAN bits, plus QMGR_FORCE_EXPIRE). */
  qflags: number;
  /** Non-zero when some recipient must be tried again (Postfix message->flags). */
  flags: number;
  /** The 'T' record, seconds and microseconds. */
  arrivalSec: number;
  arrivalUsec: number;
  /** create_time (seconds), the arrival time when absent. */
  createTime: number;
  /** When the message entered the active queue, ms. */
  activeTime: number;
  sender: string;
  dataOffset: number;
  dataSize: number;
  contLength: number;
  /** Recipient count from the size record, for the log. */
  rcptCount: number;
  smtputf8: number;
  encoding: string;
  dsnEnvid: string;
  dsnRet: number;
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
  /** DEL_REQ trace flags (sendmail -v, -bv, address verification). */
  tflags: number;
  /** Offset of the trace_flags record when it asks only for RECORD (sendmail -v): killed after the trace is sent. */
  tflagsOffset: number;
  warnOffset: number;
  /** Next delay warning (seconds), 0 none, -1 already sent. */
  warnTime: number;
  filterXport: string;
  redirectAddr: string;
  inspectXport: string;
  verpDelims: string;
  /** Some recipient (done or not) asked NOTIFY=SUCCESS: look for a trace log at the end. */
  notifySuccess: boolean;
  /** The recipients still to deliver, in queue file order. */
  recipients: Recipient[];
}

export type MessageReadResult = { ok: true; message: QmgrMessage } | { ok: false };

function attrValue(qf: QueueFile, name: string): string | undefined {
  let v: string | undefined;
  // Postfix lets the extracted segment override the envelope: the last one wins.
  for (const a of qf.attrs) if (a.name === name) v = a.value;
  return v;
}

function firstAttr(qf: QueueFile, name: string): string | undefined {
  return qf.attrs.find((a) => a.name === name)?.value;
}

/** Offset of the first envelope attribute record `name=...`; 0 when there is none. */
function findAttrRecord(path: string, name: string): number {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    return 0;
  }
  const prefix = Buffer.from(`${name}=`, 'latin1');
  let pos = 0;
  for (;;) {
    const r = decodeRecordComplete(buf, pos);
    if (r.kind !== 'record' || r.type === REC_TYPE.MESG) return 0;
    if (r.type === REC_TYPE.ATTR && r.data.subarray(0, prefix.length).equals(prefix)) return pos;
    pos = r.next;
  }
}

/** What Postfix's qmgr_message_read() has seen of the envelope before a bad record stopped it. */
function envelopeBefore(buf: Buffer, stopAt: number): { size?: number[]; sender?: string; rcpts: number } {
  const seen: { size?: number[]; sender?: string; rcpts: number } = { rcpts: 0 };
  let pos = 0;
  while (pos < stopAt) {
    const r = decodeRecordComplete(buf, pos);
    if (r.kind !== 'record') break;
    if (r.type === REC_TYPE.SIZE && !seen.size) seen.size = r.data.toString('latin1').trim().split(/\s+/).map(Number);
    else if (r.type === REC_TYPE.FROM && seen.sender === undefined) seen.sender = r.data.toString('latin1');
    else if (r.type === REC_TYPE.RCPT || r.type === REC_TYPE.DONE || r.type === REC_TYPE.DRCP) seen.rcpts++;
    else if (r.type === REC_TYPE.MESG) break;
    pos = r.next;
  }
  return seen;
}

/**
 * Logs why a queue file is rejected, in Postfix's words and order: the
 * "opened" line when the sender record came before the problem; a broken
 * record as rec_get() reports it (the path relative to the queue
 * directory), then "message rejected: missing end record" — except in the
 * message content, which Postfix skips by seeking, so a file cut there is
 * only "missing end record"; a record of the wrong type is "Unexpected
 * record type 'X' at offset N".
 */
function reportReject(config: MailConfig | null, queueName: string, queueId: string, path: string, offset: number, text: string): void {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch {
    buf = Buffer.alloc(0);
  }
  const env = envelopeBefore(buf, offset);
  if (env.sender !== undefined && env.size) {
    const [dataSize = 0, , rcptCount = 0, , contLength = 0] = env.size;
    msgInfo(`${queueId}: from=<${logAddrForm(config, env.sender)}>, size=${contLength > 0 ? contLength : dataSize}, nrcpt=${rcptCount} (queue ${queueName})`);
  }
  const [dataSize = 0, dataOffset = 0] = env.size ?? [];
  const inContent = dataOffset > 0 && offset >= dataOffset && offset < dataOffset + dataSize;
  const i = path.lastIndexOf(`/${queueName}/`);
  const shown = i >= 0 ? path.slice(i + 1) : path;
  const wrongType = /^(?:unexpected record type (\d+)|input is not a valid queue file)/.exec(text);
  if (wrongType && !inContent) {
    const type = wrongType[1] !== undefined ? Number(wrongType[1]) : (buf[offset] ?? 0);
    msgWarn(`Unexpected record type '${String.fromCharCode(type)}' at offset ${offset}`);
  } else if (!inContent && !/^(?:unexpected EOF|too many length bits|illegal length|premature end of file|no message end record|empty file)/.test(text)) {
    msgWarn(`${queueId}: ${text}`);
  } else {
    if (!inContent && /^(?:unexpected EOF in data|too many length bits|illegal length)/.test(text)) msgWarn(`${shown}: ${text}`);
    msgWarn(`${queueId}: message rejected: missing end record`);
  }
  warnRcptCount(queueId, (env.size?.[2] ?? 0) - env.rcpts);
}

/** Postfix's sanity check of the size record's recipient count against the recipient records read. */
function warnRcptCount(queueId: string, unread: number): void {
  if (unread !== 0) msgWarn(`${queueId}: rcpt count mismatch (${unread})`);
}

/** The client attributes: log_client_* win over the legacy client_* ones, as Postfix. */
function clientAttr(qf: QueueFile, logName: string, legacy: string): string {
  return attrValue(qf, logName) ?? firstAttr(qf, legacy) ?? '';
}

/** Reads queue file `path` (in queue `queueName`); logs the opened line or the rejection warning. */
export function qmgrMessageRead(
  config: MailConfig | null,
  queueName: string,
  queueId: string,
  path: string,
  qflags: number,
  nowMs: number,
): MessageReadResult {
  const r = readQueueFile(path);
  if (!r.ok) {
    const text = r.error.message.startsWith(`${path}: `) ? r.error.message.slice(path.length + 2) : r.error.message;
    reportReject(config, queueName, queueId, path, r.error.offset, text);
    return { ok: false };
  }
  const qf = r.file;
  if (!qf.arrival || qf.arrival.sec === 0) {
    msgWarn(`${queueId}: message rejected: missing arrival time record`);
    return { ok: false };
  }
  if (qf.sender === undefined) {
    msgWarn(`${queueId}: message rejected: missing sender record`);
    return { ok: false };
  }
  if (!qf.size || qf.size.dataOffset <= 0) {
    msgWarn(`${queueId}: message rejected: missing size record`);
    return { ok: false };
  }
  if (qf.size.contentSize <= 0) {
    msgWarn(`${queueId}: invalid size record`);
    return { ok: false };
  }
  const sender = qf.sender;
  const contLength = qf.size.contentLength > 0 ? qf.size.contentLength : qf.size.contentSize;
  msgInfo(`${queueId}: from=<${logAddrForm(config, sender)}>, size=${contLength}, nrcpt=${qf.size.rcptCount} (queue ${queueName})`);
  warnRcptCount(queueId, qf.size.rcptCount - qf.recipients.length);

  const recipients: Recipient[] = [];
  let notifySuccess = false;
  for (const rc of qf.recipients) {
    if (rc.dsnNotify && rc.dsnNotify & DSN_NOTIFY.SUCCESS) notifySuccess = true;
    if (rc.done) continue;
    recipients.push({
      origAddress: rc.original ?? '',
      address: rc.address,
      offset: rc.offset,
      dsnOrcpt: rc.dsnOrcpt ?? '',
      dsnNotify: rc.dsnNotify && Number.isInteger(rc.dsnNotify) ? rc.dsnNotify : 0,
    });
  }

  const num = (s: string | undefined): number => (s !== undefined && /^\s*-?\d+\s*$/.test(s) ? Number(s) : 0);
  const warnText = qf.other.get('W');
  const retText = attrValue(qf, QUEUE_ATTR.DSN_RET) ?? qf.other.get('<');
  let dsnRet = num(retText);
  if (dsnRet !== 0 && (dsnRet & ~(DSN_RET.FULL | DSN_RET.HDRS)) !== 0) {
    msgWarn(`${queueId}: ignoring malformed DSN RET flags in queue file record:${retText}`);
    dsnRet = 0;
  }
  const createTime = qf.createTime && qf.createTime > 0 ? qf.createTime : qf.arrival.sec;
  const tflagsText = firstAttr(qf, QUEUE_ATTR.TRACE_FLAGS);
  const tflags = num(tflagsText) & DEL_REQ_TRACE_FLAGS_MASK;
  const message: QmgrMessage = {
    queueId,
    arrival: qf.arrival.sec * 1000 + Math.floor(qf.arrival.usec / 1000),
    queueName,
    path,
    qflags,
    flags: 0,
    arrivalSec: qf.arrival.sec,
    arrivalUsec: qf.arrival.usec,
    createTime,
    activeTime: nowMs,
    sender,
    dataOffset: qf.size.dataOffset,
    dataSize: qf.size.contentSize,
    contLength,
    rcptCount: qf.size.rcptCount,
    smtputf8: qf.size.smtputf8,
    encoding: attrValue(qf, MAIL_ATTR.ENCODING) ?? MAIL_ATTR.ENC_NONE,
    dsnEnvid: attrValue(qf, QUEUE_ATTR.DSN_ENVID) ?? qf.other.get('i') ?? '',
    dsnRet,
    clientName: clientAttr(qf, QUEUE_ATTR.LOG_CLIENT_NAME, QUEUE_ATTR.CLIENT_NAME),
    clientAddr: clientAttr(qf, QUEUE_ATTR.LOG_CLIENT_ADDR, QUEUE_ATTR.CLIENT_ADDR),
    clientPort: clientAttr(qf, QUEUE_ATTR.LOG_CLIENT_PORT, QUEUE_ATTR.CLIENT_PORT),
    clientProto: clientAttr(qf, QUEUE_ATTR.LOG_PROTO_NAME, QUEUE_ATTR.PROTO_NAME),
    clientHelo: clientAttr(qf, QUEUE_ATTR.LOG_HELO_NAME, QUEUE_ATTR.HELO_NAME),
    saslMethod: firstAttr(qf, QUEUE_ATTR.SASL_METHOD) ?? '',
    saslUsername: firstAttr(qf, QUEUE_ATTR.SASL_USERNAME) ?? '',
    saslSender: firstAttr(qf, QUEUE_ATTR.SASL_SENDER) ?? '',
    logIdent: firstAttr(qf, MAIL_ATTR.LOG_IDENT) ?? '',
    rewriteContext: firstAttr(qf, QUEUE_ATTR.RWR_CONTEXT) ?? MAIL_ATTR.RWR_LOCAL,
    tflags,
    tflagsOffset: tflags === DEL_REQ_FLAG.RECORD ? findAttrRecord(path, QUEUE_ATTR.TRACE_FLAGS) : 0,
    warnOffset: qf.warnOffset ?? 0,
    warnTime: num(warnText),
    filterXport: qf.other.get('L') ?? '',
    redirectAddr: qf.other.get('>') ?? '',
    inspectXport: qf.other.get('I') ?? '',
    verpDelims: qf.other.get('V') ?? '',
    notifySuccess,
    recipients,
  };
  return { ok: true, message };
}
