/*
 * cfg_parser - settings of a database table: its .cf file or main.cf (Postfix cfg_parser)
 *
 * What it does: cfgParserOpen() gives a table type (sqlite, pgsql, mysql,
 * ldap, memcache) its settings the two ways Postfix does. A table name
 * that starts with '/' or '.' is a file of "name = value" lines in
 * main.cf syntax (continuation lines, '#' comments), read once at open;
 * its values are used as written: Postfix's dict_load_file() does not
 * expand $name there (checked with the real postmap). Any other name is
 * a prefix of main.cf parameters: "ldapsource" reads ldapsource_server_host
 * etc., $name-expanded as every main.cf value. getStr/getInt/getBool check
 * lengths, numbers, ranges and booleans as cfg_get_str/int/bool do.
 *
 * What it does not do: know which settings a table type has, or open
 * any database.
 *
 * DIAGNOSTICS
 * A settings file that cannot be read throws DictOpenError("open FILE:
 * REASON"): the table becomes a surrogate, as in later Postfix versions
 * (3.7 itself makes that fatal). As Postfix, a bad setting is fatal
 * (msgFatal): "FILE, line N: missing '=' after attribute name: \"TEXT\"", "NAME: bad
 * string length L < MIN: PARAM = VALUE", "NAME: bad numerical
 * configuration: PARAM = VALUE", "NAME: invalid PARAM parameter value
 * V < MIN", "NAME: bad boolean configuration: PARAM = VALUE"; for main.cf
 * settings the same texts without the "NAME: " prefix and with the full
 * parameter name. An earlier entry overridden in the file is a warning.
 */
import { readFileSync } from 'node:fs';
import { msgFatal, msgWarn } from '../util/msg.js';
import { type DictOpenContext, DictOpenError } from './dict_base.js';
import { loadMailConfig, MainCfError, type MailConfig, parseMainCf } from './mail_conf.js';

/** A table's settings, as cfg_get_str/cfg_get_int/cfg_get_bool read them. */
export interface CfgParser {
  /** The table name: the .cf path, or the main.cf parameter prefix. */
  name: string;
  /** min/max: 0 or a limit on the string length. */
  getStr(name: string, def: string, min?: number, max?: number): string;
  /** min/max: 0 or a limit on the value. */
  getInt(name: string, def: number, min: number, max: number): number;
  getBool(name: string, def: boolean): boolean;
  /** Is the setting present (in the file, or in main.cf as PREFIX_name)? */
  has(name: string): boolean;
}

/** Settings a caller may supply for names neither the file nor main.cf has. */
export type CfgDefaults = Readonly<Record<string, string>>;

/** Does the name say "file" (Postfix: first character '/' or '.')? */
export function cfgIsFileName(name: string): boolean {
  return name.startsWith('/') || name.startsWith('.');
}

/** Reads the settings file: name → value, as dict_load_file() loads it. Fatal on errors. */
export function cfgLoadFile(path: string): Map<string, string> {
  let text: string;
  try {
    text = readFileSync(path).toString('latin1');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DictOpenError(`open ${path}: ${errnoText(e)}`);
  }
  const values = new Map<string, string>();
  try {
    const parsed = parseMainCf(text, path);
    for (const w of parsed.warnings) msgWarn(w);
    for (const e of parsed.entries) values.set(e.name, e.value);
  } catch (err) {
    if (err instanceof MainCfError) return msgFatal(err.message);
    throw err;
  }
  return values;
}

/** strerror()-style text for a Node errno error. */
function errnoText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ENOENT':
      return 'No such file or directory';
    case 'EACCES':
      return 'Permission denied';
    case 'EISDIR':
      return 'Is a directory';
    case 'ENOTDIR':
      return 'Not a directory';
    default:
      return e.message;
  }
}

/** strtol()-like whole-string decimal check, 32-bit int as in C. */
function parseCInt(text: string): number | null {
  if (!/^[ \t\n\r\f\v]*[+-]?\d+$/.test(text)) return null;
  const n = Number(text.trim());
  if (!Number.isSafeInteger(n) || n > 2147483647 || n < -2147483648) return null;
  return n;
}

class FileCfgParser implements CfgParser {
  readonly #values: Map<string, string>;

  constructor(
    readonly name: string,
    values: Map<string, string>,
    readonly defaults: CfgDefaults,
  ) {
    this.#values = values;
  }

  #raw(name: string): string | undefined {
    return this.#values.get(name) ?? this.defaults[name];
  }

  has(name: string): boolean {
    return this.#raw(name) !== undefined;
  }

  getStr(name: string, def: string, min = 0, max = 0): string {
    const v = this.#raw(name) ?? def;
    if (min && v.length < min) msgFatal(`${this.name}: bad string length ${v.length} < ${min}: ${name} = ${v}`);
    if (max && v.length > max) msgFatal(`${this.name}: bad string length ${v.length} > ${max}: ${name} = ${v}`);
    return v;
  }

  getInt(name: string, def: number, min: number, max: number): number {
    const raw = this.#raw(name);
    let v = def;
    if (raw !== undefined) {
      const n = parseCInt(raw);
      if (n === null || raw === '') return msgFatal(`${this.name}: bad numerical configuration: ${name} = ${raw}`);
      v = n;
    }
    if (min && v < min) msgFatal(`${this.name}: invalid ${name} parameter value ${v} < ${min}`);
    if (max && v > max) msgFatal(`${this.name}: invalid ${name} parameter value ${v} > ${max}`);
    return v;
  }

  getBool(name: string, def: boolean): boolean {
    const raw = this.#raw(name);
    if (raw === undefined) return def;
    if (raw.toLowerCase() === 'yes') return true;
    if (raw.toLowerCase() === 'no') return false;
    return msgFatal(`${this.name}: bad boolean configuration: ${name} = ${raw}`);
  }
}

class MainCfgParser implements CfgParser {
  constructor(
    readonly name: string,
    readonly config: MailConfig,
    readonly defaults: CfgDefaults,
  ) {}

  #param(name: string): string {
    return `${this.name}_${name}`;
  }

  /** The expanded value, or undefined when main.cf (and the defaults) lack it. */
  #value(name: string): string | undefined {
    const p = this.#param(name);
    if (this.config.isSet(p)) return this.config.get(p);
    const d = this.defaults[name];
    return d === undefined ? undefined : this.config.expand(d);
  }

  has(name: string): boolean {
    return this.config.isSet(this.#param(name)) || this.defaults[name] !== undefined;
  }

  getStr(name: string, def: string, min = 0, max = 0): string {
    const p = this.#param(name);
    const v = this.#value(name) ?? this.config.expand(def);
    if (min && v.length < min) msgFatal(`bad string length ${v.length} < ${min}: ${p} = ${v}`);
    if (max && v.length > max) msgFatal(`bad string length ${v.length} > ${max}: ${p} = ${v}`);
    return v;
  }

  getInt(name: string, def: number, min: number, max: number): number {
    const p = this.#param(name);
    const raw = this.#value(name);
    let v = def;
    if (raw !== undefined) {
      const n = parseCInt(raw);
      if (n === null) return msgFatal(`bad numerical configuration: ${p} = ${raw}`);
      v = n;
    }
    if (min && v < min) msgFatal(`invalid ${p} parameter value ${v} < ${min}`);
    if (max && v > max) msgFatal(`invalid ${p} parameter value ${v} > ${max}`);
    return v;
  }

  getBool(name: string, def: boolean): boolean {
    const p = this.#param(name);
    const raw = this.#value(name);
    if (raw === undefined) return def;
    if (raw.toLowerCase() === 'yes') return true;
    if (raw.toLowerCase() === 'no') return false;
    return msgFatal(`bad boolean configuration: ${p} = ${raw}`);
  }
}

/** Per-process cache of loaded .cf files is deliberately absent: each open re-reads the file. */
export function cfgParserOpen(ctx: DictOpenContext, defaults: CfgDefaults = {}): CfgParser {
  return cfgParserAlloc(ctx.name, ctx.config, defaults);
}

/** Postfix cfg_parser_alloc(): a parser for a table name (file path or main.cf prefix). */
export function cfgParserAlloc(name: string, config?: MailConfig, defaults: CfgDefaults = {}): CfgParser {
  if (name === '') return msgFatal('cfg_parser_alloc: null parser name');
  if (cfgIsFileName(name)) return new FileCfgParser(name, cfgLoadFile(name), defaults);
  return new MainCfgParser(name, config ?? loadMailConfig(), defaults);
}
