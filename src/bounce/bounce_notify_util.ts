/*
 * bounce_notify_util - compose an RFC 3464 delivery status notification (Postfix bounce_notify_util.c)
 *
 * What it does: bounceMailInit() gathers what a notification needs: the
 * per-message log entries (bounce/, defer/ or trace/), the original queue
 * file (sender, arrival time, content size, content records), the MIME
 * encoding, the boundary "<queue id>.<time>/<myhostname>" and the
 * template. The writers then produce Postfix's layout line by line into a
 * PostMail: bounceHeader() (template From/Subject/To, Auto-Submitted,
 * multipart/report; report-type=delivery-status, the text/plain part
 * header), bounceBoilerplate() (the expanded template text),
 * bounceDiagnosticLog() (one wrapped "<rcpt>: reason" paragraph per
 * reported recipient), bounceHeaderDsn() (message/delivery-status with
 * Reporting-MTA, Original-Envelope-Id, X-Postfix-Queue-ID,
 * X-Postfix-Sender, Arrival-Date), bounceDiagnosticDsn() (per recipient:
 * Final-Recipient, Original-Recipient, Action, Status, Remote-MTA,
 * Diagnostic-Code, Will-Retry-Until) and bounceOriginal() (message/rfc822
 * or text/rfc822-headers per RET and bounce_size_limit, with a
 * Return-Path: line, the original records copied raw). Long lines wrap at
 * 79 columns with 4 blanks of indent, as Postfix's line_wrap().
 *
 * What it does not do: decide who gets a notification (the *_service.ts
 * files) or talk to cleanup (bounce_post_mail.ts).
 *
 * DIAGNOSTICS
 * Best effort, as Postfix: a missing log or queue file gives the place
 * holders "--- Delivery report unavailable ---" and "--- Undelivered
 * message unavailable ---". An unreadable log (other than missing) is
 * thrown to the caller, who fails the request.
 */
import { msgWarn } from '../util/msg.js';
import { type BounceLogEntry, readBounceLog } from '../global/bounce_log.js';
import type { BounceTemplate } from '../global/bounce_template.js';
import { expandBounceTemplate } from '../global/bounce_template.js';
import { DSN_RET, type Dsn } from '../global/dsn.js';
import { isHeader } from '../global/is_header.js';
import { mailDate } from '../global/mail_date.js';
import { type QueueFile, readQueueFile } from '../global/queue_file_read.js';
import { quote822Local } from '../global/quote_822_local.js';
import { REC_TYPE } from '../global/rec_type.js';
import type { Recipient } from '../global/recipient_list.js';
import { type PostMail, SMTPUTF8_FLAG_REQUESTED } from './bounce_post_mail.js';
import { type BounceContext, MAIL_ADDR_MAIL_DAEMON, bouncePath } from './bounce_service.js';

/** line_wrap() geometry of Postfix's bounce_print_wrap(). */
export const WRAP_LENGTH = 79;
export const WRAP_INDENT = 4;

export interface BounceInfo {
  ctx: BounceContext;
  service: string;
  queueName: string;
  queueId: string;
  smtputf8: number;
  /** '8bit', '7bit' or null (no Content-Transfer-Encoding). */
  mimeEncoding: '8bit' | '7bit' | null;
  dsnEnvid: string;
  template: BounceTemplate;
  /** Quoted original sender ('' when the queue file had none). */
  sender: string;
  arrivalTime: number;
  messageSize: number;
  origMsgid: string;
  mailName: string;
  mimeBoundary: string;
  /** null: no log file (or a single-recipient notice). */
  log: BounceLogEntry[] | null;
  qf: QueueFile | null;
}

const allAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);
const isUtf8Address = (s: string): boolean => s !== '' && !allAscii(s);

/** Postfix line_wrap(): words stay whole, continuation lines indented. */
export function lineWrap(text: string, len: number, indent: number): string[] {
  const out: string[] = [];
  let curIndent = 0;
  let start = 0;
  let word = 0;
  const isBlank = (c: string | undefined): boolean => c === ' ' || c === '\t';
  const trimEnd = (s: string): string => s.replace(/[ \t\r\n\f\v]+$/, '');
  while (word >= 0) {
    let nextSpace = word;
    while (nextSpace < text.length && !isBlank(text[nextSpace])) nextSpace++;
    if (word > start && nextSpace - start > len - curIndent) {
      out.push(' '.repeat(curIndent) + trimEnd(text.slice(start, word)));
      while (word < text.length && /\s/.test(text[word]!)) word++;
      if (start === 0) curIndent = Math.min(curIndent + indent, len);
      start = word;
    }
    word = nextSpace < text.length ? nextSpace + 1 : -1;
  }
  out.push(' '.repeat(curIndent) + trimEnd(text.slice(start)));
  return out;
}

function wrap(pm: PostMail, text: string): void {
  for (const l of lineWrap(text, WRAP_LENGTH, WRAP_INDENT)) pm.line(l);
}

function findMessageId(qf: QueueFile): string {
  for (const rec of qf.content ?? []) {
    const t = rec.text.toString('latin1');
    if (t === '' || (!isHeader(t) && !/^[ \t]/.test(t))) break;
    const m = /^message-id[ \t]*:[ \t]*(.*?)[ \t]*$/i.exec(t);
    if (m) {
      if (m[1]!.startsWith('<') && m[1]!.endsWith('>')) return m[1]!;
      msgWarn(`${qf.path}: ignoring malformed Message-ID`);
      return '';
    }
  }
  return '';
}

function baseInfo(ctx: BounceContext, service: string, queueName: string, queueId: string, encoding: string, smtputf8: number, dsnEnvid: string, template: BounceTemplate, log: BounceLogEntry[] | null): BounceInfo {
  let mimeEncoding: BounceInfo['mimeEncoding'] = null;
  if (ctx.smtputf8Enable || encoding === '8bit') mimeEncoding = '8bit';
  else if (encoding === '7bit') mimeEncoding = '7bit';
  else if (encoding !== '') msgWarn(`${queueId}: unknown encoding: ${encoding.slice(0, 200)}`);
  let qf: QueueFile | null = null;
  try {
    const r = readQueueFile(bouncePath(ctx, queueName, queueId), { content: true });
    if (r.ok) qf = r.file;
    else if (!/ENOENT|no such file/i.test(r.error.message)) msgWarn(`${queueId}: ${r.error.message}`);
  } catch (err) {
    msgWarn(`${queueId}: read message file ${queueName} ${queueId}: ${(err as Error).message}`);
  }
  const sender = qf?.sender === undefined ? '' : quote822Local(qf.sender === '' ? `${MAIL_ADDR_MAIL_DAEMON}@${ctx.myhostname}` : qf.sender, 0);
  return {
    ctx,
    service,
    queueName,
    queueId,
    smtputf8,
    mimeEncoding,
    dsnEnvid,
    template,
    sender,
    arrivalTime: qf?.arrival?.sec ?? 0,
    messageSize: qf?.size?.contentSize ?? 0,
    origMsgid: ctx.threadedBounce && qf ? findMessageId(qf) : '',
    mailName: ctx.mailName.replace(/[ \t\r\n()<>@,;:\\".[\]]/g, '-'),
    mimeBoundary: `${queueId}.${ctx.now()}/${ctx.myhostname}`,
    log,
    qf,
  };
}

/** Notification state from a per-message log (Postfix bounce_mail_init). */
export async function bounceMailInit(ctx: BounceContext, service: string, queueName: string, queueId: string, encoding: string, smtputf8: number, dsnEnvid: string, template: BounceTemplate): Promise<BounceInfo> {
  const log = await readBounceLog(bouncePath(ctx, service, queueId), service, (m) => msgWarn(m));
  return baseInfo(ctx, service, queueName, queueId, encoding, smtputf8, dsnEnvid, template, log);
}

/** Notification state for one recipient without a log (Postfix bounce_mail_one_init). */
export function bounceMailOneInit(ctx: BounceContext, queueName: string, queueId: string, encoding: string, smtputf8: number, dsnEnvid: string, rcpt: Recipient, dsn: Dsn, template: BounceTemplate): BounceInfo {
  const r: Recipient = { ...rcpt };
  if (r.origAddress.toLowerCase() === r.address.toLowerCase()) r.origAddress = '';
  return baseInfo(ctx, 'none', queueName, queueId, encoding, smtputf8, dsnEnvid, template, [{ rcpt: r, dsn: { ...dsn } }]);
}

const notSevenBit = (info: BounceInfo): boolean => info.mimeEncoding !== null && info.mimeEncoding !== '7bit';

/** Message header and the first part's header (Postfix bounce_header). */
export function bounceHeader(pm: PostMail, info: BounceInfo, dest: string, postmasterCopy: boolean): void {
  const tp = info.template;
  pm.line(`From: ${tp.from}`);
  pm.line(`Subject: ${postmasterCopy && tp.postmasterSubject !== null ? tp.postmasterSubject : tp.subject}`);
  pm.line(`To: ${quote822Local(dest)}`);
  if (info.origMsgid !== '') {
    pm.line(`References: ${info.origMsgid}`);
    pm.line(`In-Reply-To: ${info.origMsgid}`);
  }
  pm.line(`Auto-Submitted: ${postmasterCopy ? 'auto-generated' : 'auto-replied'}`);
  pm.line('MIME-Version: 1.0');
  pm.line('Content-Type: multipart/report; report-type=delivery-status;');
  pm.line(`\tboundary="${info.mimeBoundary}"`);
  if (info.mimeEncoding) pm.line(`Content-Transfer-Encoding: ${info.mimeEncoding === '7bit' ? tp.encoding : info.mimeEncoding}`);
  pm.line('');
  pm.line('This is a MIME-encapsulated message.');
  pm.line('');
  pm.line(`--${info.mimeBoundary}`);
  pm.line('Content-Description: Notification');
  const charset = tp.charset.toLowerCase() !== 'us-ascii' ? tp.charset : notSevenBit(info) ? 'utf-8' : 'us-ascii';
  pm.line(`Content-Type: text/plain; charset=${charset}`);
  if (notSevenBit(info)) pm.line(`Content-Transfer-Encoding: ${info.mimeEncoding}`);
  pm.line('');
}

/** The template text (Postfix bounce_boilerplate). */
export function bounceBoilerplate(pm: PostMail, info: BounceInfo): void {
  for (const l of expandBounceTemplate(info.template, info.ctx.config)) pm.line(l);
}

/** One human-readable recipient paragraph (Postfix bounce_recipient_log). */
export function bounceRecipientLog(pm: PostMail, e: BounceLogEntry): void {
  pm.line('');
  if (e.rcpt.origAddress !== '') wrap(pm, `<${e.rcpt.address}> (expanded from <${e.rcpt.origAddress}>): ${e.dsn.reason}`);
  else wrap(pm, `<${e.rcpt.address}>: ${e.dsn.reason}`);
}

const selected = (e: BounceLogEntry, filter: number): boolean => e.rcpt.dsnNotify === 0 || (e.rcpt.dsnNotify & filter) !== 0;

/** Human-readable report; returns how many recipients it reported (Postfix bounce_diagnostic_log). */
export function bounceDiagnosticLog(pm: PostMail, info: BounceInfo, filter: number): number {
  if (info.log === null) {
    if (info.template.class !== 'failure') return 0;
    pm.line('');
    pm.line('\t--- Delivery report unavailable ---');
    return 1;
  }
  let count = 0;
  for (const e of info.log) {
    if (!selected(e, filter)) continue;
    count++;
    bounceRecipientLog(pm, e);
  }
  return count;
}

/** The delivery-status part header and per-message fields (Postfix bounce_header_dsn). */
export function bounceHeaderDsn(pm: PostMail, info: BounceInfo): void {
  const requested = (info.smtputf8 & SMTPUTF8_FLAG_REQUESTED) !== 0;
  pm.line('');
  pm.line(`--${info.mimeBoundary}`);
  pm.line('Content-Description: Delivery report');
  pm.line(`Content-Type: message/${requested ? 'global-' : ''}delivery-status`);
  if (notSevenBit(info) && requested) pm.line(`Content-Transfer-Encoding: ${info.mimeEncoding}`);
  pm.line('');
  pm.line(`Reporting-MTA: dns; ${info.ctx.myhostname}`);
  if (info.dsnEnvid !== '') pm.line(`Original-Envelope-Id: ${info.dsnEnvid}`);
  pm.line(`X-${info.mailName}-Queue-ID: ${info.queueId}`);
  if (info.sender !== '') pm.line(`X-${info.mailName}-Sender: ${info.smtputf8 && isUtf8Address(info.sender) ? 'utf-8' : 'rfc822'}; ${info.sender}`);
  if (info.arrivalTime > 0) pm.line(`Arrival-Date: ${mailDate(info.arrivalTime)}`);
}

/** Per-recipient fields (Postfix bounce_recipient_dsn). */
export function bounceRecipientDsn(pm: PostMail, info: BounceInfo, e: BounceLogEntry): void {
  const { rcpt, dsn } = e;
  const type = (a: string): string => (info.smtputf8 && isUtf8Address(a) ? 'utf-8' : 'rfc822');
  pm.line('');
  pm.line(`Final-Recipient: ${type(rcpt.address)}; ${rcpt.address}`);
  if (rcpt.dsnOrcpt !== '') pm.line(`Original-Recipient: ${rcpt.dsnOrcpt}`);
  else if (rcpt.origAddress !== '') pm.line(`Original-Recipient: ${type(rcpt.origAddress)}; ${rcpt.origAddress}`);
  pm.line(`Action: ${info.template.class === 'failure' ? 'failed' : dsn.action}`);
  pm.line(`Status: ${dsn.status}`);
  if (dsn.mtype !== '' && dsn.mname !== '') wrap(pm, `Remote-MTA: ${dsn.mtype}; ${dsn.mname}`);
  if (dsn.dtype !== '' && dsn.dtext !== '') wrap(pm, `Diagnostic-Code: ${dsn.dtype}; ${dsn.dtext}`);
  else wrap(pm, `Diagnostic-Code: X-${info.mailName}; ${dsn.reason}`);
  if (info.template.class === 'delay') pm.line(`Will-Retry-Until: ${mailDate(info.arrivalTime + info.ctx.maxQueueTime)}`);
}

/** Machine-readable report; returns how many recipients it reported (Postfix bounce_diagnostic_dsn). */
export function bounceDiagnosticDsn(pm: PostMail, info: BounceInfo, filter: number): number {
  if (info.log === null) return info.template.class === 'failure' ? 1 : 0;
  let count = 0;
  for (const e of info.log) {
    if (!selected(e, filter)) continue;
    count++;
    bounceRecipientDsn(pm, info, e);
  }
  return count;
}

/** The returned message or its headers, and the closing boundary (Postfix bounce_original). */
export async function bounceOriginal(pm: PostMail, info: BounceInfo, ret: number): Promise<void> {
  let headersOnly = ret === DSN_RET.HDRS;
  const limit = info.ctx.bounceLimit;
  if (limit > 0 && info.qf && (info.messageSize <= 0 || info.messageSize > limit)) headersOnly = true;
  const undelivered = info.template.class === 'failure' || info.template.class === 'delay';
  pm.line('');
  pm.line(`--${info.mimeBoundary}`);
  pm.line(`Content-Description: ${undelivered ? 'Undelivered ' : ''}${headersOnly ? 'Message Headers' : 'Message'}`);
  if (info.smtputf8 & SMTPUTF8_FLAG_REQUESTED) pm.line(`Content-Type: message/${headersOnly ? 'global-headers' : 'global'}`);
  else pm.line(`Content-Type: ${headersOnly ? 'text/rfc822-headers' : 'message/rfc822'}`);
  if (notSevenBit(info)) pm.line(`Content-Transfer-Encoding: ${info.mimeEncoding}`);
  pm.line('');
  const content = info.qf?.content;
  if (!info.qf || !content || info.qf.contentOffset <= 0) {
    pm.line('\t--- Undelivered message unavailable ---');
    return;
  }
  pm.line(`Return-Path: <${info.sender}>`);
  for (const rec of content) {
    const first = rec.text[0];
    if (headersOnly && !(first === 0x20 || first === 0x09 || isHeader(rec.text) > 0)) break;
    pm.record(rec.continued ? REC_TYPE.CONT : REC_TYPE.NORM, rec.text);
    await pm.flushSome();
  }
  pm.line('');
  pm.line(`--${info.mimeBoundary}--`);
}
