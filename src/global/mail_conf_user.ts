/*
 * mail_conf_user - which non-built-in main.cf names are in use (postconf's rule)
 *
 * What it does: userParameterNames() returns the main.cf names that are
 * not built-in yet count as used, by the rule postconf(1) applies before
 * it reports "unused parameter": a name=value whose name is referenced as
 * $name by another value (main.cf, master.cf -o, or a default), a name
 * listed in smtpd_restriction_classes, and a legacy database client
 * setting such as ldapsrc_server_host when some value says ldap:ldapsrc.
 *
 * What it does not do: warn (postconf does, in its own order), read
 * database client files, or know which names are built in (mail_params.ts).
 *
 * DIAGNOSTICS
 * None; macro syntax errors only stop the scan of that value.
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

/**
 * Names set in main.cf that are used although not built in. extraValues
 * are more values to scan (master.cf -o values). Raw parameters are never
 * scanned; defaults of parameters main.cf leaves alone are (they name
 * legacy parameters for compatibility).
 */
export function userParameterNames(config: UserScanConfig, table: ParamTableLike, extraValues: readonly string[] = []): Set<string> {
  const used = new Set<string>();
  const consider = (name: string) => {
    if (!table.has(name) && config.isSet(name)) used.add(name);
  };
  const lookup = (n: string) => config.unexpanded(n);
  const references = (value: string) => {
    for (const name of referencedNames(value).names) consider(name);
  };
  for (const [name, spec] of table) if (spec.type !== 'raw' && !config.isSet(name)) references(spec.defaultValue);
  const settings = new Map<string, string>();
  for (const e of config.entries()) settings.set(e.name, e.value);
  for (const [name, value] of Object.entries(config.overrides?.() ?? {})) settings.set(name, value);
  for (const [name, value] of settings) {
    const e = { name, value };
    if (table.get(e.name)?.type === 'raw') continue;
    references(e.value);
    scanTableReferences(expandMacros(e.value, lookup, { recurse: true }).value, consider);
  }
  for (const v of extraValues) references(v);
  const classes = config.isSet('smtpd_restriction_classes') ? config.unexpanded('smtpd_restriction_classes') ?? '' : '';
  const expanded = expandMacros(classes, lookup, { recurse: true }).value;
  for (const name of expanded.split(/[, \t\r\n]+/)) if (name !== '') consider(name);
  return used;
}
