/*
 * dict_base - the lookup-table interface every table type implements
 *
 * What it does: defines DictError (a lookup that could not be done),
 * the Dict interface (one opened table: spec, type, pattern, lookup,
 * close), the options a table type receives when it is opened, and
 * dictSurrogate(), the stand-in that Postfix's dict_surrogate() is: a
 * table that could not be opened (unreadable file, syntax error,
 * unknown type) becomes a Dict whose every lookup rejects with a
 * DictError carrying the reason, after one warning at open time.
 *
 * What it does not do: choose a table type from a spec or cache opened
 * tables (dict.ts), search several tables (maps.ts), or derive keys from
 * an address (mail_addr_find.ts).
 *
 * DIAGNOSTICS
 * dictSurrogate() logs "warning: TYPE:NAME is unavailable. REASON" as
 * Postfix does; its lookups reject with DictError("TYPE:NAME lookup
 * error: REASON"-style text naming the table).
 */
import { msgWarn } from '../util/msg.js';
import type { MailConfig } from './mail_conf.js';
import { foldUtf8Key } from './dict_utf8.js';

/** A table could not be searched: callers turn this into a temporary failure. */
export class DictError extends Error {
  /** The table as configured, "type:name". */
  readonly table: string;

  constructor(table: string, message: string) {
    super(message);
    this.name = 'DictError';
    this.table = table;
  }
}

/** One opened lookup table. */
export interface Dict {
  /** "type:name" as configured. */
  readonly spec: string;
  readonly type: string;
  /** regexp/pcre/cidr/fail (Postfix DICT_FLAG_PATTERN): asked the whole address only, never partial keys. */
  readonly pattern: boolean;
  /** null = not found; rejects with DictError when the lookup cannot be done. */
  lookup(key: string): Promise<string | null>;
  /**
   * The same lookup without waiting, offered by tables that answer from
   * memory or a memory-mapped file (inline, texthash, regexp, lmdb,
   * sqlite, ...): null = not found; throws DictError. Absent for network
   * tables and proxy:.
   */
  lookupSync?(key: string): string | null;
  /**
   * Writable tables (opened with mode 'write' or 'create'): add or change
   * one entry; an existing key is handled per DictOpenContext.dup.
   * Rejects with DictError. With bulk, nothing is visible before close().
   */
  update?(key: string, value: string): Promise<void>;
  /** Writable tables: remove one entry; false when it was not there. Rejects with DictError. */
  delete?(key: string): Promise<boolean>;
  /** Every entry, in the table's own order (postmap -s, postalias -s); rejects with DictError. */
  sequence?(): AsyncIterable<[string, string]>;
  /** Commits a bulk update; releases files, connections and timers. */
  close(): Promise<void>;
}

/** How a table is opened: Postfix's O_RDONLY, O_RDWR, O_RDWR|O_CREAT|O_TRUNC. */
export type DictOpenMode = 'read' | 'write' | 'create';

/**
 * What update() does with a key that exists (Postfix DICT_FLAG_DUP_*):
 * 'fatal' rejects with DictError "duplicate entry"; 'warn' warns
 * ("TABLE: duplicate entry: \"KEY\"") and keeps the old value; 'ignore'
 * keeps the old value silently; 'replace' stores the new value.
 */
export type DictDupMode = 'fatal' | 'warn' | 'ignore' | 'replace';

/** What dictOpen() passes to a table type's opener. */
export interface DictOpenContext {
  /** The whole "type:name". */
  spec: string;
  type: string;
  /** The part after the first ':'. */
  name: string;
  /** Postfix's DICT_FLAG_FOLD_FIX: lowercase keys of fixed-key tables. */
  fold: boolean;
  /** UTF-8 active (DICT_FLAG_UTF8_ACTIVE): checks and non-ASCII folding. */
  utf8: boolean;
  /** Postfix's DICT_FLAG_NO_REGSUB: regexp/pcre rules with $n are refused. */
  noRegsub?: boolean;
  /** Open a component table with the same options (unionmap:, pipemap:). */
  openNested?: (spec: string) => Dict;
  config?: MailConfig;
  /** The parameter that names the table, for messages. */
  owner?: string;
  /** Default 'read'. */
  mode: DictOpenMode;
  /** Default 'warn' (postmap's default). */
  dup: DictDupMode;
  /**
   * Postfix's DICT_FLAG_TRY1NULL / TRY0NULL for indexed tables: keys and
   * values stored with (try1) or without (try0) a terminating null byte.
   * Reading tries both unless the file's own habit is known; writing
   * uses try1 when both are set (postmap -N sets only try1, -n only try0).
   */
  try0Null: boolean;
  try1Null: boolean;
  /** Many updates in one transaction, committed by close() (postmap/postalias builds). */
  bulk: boolean;
}

/** The open options a table gets when the caller names none (a read-only lookup table). */
export const DICT_OPEN_DEFAULTS = {
  mode: 'read', dup: 'warn', try0Null: true, try1Null: true, bulk: false,
} as const satisfies Partial<DictOpenContext>;

/** A table type: returns the Dict or throws DictOpenError (turned into a surrogate). */
export type DictOpener = (ctx: DictOpenContext) => Dict;

/** Thrown by an opener when the table cannot be opened; the message is the reason. */
export class DictOpenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DictOpenError';
  }
}

/** Postfix's dict_surrogate(): every lookup fails with the reason the open failed. */
export function dictSurrogate(spec: string, type: string, pattern: boolean, reason: string): Dict {
  msgWarn(`${spec} is unavailable. ${reason}`);
  return {
    spec,
    type,
    pattern,
    lookup: async () => {
      throw new DictError(spec, `${spec} lookup error: ${reason}`);
    },
    close: async () => {},
  };
}

/** A Dict over a synchronous lookup function (file-based and in-memory tables). */
export function syncDict(
  ctx: DictOpenContext,
  pattern: boolean,
  lookup: (key: string) => string | null,
): Dict {
  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern,
    lookup: async (key: string) => lookup(key),
    lookupSync: lookup,
    close: async () => {},
  };
}

/** A Dict over an in-memory Map of folded keys (texthash, inline): lookups and a listing in insertion order. */
export function mapDict(ctx: DictOpenContext, entries: ReadonlyMap<string, string>): Dict {
  const dict = syncDict(ctx, false, (key) => entries.get(foldKey(key, ctx.fold, ctx.utf8)) ?? null);
  dict.sequence = async function* () {
    yield* entries.entries();
  };
  return dict;
}

/** Lowercase a key when the dict folds fixed keys (see dict_utf8.ts for non-ASCII keys). */
export function foldKey(key: string, fold: boolean, utf8 = true): string {
  if (!fold) return key;
  return utf8 ? foldUtf8Key(key) : key.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
