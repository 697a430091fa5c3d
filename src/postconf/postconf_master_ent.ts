/*
 * postconf_master_ent - master.cf entries as postconf(1) sees them
 *
 * What it does: turns one logical master.cf line into the word list
 * postconf works on (the eight columns as written, then the daemon
 * arguments normalized: "-oname=value" split into "-o" "name=value",
 * "-o { name = value }" into "-o" "name=value", "{ text }" unwrapped),
 * reproducing Postfix 3.7's normalization exactly, including its habit of
 * splitting an option word at every later 'o' ("-vo x" gives "-v" "-o" "x",
 * and so does "-oinet_protocols=..." in its own way). It reads master.cf
 * into such entries, builds each service's "-o name=value" table (shared
 * by entries with the same name/type, as Postfix's per-service
 * dictionary is), and parses the "name/type[/field]" patterns of -M -F -P.
 *
 * What it does not do: print (postconf_master_print.ts) or edit
 * (postconf_master_edit.ts) entries.
 *
 * DIAGNOSTICS
 * Fatal, with postconf's texts: a missing master.cf, a bad field count
 * ("file F: line N: bad field count"), a bad column ("invalid type field
 * ..."), a bad pattern. Warnings: malformed braces or -o values
 * ("master.cf: missing '}' in ...").
 */
import { readFileSync } from 'node:fs';
import {
  MASTER_BLANKS,
  MASTER_BRACES,
  MASTER_CF_FILE,
  MASTER_FIELD,
  MASTER_FIELD_NAMES,
  MASTER_MIN_FIELDS,
  checkMasterFields,
  extractBraced,
  readLogicalLines,
  splitMasterWords,
  splitNameValue,
} from '../global/master_cf.js';
import { msgFatal, msgWarn } from '../util/msg.js';

/** Daemon options that postconf treats as taking a value. */
export const PCF_OPTIONS_WITH_VALUE = 'o';
/** The wild card of -M/-F/-P patterns. */
export const PCF_MATCH_ANY = '*';
/** Separator of name/type/field patterns and of the per-service name space. */
export const PCF_NAMESP_SEP = '/';
/** Field index that -F '*' stands for. */
export const PCF_FIELD_WILDCARD = -1;

export interface PcfMasterEnt {
  /** Columns as written, then normalized daemon arguments. */
  argv: string[];
  /** "name/type". */
  nameSpace: string;
  /** This service's "-o" settings, or null when it has none (as in Postfix). */
  allParams: Map<string, string> | null;
  line: number;
}

/** C strchr(set, ch) != 0, where ch may be the terminating NUL (strchr finds it). */
export function expectsValue(option: string): boolean {
  const letter = option[1];
  return letter === undefined || PCF_OPTIONS_WITH_VALUE.includes(letter);
}

export function hasBlank(s: string): boolean {
  for (const ch of s) if (MASTER_BLANKS.includes(ch)) return true;
  return false;
}

function extractInPlace(argv: string[], field: number): void {
  const r = extractBraced(argv[field]);
  if (r.error !== undefined) msgWarn(`${MASTER_CF_FILE}: ${r.error}`);
  argv[field] = r.text;
}

function normalizeNameValue(argv: string[], field: number): void {
  const arg = argv[field];
  const nv = splitNameValue(arg);
  if ('error' in nv) msgWarn(`${MASTER_CF_FILE}: ${nv.error}: "${arg}"`);
  else argv[field] = `${nv.name}=${nv.value}`;
}

/** Postfix pcf_normalize_daemon_args(), quirks included. Modifies argv. */
export function normalizeDaemonArgs(argv: string[]): void {
  let field = MASTER_MIN_FIELDS;
  for (; field < argv.length; field++) {
    let arg = argv[field];
    if (arg[0] !== '-' || arg === '--') break;
    for (let i = 1; i < arg.length; i++) {
      if (PCF_OPTIONS_WITH_VALUE.includes(arg[i]) && i > 1) {
        argv.splice(field + 1, 0, `-${arg.slice(i)}`);
        arg = argv[field] = arg.slice(0, i);
        break;
      }
    }
    if (!expectsValue(arg)) continue;
    let extract = false;
    if (arg.length > 2) {
      argv.splice(field + 1, 0, arg.slice(2));
      argv[field] = arg.slice(0, 2);
      field += 1;
      extract = argv[field][0] === MASTER_BRACES[0];
    } else if (field + 1 < argv.length) {
      field += 1;
      extract = argv[field][0] === MASTER_BRACES[0];
    }
    if (extract) {
      extractInPlace(argv, field);
      if (argv[field - 1][1] === 'o') normalizeNameValue(argv, field);
    }
  }
  for (; field < argv.length; field++) {
    if (argv[field][0] === MASTER_BRACES[0]) extractInPlace(argv, field);
  }
}

/**
 * Parses one complete entry (pcf_parse_master_entry). Returns the word
 * list, or "bad field count"; a bad column is fatal here, as in Postfix.
 */
export function parsePcfEntry(text: string): string[] | { error: string } {
  const argv = splitMasterWords(text);
  if (argv.length < MASTER_MIN_FIELDS) return { error: 'bad field count' };
  const bad = checkMasterFields(argv, text);
  if (bad !== null) msgFatal(bad);
  normalizeDaemonArgs(argv);
  return argv;
}

export function masterCfPath(configDir: string): string {
  return `${configDir}/${MASTER_CF_FILE}`;
}

/** pcf_read_master() plus the per-service parameter tables. */
export function readPcfMaster(configDir: string): PcfMasterEnt[] {
  const path = masterCfPath(configDir);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    msgFatal(`open ${path}: ${errnoText(e)}`);
  }
  const entries: PcfMasterEnt[] = [];
  for (const ll of readLogicalLines(text, path, msgWarn)) {
    const argv = parsePcfEntry(ll.text);
    if ('error' in argv) msgFatal(`file ${path}: line ${ll.firstLine}: ${argv.error}`);
    entries.push({
      argv,
      nameSpace: `${argv[MASTER_FIELD.SERVICE]}${PCF_NAMESP_SEP}${argv[MASTER_FIELD.TYPE]}`,
      allParams: null,
      line: ll.firstLine,
    });
  }
  attachParams(entries);
  return entries;
}

/** Collects "-o name=value" per name space (pcf_register_user_parameters). */
export function attachParams(entries: PcfMasterEnt[]): void {
  const spaces = new Map<string, Map<string, string>>();
  for (const e of entries) {
    const argv = e.argv;
    for (let field = MASTER_MIN_FIELDS; field < argv.length; field++) {
      const arg = argv[field];
      if (arg[0] !== '-' || arg === '--') break;
      if (arg === '-o' && field + 1 < argv.length) {
        const nv = splitNameValue(argv[field + 1]);
        if (!('error' in nv)) {
          let dict = spaces.get(e.nameSpace);
          if (!dict) spaces.set(e.nameSpace, (dict = new Map()));
          dict.set(nv.name, nv.value);
        }
        field += 1;
      }
    }
    e.allParams = spaces.get(e.nameSpace) ?? null;
  }
}

/** Text of a Node file-system error the way %m prints errno. */
export function errnoText(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const texts: Record<string, string> = {
    ENOENT: 'No such file or directory',
    EACCES: 'Permission denied',
    EISDIR: 'Is a directory',
    ENOTDIR: 'Not a directory',
    EROFS: 'Read-only file system',
    ENOSPC: 'No space left on device',
  };
  return (code && texts[code]) || (e instanceof Error ? e.message : String(e));
}

/**
 * pcf_parse_service_pattern(): split on '/' (empty parts vanish, as with
 * Postfix's argv_split), check the count, allow '*' only on its own, pad
 * with '*'. Null when the pattern is not acceptable.
 */
export function parseServicePattern(pattern: string, min: number, max: number): string[] | null {
  if (pattern.startsWith(PCF_NAMESP_SEP)) return null;
  const parts = pattern.split(PCF_NAMESP_SEP).filter((p) => p !== '');
  if (parts.length < min || parts.length > max) return null;
  for (const p of parts) if (p !== PCF_MATCH_ANY && p.includes(PCF_MATCH_ANY)) return null;
  while (parts.length < max) parts.push(PCF_MATCH_ANY);
  return parts;
}

export function matchServicePattern(pattern: readonly string[], name: string, type: string): boolean {
  return (
    (pattern[0] === PCF_MATCH_ANY || pattern[0] === name) && (pattern[1] === PCF_MATCH_ANY || pattern[1] === type)
  );
}

/** pcf_parse_field_pattern(): a column name, or '*'. */
export function parseFieldPattern(name: string): number {
  if (name === PCF_MATCH_ANY) return PCF_FIELD_WILDCARD;
  const index = (MASTER_FIELD_NAMES as readonly string[]).indexOf(name);
  if (index < 0) msgFatal(`invalid service attribute name: "${name}"`);
  return index;
}
