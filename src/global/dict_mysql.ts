/*
 * dict_mysql - mysql: tables, mysql_table(5), through mysql2 (Postfix dict_mysql)
 *
 * What it does: dictMysqlOpen() reads the table's settings (a .cf file
 * or main.cf parameters with the table name as prefix, cfg_parser.ts):
 * hosts, user, password, dbname (required), query (or the old
 * select_field/table/where_field/additional_conditions), result_format,
 * domain, expansion_limit, require_result_set, option_file/option_group
 * (dict_mysql_options.ts), tls_cert_file, tls_key_file, tls_CAfile,
 * tls_CApath, tls_ciphers, tls_verify_cert. A lookup folds the key when
 * the table folds, skips keys the domain list or the query template rule
 * out (db_common.ts), expands the query with the key parts escaped by the
 * driver's string escaping, and joins every non-empty column of every row,
 * each through result_format, with ','. Hosts as dict_mysql.c keeps them
 * (dict_mysql_hosts.ts): connected lazily, UNIX sockets tried before TCP,
 * random order within each kind, a failed host avoided for retry_interval
 * seconds, an idle connection closed after idle_interval seconds (both 60
 * as Postfix hard-codes; Postern reads them from the .cf file too).
 *
 * Bytes: keys and results are byte strings (one char per byte). The
 * connection is opened with the latin1 handshake so the driver sends the
 * query bytes as they are, then switched with SET NAMES to utf8mb4 (the
 * client library's default, as Postfix's connections have it); results
 * are taken as raw column bytes. The server thus sees exactly what it
 * sees from Postfix.
 *
 * What it does not do: update or delete (Postfix's mysql: is read-only:
 * other modes are refused), answer synchronously (no lookupSync), read
 * the system my.cnf files libmysqlclient reads by default.
 *
 * DIAGNOSTICS
 * As Postfix: "connect to mysql server HOST: ERROR", "mysql:NAME: query
 * failed: ERROR", "mysql:NAME: query failed: query returned no result
 * set(require_result_set = yes)", "mysql:NAME: query failed: multiple
 * result sets returning data are not supported", "dict_mysql_lookup:
 * NAME: Expansion limit exceeded for key: 'KEY'", "mysql:NAME 'domain'
 * pattern match failed for 'KEY'"; each makes the lookup reject with a
 * DictError (temporary failure). Settings errors are fatal (cfg_parser).
 */
import { msgWarn } from '../util/msg.js';
import { cfgParserOpen, type CfgParser } from './cfg_parser.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError } from './dict_base.js';
import {
  DB_COMMON_FLAG,
  type DbCommonCtx,
  dbCommonCheckDomainAsync,
  dbCommonExpand,
  dbCommonFoldKey,
  dbCommonJoin,
  dbCommonParse,
  dbCommonParseDomain,
  dbCommonParseTemplate,
  dbCommonSqlBuildQuery,
} from './db_common.js';
import { type MysqlHostSettings, MysqlPool, mysqlEscape } from './dict_mysql_hosts.js';
import { mysqlReadOptionFile } from './dict_mysql_options.js';

/** Postfix's RETRY_CONN_INTV and IDLE_CONN_INTV (seconds). */
export const MYSQL_RETRY_INTERVAL_S = 60;
export const MYSQL_IDLE_INTERVAL_S = 60;
/** Lookups waiting for the table's connection; more are refused, not queued. */
export const MYSQL_MAX_PENDING = 200;

interface MysqlTable {
  spec: string;
  parser: CfgParser;
  query: string;
  resultFormat: string;
  expansionLimit: number;
  requireResultSet: boolean;
  db: DbCommonCtx;
  pool: MysqlPool;
}

/** Opens a mysql: table (read-only, as Postfix). */
export function dictMysqlOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const t = mysqlParseConfig(ctx);
  const partial = (t.db.flags & DB_COMMON_FLAG.KEY_PARTIAL) !== 0;
  let pending = 0;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    spec: ctx.spec,
    type: ctx.type,
    // Postfix: a query that uses parts of the key is asked full keys only.
    pattern: partial,
    lookup: (key: string): Promise<string | null> => {
      if (pending >= MYSQL_MAX_PENDING) {
        return Promise.reject(new DictError(ctx.spec, `${ctx.spec}: too many pending lookups (${pending})`));
      }
      pending++;
      const run = chain.then(() => mysqlLookup(t, key));
      chain = run.catch(() => undefined).finally(() => {
        pending--;
      });
      return run;
    },
    close: async () => {
      await chain;
      await t.pool.close();
    },
  };
}

function mysqlParseConfig(ctx: DictOpenContext): MysqlTable {
  const p = cfgParserOpen(ctx);
  const user = p.getStr('user', '', 0, 0);
  const password = p.getStr('password', '', 0, 0);
  const dbname = p.getStr('dbname', '', 1, 0);
  const resultFormat = p.getStr('result_format', '%s', 1, 0);
  const optionFile = p.getStr('option_file', '', 0, 0);
  const optionGroup = p.getStr('option_group', 'client', 0, 0);
  const expansionLimit = p.getInt('expansion_limit', 0, 0, 0);
  const requireResultSet = p.getBool('require_result_set', true);
  const query = p.has('query') ? p.getStr('query', '', 0, 0) : dbCommonSqlBuildQuery(p);
  const db = dbCommonParse(p, query, { fold: ctx.fold, type: ctx.type, name: ctx.name, utf8: ctx.utf8, config: ctx.config });
  dbCommonParseTemplate(db, resultFormat, false);
  dbCommonParseDomain(p, db);
  const hostList = p.getStr('hosts', '', 0, 0).split(/[ ,\t\r\n]+/).filter((h) => h !== '');
  if (hostList.length === 0) hostList.push('localhost');
  const options = optionFile !== '' ? mysqlReadOptionFile(optionFile, optionGroup) : {};
  const settings: MysqlHostSettings = {
    user, password, dbname, options,
    tls: {
      certFile: p.getStr('tls_cert_file', '', 0, 0),
      keyFile: p.getStr('tls_key_file', '', 0, 0),
      caFile: p.getStr('tls_CAfile', '', 0, 0),
      caPath: p.getStr('tls_CApath', '', 0, 0),
      ciphers: p.getStr('tls_ciphers', '', 0, 0),
      verify: p.getBool('tls_verify_cert', false),
    },
    retryIntervalS: p.getInt('retry_interval', MYSQL_RETRY_INTERVAL_S, 1, 0),
    idleIntervalS: p.getInt('idle_interval', MYSQL_IDLE_INTERVAL_S, 1, 0),
  };
  return {
    spec: `${ctx.type}:${ctx.name}`, parser: p, query, resultFormat, expansionLimit, requireResultSet, db,
    pool: new MysqlPool(`${ctx.type}:${ctx.name}`, hostList, settings),
  };
}

/** Postfix dict_mysql_lookup(). */
async function mysqlLookup(t: MysqlTable, rawKey: string): Promise<string | null> {
  const key = dbCommonFoldKey(t.db, rawKey);
  const domain = await dbCommonCheckDomainAsync(t.db, key);
  if (domain instanceof DictError) {
    const text = `${t.spec} 'domain' pattern match failed for '${key}'`;
    msgWarn(text);
    throw new DictError(t.spec, text);
  }
  if (domain === 'skip') return null;
  // The key's prerequisites, before any connection (no quoting needed here).
  if (!dbCommonExpand(t.db, t.query, key, null, null, [])) return null;
  const expand = (): string => {
    const out: string[] = [];
    dbCommonExpand(t.db, t.query, key, null, mysqlEscape, out);
    return out.join('');
  };
  const answer = await t.pool.query(expand);
  if (answer.kind === 'error') throw new DictError(t.spec, answer.text);
  if (answer.sets.length > 1) {
    const text = `${t.spec}: query failed: multiple result sets returning data are not supported`;
    msgWarn(text);
    throw new DictError(t.spec, text);
  }
  if (answer.sets.length === 0) {
    if (!t.requireResultSet) return null;
    const text = `${t.spec}: query failed: query returned no result set(require_result_set = yes)`;
    msgWarn(text);
    throw new DictError(t.spec, text);
  }
  const out: string[] = [];
  let expansion = 0;
  for (const row of answer.sets[0]!) {
    for (const cell of row) {
      if (dbCommonExpand(t.db, t.resultFormat, cell, key, null, out)
        && t.expansionLimit > 0 && ++expansion > t.expansionLimit) {
        const text = `dict_mysql_lookup: ${t.parser.name}: Expansion limit exceeded for key: '${key}'`;
        msgWarn(text);
        throw new DictError(t.spec, text);
      }
    }
  }
  const r = dbCommonJoin(out);
  return r === '' ? null : r;
}
