/*
 * postlog - Postfix-compatible logging utility (postlog(1))
 *
 * SYNOPSIS
 *     postlog [-iv] [-c config_dir] [-p priority] [-t tag] [text...]
 *
 * DESCRIPTION
 *     postlog logs the text given on the command line as one record. With
 *     no text it reads standard input and logs each line as one record
 *     (lines end at "\n"; a last line without one is logged too; a line
 *     longer than the record cap is cut, the rest discarded unread into
 *     memory). Records go to maillog_file when main.cf sets it, else to
 *     syslog; when stderr is a terminal they are also shown there.
 *
 *     -c config_dir   read main.cf from config_dir (sets MAIL_CONFIG)
 *     -i              ignored (the pid is always logged since Postfix 3.4)
 *     -p priority     info (default), warn, warning, error, err, fatal,
 *                     crit or panic, any case. After fatal or panic it
 *                     pauses one second, like other Postfix programs.
 *     -t tag          the tag instead of "$syslog_name/postlog"
 *     -v              more verbose logging
 *
 *     Options end at the first non-option ("postlog hello -p warn" logs
 *     "hello -p warn"), as Postfix's getopt on Linux does.
 *
 * What it does not do: send to a postlogd(8) service; it appends to
 * maillog_file itself, as the real postlog does when Postfix is down.
 * The record bytes are the same either way.
 *
 * CONFIGURATION PARAMETERS
 *     config_directory, syslog_facility, syslog_name, maillog_file,
 *     maillog_file_prefixes, myhostname, smtputf8_enable.
 *
 * DIAGNOSTICS
 *     Fatal (exit 1, on stderr): bad option or severity, maillog_file
 *     outside maillog_file_prefixes, a log file that cannot be opened
 *     ("open logfile '...': cannot create file exclusively: ...").
 *     Exit 0 otherwise, also after logging at fatal or panic level.
 *
 * SEE ALSO
 *     postlogd(8), syslogd(8), src/global/maillog_init.ts
 */
import { basename } from 'node:path';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgInit, msgSetVerbose, type Severity } from '../util/msg.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { MSG_LOGGER_RECLEN } from '../util/msg_logger.js';
import { loadMailConfig, CONF_ENV_PATH } from '../global/mail_conf.js';
import { initMailLogHandle, mailLogOptionsFromConfig, type MailLogHandle } from '../global/maillog_init.js';

const PROGRAM = 'postlog';
/** getopt(3) option string: -c, -p and -t take an argument. */
const OPTSTRING = 'c:ip:t:v';
const USAGE = `usage: ${PROGRAM} [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]`;
/** Pause after a fatal or panic record, as Postfix's msg(3) does. */
const FATAL_PAUSE_MS = 1000;
/**
 * Bytes kept of one stdin line: the record cap plus the one byte that
 * decides whether a UTF-8 lead byte at the cap is masked; the rest cannot
 * reach the log.
 */
const STDIN_LINE_KEEP = MSG_LOGGER_RECLEN + 1;

const LEVELS: Readonly<Record<string, Severity>> = {
  info: 'info',
  warn: 'warning',
  warning: 'warning',
  error: 'error',
  err: 'error',
  fatal: 'fatal',
  crit: 'fatal',
  panic: 'panic',
};

interface Options {
  level: Severity;
  tag?: string;
  verbose: number;
  text: string[];
}

function levelMap(name: string): Severity {
  const level = LEVELS[name.toLowerCase()];
  if (!level) msgFatal(`bad severity: "${name}"`);
  return level;
}

/** Options by POSIX getopt (util/getopt.ts) for "c:ip:t:v"; -i is accepted and ignored. */
function parseArgs(argv: string[]): Options {
  const opts: Options = { level: 'info', verbose: 0, text: [] };
  const first = getopt(
    argv,
    OPTSTRING,
    (ch, value) => {
      if (ch === 'v') opts.verbose++;
      else if (ch === 'c') process.env[CONF_ENV_PATH] = value;
      else if (ch === 'p') opts.level = levelMap(value!);
      else if (ch === 't') opts.tag = value;
    },
    (kind, ch) => {
      process.stderr.write(`${PROGRAM}: ${getoptMessage(kind, ch)}\n`);
      msgFatal(USAGE);
    },
  );
  opts.text = argv.slice(first);
  return opts;
}

/** Logs each stdin line as one record; bounded memory per line. */
function logStream(log: MailLogHandle, level: Severity): Promise<void> {
  return new Promise((resolve, reject) => {
    let kept: Buffer[] = [];
    let keptBytes = 0;
    let open = false; // a line has started
    const flushLine = (): void => {
      log.writeRaw(level, Buffer.concat(kept, keptBytes));
      kept = [];
      keptBytes = 0;
      open = false;
    };
    const take = (part: Buffer): void => {
      open = true;
      const room = STDIN_LINE_KEEP - keptBytes;
      if (room <= 0 || part.length === 0) return;
      const piece = part.length > room ? part.subarray(0, room) : part;
      kept.push(Buffer.from(piece));
      keptBytes += piece.length;
    };
    process.stdin.on('data', (chunk: Buffer) => {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        take(chunk.subarray(start, nl));
        flushLine();
        start = nl + 1;
      }
      if (start < chunk.length) take(chunk.subarray(start));
    });
    process.stdin.on('end', () => {
      if (open) flushLine();
      resolve();
    });
    process.stdin.on('error', reject);
  });
}

export async function main(argv: string[]): Promise<number> {
  msgInit(`postfix/${PROGRAM}`);
  const opts = parseArgs(argv);
  msgSetVerbose(opts.verbose);
  const config = loadMailConfig({ configDir: process.env[CONF_ENV_PATH] });
  const service = basename(PROGRAM);
  const log = initMailLogHandle({
    ...mailLogOptionsFromConfig(config, service),
    tag: opts.tag,
    openFailure: 'fatal',
  });
  if (opts.text.length > 0) {
    log.writeRaw(opts.level, opts.text.join(' '));
  } else {
    await logStream(log, opts.level);
  }
  log.close();
  if (opts.level === 'fatal' || opts.level === 'panic') {
    await new Promise((r) => setTimeout(r, FATAL_PAUSE_MS));
  }
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
