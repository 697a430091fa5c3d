/*
 * bounce_log - the per-message bounce, defer and trace logs (Postfix bounce_log.c, bounce_append_service.c format)
 *
 * What it does: formatBounceLogEntry() turns one recipient status into
 * the text Postfix's bounce(8) appends to queue_directory/<service>/<id>:
 * a blank line, optionally the old-style "<recipient>: reason" line
 * (backwards_bounce_logfile_compatibility), then "name=value" lines
 * (recipient, original_recipient when it differs, offset, dsn_orig_rcpt,
 * notify_flags, status, action, diag_type + diag_text, mta_type +
 * mta_mname, reason), then a blank line. parseBounceLog() reads such a
 * file back (old-style, new-style or mixed entries, as Postfix's
 * bounce_log_read() does, with its place holders for missing fields), and
 * readBounceLog() does so from a path. Postfix's own bounce daemon and
 * showq read what this writes, and this reads what they write.
 *
 * What it does not do: open, lock or fsync the log (the bounce daemon
 * does), or decide which service a status goes to.
 *
 * DIAGNOSTICS
 * parseBounceLog() never throws; malformed lines are skipped and reported
 * through the optional warn callback with Postfix's wording ("PATH:
 * malformed record: ...", "PATH: unknown attribute name: NAME, ignored").
 */
import { readFile } from 'node:fs/promises';
import { printable } from '../util/printable.js';
import { DSN_NOTIFY_OK, type Dsn } from './dsn.js';
import { MAIL_ATTR } from './mail_proto.js';
import { quote822Local } from './quote_822_local.js';
import type { Recipient } from './recipient_list.js';

/** Longest log file read back; a longer one is read up to here (a log is a best-effort report). */
export const BOUNCE_LOG_READ_LIMIT = 16 * 1024 * 1024;

/** One recipient's entry as read back. */
export interface BounceLogEntry {
  rcpt: Recipient;
  dsn: Dsn;
}

function nonEmpty(s: string | undefined): s is string {
  return s !== undefined && s !== '';
}

/**
 * The text appended for one recipient. oldCompat writes the old-style
 * "<rcpt>: reason" line first (backwards_bounce_logfile_compatibility).
 */
export function formatBounceLogEntry(rcpt: Recipient, dsn: Dsn, oldCompat: boolean): string {
  const lines: string[] = [''];
  const quoted = rcpt.address === '' ? '' : quote822Local(rcpt.address);
  if (oldCompat) lines.push(`<${quoted}>: ${dsn.reason}`);
  lines.push(`${MAIL_ATTR.RECIP}=${rcpt.address === '' ? '<>' : quoted}`);
  if (nonEmpty(rcpt.origAddress) && rcpt.origAddress.toLowerCase() !== rcpt.address.toLowerCase()) {
    lines.push(`${MAIL_ATTR.ORCPT}=${quote822Local(rcpt.origAddress)}`);
  }
  if (rcpt.offset > 0) lines.push(`${MAIL_ATTR.OFFSET}=${rcpt.offset}`);
  if (nonEmpty(rcpt.dsnOrcpt)) lines.push(`${MAIL_ATTR.DSN_ORCPT}=${rcpt.dsnOrcpt}`);
  if (rcpt.dsnNotify !== 0) lines.push(`${MAIL_ATTR.DSN_NOTIFY}=${rcpt.dsnNotify}`);
  if (nonEmpty(dsn.status)) lines.push(`${MAIL_ATTR.DSN_STATUS}=${dsn.status}`);
  if (nonEmpty(dsn.action)) lines.push(`${MAIL_ATTR.DSN_ACTION}=${dsn.action}`);
  if (nonEmpty(dsn.dtype) && nonEmpty(dsn.dtext)) {
    lines.push(`${MAIL_ATTR.DSN_DTYPE}=${dsn.dtype}`, `${MAIL_ATTR.DSN_DTEXT}=${dsn.dtext}`);
  }
  if (nonEmpty(dsn.mtype) && nonEmpty(dsn.mname)) {
    lines.push(`${MAIL_ATTR.DSN_MTYPE}=${dsn.mtype}`, `${MAIL_ATTR.DSN_MNAME}=${dsn.mname}`);
  }
  if (nonEmpty(dsn.reason)) lines.push(`${MAIL_ATTR.WHY}=${dsn.reason}`);
  return lines.join('\n') + '\n\n';
}

/** Postfix's default status/action for entries without them: per log kind. */
function compatDefaults(service: string): { status: string; action: string } {
  return service === 'defer' ? { status: '4.0.0', action: 'delayed' } : { status: '5.0.0', action: 'failed' };
}

function emptyEntry(): BounceLogEntry {
  return {
    rcpt: { origAddress: '', address: '', offset: -1, dsnOrcpt: '', dsnNotify: 0 },
    dsn: { status: '', action: '', reason: '', dtype: '', dtext: '', mtype: '', mname: '' },
  };
}

/** "name = value" split as Postfix split_nameval(). */
function splitNameval(line: string): { name: string; value: string } | null {
  const m = /^\s*([^\s=]+)\s*=\s*(.*?)\s*$/s.exec(line);
  return m ? { name: m[1]!, value: m[2]! } : null;
}

/**
 * Parses a log's text. service names the log kind ('bounce', 'defer',
 * 'trace') for the default status and action; path is used in warnings.
 */
export function parseBounceLog(text: string, service: string, path = service, warn?: (msg: string) => void): BounceLogEntry[] {
  const out: BounceLogEntry[] = [];
  const compat = compatDefaults(service);
  let cur: BounceLogEntry | null = null;
  const finish = (): void => {
    if (!cur) return;
    const e = cur;
    if (e.rcpt.address === '') e.rcpt.address = '(recipient address unavailable)';
    if (e.dsn.status === '') e.dsn.status = compat.status;
    if (e.dsn.action === '') e.dsn.action = compat.action;
    if (e.dsn.reason === '') e.dsn.reason = '(description unavailable)';
    out.push(e);
    cur = null;
  };
  const lines = text.split('\n');
  // A final line without its newline still counts; the empty string after the last newline does not.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const raw of lines) {
    if (raw === '') {
      finish();
      continue;
    }
    const line = printable(raw, true);
    if (!cur) cur = emptyEntry();
    const e: BounceLogEntry = cur;
    if (/^[A-Za-z0-9]/.test(line)) {
      const nv = splitNameval(line);
      if (!nv) {
        warn?.(`${path}: malformed record: missing '=' after attribute name`);
        continue;
      }
      const { name, value } = nv;
      switch (name) {
        case MAIL_ATTR.RECIP:
          e.rcpt.address = value || '(MAILER-DAEMON)';
          break;
        case MAIL_ATTR.ORCPT:
          e.rcpt.origAddress = value || '(MAILER-DAEMON)';
          break;
        case MAIL_ATTR.DSN_ORCPT:
          e.rcpt.dsnOrcpt = value;
          break;
        case MAIL_ATTR.DSN_NOTIFY: {
          const n = parseInt(value, 10);
          if (n > 0 && (n & ~DSN_NOTIFY_OK) === 0) e.rcpt.dsnNotify = n;
          break;
        }
        case MAIL_ATTR.OFFSET: {
          const n = parseInt(value, 10);
          if (n > 0) e.rcpt.offset = n;
          break;
        }
        case MAIL_ATTR.DSN_STATUS:
          e.dsn.status = value;
          break;
        case MAIL_ATTR.DSN_ACTION:
          e.dsn.action = value;
          break;
        case MAIL_ATTR.DSN_DTYPE:
          e.dsn.dtype = value;
          break;
        case MAIL_ATTR.DSN_DTEXT:
          e.dsn.dtext = value;
          break;
        case MAIL_ATTR.DSN_MTYPE:
          e.dsn.mtype = value;
          break;
        case MAIL_ATTR.DSN_MNAME:
          e.dsn.mname = value;
          break;
        case MAIL_ATTR.WHY:
          e.dsn.reason = value;
          break;
        default:
          warn?.(`${path}: unknown attribute name: ${name}, ignored`);
      }
      continue;
    }
    // Old style: "<recipient>: text".
    const end = line.indexOf('>: ');
    if (line[0] !== '<' || end < 0) {
      warn?.(`${path}: malformed record: ${line.slice(0, 30)}...`);
      continue;
    }
    const rcpt = line.slice(1, end);
    e.rcpt.address = rcpt || '(MAILER-DAEMON)';
    e.dsn.reason = line.slice(end + 2).replace(/^\s+/, '');
  }
  finish();
  return out;
}

/** Reads and parses a log file; null when it does not exist. Other errors are thrown. */
export async function readBounceLog(path: string, service: string, warn?: (msg: string) => void): Promise<BounceLogEntry[] | null> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (buf.length > BOUNCE_LOG_READ_LIMIT) buf = buf.subarray(0, BOUNCE_LOG_READ_LIMIT);
  return parseBounceLog(buf.toString('utf8'), service, path, warn);
}
