/*
 * postlogd - Postfix internal log server (postlogd(8))
 *
 * SYNOPSIS
 *     postlogd [generic daemon options]     (started by master(8) only)
 *
 * DESCRIPTION
 *     postlogd receives log records that are already formatted
 *     ("Mmm dd hh:mm:ss host tag[pid]: text") and appends each one, plus
 *     a newline, to maillog_file. The records are the datagrams that
 *     Postfix programs (the real postlog(1), postdrop, postqueue, every
 *     Postfix daemon) send to $queue_directory/public/$postlog_service_name
 *     when maillog_file is set; so a Postfix program pointed at a Postern
 *     queue directory logs through Postern.
 *
 *     It runs under master(8) from the master.cf entry
 *         postlog   unix-dgram n  -       n       -       1       postlogd
 *     master binds the datagram socket (Node cannot pass one to a worker)
 *     and hands each datagram to this daemon as one trigger
 *     (src/master/master_listen.ts); the daemon is a triggerServerMain
 *     service, so records are written one at a time, in arrival order.
 *     As Postfix's postlogd: the file is opened before the privilege
 *     drop, the daemon takes no command-line arguments, it never exits
 *     for max_use (it may for max_idle; master starts a new one for the
 *     next record), and with maillog_file empty (a record from a program
 *     that still has the old setting after a reload) the record is passed
 *     on to syslog with the date and host stripped.
 *
 *     Postern's own programs do NOT need postlogd: each appends to
 *     maillog_file itself with one O_APPEND write per record (see
 *     src/global/maillog_init.ts and src/util/logwriter.ts), which keeps
 *     records whole without a log server and keeps logging alive before
 *     master starts and after it stops.
 *
 *     There is no standalone mode: tests drive the same service in
 *     process through the skeleton's createMailServer (postlogdServer()),
 *     or run it under the real master (test/system/postlogd_master_test).
 *
 * What it does not do: bind a socket, rotate or compress the file, or
 * check who sent a record (the socket is world-writable, as in Postfix;
 * its directory decides who can reach it).
 *
 * CONFIGURATION PARAMETERS
 *     maillog_file, maillog_file_prefixes, maillog_file_permissions,
 *     syslog_name, syslog_facility.
 *
 * DIAGNOSTICS
 *     Fatal: a command-line argument, the log file cannot be opened or is
 *     outside maillog_file_prefixes. A failed write is a warning. Records
 *     longer than POSTLOGD_MAX_RECORD bytes are cut there.
 */
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { LogWriter } from '../util/logwriter.js';
import { syslogFacilityCode, syslogMsgSink, SYSLOG_PATH, type SyslogSink } from '../util/msg_syslog.js';
import { mailLogOptionsFromConfig, maillogFileAllowed } from '../global/maillog_init.js';
import { createMailServer, triggerServerMain, type MailServer, type TriggerServerOptions } from '../master/mail_server.js';
import type { MailConfig } from '../global/mail_conf.js';

/** A record is at most 2000 text bytes plus its prefix; anything longer is cut here. */
export const POSTLOGD_MAX_RECORD = 4096;
export const POSTLOGD_PROGRAM = 'postlogd';
const NEWLINE = 0x0a;

export interface PostlogSinkOptions {
  /** Where records go; empty: to syslog instead. */
  maillogFile: string;
  /** Mode of a new log file. */
  mode?: number;
  /** For records passed on to syslog. */
  syslogFacility?: string;
  syslogPath?: string;
  onWarning?: (text: string) => void;
}

/** Where postlogd puts records: maillog_file, or syslog when that is empty. */
export interface PostlogSink {
  /** Records received so far. */
  readonly received: number;
  record(msg: Buffer): void;
  close(): void;
}

/** Strips "Mmm dd hh:mm:ss host " and splits "tag[pid]: text", as Postfix's postlogd does. */
export function splitRecord(record: Buffer): { tag: string; text: Buffer } | null {
  const s = record.toString('latin1');
  const m = /^\S+\s+\S+\s+\S+\s+\S+\s+([^:\s]+):?\s*/.exec(s);
  if (!m) return null;
  return { tag: m[1]!, text: record.subarray(m[0].length) };
}

/** Opens maillog_file (when set); throws LogWriterError when it cannot. */
export function openPostlogSink(opts: PostlogSinkOptions): PostlogSink {
  const warn = opts.onWarning ?? ((t: string) => msgWarn(t));
  const writer = opts.maillogFile ? new LogWriter({ path: opts.maillogFile, mode: opts.mode, onWarning: warn }) : null;
  writer?.open();
  const syslogSinks = new Map<string, SyslogSink>();
  let received = 0;

  const toSyslog = (record: Buffer): void => {
    const parts = splitRecord(record);
    if (!parts) return;
    let sink = syslogSinks.get(parts.tag);
    if (!sink) {
      sink = syslogMsgSink({ tag: parts.tag, facility: syslogFacilityCode(opts.syslogFacility ?? 'mail'), path: opts.syslogPath ?? SYSLOG_PATH });
      syslogSinks.set(parts.tag, sink);
    }
    sink.writeRaw('info', parts.text);
  };

  return {
    get received() {
      return received;
    },
    record(msg: Buffer): void {
      received++;
      let record = msg.length > POSTLOGD_MAX_RECORD ? msg.subarray(0, POSTLOGD_MAX_RECORD) : msg;
      if (record.length > 0 && record[record.length - 1] === NEWLINE) record = record.subarray(0, -1);
      if (!writer) {
        toSyslog(record);
        return;
      }
      try {
        writer.write(record);
      } catch (err) {
        warn(err instanceof Error ? err.message : String(err));
      }
    },
    close(): void {
      writer?.close();
      for (const s of syslogSinks.values()) s.close();
    },
  };
}

/** Sink settings from main.cf (+ -o overrides); fatal when maillog_file is not allowed. */
export function postlogSinkOptions(config: MailConfig): PostlogSinkOptions {
  const o = mailLogOptionsFromConfig(config, POSTLOGD_PROGRAM);
  const maillogFile = o.maillogFile ?? '';
  if (maillogFile && !maillogFileAllowed(maillogFile, o.maillogFilePrefixes ?? [])) {
    msgFatal(`maillog_file value '${maillogFile}' does not match any prefix in maillog_file_prefixes`);
  }
  return { maillogFile, mode: o.maillogFileMode, syslogFacility: o.syslogFacility };
}

/**
 * The daemon as skeleton options: one trigger is one record. `extra`
 * overrides sink settings (a test's syslog socket path).
 */
export function postlogdServer(extra: Partial<PostlogSinkOptions> = {}): TriggerServerOptions & { readonly sink: PostlogSink | null } {
  let sink: PostlogSink | null = null;
  return {
    programName: POSTLOGD_PROGRAM,
    unlimitedUse: true,
    get sink() {
      return sink;
    },
    preInit(ctx) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
      try {
        sink = openPostlogSink({ ...postlogSinkOptions(ctx.config), ...extra });
      } catch (err) {
        msgFatal(err instanceof Error ? err.message : String(err));
      }
    },
    service(data) {
      sink?.record(data);
    },
    onExit() {
      sink?.close();
      sink = null;
    },
  };
}

/** postlogd in this process, without master (tests): feed records with server.trigger(). */
export function createPostlogd(config: MailConfig, extra: Partial<PostlogSinkOptions> = {}): { server: MailServer; options: ReturnType<typeof postlogdServer> } {
  const options = postlogdServer(extra);
  return { server: createMailServer('trigger', options, { config, serviceName: 'postlog', serviceType: 'unix-dgram' }), options };
}

export async function main(argv: string[]): Promise<number> {
  return triggerServerMain(argv, postlogdServer());
}

if (isMainModule(import.meta.url)) runMain(main);
