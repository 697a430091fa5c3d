/*
 * msg_logger - format Postfix log records for a log file, and the
 * msg(3) sink that appends them to maillog_file (Postfix msg_logger(3))
 *
 * What it does: formatLogRecord() builds one record exactly as Postfix
 * 3.7 writes it to maillog_file (checked against the real postlog(1)):
 *
 *     Nov 28 18:21:12 vm postfix/postlog[4697]: warning: text
 *
 * - the time stamp is strftime "%b %d %H:%M:%S" in local time (C locale
 *   month names, zero-padded day: "Nov 01"), unlike syslog(3)'s "%e";
 * - the host is the first label of myhostname;
 * - the tag is used as given (syslog_name/service, or postlog -t);
 * - severity words: none for info, then "warning: ", "error: ",
 *   "fatal: ", "panic: ";
 * - the text is cut at a NUL byte (a C string in Postfix), masked with
 *   printable() and capped at MSG_LOGGER_RECLEN bytes; the prefix does not
 *   count towards the cap. No newline: the writer adds it.
 *
 * logfileMsgSink() is a msg.ts sink that writes those records through a
 * LogWriter (src/util/logwriter.ts), one write(2) per record. When the file
 * cannot be opened it warns once on stderr, sends the records to stderr
 * in the meantime, and tries again at the next record.
 *
 * What it does not do: decide whether to log to a file or syslog
 * (src/global/maillog_init.ts), check maillog_file_prefixes, or talk to a
 * postlogd(8) socket: every Postern process appends to the file itself
 * (see src/util/logwriter.ts for why lines cannot interleave).
 *
 * DIAGNOSTICS
 * Open and write failures are reported on stderr as
 * "tag: warning: open logfile 'path': reason", never thrown.
 */
import { hostname as osHostname } from 'node:os';
import type { MsgSink, Severity } from './msg.js';
import { severityPrefix } from './msg.js';
import { printableBytes } from './printable.js';
import { LogWriter, LogWriterError } from './logwriter.js';

/** Postfix's safety cap on the text of one record (MSG_LOGGER_RECLEN). */
export const MSG_LOGGER_RECLEN = 2000;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;

function pad2(n: number, fill: string): string {
  return n < 10 ? `${fill}${n}` : String(n);
}

/** "%b %d %H:%M:%S" (dayPad '0') or syslog(3)'s "%b %e %H:%M:%S" (dayPad ' '), local time. */
export function logTimestamp(date: Date, dayPad: '0' | ' ' = '0'): string {
  return (
    `${MONTHS[date.getMonth()]} ${pad2(date.getDate(), dayPad)} ` +
    `${pad2(date.getHours(), '0')}:${pad2(date.getMinutes(), '0')}:${pad2(date.getSeconds(), '0')}`
  );
}

/** The first DNS label of a host name, as Postfix puts it in a record. */
export function firstLabel(host: string): string {
  const dot = host.indexOf('.');
  return dot < 0 ? host : host.slice(0, dot);
}

/**
 * Text as bytes: cut at NUL, masked, capped. Shared by the file and syslog
 * sinks. Postfix masks the whole text and then cuts, so a UTF-8 character
 * straddling the cap leaves its first bytes unmasked; whether a byte is
 * masked depends only on the bytes before it and the one after it, so
 * masking cap + 1 bytes gives the same first cap bytes.
 */
export function recordText(text: string | Buffer, utf8: boolean, cap = MSG_LOGGER_RECLEN): Buffer {
  let bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
  const nul = bytes.indexOf(0);
  if (nul >= 0) bytes = bytes.subarray(0, nul);
  if (bytes.length > cap + 1) bytes = bytes.subarray(0, cap + 1);
  return printableBytes(bytes, utf8).subarray(0, cap);
}

export interface LogRecordFields {
  date: Date;
  /** Host name; only its first label is used. */
  hostname: string;
  /** "postfix/smtpd", or whatever postlog -t gave. */
  tag: string;
  pid: number;
  severity: Severity;
  text: string | Buffer;
  /** Let UTF-8 through the mask (smtputf8_enable). */
  utf8: boolean;
}

/** One maillog_file record, without the trailing newline. */
export function formatLogRecord(f: LogRecordFields): Buffer {
  const head = `${logTimestamp(f.date)} ${firstLabel(f.hostname)} ${f.tag}[${f.pid}]: ${severityPrefix(f.severity)}`;
  return Buffer.concat([Buffer.from(head, 'utf8'), recordText(f.text, f.utf8)]);
}

export interface LogfileSinkOptions {
  path: string;
  tag: string;
  hostname?: string;
  utf8?: boolean;
  /** File mode for a new file (before umask); default 0o644 as Postfix 3.7. */
  mode?: number;
  /** Injected clock, for tests. */
  now?: () => Date;
  /** Where complaints and records that could not be written go; default process.stderr. */
  complain?: (line: string) => void;
  /**
   * Called instead of the warn-and-use-stderr fallback when the file
   * cannot be opened (postlog makes that fatal, as Postfix does).
   */
  onOpenError?: (err: LogWriterError) => void;
}

/** A msg.ts sink with a raw-bytes entry point for postlog(1) and a close(). */
export interface LogfileSink extends MsgSink {
  writeRaw(severity: Severity, text: string | Buffer, tag?: string): void;
  close(): void;
  readonly writer: LogWriter;
}

export function logfileMsgSink(opts: LogfileSinkOptions): LogfileSink {
  const hostname = opts.hostname ?? osHostname();
  const utf8 = opts.utf8 ?? false;
  const now = opts.now ?? (() => new Date());
  const complain = opts.complain ?? ((line: string) => process.stderr.write(`${line}\n`));
  const warn = (text: string): void => complain(`${opts.tag}: warning: ${text}`);
  const writer = new LogWriter({ path: opts.path, mode: opts.mode, onWarning: warn });
  let broken = false;

  function writeRaw(severity: Severity, text: string | Buffer, tag?: string): void {
    const record = formatLogRecord({ date: now(), hostname, tag: tag ?? opts.tag, pid: process.pid, severity, text, utf8 });
    try {
      writer.write(record);
      broken = false;
    } catch (err) {
      if (opts.onOpenError && err instanceof LogWriterError) {
        opts.onOpenError(err);
        return;
      }
      if (!broken) {
        warn(err instanceof LogWriterError ? err.message : String(err));
        broken = true;
      }
      // Never lose a record silently: it goes to stderr while the file is unusable.
      complain(record.toString('utf8'));
    }
  }

  return {
    writer,
    write: (severity, text, tag) => writeRaw(severity, text, tag),
    writeRaw,
    flushSync: () => writer.flushSync(),
    close: () => writer.close(),
  };
}
