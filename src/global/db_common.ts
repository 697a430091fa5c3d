/*
 * db_common - query and result templates of database tables (Postfix db_common)
 *
 * What it does: the part sqlite, pgsql, mysql, ldap and memcache tables
 * share. dbCommonParse() checks a query template (%s %u %d %S %U %D
 * %1..%9 %%) and remembers what the key must have for the query to make
 * sense; dbCommonParseTemplate() adds the result_format template;
 * dbCommonParseDomain() reads the `domain` setting as a string list
 * (words, /file, type:table). dbCommonCheckDomain() says whether a key's
 * domain is on that list; dbCommonExpand() expands a template for a key
 * (query) or a result (with the key): false means "no query / skip this
 * result" exactly where db_common_expand() returns 0 — %d or %[1-9] with
 * no domain, %u/%d with an empty local part ("@domain"), too few domain
 * labels or an empty one among those used, an empty key or result.
 * Every substituted piece goes through the caller's escape function, the
 * template's literal text never does. dbCommonSqlBuildQuery() makes the
 * old-style query from table/select_field/where_field/additional_conditions.
 *
 * What it does not do: talk to a database, fold keys (the table type
 * does that before expanding: dbCommonFoldKey), count results against
 * expansion_limit (the table type does, per Postfix).
 *
 * DIAGNOSTICS
 * A bad template is fatal: "db_common_parse: NAME: Invalid query
 * template: FORMAT" (or result). An empty key warns "table \"TYPE:NAME\":
 * empty query string -- ignored", an empty result "table \"TYPE:NAME\":
 * empty lookup result for: \"KEY\" -- ignored". A result template that
 * needs a key part the key lacks warns "db_common_expand: NAME: lookup key
 * 'RESULT' skipped after query". A domain list that cannot be searched
 * makes dbCommonCheckDomain return a DictError.
 */
import { msgFatal, msgWarn } from '../util/msg.js';
import type { CfgParser } from './cfg_parser.js';
import { DictError, foldKey } from './dict_base.js';
import { DomainList } from './domain_list.js';
import type { MailConfig } from './mail_conf.js';

/** Template needs (Postfix DB_COMMON_* flags). */
export const DB_COMMON_FLAG = {
  KEY_DOMAIN: 1 << 0,
  KEY_USER: 1 << 1,
  VALUE_DOMAIN: 1 << 2,
  VALUE_USER: 1 << 3,
  KEY_PARTIAL: 1 << 4,
} as const;

/** Highest %N domain label index. */
export const DB_COMMON_MAX_LABEL = 9;

/** What a table tells db_common about itself. */
export interface DbCommonDict {
  /** Postfix DICT_FLAG_FOLD_FIX: lowercase the key before expanding. */
  fold: boolean;
  /** For messages: "sqlite", "pgsql", ...; default "db". */
  type?: string;
  /** For messages: the table name; default the parser's name. */
  name?: string;
  /** UTF-8 active: fold non-ASCII too. Default true. */
  utf8?: boolean;
  /** main.cf, for type:table entries in the domain list. */
  config?: MailConfig;
}

/** Per-table template state (Postfix DB_COMMON_CTX). */
export interface DbCommonCtx {
  readonly type: string;
  readonly name: string;
  readonly fold: boolean;
  readonly utf8: boolean;
  readonly config?: MailConfig;
  /** DB_COMMON_FLAG bits. */
  flags: number;
  /** Highest %[1-9] in the query template. */
  nparts: number;
  /** The `domain` list, or null when not set. */
  domain: DomainList | null;
}

/** Checks one template and records its needs; true when it has data-dependent '%' expansions. */
export function dbCommonParseTemplate(ctx: DbCommonCtx, format: string, query: boolean): boolean {
  const F = DB_COMMON_FLAG;
  let dynamic = false;
  for (let i = 0; i < format.length; i++) {
    if (format[i] !== '%') continue;
    const c = format[++i] ?? '';
    switch (c) {
      case '%':
        break;
      case 'u':
        ctx.flags |= query ? F.KEY_USER | F.KEY_PARTIAL : F.VALUE_USER;
        dynamic = true;
        break;
      case 'd':
        ctx.flags |= query ? F.KEY_DOMAIN | F.KEY_PARTIAL : F.VALUE_DOMAIN;
        dynamic = true;
        break;
      case 's':
      case 'S':
        dynamic = true;
        break;
      case 'U':
        ctx.flags |= F.KEY_PARTIAL | F.KEY_USER;
        dynamic = true;
        break;
      default:
        if (c >= '1' && c <= '9') {
          ctx.nparts = Math.max(ctx.nparts, Number(c));
          ctx.flags |= F.KEY_PARTIAL | F.KEY_DOMAIN;
          dynamic = true;
        } else if (c === 'D') {
          ctx.flags |= F.KEY_PARTIAL | F.KEY_DOMAIN;
          dynamic = true;
        } else {
          msgFatal(`db_common_parse: ${ctx.name}: Invalid ${query ? 'query' : 'result'} template: ${format}`);
        }
    }
  }
  return dynamic;
}

/** A context without any template (Postfix db_common_alloc). */
export function dbCommonAlloc(cfg: CfgParser, dict: DbCommonDict): DbCommonCtx {
  return {
    type: dict.type ?? 'db',
    name: dict.name ?? cfg.name,
    fold: dict.fold,
    utf8: dict.utf8 ?? true,
    config: dict.config,
    flags: 0,
    nparts: 0,
    domain: null,
  };
}

/** A new context with the query template checked (Postfix db_common_parse(..., query=1)). */
export function dbCommonParse(cfg: CfgParser, query: string, dict: DbCommonDict): DbCommonCtx {
  const ctx = dbCommonAlloc(cfg, dict);
  dbCommonParseTemplate(ctx, query, true);
  return ctx;
}

/** Reads the `domain` setting into ctx.domain (Postfix db_common_parse_domain). */
export function dbCommonParseDomain(cfg: CfgParser, ctx: DbCommonCtx): void {
  const list = cfg.getStr('domain', '', 0, 0);
  if (list !== '') ctx.domain = new DomainList(cfg.name, 'string', false, list, ctx.config);
}

/** The key as the table searches it: lower-cased when the table folds keys. */
export function dbCommonFoldKey(ctx: DbCommonCtx, key: string): string {
  return foldKey(key, ctx.fold, ctx.utf8);
}

/** The domain part after the last '@' (null if none) as db_common finds it. */
function domainOf(s: string): string | null {
  const at = s.lastIndexOf('@');
  return at < 0 ? null : s.slice(at + 1);
}

function skipDomain(ctx: DbCommonCtx, key: string): 'ok' | 'skip' | null {
  if (!ctx.domain) return 'ok';
  const at = key.lastIndexOf('@');
  if (at <= 0) return 'skip';
  return null;
}

/**
 * Postfix db_common_check_domain() for tables that answer at once: 'ok'
 * (no list, or the key's domain is on it), 'skip' (no '@', empty local
 * part, domain not listed), or a DictError when the list could not be
 * searched (or needs a table that cannot answer without waiting: use
 * dbCommonCheckDomainAsync).
 */
export function dbCommonCheckDomain(ctx: DbCommonCtx, key: string): 'ok' | 'skip' | DictError {
  const quick = skipDomain(ctx, key);
  if (quick) return quick;
  const domain = key.slice(key.lastIndexOf('@') + 1);
  try {
    const hit = ctx.domain!.matchSync(domain);
    if (hit === null) return new DictError(`${ctx.type}:${ctx.name}`, `${ctx.type}:${ctx.name}: domain list needs a table that cannot answer at once`);
    return hit ? 'ok' : 'skip';
  } catch (err) {
    if (err instanceof DictError) return err;
    throw err;
  }
}

/** The same check for network tables: may search asynchronous tables in the list. */
export async function dbCommonCheckDomainAsync(ctx: DbCommonCtx, key: string): Promise<'ok' | 'skip' | DictError> {
  const quick = skipDomain(ctx, key);
  if (quick) return quick;
  const domain = key.slice(key.lastIndexOf('@') + 1);
  try {
    return (await ctx.domain!.match(domain)) ? 'ok' : 'skip';
  } catch (err) {
    if (err instanceof DictError) return err;
    throw err;
  }
}

/**
 * Postfix db_common_expand(). key === null: a query template, value is
 * the lookup key. Otherwise a result template, value is one result and
 * key the lookup key. On success one expansion is appended to out (join
 * the pieces with ',', as Postfix separates them) and true is returned;
 * false: skip this query or result.
 */
export function dbCommonExpand(
  ctx: DbCommonCtx,
  format: string,
  value: string | null,
  key: string | null,
  escape: ((s: string) => string) | null,
  out: string[],
): boolean {
  const F = DB_COMMON_FLAG;
  if (value === null) return false;
  if (value === '') {
    if (key !== null) msgWarn(`table "${ctx.type}:${ctx.name}": empty lookup result for: "${key}" -- ignored`);
    else msgWarn(`table "${ctx.type}:${ctx.name}": empty query string -- ignored`);
    return false;
  }
  let vdomain: string | null = null;
  let kdomain: string | null = null;
  let vuser: string | null = null;
  let kuser: string | null = null;
  if (key !== null) {
    if (ctx.flags & (F.VALUE_DOMAIN | F.VALUE_USER)) {
      vdomain = domainOf(value);
      if (vdomain !== null) vuser = value.slice(0, value.length - vdomain.length - 1);
    }
    if (((vdomain === null || vdomain === '') && ctx.flags & F.VALUE_DOMAIN) || (vuser === '' && ctx.flags & F.VALUE_USER)) return false;
    if (ctx.flags & (F.KEY_DOMAIN | F.KEY_USER)) {
      kdomain = domainOf(key);
      if (kdomain !== null) kuser = key.slice(0, key.length - kdomain.length - 1);
    }
    if (((kdomain === null || kdomain === '') && ctx.flags & F.KEY_DOMAIN) || (kuser === '' && ctx.flags & F.KEY_USER)) {
      msgWarn(`db_common_expand: ${ctx.name}: lookup key '${value}' skipped after query`);
      return false;
    }
  } else {
    if (ctx.flags & (F.KEY_DOMAIN | F.KEY_USER)) {
      vdomain = domainOf(value);
      if (vdomain !== null) vuser = value.slice(0, value.length - vdomain.length - 1);
    }
    if (((vdomain === null || vdomain === '') && ctx.flags & F.KEY_DOMAIN) || (vuser === '' && ctx.flags & F.KEY_USER)) return false;
  }
  let parts: string[] = [];
  if (ctx.nparts > 0) {
    const d = key !== null ? kdomain : vdomain;
    // Postfix argv_split() drops empty fields; an all-empty split has no labels.
    parts = (d ?? '').split('.').filter((p) => p !== '');
    if (parts.length < ctx.nparts) return false;
    // Postfix also refuses empty labels among those used; with empty
    // fields dropped by argv_split that check can never fire.
  }
  const q = (s: string): string => (escape ? escape(s) : s);
  let r = '';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== '%') {
      r += ch;
      continue;
    }
    const c = format[++i] ?? '';
    switch (c) {
      case '%':
        r += '%';
        break;
      case 's':
        r += q(value);
        break;
      case 'u':
        r += q(vdomain !== null ? vuser! : value);
        break;
      case 'd':
        if (vdomain === null) throw new Error(`db_common_expand: ${ctx.name}: ${format}: expanding domain-less key or value`);
        r += q(vdomain);
        break;
      case 'S':
        r += q(key ?? value);
        break;
      case 'U':
        if (key !== null) r += q(kdomain !== null ? kuser! : key);
        else r += q(vdomain !== null ? vuser! : value);
        break;
      case 'D': {
        const d = key !== null ? kdomain : vdomain;
        if (d === null) throw new Error(`db_common_expand: ${ctx.name}: ${format}: expanding domain-less key or value`);
        r += q(d);
        break;
      }
      default:
        if (c >= '1' && c <= '9' && Number(c) <= ctx.nparts && parts.length >= ctx.nparts) {
          r += q(parts[parts.length - Number(c)]!);
        } else {
          msgFatal(`db_common_expand: ${ctx.name}: invalid ${key !== null ? 'result' : 'query'} template '${format}'`);
        }
    }
  }
  out.push(r);
  return true;
}

/** The pieces dbCommonExpand appended, as Postfix's result buffer reads. */
export function dbCommonJoin(out: readonly string[]): string {
  return out.join(',');
}

/** Postfix db_common_sql_build_query(): "SELECT f FROM t WHERE w='%s' cond". */
export function dbCommonSqlBuildQuery(cfg: CfgParser): string {
  const table = cfg.getStr('table', '', 1, 0);
  const select = cfg.getStr('select_field', '', 1, 0);
  const where = cfg.getStr('where_field', '', 1, 0);
  const cond = cfg.getStr('additional_conditions', '', 0, 0);
  return `SELECT ${select} FROM ${table} WHERE ${where}='%s' ${cond}`;
}
