/*
 * dict - open a lookup table by its "type:name" (Postfix dict_open)
 *
 * What it does: dictOpen() splits "type:name", picks the table type,
 * opens it once per process (the same spec with the same folding gives
 * the same instance, as Postfix's dict_open cache does) and returns a
 * Dict. A table that cannot be opened (unknown or not yet supported
 * type, unreadable file, inline:/static: syntax error, a pcre: pattern
 * JS cannot express) never makes dictOpen() throw: it becomes a
 * surrogate whose lookups reject with DictError, after one warning
 * naming the table (and file:line for the pcre: case). A bad rule in a
 * regexp:/pcre:/cidr:/texthash: file is only warned about and skipped,
 * as Postfix does.
 * Types: inline, static, fail, texthash, regexp, pcre, cidr, environ,
 * unix (passwd.byname, group.byname), nis (as on a host without NIS:
 * finds nothing), unionmap, pipemap, randmap, lmdb (hash: and btree:
 * open as lmdb:), sqlite, pgsql, mysql, ldap, memcache, tcp, socketmap,
 * and proxy:TYPE:NAME (through the proxymap(8) service). cdb, dbm,
 * sdbm, nisplus and netinfo are refused with the reason.
 * Opened with mode 'write' or 'create' (postmap, postalias, proxywrite)
 * a table is not cached and may offer update/delete (dict_base.ts).
 * A table whose file is missing at open time is looked for again while
 * it is used (dictReopening), since no daemon restart will do it.
 *
 * Text convention: keys and results are byte strings, one character per
 * byte (decode with 'latin1'), like addresses and headers everywhere in
 * Postern; UTF-8 arrives as its bytes. With smtputf8_enable on (and the
 * utf8 option, default: same as fold) a key that is not valid UTF-8
 * finds nothing, as Postfix's dict_utf8 layer does.
 *
 * What it does not do: search several tables (maps.ts), derive keys
 * from an address (mail_addr_find.ts), or build indexed tables (postmap).
 *
 * DIAGNOSTICS
 * See dict_base.ts: warnings "TYPE:NAME is unavailable. REASON";
 * lookups of a surrogate reject with DictError.
 */
import {
  DICT_OPEN_DEFAULTS,
  type Dict,
  type DictDupMode,
  type DictOpenContext,
  type DictOpenMode,
  type DictOpener,
  DictOpenError,
  dictSurrogate,
} from './dict_base.js';
import type { MailConfig } from './mail_conf.js';
import { dictCidrOpen } from './dict_cidr.js';
import { dictEnvironOpen } from './dict_environ.js';
import { dictFailOpen } from './dict_fail.js';
import { dictInlineOpen } from './dict_inline.js';
import { dictPcreOpen } from './dict_pcre.js';
import { dictRegexpOpen } from './dict_regexp.js';
import { dictStaticOpen } from './dict_static.js';
import { dictTexthashOpen } from './dict_texthash.js';
import { dictNisOpen } from './dict_nis.js';
import { dictUnixOpen } from './dict_unix.js';
import { dictPipemapOpen, dictUnionmapOpen } from './dict_unionmap.js';
import { dictLmdbOpen } from './dict_lmdb.js';
import { dictSqliteOpen } from './dict_sqlite.js';
import { dictPgsqlOpen } from './dict_pgsql.js';
import { dictMysqlOpen } from './dict_mysql.js';
import { dictLdapOpen } from './dict_ldap.js';
import { dictMemcacheOpen } from './dict_memcache.js';
import { dictTcpOpen } from './dict_tcp.js';
import { dictSocketmapOpen } from './dict_socketmap.js';
import { dictRandmapOpen } from './dict_randmap.js';
import { dictProxyOpen } from './dict_proxy.js';
import { isValidUtf8Bytes, printableKey } from './dict_utf8.js';
import { msgWarn } from '../util/msg.js';
import { dictWatchClear } from './dict_changed.js';
import { DictError } from './dict_base.js';

export { DictError, type Dict, type DictDupMode, type DictOpenMode } from './dict_base.js';

/** The table types implemented here, and whether each is a pattern table. */
const DICT_TYPES: ReadonlyMap<string, { open: DictOpener; pattern: boolean }> = new Map([
  ['inline', { open: dictInlineOpen, pattern: false }],
  ['static', { open: dictStaticOpen, pattern: false }],
  ['fail', { open: dictFailOpen, pattern: true }],
  ['texthash', { open: dictTexthashOpen, pattern: false }],
  ['regexp', { open: dictRegexpOpen, pattern: true }],
  ['pcre', { open: dictPcreOpen, pattern: true }],
  ['cidr', { open: dictCidrOpen, pattern: true }],
  ['environ', { open: dictEnvironOpen, pattern: false }],
  ['unix', { open: (ctx) => dictUnixOpen(ctx), pattern: false }],
  ['nis', { open: dictNisOpen, pattern: false }],
  ['unionmap', { open: dictUnionmapOpen, pattern: false }],
  ['pipemap', { open: dictPipemapOpen, pattern: false }],
  ['randmap', { open: dictRandmapOpen, pattern: false }],
  // hash: and btree: are opened as lmdb: (dict_lmdb.ts warns once).
  ['lmdb', { open: dictLmdbOpen, pattern: false }],
  ['hash', { open: dictLmdbOpen, pattern: false }],
  ['btree', { open: dictLmdbOpen, pattern: false }],
  ['sqlite', { open: dictSqliteOpen, pattern: false }],
  ['pgsql', { open: dictPgsqlOpen, pattern: false }],
  ['mysql', { open: dictMysqlOpen, pattern: false }],
  ['ldap', { open: dictLdapOpen, pattern: false }],
  ['memcache', { open: dictMemcacheOpen, pattern: false }],
  ['tcp', { open: dictTcpOpen, pattern: false }],
  ['socketmap', { open: dictSocketmapOpen, pattern: false }],
  ['proxy', { open: dictProxyOpen, pattern: false }],
]);

/** Postfix table types Postern refuses, each with its reason. */
export const DICT_TYPES_REFUSED: ReadonlyMap<string, string> = new Map([
  ['cdb', 'no maintained CDB library for Node.js; use lmdb: (the default_database_type)'],
  ['dbm', 'use lmdb: (the default_database_type)'],
  ['sdbm', 'use lmdb: (the default_database_type)'],
  ['nisplus', 'NIS+ is not supported'],
  ['netinfo', 'NetInfo is not supported'],
]);

export interface DictOpenOptions {
  config?: MailConfig;
  /** Default true: lowercase fixed-key lookups (Postfix DICT_FLAG_FOLD_FIX). */
  fold?: boolean;
  /** The parameter that names the table, for messages. */
  owner?: string;
  /**
   * Postfix's DICT_FLAG_UTF8_REQUEST: with smtputf8_enable on, a key that
   * is not UTF-8 finds nothing and a non-UTF-8 result is an error.
   * Default: the same as fold (Postfix's callers ask for both, except
   * header/body checks, which ask for neither).
   */
  utf8?: boolean;
  /** Postfix's DICT_FLAG_NO_REGSUB (transport_maps and friends): no $n in regexp/pcre results. */
  noRegsub?: boolean;
  /** Default 'read'. Only 'read' opens are cached and shared. */
  mode?: DictOpenMode;
  /** Default 'warn'. */
  dup?: DictDupMode;
  /** Default both true (see DictOpenContext). */
  try0Null?: boolean;
  try1Null?: boolean;
  /** Default false. */
  bulk?: boolean;
}

/** Opened tables, per process: key is the fold and UTF-8 flags + spec. */
const dictCache = new Map<string, Dict>();

/** Open (or reuse) a table; never throws for a bad table. */
export function dictOpen(spec: string, opts: DictOpenOptions = {}): Dict {
  const fold = opts.fold ?? true;
  const utf8 = (opts.utf8 ?? fold) && (opts.config ? opts.config.getBool('smtputf8_enable') : true);
  if ((opts.mode ?? DICT_OPEN_DEFAULTS.mode) !== 'read') return dictOpenUncached(spec, fold, utf8, opts);
  const cacheKey = `${fold ? 'F' : '-'}${utf8 ? 'U' : '-'}${opts.noRegsub ? 'N' : '-'}${spec}`;
  const cached = dictCache.get(cacheKey);
  if (cached) return cached;
  const dict = dictOpenUncached(spec, fold, utf8, opts);
  dictCache.set(cacheKey, dict);
  return dict;
}

/** Forget every cached table (tests, reload). */
export function dictCacheClear(): void {
  dictCache.clear();
  dictWatchClear();
}

function dictOpenUncached(spec: string, fold: boolean, utf8: boolean, opts: DictOpenOptions): Dict {
  const colon = spec.indexOf(':');
  const type = colon > 0 ? spec.slice(0, colon) : '';
  const name = colon > 0 ? spec.slice(colon + 1) : '';
  if (type === '' || name === '') {
    return dictSurrogate(spec, type || 'unknown', false,
      `open dictionary: expecting "type:name" form instead of "${spec}"`);
  }
  const kind = DICT_TYPES.get(type);
  if (!kind) {
    const refused = DICT_TYPES_REFUSED.get(type);
    const why = refused !== undefined
      ? `unsupported dictionary type: ${type} (${refused})`
      : `unsupported dictionary type: ${type}`;
    return dictSurrogate(spec, type, false, why);
  }
  const ctx: DictOpenContext = {
    spec, type, name, fold, utf8, noRegsub: opts.noRegsub, config: opts.config, owner: opts.owner,
    mode: opts.mode ?? DICT_OPEN_DEFAULTS.mode,
    dup: opts.dup ?? DICT_OPEN_DEFAULTS.dup,
    try0Null: opts.try0Null ?? DICT_OPEN_DEFAULTS.try0Null,
    try1Null: opts.try1Null ?? DICT_OPEN_DEFAULTS.try1Null,
    bulk: opts.bulk ?? DICT_OPEN_DEFAULTS.bulk,
    openNested: (inner) => dictOpen(inner, { ...opts, fold, utf8 }),
  };
  const open = (): Dict => {
    const dict = kind.open(ctx);
    return utf8 ? dictUtf8(dict) : dict;
  };
  try {
    return open();
  } catch (err) {
    if (!(err instanceof DictOpenError)) throw err;
    const surrogate = dictSurrogate(spec, type, kind.pattern, err.message);
    return ctx.mode === 'read' && MISSING_FILE.test(err.message) ? dictReopening(surrogate, err.message, open) : surrogate;
  }
}

/** An open failure that a later attempt may not have: the file is not there (yet). */
const MISSING_FILE = /No such file or directory/;
/** How often a table whose file was missing is looked for again (see dictReopening). */
let reopenRetryMs = 10_000;

/** Tests: how often dictReopening tries again. */
export function dictSetReopenRetryMs(ms: number): void {
  reopenRetryMs = ms;
}

/**
 * A table whose file did not exist when it was opened (local(8) started
 * before newaliases ran): lookups fail as the surrogate's do, and at most
 * every reopenRetryMs a lookup first tries to open the table again; once
 * that works, the table answers. Postfix gets the same effect by exiting
 * on the fatal open error and being restarted by master.
 */
function dictReopening(surrogate: Dict, reason: string, open: () => Dict): Dict {
  let table: Dict | null = null;
  let lastTry = Date.now();
  const current = (): Dict => {
    if (table) return table;
    if (Date.now() - lastTry >= reopenRetryMs) {
      lastTry = Date.now();
      try {
        table = open();
      } catch (err) {
        if (!(err instanceof DictOpenError)) throw err;
      }
    }
    return table ?? surrogate;
  };
  return {
    spec: surrogate.spec,
    type: surrogate.type,
    pattern: surrogate.pattern,
    lookup: (key) => current().lookup(key),
    lookupSync: (key) => {
      const dict = current();
      if (dict.lookupSync) return dict.lookupSync(key);
      throw new DictError(dict.spec, `${dict.spec} is unavailable. ${reason}`);
    },
    close: async () => {
      await table?.close();
    },
  };
}

/**
 * Postfix's dict_utf8 layer with SMTPUTF8 on: a key that is not valid
 * UTF-8 finds nothing (with a warning); a result that is not valid UTF-8
 * is a lookup error. Writes, deletes and sequence pass through.
 */
function dictUtf8(dict: Dict): Dict {
  const keyOk = (key: string): boolean => {
    if (isValidUtf8Bytes(key)) return true;
    msgWarn(`${dict.spec}: non-UTF-8 key "${printableKey(key)}": malformed UTF-8 or invalid codepoint`);
    return false;
  };
  const checkValue = (key: string, value: string | null): string | null => {
    if (value !== null && !isValidUtf8Bytes(value)) {
      msgWarn(`${dict.spec}: key "${key}": non-UTF-8 value "${printableKey(value)}": malformed UTF-8 or invalid codepoint`);
      throw new DictError(dict.spec, `table ${dict.spec}: query error`);
    }
    return value;
  };
  const wrapped: Dict = {
    spec: dict.spec,
    type: dict.type,
    // A getter: proxy: learns whether the remote table is a pattern table from the server.
    get pattern() {
      return dict.pattern;
    },
    close: () => dict.close(),
    lookup: async (key: string) => (keyOk(key) ? checkValue(key, await dict.lookup(key)) : null),
  };
  const { lookupSync, update, delete: del, sequence } = dict;
  if (lookupSync) wrapped.lookupSync = (key) => (keyOk(key) ? checkValue(key, lookupSync.call(dict, key)) : null);
  if (update) wrapped.update = (key, value) => update.call(dict, key, value);
  if (del) wrapped.delete = (key) => del.call(dict, key);
  if (sequence) wrapped.sequence = () => sequence.call(dict);
  return wrapped;
}
