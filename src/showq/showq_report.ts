/*
 * showq_report - one queue file as showq(8) reports it (Postfix showq.c showq_report, showq_reasons)
 *
 * What it does: showqReport() reads a queue file record by record, the
 * way Postfix's showq does, and returns the bytes of its part of the
 * mail_queue_list_protocol stream: when the sender record is seen, one
 * attribute list without terminator (queue_name, queue_id, time, size,
 * forced_expire, sender), then the recipients of the defer logfile with
 * their reasons, then every remaining 'R' recipient (those already listed
 * from the defer logfile are skipped through a duplicate filter of at most
 * duplicate_filter_limit entries) with an empty reason, and the list
 * terminator. Addresses are quoted as RFC 822 local parts and made
 * printable ('?' for what is not, UTF-8 kept when smtputf8_enable).
 * Content is skipped by seeking over the size record's content length.
 * readDeferLog() parses a defer logfile (Postfix bounce_log_read: new
 * "name=value" entries and old "<rcpt>: text" ones, blank-line separated).
 *
 * What it does not do: open the file's directory or decide whether a file
 * may be opened (showq.ts does), or format the listing (postqueue does).
 *
 * DIAGNOSTICS
 * Returns the warnings Postfix logs: malformed size record, duplicate or
 * missing sender, record read errors, malformed defer log entries.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { REC_TYPE } from '../global/rec_type.js';
import { RecordFile } from '../global/record.js';
import { quote822Local } from '../global/quote_822_local.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { MAIL_QUEUE, MAIL_QUEUE_STAT } from '../global/mail_queue.js';
import { encodeAttr0, formatInt, formatLong } from '../util/attr0.js';
import { printableBytes } from '../util/printable.js';

/** Largest defer logfile read (a bound on a damaged or hostile file). */
export const SHOWQ_DEFER_LOG_MAX = 64 * 1024 * 1024;
/** Largest single record accepted from a queue file. */
export const SHOWQ_RECORD_MAX = 16 * 1024 * 1024;

export interface ShowqSettings {
  /** empty_address_recipient */
  emptyAddr: string;
  /** duplicate_filter_limit (0: no limit) */
  dupFilterLimit: number;
  /** smtputf8_enable: printable() keeps UTF-8. */
  utf8: boolean;
}

export interface DeferLogEntry {
  recipient: string;
  reason: string;
}

/** Postfix printable() on a byte string, returned as text. */
function printableText(bytes: Buffer, utf8: boolean): string {
  return printableBytes(Buffer.from(bytes), utf8).toString('utf8');
}

/** quote_822_local() then printable(), on the raw bytes of an address. */
export function printableQuotedAddr(raw: Buffer, settings: ShowqSettings): string {
  const text = raw.length === 0 ? Buffer.from(settings.emptyAddr, 'utf8') : raw;
  const quoted = quote822Local(text.toString('latin1'));
  return printableText(Buffer.from(quoted, 'latin1'), settings.utf8);
}

/** Parses a defer (or bounce) logfile like Postfix bounce_log_read(). */
export function readDeferLog(data: Buffer, path: string, utf8: boolean, warnings: string[]): DeferLogEntry[] {
  const out: DeferLogEntry[] = [];
  const lines = data.toString('latin1').split('\n');
  // The final element after the last newline is not a complete line unless non-empty (vstring_get_nonl).
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let found = false;
  let recipient = '';
  let reason = '';
  const finish = (): void => {
    out.push({ recipient: recipient || '(recipient address unavailable)', reason: reason || '(description unavailable)' });
    found = false;
    recipient = '';
    reason = '';
  };
  for (const rawLine of lines) {
    if (rawLine === '') {
      if (found) finish();
      continue;
    }
    const cp = printableText(Buffer.from(rawLine, 'latin1'), utf8);
    found = true;
    if (/^[A-Za-z0-9]/.test(cp)) {
      const m = /^\s*([^\s=]+)\s*=\s*(.*?)\s*$/s.exec(cp);
      if (!m) {
        warnings.push(`${path}: malformed record: missing '='`);
        continue;
      }
      const [, name, value] = m as unknown as [string, string, string];
      if (name === MAIL_ATTR.RECIP) recipient = value || '(MAILER-DAEMON)';
      else if (name === MAIL_ATTR.WHY) reason = value;
      else if (!KNOWN_LOG_ATTRS.has(name)) warnings.push(`${path}: unknown attribute name: ${name}, ignored`);
      continue;
    }
    if (cp[0] !== '<') {
      warnings.push(`${path}: malformed record: ${cp.slice(0, 30)}...`);
      continue;
    }
    const end = cp.indexOf('>: ', 1);
    if (end < 0) {
      warnings.push(`${path}: malformed record: ${cp.slice(1, 31)}...`);
      continue;
    }
    recipient = cp.slice(1, end) || '(MAILER-DAEMON)';
    reason = cp.slice(end + 2).replace(/^\s+/, '');
  }
  return out;
}

const KNOWN_LOG_ATTRS = new Set<string>([
  MAIL_ATTR.ORCPT,
  MAIL_ATTR.DSN_ORCPT,
  MAIL_ATTR.DSN_NOTIFY,
  MAIL_ATTR.OFFSET,
  MAIL_ATTR.DSN_STATUS,
  MAIL_ATTR.DSN_ACTION,
  MAIL_ATTR.DSN_DTYPE,
  MAIL_ATTR.DSN_DTEXT,
  MAIL_ATTR.DSN_MTYPE,
  MAIL_ATTR.DSN_MNAME,
]);

export interface ShowqFileInfo {
  queueName: string;
  queueId: string;
  path: string;
  size: number;
  mtimeSec: number;
  mode: number;
  /** Path of the defer logfile for this queue id. */
  deferLogPath: string;
}

/** The protocol bytes for one queue file, plus the warnings to log. */
export function showqReport(info: ShowqFileInfo, settings: ShowqSettings): { bytes: Buffer; warnings: string[] } {
  const warnings: string[] = [];
  const parts: Buffer[] = [];
  let fd: number;
  try {
    fd = openSync(info.path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') warnings.push(`open ${info.queueName} ${info.queueId}: ${(err as Error).message}`);
    return { bytes: Buffer.alloc(0), warnings };
  }
  const rf = new RecordFile(fd, info.path, SHOWQ_RECORD_MAX);
  let arrival = 0;
  let msgSize = info.size;
  let msgSizeOk = false;
  let senderSeen = 0;
  let lastQuoted = '';
  let dupFilter: Set<string> | null = null;
  const id = info.queueId;
  try {
    for (;;) {
      const r = rf.get();
      if (r.kind === 'eof') break;
      if (r.kind === 'error') {
        warnings.push(`${info.path}: ${r.message ?? 'record read error'}`);
        break;
      }
      const data = r.data;
      switch (r.type) {
        case REC_TYPE.TIME:
          if (arrival === 0) arrival = atol(data.toString('latin1'));
          break;
        case REC_TYPE.SIZE:
          if (!msgSizeOk) {
            const text = data.toString('latin1');
            msgSizeOk = /^[0-9 ]*$/.test(text) && (msgSize = atol(text)) >= 0;
            if (!msgSizeOk) {
              warnings.push(`${id}: malformed size record: ${printableText(data.subarray(0, 100), false)} -- using file size instead`);
              msgSize = info.size;
            }
          }
          break;
        case REC_TYPE.FROM: {
          lastQuoted = printableQuotedAddr(data, settings);
          if (senderSeen++ > 0) {
            warnings.push(`${id}: duplicate sender address: ${lastQuoted} -- skipping remainder of this file`);
            return finish();
          }
          parts.push(
            encodeAttr0(
              [
                { name: MAIL_ATTR.QUEUE, value: info.queueName },
                { name: MAIL_ATTR.QUEUEID, value: id },
                { name: MAIL_ATTR.TIME, value: formatLong(arrival > 0 ? arrival : info.mtimeSec) },
                { name: MAIL_ATTR.SIZE, value: formatLong(msgSize) },
                { name: MAIL_ATTR.FORCED_EXPIRE, value: formatInt((info.mode & MAIL_QUEUE_STAT.EXPIRE) !== 0 ? 1 : 0) },
                { name: MAIL_ATTR.SENDER, value: lastQuoted },
              ],
              { more: true },
            ),
          );
          dupFilter = deferReasons(info, settings, parts, warnings);
          break;
        }
        case REC_TYPE.RCPT: {
          if (senderSeen === 0) {
            warnings.push(`${id}: missing sender address: ${lastQuoted} -- skipping remainder of this file`);
            return finish();
          }
          lastQuoted = printableQuotedAddr(data, settings);
          if (dupFilter === null || !dupFilter.has(lastQuoted)) {
            parts.push(encodeAttr0([{ name: MAIL_ATTR.RECIP, value: lastQuoted }, { name: MAIL_ATTR.WHY, value: '' }], { more: true }));
          }
          break;
        }
        case REC_TYPE.MESG:
          if (msgSizeOk) rf.seek(rf.tell() + msgSize);
          break;
        default:
          break;
      }
    }
    return finish();
  } finally {
    closeSync(fd);
  }

  function finish(): { bytes: Buffer; warnings: string[] } {
    if (senderSeen > 0) parts.push(encodeAttr0([]));
    return { bytes: Buffer.concat(parts), warnings };
  }
}

/** The defer logfile's recipients and reasons; the duplicate filter, or null without a logfile. */
function deferReasons(info: ShowqFileInfo, settings: ShowqSettings, parts: Buffer[], warnings: string[]): Set<string> | null {
  let data: Buffer;
  try {
    data = readFileSync(info.deferLogPath);
  } catch {
    return null;
  }
  if (data.length > SHOWQ_DEFER_LOG_MAX) data = data.subarray(0, SHOWQ_DEFER_LOG_MAX);
  const filter = new Set<string>();
  for (const e of readDeferLog(data, `${MAIL_QUEUE.DEFER}/${info.queueId}`, settings.utf8, warnings)) {
    if (settings.dupFilterLimit === 0 || filter.size < settings.dupFilterLimit) filter.add(e.recipient);
    parts.push(encodeAttr0([{ name: MAIL_ATTR.RECIP, value: e.recipient }, { name: MAIL_ATTR.WHY, value: e.reason }], { more: true }));
  }
  return filter;
}

/** C atol(): leading white space, optional sign, digits; 0 when none. */
function atol(text: string): number {
  const m = /^\s*([+-]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}
