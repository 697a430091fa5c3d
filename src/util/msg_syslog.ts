/*
 * msg_syslog - send diagnostics to the syslog daemon, in the datagram
 * format the C library's syslog(3) uses (Postfix msg_syslog(3))
 *
 * What it does: syslogMsgSink() is a msg.ts sink that sends each record
 * as one datagram to /dev/log (or a path given for tests):
 *
 *     <22>Nov 28 18:22:13 postfix/postlog[6409]: warning: text
 *
 * "<PRI>" is facility * 8 + level (info 6, warning 4, error 3, fatal and
 * panic 2 = LOG_CRIT, as Postfix maps them), the time stamp is glibc's
 * "%b %e %H:%M:%S" (day padded with a space), then "tag[pid]: " (Postfix
 * opens syslog with LOG_PID), the severity word and the text, cut at NUL,
 * masked with printable() and capped at MSG_SYSLOG_RECLEN bytes like
 * Postfix. No host name and no newline, as glibc sends them. Checked
 * against the real postlog(1) sending to a datagram socket.
 *
 * The socket is connected on first use and closed once the current turn
 * of the event loop is over, so logging never keeps a process alive. If
 * the daemon is congested, records wait in a bounded queue until the
 * socket is writable again (at most SYSLOG_DRAIN_TIMEOUT_MS); records
 * dropped for lack of room or time are counted and reported on stderr.
 * When nothing listens on the path the record is dropped, as syslog(3)
 * does without LOG_CONS.
 *
 * What it does not do: talk to remote syslog servers, or write a file
 * (msg_logger.ts does maillog_file).
 *
 * DIAGNOSTICS
 * syslogFacilityCode() returns undefined for an unknown name; the caller
 * makes that fatal like Postfix ("parameter syslog_facility: unrecognized
 * value"). Dropped records are reported on stderr, and so is (once) a
 * missing unix-dgram add-on. A /dev/log that is a stream socket is not
 * supported: records are dropped (glibc would fall back to SOCK_STREAM).
 */
import type { MsgSink, Severity } from './msg.js';
import { severityPrefix } from './msg.js';
import { logTimestamp, recordText } from './msg_logger.js';
import { createDgramSocket, type DgramSocket } from './unix_dgram.js';

/** The local syslog socket. */
export const SYSLOG_PATH = '/dev/log';
/** Postfix's cap on the text of one syslog record (MSG_SYSLOG_RECLEN). */
export const MSG_SYSLOG_RECLEN = 2000;
/** Most bytes held while the syslog daemon is congested. */
export const SYSLOG_MAX_PENDING_BYTES = 1 << 20;
/** How long held records may wait for a congested syslog daemon. */
export const SYSLOG_DRAIN_TIMEOUT_MS = 10_000;
const FLUSH_NAP_MS = 10;

/** Facility names Postfix accepts on Linux (LOG_SECURITY does not exist there). */
export const SYSLOG_FACILITY = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;

/** syslog(3) levels for Postfix severities. */
export const SYSLOG_LEVEL: Readonly<Record<Severity, number>> = {
  info: 6, // LOG_INFO
  warning: 4, // LOG_WARNING
  error: 3, // LOG_ERR
  fatal: 2, // LOG_CRIT
  panic: 2, // LOG_CRIT
};

/** The facility number for a name such as "mail" or "local3"; undefined if unknown. */
export function syslogFacilityCode(name: string): number | undefined {
  return Object.hasOwn(SYSLOG_FACILITY, name) ? SYSLOG_FACILITY[name as keyof typeof SYSLOG_FACILITY] : undefined;
}

export interface SyslogRecordFields {
  date: Date;
  facility: number;
  severity: Severity;
  tag: string;
  pid: number;
  text: string | Buffer;
  utf8: boolean;
}

/** One datagram as glibc's syslog(3) would send it for Postfix. */
export function formatSyslogDatagram(f: SyslogRecordFields): Buffer {
  const pri = f.facility * 8 + SYSLOG_LEVEL[f.severity];
  const head = `<${pri}>${logTimestamp(f.date, ' ')} ${f.tag}[${f.pid}]: ${severityPrefix(f.severity)}`;
  return Buffer.concat([Buffer.from(head, 'utf8'), recordText(f.text, f.utf8, MSG_SYSLOG_RECLEN)]);
}

export interface SyslogSinkOptions {
  tag: string;
  /** Facility name or number; default mail. */
  facility?: string | number;
  /** Socket path; default /dev/log. Tests pass their own. */
  path?: string;
  utf8?: boolean;
  now?: () => Date;
  complain?: (line: string) => void;
}

export interface SyslogSink extends MsgSink {
  writeRaw(severity: Severity, text: string | Buffer, tag?: string): void;
  close(): void;
  /** Records waiting for a congested daemon. */
  readonly pendingCount: number;
}

export function syslogMsgSink(opts: SyslogSinkOptions): SyslogSink {
  const path = opts.path ?? SYSLOG_PATH;
  const facility =
    typeof opts.facility === 'number' ? opts.facility : syslogFacilityCode(opts.facility ?? 'mail') ?? SYSLOG_FACILITY.mail;
  const utf8 = opts.utf8 ?? false;
  const now = opts.now ?? (() => new Date());
  const complain = opts.complain ?? ((line: string) => process.stderr.write(`${line}\n`));

  let sock: DgramSocket | null = null;
  let closeScheduled = false;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let dropped = 0;
  let drainTimer: NodeJS.Timeout | null = null;

  function reportDropped(): void {
    if (dropped > 0) {
      complain(`${opts.tag}: warning: syslog ${path}: discarded ${dropped} record(s): the syslog daemon did not accept them`);
      dropped = 0;
    }
  }

  function closeSocket(): void {
    if (drainTimer) {
      clearTimeout(drainTimer);
      drainTimer = null;
    }
    if (sock) {
      try {
        sock.close();
      } catch {
        // Already closed.
      }
      sock = null;
    }
  }

  let noAddon = false;

  function connect(): DgramSocket | null {
    if (sock) return sock;
    if (noAddon) return null;
    let failed = false;
    let s: DgramSocket;
    try {
      s = createDgramSocket();
    } catch (err) {
      // The native add-on is missing or broken: say so once, then drop records as syslog(3) would.
      noAddon = true;
      complain(`${opts.tag}: warning: syslog ${path}: no UNIX datagram sockets: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
    s.on('error', () => {
      failed = true;
    });
    s.on('writable', onWritable);
    s.connect(path);
    if (failed) {
      s.close();
      return null;
    }
    sock = s;
    return s;
  }

  /** 'sent', 'busy' (congested: keep it), or 'gone' (nobody listens: drop it). */
  function sendOne(dgram: Buffer): 'sent' | 'busy' | 'gone' {
    for (let attempt = 0; attempt < 2; attempt++) {
      const s = connect();
      if (!s) return 'gone';
      let outcome = 'sent' as 'sent' | 'busy' | 'retry';
      s.send(dgram, (err) => {
        if (!err) outcome = 'sent';
        else if (err.message === 'congestion') outcome = 'busy';
        else outcome = 'retry';
      });
      if (outcome !== 'retry') return outcome;
      closeSocket(); // the daemon went away: reconnect once, as syslog(3) does
    }
    return 'gone';
  }

  function scheduleClose(): void {
    if (closeScheduled) return;
    closeScheduled = true;
    setImmediate(() => {
      closeScheduled = false;
      if (pending.length === 0) closeSocket();
    });
  }

  function hold(dgram: Buffer): void {
    if (pendingBytes + dgram.length > SYSLOG_MAX_PENDING_BYTES) {
      dropped++;
      return;
    }
    pending.push(dgram);
    pendingBytes += dgram.length;
    if (!drainTimer) {
      drainTimer = setTimeout(() => {
        drainTimer = null;
        dropped += pending.length;
        pending = [];
        pendingBytes = 0;
        reportDropped();
        closeSocket();
      }, SYSLOG_DRAIN_TIMEOUT_MS);
      drainTimer.unref();
    }
  }

  function drain(): void {
    while (pending.length > 0) {
      const r = sendOne(pending[0]!);
      if (r === 'busy') return;
      const d = pending.shift()!;
      pendingBytes -= d.length;
      if (r === 'gone') dropped++;
    }
    if (drainTimer) {
      clearTimeout(drainTimer);
      drainTimer = null;
    }
    reportDropped();
    scheduleClose();
  }

  function onWritable(): void {
    drain();
  }

  function writeRaw(severity: Severity, text: string | Buffer, tag?: string): void {
    const dgram = formatSyslogDatagram({ date: now(), facility, severity, tag: tag ?? opts.tag, pid: process.pid, text, utf8 });
    if (pending.length > 0) {
      hold(dgram);
      return;
    }
    const r = sendOne(dgram);
    if (r === 'busy') hold(dgram);
    scheduleClose();
  }

  function flushSync(): void {
    const deadline = Date.now() + SYSLOG_DRAIN_TIMEOUT_MS / 5;
    const nap = new Int32Array(new SharedArrayBuffer(4));
    while (pending.length > 0 && Date.now() < deadline) {
      const r = sendOne(pending[0]!);
      if (r === 'busy') {
        Atomics.wait(nap, 0, 0, FLUSH_NAP_MS);
        continue;
      }
      const d = pending.shift()!;
      pendingBytes -= d.length;
      if (r === 'gone') dropped++;
    }
    dropped += pending.length;
    pending = [];
    pendingBytes = 0;
    reportDropped();
  }

  return {
    write: (severity, text, tag) => writeRaw(severity, text, tag),
    writeRaw,
    flushSync,
    close() {
      flushSync();
      closeSocket();
    },
    get pendingCount() {
      return pending.length;
    },
  };
}
