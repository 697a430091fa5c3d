/*
 * postlogd - Postfix internal log server (postlogd(8))
 *
 * SYNOPSIS
 *     postlogd [-c config_dir] [-v]
 *
 * DESCRIPTION
 *     postlogd receives log records that are already formatted
 *     ("Mmm dd hh:mm:ss host tag[pid]: text") as datagrams on the UNIX
 *     datagram socket $queue_directory/public/$postlog_service_name, and
 *     appends each one, plus a newline, to maillog_file. This is the
 *     socket that Postfix programs (the real postlog(1), postdrop,
 *     postqueue, every Postfix daemon) use when maillog_file is set; so a
 *     Postfix program pointed at a Postern queue directory logs through
 *     Postern.
 *
 *     Postern's own programs do NOT need postlogd: each appends to
 *     maillog_file itself with one O_APPEND write per record (see
 *     src/global/maillog_init.ts and src/util/logwriter.ts), which keeps
 *     records whole without a log server and keeps logging alive before
 *     master starts and after it stops. postlogd exists for Postfix
 *     clients and for master.cf compatibility ("postlog unix-dgram ...
 *     postlogd").
 *
 *     With maillog_file empty, records are passed on to syslog with the
 *     date and host stripped, as Postfix's postlogd does after a
 *     configuration change.
 *
 *     Standalone, postlogd binds the socket itself (Node cannot receive a
 *     datagram socket from master) and runs until SIGTERM or SIGINT.
 *
 * What it does not do: rotate or compress the file, or check who sent a
 * record (the socket is world-writable, as in Postfix; its directory
 * decides who can reach it).
 *
 * CONFIGURATION PARAMETERS
 *     maillog_file, maillog_file_prefixes, queue_directory,
 *     postlog_service_name, syslog_name, syslog_facility.
 *
 * DIAGNOSTICS
 *     Fatal: the log file cannot be opened, the socket cannot be bound.
 *     Records longer than POSTLOGD_MAX_RECORD bytes are cut there.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgInfo, msgSetVerbose, msgVerbose } from '../util/msg.js';
import { LogWriter, LogWriterError } from '../util/logwriter.js';
import { syslogFacilityCode, syslogMsgSink, SYSLOG_PATH, type SyslogSink } from '../util/msg_syslog.js';
import { createDgramSocket, type DgramSocket } from '../util/unix_dgram.js';
import { strerror } from '../util/strerror.js';
import { loadMailConfig, CONF_ENV_PATH } from '../global/mail_conf.js';
import { initMailLogFromConfig, maillogFileAllowed } from '../global/maillog_init.js';

/** A record is at most 2000 text bytes plus its prefix; anything longer is cut here. */
export const POSTLOGD_MAX_RECORD = 4096;
/** Mode of the socket: anyone who can reach the public directory may log. */
const POSTLOG_SOCKET_MODE = 0o666;
const PUBLIC_DIR = 'public';

export interface PostlogdOptions {
  socketPath: string;
  /** Where records go; empty: to syslog instead. */
  maillogFile: string;
  /** Mode of a new log file. */
  mode?: number;
  /** For records passed on to syslog. */
  syslogFacility?: string;
  syslogPath?: string;
  onWarning?: (text: string) => void;
}

export interface Postlogd {
  readonly socketPath: string;
  /** Records received so far. */
  readonly received: number;
  close(): void;
}

/** Strips "Mmm dd hh:mm:ss host " and splits "tag[pid]: text", as Postfix's postlogd does. */
export function splitRecord(record: Buffer): { tag: string; text: Buffer } | null {
  const s = record.toString('latin1');
  const m = /^\S+\s+\S+\s+\S+\s+\S+\s+([^:\s]+):?\s*/.exec(s);
  if (!m) return null;
  return { tag: m[1]!, text: record.subarray(m[0].length) };
}

function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Nothing there.
  }
}

/** Binds the socket and starts appending records; throws LogWriterError or Error. */
export function startPostlogd(opts: PostlogdOptions): Postlogd {
  const writer = opts.maillogFile ? new LogWriter({ path: opts.maillogFile, mode: opts.mode, onWarning: opts.onWarning }) : null;
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

  const onRecord = (msg: Buffer): void => {
    received++;
    let record = msg.length > POSTLOGD_MAX_RECORD ? msg.subarray(0, POSTLOGD_MAX_RECORD) : msg;
    if (record.length > 0 && record[record.length - 1] === 0x0a) record = record.subarray(0, -1);
    if (!writer) {
      toSyslog(record);
      return;
    }
    try {
      writer.write(record);
    } catch (err) {
      (opts.onWarning ?? ((t: string) => process.stderr.write(`postlogd: warning: ${t}\n`)))(
        err instanceof Error ? err.message : String(err),
      );
    }
  };

  removeStaleSocket(opts.socketPath);
  const sock: DgramSocket = createDgramSocket(onRecord);
  let bindError: Error | null = null;
  sock.on('error', (err: Error) => {
    bindError = err;
  });
  sock.bind(opts.socketPath);
  if (bindError) {
    sock.close();
    writer?.close();
    throw new Error(`bind ${opts.socketPath}: ${strerror(bindError)}`);
  }
  chmodSync(opts.socketPath, POSTLOG_SOCKET_MODE);

  return {
    socketPath: opts.socketPath,
    get received() {
      return received;
    },
    close() {
      sock.close();
      removeStaleSocket(opts.socketPath);
      writer?.close();
      for (const s of syslogSinks.values()) s.close();
    },
  };
}

export async function main(argv: string[]): Promise<number> {
  let verbose = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-c' && i + 1 < argv.length) process.env[CONF_ENV_PATH] = argv[++i]!;
    else if (a === '-v') verbose++;
    else msgFatal(`usage: postlogd [-c config_dir] [-v]`);
  }
  msgSetVerbose(verbose);
  const config = loadMailConfig({ configDir: process.env[CONF_ENV_PATH] });
  initMailLogFromConfig(config, 'postlogd', { stderrIfTty: false });
  const maillogFile = config.get('maillog_file');
  const prefixes = config.getList('maillog_file_prefixes');
  if (maillogFile && !maillogFileAllowed(maillogFile, prefixes)) {
    msgFatal(`maillog_file value '${maillogFile}' does not match any prefix in maillog_file_prefixes`);
  }
  const socketPath = join(config.get('queue_directory'), PUBLIC_DIR, config.get('postlog_service_name'));
  let server: Postlogd;
  try {
    server = startPostlogd({ socketPath, maillogFile, syslogFacility: config.get('syslog_facility') });
  } catch (err) {
    return msgFatal(err instanceof LogWriterError || err instanceof Error ? err.message : String(err));
  }
  msgVerbose(`listening on ${socketPath}`);
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  server.close();
  if (verbose) msgInfo(`exiting after ${server.received} records`);
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
