/*
 * dict_sqlite - sqlite: tables, sqlite_table(5) through better-sqlite3
 *
 * What it does: dictSqliteOpen() reads the table's settings (cfg_parser:
 * a .cf file or main.cf NAME_* parameters): dbpath, query (or the old
 * table/select_field/where_field/additional_conditions), result_format,
 * expansion_limit, domain. A lookup does what Postfix's dict_sqlite does:
 * a key that is not UTF-8 finds nothing; the key is folded when the
 * table folds keys; the domain list may rule it out; the query template
 * is expanded with every key piece quoted as sqlite3 "%q" does (single
 * quotes doubled); the first column of every row is expanded through
 * result_format (NULL skipped silently, an empty text skipped with
 * Postfix's warning) and the pieces joined with ','. Numbers read as
 * sqlite3_column_text() would print them (42, 1.5, 1.0e+20). Lookups are
 * synchronous (lookupSync) as the database is a local file.
 *
 * What it does not do: write (Postfix's sqlite table is read-only),
 * sequence, or hold the database open in any mode but better-sqlite3's
 * default (which, like sqlite3_open(), creates a missing file).
 *
 * DIAGNOSTICS
 * Opened for writing: DictOpenError "sqlite:NAME map requires O_RDONLY
 * access mode"; a database that cannot be opened: DictOpenError
 * "sqlite:NAME: Can't open database: REASON" (Postfix 3.7 is fatal).
 * A query that SQLite cannot prepare is fatal as in Postfix:
 * "dict_sqlite_lookup: NAME: SQL prepare failed: REASON?" (Postfix's text
 * ends in a newline, which its logger shows as '?'). A step error warns
 * "dict_sqlite_lookup: NAME: SQL step failed for query 'Q': REASON?"
 * and too many results warn "dict_sqlite_lookup: NAME: Expansion limit
 * exceeded for key 'KEY'"; both then throw DictError.
 */
import { createRequire } from 'node:module';
import { msgFatal, msgWarn } from '../util/msg.js';
import { cfgParserOpen } from './cfg_parser.js';
import {
  type DbCommonCtx,
  dbCommonCheckDomain,
  dbCommonExpand,
  dbCommonFoldKey,
  dbCommonJoin,
  dbCommonParse,
  dbCommonParseDomain,
  dbCommonParseTemplate,
  dbCommonSqlBuildQuery,
} from './db_common.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError } from './dict_base.js';
import { isValidUtf8Bytes } from './dict_utf8.js';

/** The part of better-sqlite3's API used here (the package ships no types). */
interface SqliteStatement {
  readonly reader: boolean;
  raw(on: boolean): SqliteStatement;
  safeIntegers(on: boolean): SqliteStatement;
  iterate(): IterableIterator<unknown>;
  run(): unknown;
}
interface SqliteDatabase {
  readonly open: boolean;
  prepare(sql: string): SqliteStatement;
  close(): void;
}
type SqliteDatabaseCtor = new (path: string, opts?: { readonly?: boolean; fileMustExist?: boolean; timeout?: number }) => SqliteDatabase;

/** better-sqlite3 is loaded when an sqlite: table is first opened. */
let sqliteCtor: SqliteDatabaseCtor | null = null;
function sqliteDatabase(): SqliteDatabaseCtor {
  sqliteCtor ??= createRequire(import.meta.url)('better-sqlite3') as SqliteDatabaseCtor;
  return sqliteCtor;
}

/** The significant digits sqlite3 prints a REAL with ("%!.15g"). */
export const SQLITE_REAL_DIGITS = 15;

/** sqlite3_mprintf("%q"): single quotes doubled. */
export function sqliteQuote(text: string): string {
  return text.replace(/'/g, "''");
}

/** Byte string (one char per byte, UTF-8 inside) → JavaScript text for the driver. */
export function bytesToText(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** JavaScript text from the driver → byte string. */
export function textToBytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A REAL as sqlite3_column_text() prints it: "%!.15g" (1.5, 1.0, 1.0e+20, 1.0e-05). */
export function sqliteRealText(x: number): string {
  if (Number.isNaN(x)) return '';
  if (!Number.isFinite(x)) return x > 0 ? 'Inf' : '-Inf';
  if (x === 0) return '0.0';
  const p = SQLITE_REAL_DIGITS;
  const [mant, expText] = x.toExponential(p - 1).split('e');
  const exp = Number(expText);
  const trim = (s: string): string => {
    if (!s.includes('.')) return `${s}.0`;
    const t = s.replace(/0+$/, '');
    return t.endsWith('.') ? `${t}0` : t;
  };
  if (exp < -4 || exp >= p) {
    const e = Math.abs(exp);
    return `${trim(mant!)}e${exp < 0 ? '-' : '+'}${e < 10 ? '0' : ''}${e}`;
  }
  return trim(x.toFixed(Math.max(0, p - 1 - exp)));
}

/** One column value as the C API's text: null for SQL NULL. */
function columnText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  // With safeIntegers on, INTEGER comes as bigint: a number is always a REAL.
  if (typeof v === 'number') return sqliteRealText(v);
  if (Buffer.isBuffer(v)) {
    const nul = v.indexOf(0);
    return (nul < 0 ? v : v.subarray(0, nul)).toString('latin1');
  }
  return textToBytes(String(v));
}

/** The query: `query`, else the old select_field/table/where_field form. */
function sqlQueryTemplate(cfg: ReturnType<typeof cfgParserOpen>): string {
  return cfg.has('query') ? cfg.getStr('query', '', 0, 0) : dbCommonSqlBuildQuery(cfg);
}

export function dictSqliteOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const cfg = cfgParserOpen(ctx);
  const dbpath = cfg.getStr('dbpath', '', 1, 0);
  let query = sqlQueryTemplate(cfg);
  if (query === '') query = dbCommonSqlBuildQuery(cfg);
  const resultFormat = cfg.getStr('result_format', '%s', 1, 0);
  const expansionLimit = cfg.getInt('expansion_limit', 0, 0, 0);
  const dbc: DbCommonCtx = dbCommonParse(cfg, query, { fold: ctx.fold, utf8: ctx.utf8, type: ctx.type, name: ctx.name, config: ctx.config });
  dbCommonParseTemplate(dbc, resultFormat, false);
  dbCommonParseDomain(cfg, dbc);
  let db: SqliteDatabase;
  try {
    db = new (sqliteDatabase())(dbpath);
  } catch (err) {
    throw new DictOpenError(`${ctx.type}:${ctx.name}: Can't open database: ${(err as Error).message}`);
  }
  const me = 'dict_sqlite_lookup';
  const failed = (): DictError => new DictError(ctx.spec, `table ${ctx.spec}: query error`);

  const lookupSync = (rawKey: string): string | null => {
    if (!isValidUtf8Bytes(rawKey)) return null;
    const key = dbCommonFoldKey(dbc, rawKey);
    const domain = dbCommonCheckDomain(dbc, key);
    if (domain === 'skip') return null;
    if (domain instanceof DictError) {
      msgWarn(`${me}: ${cfg.name}: ${domain.message}`);
      throw failed();
    }
    const q: string[] = [];
    if (!dbCommonExpand(dbc, query, key, null, sqliteQuote, q)) return null;
    const sql = dbCommonJoin(q);
    let stmt: SqliteStatement;
    try {
      stmt = db.prepare(bytesToText(sql));
    } catch (err) {
      return msgFatal(`${me}: ${cfg.name}: SQL prepare failed: ${(err as Error).message}?`);
    }
    const out: string[] = [];
    let expansion = 0;
    try {
      if (!stmt.reader) {
        stmt.run();
        return null;
      }
      stmt.raw(true).safeIntegers(true);
      for (const row of stmt.iterate() as Iterable<unknown[]>) {
        if (dbCommonExpand(dbc, resultFormat, columnText(row[0]), key, null, out) && expansionLimit > 0 && ++expansion > expansionLimit) {
          msgWarn(`${me}: ${cfg.name}: Expansion limit exceeded for key '${key}'`);
          throw failed();
        }
      }
    } catch (err) {
      if (err instanceof DictError) throw err;
      msgWarn(`${me}: ${cfg.name}: SQL step failed for query '${sql}': ${(err as Error).message}?`);
      throw failed();
    }
    const r = dbCommonJoin(out);
    return r === '' ? null : r;
  };

  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: false,
    lookup: async (key: string) => lookupSync(key),
    lookupSync,
    close: async () => {
      if (db.open) db.close();
    },
  };
}
