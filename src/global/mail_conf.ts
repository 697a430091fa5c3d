/*
 * mail_conf - read main.cf and look parameters up (Postfix mail_conf)
 *
 * What it does: parseMainCf() turns main.cf text into name/value entries
 * the way Postfix's dict_load/readlline does (a logical line starts in
 * column one; lines that start with white space continue it; lines whose
 * first non-blank is '#' and blank lines are skipped, also inside a
 * continued line; a later setting overrides an earlier one).
 * loadMailConfig() reads $config_directory/main.cf into a MailConfig,
 * whose get() expands $name lazily (raw parameters stay unexpanded) and
 * falls back to the parameter table's default.
 *
 * What it does not do: edit main.cf (mail_conf_edit.ts), print anything
 * for postconf, or know master.cf (per-service names fall back to the
 * default of the built-in parameter they derive from).
 *
 * DIAGNOSTICS
 * parseMainCf throws MainCfError with file and line ("missing '=' after
 * attribute name", "missing attribute name", Postfix's texts).
 * loadMailConfig turns that into msgFatal("file, line N: ..."). A line
 * that starts with white space where no logical line is open is a warning.
 * A macro error in get() is fatal ("macro processing error"), an
 * unparsable number, boolean or time is fatal with Postfix's wording.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { msgFatal, msgWarn } from '../util/msg.js';
import { expandMacros } from './mail_conf_expand.js';
import { MAIL_PARAMS, defaultMydomain, defaultMyhostname, defaultMynetworks, type ParamSpec } from './mail_params.js';
import { SERVICE_PARAM_SUFFIXES } from './mail_params_table.js';

/** The file name under config_directory. */
export const MAIN_CONF_FILE = 'main.cf';
/** Where Postfix looks when neither -c nor MAIL_CONFIG says otherwise. */
export const DEFAULT_CONFIG_DIR = '/etc/postfix';
/** The environment variable that names the configuration directory. */
export const CONF_ENV_PATH = 'MAIL_CONFIG';

export class MainCfError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    message: string,
  ) {
    super(`${file}, line ${line}: ${message}`);
    this.name = 'MainCfError';
  }
}

export interface MainCfEntry {
  name: string;
  value: string;
  file: string;
  line: number;
}

export interface ParsedMainCf {
  entries: MainCfEntry[];
  /** Non-fatal findings, already worded as Postfix words them. */
  warnings: string[];
}

/** Postfix split_nameval(): "name = value" with blanks trimmed; error text or the pair. */
export function splitNameval(text: string): { name: string; value: string } | { error: string } {
  const ws = /[ \t\r\n\v\f]/;
  let np = 0;
  while (np < text.length && ws.test(text[np])) np++;
  if (np >= text.length || text[np] === '=') return { error: 'missing attribute name' };
  let ep = np;
  while (ep < text.length && !ws.test(text[ep]) && text[ep] !== '=') ep++;
  let cp = ep;
  while (cp < text.length && ws.test(text[cp])) cp++;
  if (text[cp] !== '=') return { error: "missing '=' after attribute name" };
  return { name: text.slice(np, ep), value: text.slice(cp + 1).replace(/^[ \t\r\n\v\f]+|[ \t\r\n\v\f]+$/g, '') };
}

/** Splits main.cf text into logical lines: { text, line } with line the first physical line. */
export function logicalLines(text: string, file: string, warnings: string[]): Array<{ text: string; line: number }> {
  const out: Array<{ text: string; line: number }> = [];
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  let current: { text: string; line: number } | null = null;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].replace(/\r$/, '');
    const trimmed = raw.replace(/^[ \t\v\f\r]+/, '');
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (raw !== trimmed) {
      if (current) current.text += raw;
      else warnings.push(`${file}: logical line must not start with whitespace: "${raw}"`);
      continue;
    }
    if (current) out.push(current);
    current = { text: raw, line: i + 1 };
  }
  if (current) out.push(current);
  return out;
}

/**
 * The pure main.cf parser. Throws MainCfError for a line that is not
 * name = value. previous holds settings already loaded (a re-read warns
 * about overriding them, as Postfix's dict_load does).
 */
export function parseMainCf(text: string, file: string, previous?: ReadonlyMap<string, string>): ParsedMainCf {
  const warnings: string[] = [];
  const entries: MainCfEntry[] = [];
  const seen = new Map<string, string>(previous ?? []);
  for (const l of logicalLines(text, file, warnings)) {
    const r = splitNameval(l.text);
    if ('error' in r) throw new MainCfError(file, l.line, `${r.error}: "${l.text.replace(/[ \t\r\n]+$/, '')}"`);
    const earlier = seen.get(r.name);
    if (earlier !== undefined) warnings.push(`${file}, line ${l.line}: overriding earlier entry: ${r.name}=${earlier}`);
    seen.set(r.name, r.value);
    entries.push({ name: r.name, value: r.value, file, line: l.line });
  }
  return { entries, warnings };
}

function bad(kind: string, name: string, value: string): never {
  return msgFatal(`bad ${kind} configuration: ${name} = ${value}`);
}

/** Time units and their seconds (Postfix conv_time). */
const TIME_UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** The built-in parameter a per-service name derives from, e.g. relay_time_limit → command_time_limit. */
function serviceParamBase(name: string): ParamSpec | undefined {
  for (const list of Object.values(SERVICE_PARAM_SUFFIXES)) {
    for (const [suffix, from] of list) {
      if (name.length > suffix.length && name.endsWith(suffix)) {
        const base = MAIL_PARAMS.get(from);
        if (base) return { ...base, name, defaultValue: `$${from}` };
      }
    }
  }
  return undefined;
}

export class MailConfig {
  readonly configDir: string;
  readonly #entries: Map<string, MainCfEntry>;
  readonly #overrides: Map<string, string>;

  constructor(configDir: string, entries: MainCfEntry[], overrides: Record<string, string> = {}) {
    this.configDir = configDir;
    this.#entries = new Map();
    for (const e of entries) {
      this.#entries.delete(e.name);
      this.#entries.set(e.name, e);
    }
    this.#overrides = new Map(Object.entries(overrides));
  }

  /** The parameter's spec: built-in, or derived for a per-service name. */
  spec(name: string): ParamSpec | undefined {
    return MAIL_PARAMS.get(name) ?? serviceParamBase(name);
  }

  /** As written in main.cf or overrides, unexpanded; config_directory is always set. */
  raw(name: string): string | undefined {
    const o = this.#overrides.get(name);
    if (o !== undefined) return o;
    const e = this.#entries.get(name);
    if (e) return e.value;
    if (name === 'config_directory') return this.configDir;
    return undefined;
  }

  isSet(name: string): boolean {
    return this.raw(name) !== undefined;
  }

  /** The value before expansion: set value, else the default, else undefined. */
  unexpanded(name: string): string | undefined {
    return this.raw(name) ?? this.#hostDefault(name) ?? this.spec(name)?.defaultValue;
  }

  /** Host-dependent defaults that depend on other settings, as Postfix computes them. */
  #hostDefault(name: string): string | undefined {
    switch (name) {
      case 'myhostname':
        return this.isSet('mydomain') ? defaultMyhostname(this.get('mydomain')) : undefined;
      case 'mydomain':
        return this.isSet('myhostname') ? defaultMydomain(this.get('myhostname')) : undefined;
      case 'mynetworks':
        return defaultMynetworks(this.get('mynetworks_style'), this.get('inet_interfaces'), this.get('inet_protocols'));
      default:
        return undefined;
    }
  }

  /** main.cf settings in file order (overrides not included). */
  entries(): MainCfEntry[] {
    return [...this.#entries.values()];
  }

  overrides(): Record<string, string> {
    return Object.fromEntries(this.#overrides);
  }

  /** The expanded value; '' for an unknown name. Raw parameters are not expanded. */
  get(name: string): string {
    const value = this.unexpanded(name);
    if (value === undefined) return '';
    if (this.spec(name)?.type === 'raw') return value;
    return this.expand(value);
  }

  /** Expands $name in any text against this configuration. Fatal on a syntax error. */
  expand(text: string): string {
    const r = expandMacros(text, (n) => this.unexpanded(n), { recurse: true });
    for (const w of r.warnings) msgWarn(w);
    if (r.error) msgFatal('macro processing error');
    return r.value;
  }

  getInt(name: string): number {
    const v = this.get(name).trim();
    if (!/^-?\d+$/.test(v)) bad('numerical', name, v);
    return Number(v);
  }

  getBool(name: string): boolean {
    const v = this.get(name).trim();
    if (v.toLowerCase() === 'yes') return true;
    if (v.toLowerCase() === 'no') return false;
    return bad('boolean', name, v);
  }

  /** Seconds. A bare number takes the table's unit for the parameter (s if none). */
  getTime(name: string): number {
    const v = this.get(name).trim();
    const m = /^(\d+)([smhdw]?)$/.exec(v);
    if (!m) return msgFatal(`parameter ${name}: bad time value or unit: ${v}`);
    const unit = m[2] || this.spec(name)?.timeUnit || 's';
    return Number(m[1]) * TIME_UNITS[unit];
  }

  /** Split on white space and commas. */
  getList(name: string): string[] {
    return this.get(name)
      .split(/[\s,]+/)
      .filter((w) => w !== '');
  }

  /** A copy with master.cf -o style overrides on top. */
  withOverrides(o: Record<string, string>): MailConfig {
    return new MailConfig(this.configDir, this.entries(), { ...this.overrides(), ...o });
  }
}

/** The configuration directory: explicit, else $MAIL_CONFIG, else /etc/postfix. */
export function configDirectory(configDir?: string): string {
  return configDir ?? process.env[CONF_ENV_PATH] ?? DEFAULT_CONFIG_DIR;
}

/**
 * Reads $config_directory/main.cf. A missing main.cf is an empty one; a
 * syntax error is fatal naming the file and line.
 */
export function loadMailConfig(opts: { configDir?: string; overrides?: Record<string, string> } = {}): MailConfig {
  const dir = configDirectory(opts.configDir);
  const file = join(dir, MAIN_CONF_FILE);
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') msgFatal(`open ${file}: ${(err as Error).message}`);
  }
  let parsed: ParsedMainCf;
  try {
    parsed = parseMainCf(text, file);
  } catch (err) {
    if (err instanceof MainCfError) msgFatal(err.message);
    throw err;
  }
  for (const w of parsed.warnings) msgWarn(w);
  return new MailConfig(dir, parsed.entries, opts.overrides ?? {});
}
