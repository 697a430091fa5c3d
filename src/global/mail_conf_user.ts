/*
 * mail_conf_user - which non-built-in main.cf names are in use (postconf's rule)
 *
 * What it does: scanUserParameters() is the one implementation of the rule
 * postconf(1) applies before it reports "unused parameter", over main.cf
 * and every master.cf service's -o settings: a name=value whose name is
 * referenced as $name by another value (main.cf, master.cf -o, or a
 * default), a name listed in smtpd_restriction_classes, and a legacy
 * database client setting such as ldapsrc_server_host when some value
 * says ldap:ldapsrc. postconf's main.cf modes (postconf_params.ts), its
 * master.cf modes (postconf_master_params.ts) and unknownParameters()
 * (mail_params.ts, through userParameterNames()) all use it.
 *
 * What it does not do: print warnings itself (callers get hooks and print
 * them in postconf's words), read database client files (postconf_dbms.ts
 * does, through the dbms hook), or know which names are built in
 * (mail_params.ts).
 *
 * DIAGNOSTICS
 * None; macro syntax errors only stop the scan of that value and are
 * passed to the macroWarnings hook.
 */
import { expandMacros, referencedNames } from './mail_conf_expand.js';
import { DBMS_PARAM_SUFFIXES } from './mail_params_table.js';

/** What this needs from a configuration (MailConfig satisfies it). */
export interface UserScanConfig {
  entries(): Iterable<{ name: string; value: string }>;
  /** Command-line or master.cf -o settings on top of main.cf, scanned like it. */
  overrides?(): Record<string, string>;
  unexpanded(name: string): string | undefined;
  isSet(name: string): boolean;
}

const TABLE_SEPARATORS = ', \t\r\n';
const PROXY_TYPE = 'proxy';
/** Table types whose inline {...} contents are patterns, not table references. */
const REGEX_TYPES: ReadonlySet<string> = new Set(['regexp', 'pcre']);

/** Splits on commas and white space, keeping "{...}" groups (nested) as one token. */
export function splitTableTokens(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && TABLE_SEPARATORS.includes(text[i])) i++;
    if (i >= text.length) break;
    let j = i;
    let level = 0;
    while (j < text.length && (level > 0 || !TABLE_SEPARATORS.includes(text[j]))) {
      if (text[j] === '{') level++;
      else if (text[j] === '}' && level > 0) level--;
      j++;
    }
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

/** The inside of "{ text }", without the braces and surrounding blanks. */
export function unbrace(token: string): string {
  const end = token.endsWith('}') ? token.length - 1 : token.length;
  return token.slice(1, end).trim();
}

/**
 * Calls onName(prefix_suffix) for each legacy client reference ("ldap:foo")
 * and onFile(type, path) for each client file ("ldap:/etc/postfix/x.cf").
 */
export function scanTableReferences(
  value: string,
  onName: (name: string) => void,
  onFile: (type: string, path: string, suffixes: readonly string[]) => void = () => {},
  recurse = true,
): void {
  for (const token of splitTableTokens(value)) {
    if (token.startsWith('{')) {
      if (recurse) scanTableReferences(unbrace(token), onName, onFile, recurse);
      continue;
    }
    let type = token;
    let prefix: string | undefined;
    for (;;) {
      const colon = type.indexOf(':');
      if (colon < 0) {
        prefix = undefined;
        break;
      }
      prefix = type.slice(colon + 1);
      type = type.slice(0, colon);
      if (type !== PROXY_TYPE) break;
      type = prefix;
    }
    if (prefix === undefined) continue;
    const suffixes = DBMS_PARAM_SUFFIXES[type];
    if (prefix.startsWith('/')) {
      if (suffixes) onFile(type, prefix, suffixes);
      continue;
    }
    if (prefix.startsWith('.')) continue;
    if (prefix.startsWith('{')) {
      scanTableReferences(unbrace(prefix), onName, onFile, recurse && !REGEX_TYPES.has(type));
      continue;
    }
    if (suffixes) for (const s of suffixes) onName(`${prefix}_${s}`);
  }
}

/** What this needs from the parameter table (MAIL_PARAMS satisfies it). */
export type ParamTableLike = ReadonlyMap<string, { defaultValue: string; type: string }>;

/** The parameter that names restriction classes (VAR_REST_CLASSES). */
export const VAR_REST_CLASSES = 'smtpd_restriction_classes';
/** Separators of a restriction class list. */
const CLASS_LIST_SEPARATORS = /[, \t\r\n]+/;
/** Which file a name space lives in, for "undefined parameter" warnings. */
export type UserScanFile = 'main.cf' | 'master.cf';

/** The name spaces postconf scans for user-defined parameters. */
export interface UserNameSpaces {
  /** main.cf settings with command-line overrides (Postfix's CONFIG_DICT). */
  global: ReadonlyMap<string, string>;
  /** Each master.cf service's -o settings (read-only names already dropped); null for a service without any. */
  locals: ReadonlyArray<ReadonlyMap<string, string> | null>;
  /** More values to scan as if from a service with no -o settings of its own. */
  extraValues?: readonly string[];
  /** Built-in and per-service names: valid without any setting. */
  known(name: string): boolean;
  /** Raw parameters: their values are never scanned. */
  isRaw(name: string): boolean;
  /** Default values of the known parameters main.cf leaves alone (raw ones excluded). */
  defaults(): Iterable<string>;
}

/** What a caller wants to hear while the name spaces are scanned. */
export interface UserScanHooks {
  /** A $name (or restriction class) that nothing defines; never for defaults or database client names. */
  undefinedName?(file: UserScanFile, name: string): void;
  /** mac_expand's warnings for a scanned value; error is a syntax error. Not for defaults. */
  macroWarnings?(value: string, warnings: string[], error: boolean): void;
  /**
   * Legacy database client names in a main.cf value: call flag(name) for
   * each. Default: scanTableReferences() on the value expanded against
   * the global name space.
   */
  dbms?(value: string, flag: (name: string) => void): void;
}

export interface UserScanResult {
  /** Names set in the global name space that a reference validates. */
  global: Set<string>;
  /** Per local name space, its names that a reference (or a restriction class) validates. */
  locals: Array<Set<string>>;
}

/** Index of the settings-free scope extraValues are scanned in. */
const NO_SCOPE = -1;

/**
 * Postfix postconf's rule for user-defined parameters (postconf_user.c):
 * a name=value counts as used when some value references it as $name
 * (a reference in a master.cf service first validates that service's own
 * -o setting, else main.cf's; a reference in main.cf also validates every
 * service's -o setting of that name), when smtpd_restriction_classes
 * lists it, or, in main.cf, when a database client reference names it
 * (ldap:foo makes foo_server_host valid). Scans each service's -o
 * settings, then the defaults main.cf leaves alone (they name legacy
 * parameters; never warned about), then main.cf.
 */
export function scanUserParameters(spaces: UserNameSpaces, hooks: UserScanHooks = {}): UserScanResult {
  const { global, locals } = spaces;
  const result: UserScanResult = { global: new Set(), locals: locals.map(() => new Set<string>()) };
  const globalLookup = (n: string) => global.get(n);
  const evaluate = (value: string | undefined, lookup: (n: string) => string | undefined): string[] =>
    value === undefined ? [] : expandMacros(value, lookup, { recurse: true }).value.split(CLASS_LIST_SEPARATORS).filter((w) => w !== '');

  const flag = (name: string, local: number | null, warn: boolean): void => {
    let supplied = false;
    if (local !== null && locals[local]?.has(name)) {
      supplied = true;
      result.locals[local]!.add(name);
    } else if (global.has(name)) {
      supplied = true;
      result.global.add(name);
    }
    if (local === null) {
      locals.forEach((dict, i) => {
        if (dict?.has(name)) {
          supplied = true;
          result.locals[i]!.add(name);
        }
      });
    }
    if (!supplied && warn && !spaces.known(name)) hooks.undefinedName?.(local === null ? 'main.cf' : 'master.cf', name);
  };
  const scan = (value: string, local: number | null, warn: boolean): void => {
    const r = expandMacros(
      value,
      (name) => {
        flag(name, local, warn);
        return undefined;
      },
      { scan: true },
    );
    if (warn) hooks.macroWarnings?.(value, r.warnings, r.error);
  };

  // Restriction classes named in main.cf are valid in every service that sets them.
  const restClasses = new Set(global.has(VAR_REST_CLASSES) ? evaluate(global.get(VAR_REST_CLASSES), globalLookup) : []);
  locals.forEach((dict, i) => {
    if (!dict) return;
    for (const name of evaluate(dict.get(VAR_REST_CLASSES), (n) => dict.get(n))) flag(name, i, true);
    for (const [name, value] of dict) {
      if (restClasses.has(name)) result.locals[i]!.add(name);
      if (!spaces.isRaw(name)) scan(value, i, true);
    }
  });
  for (const v of spaces.extraValues ?? []) scan(v, NO_SCOPE, true);
  for (const v of spaces.defaults()) scan(v, null, false);
  for (const name of restClasses) flag(name, null, true);
  const dbms = hooks.dbms ?? ((value: string, f: (name: string) => void) => scanTableReferences(expandMacros(value, globalLookup, { recurse: true }).value, f));
  for (const [name, value] of global) {
    if (spaces.isRaw(name)) continue;
    scan(value, null, true);
    dbms(value, (n) => flag(n, null, false));
  }
  return result;
}

/**
 * Names set in main.cf that are used although not built in (see
 * scanUserParameters). extraValues are more values to scan (master.cf -o
 * values).
 */
export function userParameterNames(config: UserScanConfig, table: ParamTableLike, extraValues: readonly string[] = []): Set<string> {
  const global = new Map<string, string>();
  for (const e of config.entries()) global.set(e.name, e.value);
  for (const [name, value] of Object.entries(config.overrides?.() ?? {})) global.set(name, value);
  const isRaw = (name: string) => table.get(name)?.type === 'raw';
  const { global: used } = scanUserParameters({
    global,
    locals: [],
    extraValues,
    known: (name) => table.has(name),
    isRaw,
    *defaults() {
      for (const [name, spec] of table) if (!isRaw(name) && !config.isSet(name)) yield spec.defaultValue;
    },
  });
  for (const name of used) if (table.has(name)) used.delete(name);
  return used;
}
