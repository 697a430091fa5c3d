/*
 * maillog_init - choose where a Postern program logs: maillog_file or
 * syslog (Postfix maillog_client(3), without the postlogd hop)
 *
 * What it does: initMailLog() names the program for msg.ts
 * ("postfix/smtpd") and installs the sinks, replacing (and closing) the
 * ones an earlier call installed:
 * - maillog_file set: records in Postfix's file format are appended to
 *   it (src/util/msg_logger.ts). Like Postfix, the name must start with
 *   one of maillog_file_prefixes, else the program stops with
 *   "fatal: maillog_file value '...' does not match any prefix in
 *   maillog_file_prefixes". If the file cannot be opened the program
 *   warns on stderr and keeps its records on stderr until it can (or,
 *   with openFailure 'fatal', stops like Postfix's postlog does).
 * - otherwise: syslog datagrams to /dev/log with syslog_facility
 *   (src/util/msg_syslog.ts), unless useSyslog is false.
 * - when stderr is a terminal, also "tag: text" on stderr, as Postfix
 *   commands do.
 * initMailLogFromConfig() reads those settings from main.cf: syslog_name
 * (whose default gives the "postfix/" prefix that pflogsumm and fail2ban
 * match), maillog_file, maillog_file_prefixes, maillog_file_permissions
 * (a Postfix 3.9 parameter; when unset new files get 0644 as in 3.7),
 * syslog_facility, myhostname and smtputf8_enable (lets UTF-8 through
 * the non-printable mask, as Postfix's util_utf8_enable).
 *
 * Every process appends to maillog_file itself instead of sending to a
 * postlogd(8) service: one O_APPEND write per record keeps concurrent
 * writers from interleaving (see src/util/logwriter.ts), and logging
 * keeps working before master runs and after it stops. The records are
 * byte for byte what postlogd would write. (src/postlogd/ serves the
 * postlog socket for Postfix's own programs.)
 *
 * What it does not do: rotate or compress log files ("postfix
 * logrotate"), or proxy records for other processes.
 *
 * DIAGNOSTICS
 * Fatal: maillog_file outside maillog_file_prefixes; an unknown
 * syslog_facility ("file DIR/main.cf: parameter syslog_facility:
 * unrecognized value: X"); a bad maillog_file_permissions. Warning: the
 * log file cannot be opened (unless openFailure is 'fatal').
 */
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { MailConfig } from './mail_conf.js';
import { msgFatal, msgInit, msgSetSinks, stderrMsgSink, type MsgSink, type Severity } from '../util/msg.js';
import { logfileMsgSink, type LogfileSink } from '../util/msg_logger.js';
import { syslogFacilityCode, syslogMsgSink, SYSLOG_PATH, type SyslogSink } from '../util/msg_syslog.js';
import { LogWriterError } from '../util/logwriter.js';

export interface MailLogOptions {
  syslogName: string;
  service: string;
  maillogFile?: string;
  syslogFacility?: string;
  useSyslog?: boolean;
  /** The whole tag instead of syslogName/service (postlog -t). */
  tag?: string;
  /** Host name in file records (first label used); default os.hostname(). */
  hostname?: string;
  /** maillog_file must start with one of these; not checked when absent. */
  maillogFilePrefixes?: string[];
  /** Mode of a new maillog_file; default 0644. */
  maillogFileMode?: number;
  /** Allow UTF-8 in records (smtputf8_enable). */
  utf8?: boolean;
  /** What an unopenable maillog_file does: warn and use stderr (default), or fatal. */
  openFailure?: 'warn' | 'fatal';
  /** Also log to stderr when it is a terminal; default true. */
  stderrIfTty?: boolean;
  /** Syslog socket path (tests); default /dev/log. */
  syslogPath?: string;
}

/** The sinks initMailLog installed, for programs that write raw bytes (postlog). */
export interface MailLogHandle {
  readonly tag: string;
  readonly sinks: readonly MsgSink[];
  /** Writes bytes as one record to every sink, bypassing string decoding. */
  writeRaw(severity: Severity, text: string | Buffer): void;
  close(): void;
}

let current: MailLogHandle | null = null;

/** The handle of the last initMailLog call, or null. */
export function currentMailLog(): MailLogHandle | null {
  return current;
}

/** True when `file` starts with one of the prefixes (Postfix compares plain strings). */
export function maillogFileAllowed(file: string, prefixes: string[]): boolean {
  return prefixes.some((p) => p !== '' && file.startsWith(p));
}

export function initMailLog(opts: MailLogOptions): void {
  initMailLogHandle(opts);
}

/** initMailLog, returning what it installed. */
export function initMailLogHandle(opts: MailLogOptions): MailLogHandle {
  const tag = opts.tag ?? `${opts.syslogName}/${opts.service}`;
  msgInit(tag);
  if (current) {
    current.close();
    current = null;
    msgSetSinks([]);
  }
  const utf8 = opts.utf8 ?? false;
  const sinks: Array<MsgSink & { writeRaw?(s: Severity, t: string | Buffer): void; close?(): void }> = [];
  const file = opts.maillogFile ?? '';

  if (file !== '') {
    if (opts.maillogFilePrefixes && !maillogFileAllowed(file, opts.maillogFilePrefixes)) {
      msgFatal(`maillog_file value '${file}' does not match any prefix in maillog_file_prefixes`);
    }
    const sink: LogfileSink = logfileMsgSink({
      path: file,
      tag,
      hostname: opts.hostname ?? osHostname(),
      utf8,
      mode: opts.maillogFileMode,
      onOpenError: opts.openFailure === 'fatal' ? openFatal : undefined,
    });
    if (opts.openFailure !== 'fatal') {
      // Open now so that a problem shows at start-up. On failure the sink
      // warns on stderr and keeps records there until the file opens.
      try {
        sink.writer.open();
      } catch {
        // Reported by the sink at the first record.
      }
    }
    // With 'fatal', the file is opened by the first record, as Postfix's
    // postlog does: no record, no file.
    sinks.push(sink);
  } else if (opts.useSyslog !== false) {
    const facility = opts.syslogFacility ?? 'mail';
    const code = syslogFacilityCode(facility);
    if (code === undefined) msgFatal(`unrecognized syslog facility: ${facility}`);
    const sink: SyslogSink = syslogMsgSink({ tag, facility: code, path: opts.syslogPath ?? SYSLOG_PATH, utf8 });
    sinks.push(sink);
  }
  if (opts.stderrIfTty !== false && process.stderr.isTTY) sinks.push(stderrMsgSink());

  const handle: MailLogHandle = {
    tag,
    sinks,
    writeRaw(severity, text) {
      for (const s of sinks) {
        try {
          if (s.writeRaw) s.writeRaw(severity, text);
          else s.write(severity, typeof text === 'string' ? text : text.toString('utf8'));
        } catch {
          // A broken sink must not take the program down with it.
        }
      }
    },
    close() {
      for (const s of sinks) s.close?.();
    },
  };
  current = handle;
  msgSetSinks(sinks);
  return handle;
}

/** Like Postfix's logwriter: an unusable log file ends the program. */
function openFatal(err: LogWriterError): never {
  msgSetSinks([]); // the fatal text goes to stderr, not back into the broken file
  return msgFatal(err.message);
}

/** The parts of MailConfig this module reads. */
type LogConfig = Pick<MailConfig, 'configDir' | 'get' | 'getBool'>;

/** Octal mode from maillog_file_permissions; undefined when unset. */
function maillogMode(config: LogConfig): number | undefined {
  const v = config.get('maillog_file_permissions').trim();
  if (v === '') return undefined;
  if (!/^0?[0-7]{3}$/.test(v)) msgFatal(`invalid maillog_file_permissions value: '${v}'`);
  return parseInt(v, 8);
}

function smtputf8(config: LogConfig): boolean {
  const v = config.get('smtputf8_enable').trim().toLowerCase();
  return v === 'yes';
}

/** Settings for initMailLog from main.cf, for a service name ("smtpd", "postlog"). */
export function mailLogOptionsFromConfig(config: LogConfig, service: string): MailLogOptions {
  const facility = config.get('syslog_facility');
  if (syslogFacilityCode(facility) === undefined) {
    msgFatal(`file ${join(config.configDir, 'main.cf')}: parameter syslog_facility: unrecognized value: ${facility}`);
  }
  return {
    syslogName: config.get('syslog_name'),
    service,
    maillogFile: config.get('maillog_file'),
    maillogFilePrefixes: config
      .get('maillog_file_prefixes')
      .split(/[\s,]+/)
      .filter((p) => p !== ''),
    maillogFileMode: maillogMode(config),
    syslogFacility: facility,
    hostname: config.get('myhostname') || osHostname(),
    utf8: smtputf8(config),
  };
}

/**
 * initMailLog with settings from main.cf. `extra` overrides single
 * options; daemons pass { stderrIfTty: false } so that a master started
 * from a terminal does not echo every worker's records there.
 */
export function initMailLogFromConfig(config: MailConfig, service: string, extra: Partial<MailLogOptions> = {}): void {
  initMailLog({ ...mailLogOptionsFromConfig(config, service), ...extra });
}
