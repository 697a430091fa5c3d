/*
 * sendmail_opts - the command line of sendmail(1), mailq and newaliases (Postfix sendmail.c)
 *
 * What it does: parseSendmailArgs() walks the arguments the way Postfix's
 * sendmail does: getopt over "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx"
 * in POSIX mode (scanning stops at the first recipient or "--"), plus the
 * special cases getopt cannot do: a bare "-q", the old "-V xy" and
 * "-Vxy" VERP forms (rewritten to -XV with a warning, keeping Postfix's
 * quirk that "-V xy" leaves "xy" as an argument), and "-XV". The mode
 * comes from the program name (mailq, newaliases, smtpd) and -b/-I/-q.
 * Option values are checked as Postfix does (-B, -N, -R, -V, -X, -q).
 * preScanConfigDir() finds -C before main.cf is read.
 *
 * What it does not do: act on the options (sendmail.ts) or read input.
 *
 * DIAGNOSTICS
 * Usage problems come back as { fatal, status } with Postfix's text and
 * sysexits status ("-B option needs 8BITMIME or 7BIT", 64); warnings
 * ("bad -N option value -- ignored") are logged here.
 */
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { DSN_NOTIFY, DSN_RET } from '../global/dsn.js';
import { msgInfo, msgVerboseLevel, msgWarn } from '../util/msg.js';

/** sysexits.h values sendmail exits with. */
export const EX = {
  OK: 0,
  USAGE: 64,
  DATAERR: 65,
  NOINPUT: 66,
  UNAVAILABLE: 69,
  SOFTWARE: 70,
  OSERR: 71,
  TEMPFAIL: 75,
  NOPERM: 77,
  CONFIG: 78,
} as const;

export const SM_MODE = {
  ENQUEUE: 1,
  NEWALIAS: 2,
  MAILQ: 3,
  DAEMON: 4,
  USER: 5,
  FLUSHQ: 6,
  IGNORE: 7,
} as const;

export { DEL_REQ_FLAG, DSN_NOTIFY, DSN_RET };
/** Longest -V envelope id (Postfix: "too long -V option value"). */
export const DSN_ENVID_MAX = 100;

export const SENDMAIL_OPTSTRING = 'A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx';

export interface SendmailArgs {
  mode: number;
  /** Archaic EOF: a line with "." ends input (cleared by -i / -oi). */
  aeof: boolean;
  extract: boolean;
  traceFlags: number;
  verbose: number;
  sender: string | null;
  fullName: string | null;
  encoding: string | null;
  rewriteContext: 'local' | 'remote';
  dsnNotify: number;
  dsnRet: number;
  dsnEnvid: string | null;
  verpDelims: string | null;
  /** -XV without characters: use default_verp_delimiters. */
  verpDefault: boolean;
  siteToFlush: string | null;
  idToFlush: string | null;
  qtime: string | null;
  aliasDbMap: string | null;
  configDir: string | null;
  recipients: string[];
}

export type ParseResult = { ok: true; args: SendmailArgs } | { ok: false; fatal: string; status: number };

const NOTIFY_NAMES: Record<string, number> = {
  never: DSN_NOTIFY.NEVER,
  success: DSN_NOTIFY.SUCCESS,
  failure: DSN_NOTIFY.FAILURE,
  delay: DSN_NOTIFY.DELAY,
};

/** Postfix dsn_notify_mask(): 0 for a bad list (warning logged for unknown words). */
export function dsnNotifyMask(text: string): number {
  let mask = 0;
  for (const word of text.split(/[\s,]+/).filter(Boolean)) {
    const bit = NOTIFY_NAMES[word.toLowerCase()];
    if (bit === undefined) {
      msgWarn(`unknown DSN NOTIFY command value "${word}" in "${text}"`);
      return 0;
    }
    mask |= bit;
  }
  if (mask & DSN_NOTIFY.NEVER && mask & ~DSN_NOTIFY.NEVER) return 0;
  return mask;
}

/** Postfix dsn_ret_code(): FULL/HDRS, case-insensitive; 0 when unknown. */
export function dsnRetCode(text: string): number {
  const t = text.toLowerCase();
  return t === 'full' ? DSN_RET.FULL : t === 'hdrs' ? DSN_RET.HDRS : 0;
}

/** Postfix allprint(): every byte printable ASCII (space included). */
export function allPrint(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

/** The -C value: the directory, or the parent when it names main.cf. */
export function configDirFromC(value: string): string {
  const trimmed = value.replace(/\/+$/, '');
  const slash = trimmed.lastIndexOf('/');
  const base = slash >= 0 ? trimmed.slice(slash + 1) : trimmed;
  if (base !== 'main.cf') return value;
  if (slash < 0) return '.';
  return slash === 0 ? '/' : trimmed.slice(0, slash);
}

/** Scans for -C before main.cf is read (Postfix's pre-scan). */
export function preScanConfigDir(argv: readonly string[]): string | null {
  let found: string | null = null;
  walk(
    argv,
    (ch, optarg) => {
      if (ch === 'C' && optarg !== undefined) found = configDirFromC(optarg);
      return null;
    },
    [...argv],
    false,
  );
  return found;
}

type OptionHandler = (ch: string, optarg: string | undefined, word: string) => { fatal: string; status: number } | null;

/**
 * The scanning loop with Postfix's special cases; returns the index of
 * the first recipient or a fatal usage result.
 */
function walk(argv: readonly string[], onOption: OptionHandler, words: string[], special = true): { index: number } | { fatal: string; status: number } {
  void argv;
  let i = 0;
  while (i < words.length) {
    const word = words[i]!;
    if (word === '-q') {
      const r = onOption('q-bare', undefined, word);
      if (r) return r;
      i++;
      continue;
    }
    if (!special) {
      /* the pre-scan only looks for -C */
    } else if (word === '-V' && words[i + 1] !== undefined && words[i + 1]!.length === 2) {
      msgWarn('option -V is deprecated with Postfix 2.3; specify -XV instead');
      words[i] = '-XV';
    } else if (word.startsWith('-V') && word.length === 4) {
      msgWarn(`option ${word} is deprecated with Postfix 2.3; specify -X${word.slice(1)} instead`);
      words[i] = `-X${word.slice(1)}`;
    }
    if (special && words[i] === '-XV') {
      const r = onOption('XV', undefined, words[i]!);
      if (r) return r;
      i++;
      continue;
    }
    const cur = words[i]!;
    if (cur === '--') return { index: i + 1 };
    if (cur.length < 2 || cur[0] !== '-') return { index: i };
    let next = i + 1;
    for (let j = 1; j < cur.length; j++) {
      const ch = cur[j]!;
      const at = SENDMAIL_OPTSTRING.indexOf(ch);
      if (at < 0 || ch === ':') {
        if (special) process.stderr.write(`sendmail: invalid option -- '${ch}'\n`);
        const r = onOption('?', undefined, cur);
        if (r) return r;
        continue;
      }
      if (SENDMAIL_OPTSTRING[at + 1] !== ':') {
        const r = onOption(ch, undefined, cur);
        if (r) return r;
        continue;
      }
      let optarg: string | undefined;
      if (j + 1 < cur.length) optarg = cur.slice(j + 1);
      else if (next < words.length) optarg = words[next++];
      if (optarg === undefined) {
        if (special) process.stderr.write(`sendmail: option requires an argument -- '${ch}'\n`);
        const r = onOption('?', undefined, cur);
        if (r) return r;
      } else {
        const r = onOption(ch, optarg, cur);
        if (r) return r;
      }
      break;
    }
    i = next;
  }
  return { index: i };
}

/** Mode from the program name, as Postfix's sendmail (mailq, newaliases, smtpd). */
export function modeFromName(progName: string): number {
  if (progName === 'mailq') return SM_MODE.MAILQ;
  if (progName === 'newaliases') return SM_MODE.NEWALIAS;
  if (progName === 'smtpd') return SM_MODE.DAEMON;
  return SM_MODE.ENQUEUE;
}

export function parseSendmailArgs(argv: readonly string[], progName = 'sendmail'): ParseResult {
  const a: SendmailArgs = {
    mode: modeFromName(progName),
    aeof: true,
    extract: false,
    traceFlags: 0,
    verbose: 0,
    sender: null,
    fullName: null,
    encoding: null,
    rewriteContext: 'local',
    dsnNotify: 0,
    dsnRet: 0,
    dsnEnvid: null,
    verpDelims: null,
    verpDefault: false,
    siteToFlush: null,
    idToFlush: null,
    qtime: null,
    aliasDbMap: null,
    configDir: null,
    recipients: [],
  };
  const usage = (text: string): { fatal: string; status: number } => ({ fatal: text, status: EX.USAGE });
  const words = [...argv];
  const r = walk(
    argv,
    (ch, optarg) => {
      const v = optarg ?? '';
      switch (ch) {
        case 'q-bare':
          if (a.mode === SM_MODE.DAEMON) msgWarn('ignoring -q option in daemon mode');
          else a.mode = SM_MODE.FLUSHQ;
          return null;
        case 'XV':
          a.verpDefault = true;
          a.verpDelims = null;
          return null;
        case '?':
          return usage(`usage: ${progName} [options]`);
        case 'n':
          return usage(`-${ch} option not supported`);
        case 'B':
          if (v === '8BITMIME') a.encoding = '8bit';
          else if (v === '7BIT') a.encoding = '7bit';
          else return usage('-B option needs 8BITMIME or 7BIT');
          return null;
        case 'C':
          a.configDir = configDirFromC(v);
          return null;
        case 'F':
          a.fullName = v;
          return null;
        case 'G':
          a.rewriteContext = 'remote';
          return null;
        case 'I':
          a.mode = SM_MODE.NEWALIAS;
          return null;
        case 'N':
          if ((a.dsnNotify = dsnNotifyMask(v)) === 0) msgWarn('bad -N option value -- ignored');
          return null;
        case 'R':
          if ((a.dsnRet = dsnRetCode(v)) === 0) msgWarn('bad -R option value -- ignored');
          return null;
        case 'V':
          if (v.length > DSN_ENVID_MAX) msgWarn('too long -V option value -- ignored');
          else if (!allPrint(v)) msgWarn('bad syntax in -V option value -- ignored');
          else a.dsnEnvid = v;
          return null;
        case 'X':
          if (v[0] !== 'V') return usage(`unsupported: -${ch}${v[0] ?? ''}`);
          a.verpDefault = false;
          a.verpDelims = v.slice(1);
          return null;
        case 'b':
          switch (v[0]) {
            case 'd':
              if (a.mode === SM_MODE.FLUSHQ) msgWarn('ignoring -q option in daemon mode');
              a.mode = SM_MODE.DAEMON;
              return null;
            case 'h':
            case 'H':
              a.mode = SM_MODE.IGNORE;
              return null;
            case 'i':
              a.mode = SM_MODE.NEWALIAS;
              return null;
            case 'm':
              a.mode = SM_MODE.ENQUEUE;
              return null;
            case 'p':
              a.mode = SM_MODE.MAILQ;
              return null;
            case 's':
              a.mode = SM_MODE.USER;
              return null;
            case 'v':
              a.traceFlags |= DEL_REQ_FLAG.USR_VRFY;
              return null;
            default:
              return usage(`unsupported: -${ch}${v[0] ?? ''}`);
          }
        case 'f':
        case 'r':
          a.sender = v;
          return null;
        case 'i':
          a.aeof = false;
          return null;
        case 'o':
          if (v[0] === 'A') {
            if (v.length === 1) return usage('-oA requires pathname');
            a.aliasDbMap = v.slice(1);
          } else if (v[0] === 'i') {
            a.aeof = false;
          } else if (v[0] !== '7' && v[0] !== '8' && v[0] !== 'm' && msgVerboseLevel() > 0) {
            msgInfo(`-${ch}${v[0] ?? ''} option ignored`);
          }
          return null;
        case 'q':
          if (/^[0-9]/.test(v)) a.qtime = v;
          else if (v[0] === 'R') {
            a.siteToFlush = v.slice(1);
            if (a.siteToFlush === '') return usage('specify: -qRsitename');
          } else if (v[0] === 'I') {
            a.idToFlush = v.slice(1);
            if (a.idToFlush === '') return usage('specify: -qIqueueid');
          } else return usage(`-q${v[0] ?? ''} is not implemented`);
          return null;
        case 't':
          a.extract = true;
          return null;
        case 'v':
          a.verbose++;
          return null;
        default:
          if (msgVerboseLevel() > 0) msgInfo(`-${ch} option ignored`);
          return null;
      }
    },
    words,
  );
  if ('fatal' in r) return { ok: false, ...r };
  a.recipients = words.slice(r.index);
  if (a.extract && a.mode !== SM_MODE.ENQUEUE) return { ok: false, ...usage('-t can be used only in delivery mode') };
  if (a.siteToFlush && a.mode !== SM_MODE.ENQUEUE) return { ok: false, ...usage('-qR can be used only in delivery mode') };
  if (a.idToFlush && a.mode !== SM_MODE.ENQUEUE) return { ok: false, ...usage('-qI can be used only in delivery mode') };
  if (a.traceFlags & DEL_REQ_FLAG.USR_VRFY) {
    if (a.extract) return { ok: false, ...usage('-t option cannot be used with -bv') };
    if (a.dsnNotify) return { ok: false, ...usage('-N option cannot be used with -bv') };
    if (a.verbose === 1) return { ok: false, ...usage('-v option cannot be used with -bv') };
  }
  // One -v asks for a delivery report; more mean verbose logging.
  if (a.verbose === 1 && a.mode === SM_MODE.ENQUEUE) {
    a.verbose = 0;
    a.traceFlags |= DEL_REQ_FLAG.RECORD;
  }
  return { ok: true, args: a };
}
