/*
 * master_cf - read and check master.cf, the table of Postfix services
 *
 * What it does: splits master.cf into logical lines the way Postfix's
 * readllines() does (a line that starts with white space continues the
 * previous one; empty, blank and '#' lines are skipped, also in the middle
 * of an entry), splits each logical line into words with Postfix's
 * brace quoting ("-o { name = value with spaces }", "{ arg with spaces }"),
 * checks the eight columns with postconf(1)'s own rules and texts, and
 * returns one MasterEntry per service. resolveMasterEntry() turns the
 * columns into values with Postfix 3.7's defaults for '-' (private y,
 * unprivileged y, chroot n, wakeup 0, maxproc $default_process_limit) and
 * master(8)'s stricter checks; parseInetServiceName() splits an inet
 * service name into host and port.
 *
 * The lexical layer lives in master_cf_scan.ts and is re-exported here;
 * it and checkMasterFields are used by postconf's master.cf modes, which
 * print and edit entries with the same rules.
 *
 * What it does not do: print or edit master.cf (src/postconf/
 * postconf_master*.ts), expand $name in -o values, resolve host names,
 * or know which daemon reads which parameter.
 *
 * DIAGNOSTICS
 * parseMasterCf throws MasterCfError { file, line, reason } for a bad
 * field count or a bad column value; `postconfText` is what postconf(1)
 * prints after "fatal: " for the same input. Malformed braces and -o
 * values are warnings (as in postconf), passed to the warn callback
 * (default msgWarn). resolveMasterEntry throws MasterCfError with
 * master(8)'s texts (field "wakeup_time": bad value: "?").
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msgWarn } from '../util/msg.js';
import {
  MASTER_BRACES,
  extractBraced,
  isBlankOrComment,
  isSpace,
  readLogicalLines,
  splitMasterWords,
  splitNameValue,
  type WarnFn,
} from './master_cf_scan.js';

export {
  LOGICAL_LINE_QUOTE_LIMIT,
  MASTER_BLANKS,
  MASTER_BRACES,
  extractBraced,
  isSpace,
  readLogicalLines,
  splitMasterWords,
  splitNameValue,
  type LogicalLine,
  type WarnFn,
} from './master_cf_scan.js';

export const MASTER_CF_FILE = 'master.cf';
/** Columns before the command arguments. */
export const MASTER_MIN_FIELDS = 8;

/** Column names as postconf -F prints them, in column order. */
export const MASTER_FIELD_NAMES = [
  'service',
  'type',
  'private',
  'unprivileged',
  'chroot',
  'wakeup',
  'process_limit',
  'command',
] as const;
export type MasterFieldName = (typeof MASTER_FIELD_NAMES)[number];

export const MASTER_FIELD = {
  SERVICE: 0,
  TYPE: 1,
  PRIVATE: 2,
  UNPRIV: 3,
  CHROOT: 4,
  WAKEUP: 5,
  MAXPROC: 6,
  CMD: 7,
} as const;

/** Service types postconf 3.7 accepts (MASTER_XPORT_NAME_*). */
export const MASTER_SERVICE_TYPES = ['unix', 'unix-dgram', 'fifo', 'inet', 'pass'] as const;
export type MasterServiceType = (typeof MASTER_SERVICE_TYPES)[number];

/**
 * Daemon options that take a value (the server skeletons' getopt string
 * "cdDi:lm:n:o:r:s:St:uvVz"); used to find -o overrides like getopt does.
 */
export const DAEMON_OPTIONS_WITH_VALUE = 'imnorst';

export interface MasterEntry {
  service: string;
  type: MasterServiceType;
  private: string;
  unpriv: string;
  chroot: string;
  wakeup: string;
  maxproc: string /* the columns as written, '-' kept */;
  command: string;
  /** Words after the command; a "{ ... }" word is unwrapped (what the daemon gets in argv). */
  args: string[];
  /** Every well-formed "-o name=value" among the daemon options, in order. */
  overrides: Array<{ name: string; value: string }>;
  file: string;
  line: number;
  /** A '#'-commented entry; only parseMasterCf(..., { keepDisabled: true }) returns these. */
  disabled?: boolean;
}

export interface ResolvedMasterEntry {
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  wakeupSeconds: number;
  wakeupOnlyWhenUsed: boolean /* the '?' suffix */;
  maxproc: number;
}

export class MasterCfError extends Error {
  /** What postconf(1) prints after "fatal: " for this problem. */
  readonly postconfText: string;
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
    postconfText?: string,
  ) {
    super(`${file}: line ${line}: ${reason}`);
    this.name = 'MasterCfError';
    this.postconfText = postconfText ?? `file ${file}: line ${line}: ${reason}`;
  }
}

function isDigits(s: string): boolean {
  return /^[0-9]*$/.test(s);
}

/**
 * postconf's column checks. Returns null when the columns are fine, else
 * the text postconf prints after "fatal: " (raw is the entry as read, with
 * newlines shown as spaces).
 */
export function checkMasterFields(words: readonly string[], raw: string): string | null {
  const shown = raw.replace(/\n/g, ' ');
  const type = words[MASTER_FIELD.TYPE];
  if (!(MASTER_SERVICE_TYPES as readonly string[]).includes(type)) {
    return `invalid ${MASTER_FIELD_NAMES[MASTER_FIELD.TYPE]} field "${type}" in "${shown}"`;
  }
  for (let f: number = MASTER_FIELD.PRIVATE; f <= MASTER_FIELD.CHROOT; f++) {
    const v = words[f];
    if (v.length !== 1 || !'yn-'.includes(v)) return `invalid ${MASTER_FIELD_NAMES[f]} field "${v}" in "${shown}"`;
  }
  const wakeup = words[MASTER_FIELD.WAKEUP];
  // As postconf: an optional trailing '?', then '-' or only digits (even none).
  const wakeupCore = wakeup.endsWith('?') ? wakeup.slice(0, -1) : wakeup;
  if (wakeupCore !== '-' && !isDigits(wakeupCore)) {
    return `invalid ${MASTER_FIELD_NAMES[MASTER_FIELD.WAKEUP]} field "${wakeup}" in "${shown}"`;
  }
  const maxproc = words[MASTER_FIELD.MAXPROC];
  if (maxproc !== '-' && !isDigits(maxproc)) {
    return `invalid ${MASTER_FIELD_NAMES[MASTER_FIELD.MAXPROC]} field "${maxproc}" in "${shown}"`;
  }
  return null;
}

/** "-o" overrides among the daemon options, found the way getopt would. */
function findOverrides(args: readonly string[], warn: WarnFn): Array<{ name: string; value: string }> {
  const overrides: Array<{ name: string; value: string }> = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg[0] !== '-' || arg === '--' || arg === '-') break;
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j];
      if (!DAEMON_OPTIONS_WITH_VALUE.includes(letter)) continue;
      let value: string | undefined;
      if (j + 1 < arg.length) value = arg.slice(j + 1);
      else value = args[++i];
      if (letter === 'o' && value !== undefined) {
        const nv = splitNameValue(value);
        if ('error' in nv) warn(`${MASTER_CF_FILE}: ${nv.error}: "${value}"`);
        else overrides.push(nv);
      }
      break;
    }
  }
  return overrides;
}

export interface ParseMasterCfOptions {
  warn?: WarnFn;
  /** Also return '#'-commented lines that parse as entries (disabled: true). */
  keepDisabled?: boolean;
}

function entryFromWords(words: string[], raw: string, file: string, line: number, warn: WarnFn): MasterEntry {
  if (words.length < MASTER_MIN_FIELDS) throw new MasterCfError(file, line, 'bad field count');
  const bad = checkMasterFields(words, raw);
  if (bad !== null) throw new MasterCfError(file, line, bad, bad);
  const args = words.slice(MASTER_MIN_FIELDS).map((w) => {
    if (w[0] !== MASTER_BRACES[0]) return w;
    const r = extractBraced(w);
    if (r.error !== undefined) warn(`${MASTER_CF_FILE}: ${r.error}`);
    return r.text;
  });
  return {
    service: words[MASTER_FIELD.SERVICE],
    type: words[MASTER_FIELD.TYPE] as MasterServiceType,
    private: words[MASTER_FIELD.PRIVATE],
    unpriv: words[MASTER_FIELD.UNPRIV],
    chroot: words[MASTER_FIELD.CHROOT],
    wakeup: words[MASTER_FIELD.WAKEUP],
    maxproc: words[MASTER_FIELD.MAXPROC],
    command: words[MASTER_FIELD.CMD],
    args,
    overrides: findOverrides(args, warn),
    file,
    line,
  };
}

/**
 * A commented line that continues a commented-out entry: indented, and
 * its first word looks like an option, a setting or a braced argument
 * ("#  -o name=value", "#  flags=R user=x"). Anything else is prose.
 */
function isDisabledContinuation(uncommented: string): boolean {
  if (!isSpace(uncommented[0])) return false;
  const first = uncommented.trim().split(/[ \t]+/)[0] ?? '';
  return first.startsWith('-') || first.startsWith(MASTER_BRACES[0]) || /^[A-Za-z_][\w.-]*=/.test(first);
}

/** Stands for an active entry's first line while commented ones are read. */
const ACTIVE_ENTRY_MARK = '\u0000';

/** Commented-out entries: "#name type ..." with "#   -o ..." continuation lines. */
function disabledEntries(text: string, file: string): MasterEntry[] {
  const uncommented = text
    .split('\n')
    .map((l) => {
      // An active entry ends a commented one; its own lines are no entry.
      if (!l.startsWith('#')) return isBlankOrComment(l) || isSpace(l[0]) ? '#' : ACTIVE_ENTRY_MARK;
      const rest = l.slice(1);
      return isSpace(rest[0]) && !isDisabledContinuation(rest) ? '#' : rest;
    })
    .join('\n');
  const out: MasterEntry[] = [];
  for (const ll of readLogicalLines(uncommented, file, () => {})) {
    const words = splitMasterWords(ll.text);
    try {
      const e = entryFromWords(words, ll.text, file, ll.firstLine, () => {});
      out.push({ ...e, disabled: true });
    } catch {
      // Ordinary comment text, not an entry.
    }
  }
  return out;
}

/** Parses master.cf text; file names the file in errors. */
export function parseMasterCf(text: string, file: string, opts: ParseMasterCfOptions = {}): MasterEntry[] {
  const warn = opts.warn ?? msgWarn;
  const entries: MasterEntry[] = [];
  for (const ll of readLogicalLines(text, file, warn)) {
    entries.push(entryFromWords(splitMasterWords(ll.text), ll.text, file, ll.firstLine, warn));
  }
  if (opts.keepDisabled) {
    entries.push(...disabledEntries(text, file));
    entries.sort((a, b) => a.line - b.line);
  }
  return entries;
}

/** Reads configDir/master.cf (a missing file is an error, as for master(8)). */
export function readMasterCf(configDir: string, opts: ParseMasterCfOptions = {}): MasterEntry[] {
  const file = join(configDir, MASTER_CF_FILE);
  return parseMasterCf(readFileSync(file, 'utf8'), file, opts);
}

function resolveBool(e: MasterEntry, value: string, name: string, defaultValue: boolean): boolean {
  if (value === '-') return defaultValue;
  if (value === 'y') return true;
  if (value === 'n') return false;
  throw new MasterCfError(e.file, e.line, `field "${name}": bad value: "${value}"`);
}

function resolveInt(e: MasterEntry, value: string, name: string, defaultValue: number): number {
  if (value === '-') return defaultValue;
  const m = /^[0-9]+/.exec(value);
  if (!m) throw new MasterCfError(e.file, e.line, `field "${name}": bad value: "${value}"`);
  return parseInt(m[0], 10);
}

/** Column values with Postfix 3.7's defaults for '-', checked as master(8) does. */
export function resolveMasterEntry(e: MasterEntry, defaults: { processLimit: number }): ResolvedMasterEntry {
  const priv = resolveBool(e, e.private, 'private', true);
  if (e.type === 'inet' && priv) throw new MasterCfError(e.file, e.line, 'inet service cannot be private');
  const unpriv = resolveBool(e, e.unpriv, 'unprivileged', true);
  const chroot = resolveBool(e, e.chroot, 'chroot', false);
  const wakeupSeconds = resolveInt(e, e.wakeup, 'wakeup_time', 0);
  const maxproc = resolveInt(e, e.maxproc, 'max_proc', defaults.processLimit);
  if (e.command === '-') throw new MasterCfError(e.file, e.line, 'field "command" has no default value');
  return {
    private: priv,
    unpriv,
    chroot,
    wakeupSeconds,
    wakeupOnlyWhenUsed: wakeupSeconds > 0 && e.wakeup.endsWith('?'),
    maxproc,
  };
}

/**
 * An inet service name: "port", "host:port", "[v6addr]:port". host is ''
 * for a bare port (listen on inet_interfaces). Returns Postfix host_port's
 * error text for a malformed name.
 */
export function parseInetServiceName(name: string): { host: string; port: string } | { error: string } {
  let host: string;
  let port: string;
  if (name.startsWith('[')) {
    const close = name.indexOf(']');
    if (close < 0) return { error: 'missing "]"' };
    host = name.slice(1, close);
    const rest = name.slice(close + 1);
    if (rest === '') port = '';
    else if (rest.startsWith(':')) port = rest.slice(1);
    else return { error: 'garbage after "]"' };
  } else {
    const colon = name.lastIndexOf(':');
    if (colon >= 0) {
      host = name.slice(0, colon);
      port = name.slice(colon + 1);
    } else {
      host = '';
      port = name;
    }
  }
  if (port === '' || !/^[A-Za-z0-9_-]+$/.test(port)) return { error: 'valid port number required' };
  if (host !== '' && !/^[A-Za-z0-9.:_%-]+$/.test(host)) return { error: 'valid hostname or network address required' };
  return { host, port };
}
