/*
 * dict_pgsql - pgsql: tables, pgsql_table(5) through the pg driver
 *
 * What it does: dictPgsqlOpen() reads the settings (cfg_parser: a .cf
 * file or main.cf NAME_* parameters): hosts (inet:host:port, host:port,
 * unix:/socket/dir (port 5432), postgresql:// URIs; default localhost), user,
 * password, dbname, query (else select_function, else the old
 * table/select_field/where_field/additional_conditions form),
 * result_format, expansion_limit, domain, and (as later Postfix
 * versions; 3.7 has them fixed at 60 s) retry_interval and
 * idle_interval in seconds. A lookup does what Postfix's
 * dict_pgsql does: the key is folded when the table folds keys, the domain list may rule it out, and a query
 * template that cannot be expanded for the key (db_common) means no
 * query. Then a host is picked as dict_pgsql.c picks it: a connected one
 * (UNIX sockets first), else an untried or failed one whose stay-away
 * time has passed, at random, connecting lazily. The key pieces are
 * escaped for that connection (PQescapeStringConn: quotes doubled, and
 * backslashes too when the server has standard_conforming_strings off).
 * As Postfix 3.7 (client encoding LATIN1), key bytes are LATIN1
 * characters to the server and a result character outside LATIN1 is a
 * query failure.
 * A failed connect or query marks the host down for PGSQL_RETRY_MS and
 * the next host is tried; when none is left the lookup rejects with
 * DictError. Every value of every row (NULL reads as an empty value, as
 * PQgetvalue gives it) goes through result_format and the pieces are
 * joined with ','. An idle connection is closed after PGSQL_IDLE_MS.
 * Lookups of one table run one at a time (as in Postfix's single-threaded
 * processes), at most PGSQL_MAX_PENDING waiting; every connect and query
 * is bounded by PGSQL_CONNECT_TIMEOUT_MS / PGSQL_QUERY_TIMEOUT_MS (a
 * timed-out connection is dropped and the host marked down).
 *
 * What it does not do: write (Postfix's pgsql table is read-only),
 * sequence, TLS settings beyond what a postgresql:// URI says, or offer
 * lookupSync.
 *
 * DIAGNOSTICS
 * Opened for writing: DictOpenError "pgsql:NAME map requires O_RDONLY
 * access mode". Warnings as Postfix words them: "connect to pgsql server
 * HOST: REASON", "pgsql query failed: fatal error from host HOST:
 * REASON", "dict_pgsql_lookup: NAME: Expansion limit exceeded for key:
 * 'KEY'"; then the lookup rejects with DictError "table pgsql:NAME:
 * query error".
 */
import { createRequire } from 'node:module';
import { msgWarn } from '../util/msg.js';
import { type CfgParser, cfgParserOpen } from './cfg_parser.js';
import {
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
import { type Dict, type DictOpenContext, DictError, DictOpenError } from './dict_base.js';

/** How long a failed host is left alone (Postfix RETRY_CONN_INTV, 60 s). */
export const PGSQL_RETRY_MS = 60_000;
/** An unused connection is closed after this (Postfix IDLE_CONN_INTV, 60 s). */
export const PGSQL_IDLE_MS = 60_000;
/** Bound on connecting (libpq has none by default; Postern bounds every call). */
export const PGSQL_CONNECT_TIMEOUT_MS = 30_000;
/** Bound on one query. */
export const PGSQL_QUERY_TIMEOUT_MS = 60_000;
/** How long a closing connection may take before its socket is destroyed. */
export const PGSQL_END_GRACE_MS = 1000;
/** Lookups that may wait for the one running on the same table. */
export const PGSQL_MAX_PENDING = 100;
/** Safety net on host attempts per lookup (Postfix RETRY_CONN_MAX). */
export const PGSQL_RETRY_CONN_MAX = 100;
/** The server port when a host names none. */
export const PGSQL_DEFAULT_PORT = 5432;
/** Where libpq looks for the server socket when the host is empty. */
export const PGSQL_DEFAULT_SOCKET_DIR = '/var/run/postgresql';

/** Timing in use; tests shorten it with pgsqlSetTiming(). */
const timing = { retryMs: PGSQL_RETRY_MS, idleMs: PGSQL_IDLE_MS, connectMs: PGSQL_CONNECT_TIMEOUT_MS, queryMs: PGSQL_QUERY_TIMEOUT_MS };

/** Tests only: change the retry, idle and timeout intervals for tables opened afterwards and open ones. */
export function pgsqlSetTiming(t: Partial<typeof timing>): void {
  Object.assign(timing, t);
}

/** The part of the pg driver's API used here (the package ships no types). */
interface PgResult {
  rows: unknown[][];
}
interface PgClient {
  connect(): Promise<void>;
  query(cfg: { text: string; rowMode: 'array'; types: { getTypeParser: () => (v: string) => string } }): Promise<PgResult | PgResult[]>;
  end(): Promise<void>;
  on(event: 'error', fn: (err: Error) => void): void;
}
type PgClientCtor = new (cfg: Record<string, unknown>) => PgClient;

/** pg is loaded when a pgsql: table first connects, not by every program that can open tables. */
let pgClientClass: PgClientCtor | null = null;
function pgClient(): PgClientCtor {
  pgClientClass ??= (createRequire(import.meta.url)('pg') as { Client: PgClientCtor }).Client;
  return pgClientClass;
}

/** Values stay text, as PQgetvalue returns them. */
const TEXT_TYPES = { getTypeParser: () => (v: string) => v };

type HostStat = 'active' | 'fail' | 'untried';

interface PgHost {
  /** As written in `hosts`. */
  readonly hostname: string;
  readonly unix: boolean;
  readonly connect: Record<string, unknown>;
  client: PgClient | null;
  stat: HostStat;
  /** Failed host: not before this time (ms). */
  ts: number;
  /** standard_conforming_strings of the connection. */
  scs: boolean;
  idle: NodeJS.Timeout | null;
}

/** Postfix host_init(): "unix:path", "inet:host:port", "host:port", "host", or a URI. */
export function pgsqlParseHost(spec: string): { unix: boolean; uri?: string; host: string; port: number } {
  if (spec.startsWith('postgresql:') || spec.startsWith('postgres:')) return { unix: false, uri: spec, host: '', port: PGSQL_DEFAULT_PORT };
  // unix:/path is a socket directory as a whole; otherwise "inet:" is
  // dropped and a trailing ":port" split off (the real 3.7 postmap looks
  // for unix:/dir:5432 in the directory "/dir:5432").
  if (spec.startsWith('unix:')) {
    const path = spec.slice(5);
    return { unix: true, host: path === '' ? PGSQL_DEFAULT_SOCKET_DIR : path, port: PGSQL_DEFAULT_PORT };
  }
  const d = spec.startsWith('inet:') ? spec.slice(5) : spec;
  let host = d;
  let port = '';
  const colon = d.lastIndexOf(':');
  if (colon >= 0) {
    host = d.slice(0, colon);
    port = d.slice(colon + 1);
  }
  const unix = host === '' || host.startsWith('/');
  return { unix, host: host === '' ? PGSQL_DEFAULT_SOCKET_DIR : host, port: /^\d+$/.test(port) ? Number(port) : PGSQL_DEFAULT_PORT };
}

/** PQescapeStringConn(): quotes doubled; backslashes too without standard_conforming_strings. */
export function pgsqlQuote(text: string, standardConformingStrings: boolean): string {
  return standardConformingStrings ? text.replace(/'/g, "''") : text.replace(/['\\]/g, (c) => c + c);
}

/** The query template: query, else select_function, else the old table/select_field form. */
function pgsqlQueryTemplate(cfg: CfgParser): string {
  const q = cfg.getStr('query', '', 0, 0);
  if (q !== '') return q;
  const f = cfg.getStr('select_function', '', 0, 0);
  if (f !== '') return `SELECT ${f}('%s')`;
  return dbCommonSqlBuildQuery(cfg);
}

/** Rejects with Error('timeout') when p takes longer than ms. */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** A server error as PQresultErrorMessage starts it ("ERROR:  text"). */
function pgErrorText(err: Error): string {
  const sev = (err as { severity?: string }).severity;
  return sev ? `${sev}:  ${err.message}` : err.message;
}

/**
 * Postfix 3.7 sets the client encoding to LATIN1: every key byte is one
 * LATIN1 character, and a result character LATIN1 cannot hold is a
 * server-side conversion error. The driver speaks UTF-8, so the byte
 * string (one char per byte) is sent as it is, and the result text must
 * stay within U+0000..U+00FF; this is the first character that does not.
 */
function nonLatin1(text: string): string | null {
  const m = /[^\u0000-\u00ff]/u.exec(text);
  return m ? m[0] : null;
}

/** The server's text for a character LATIN1 cannot hold. */
function latin1Error(ch: string): string {
  const bytes = [...Buffer.from(ch, 'utf8')].map((b) => `0x${b.toString(16).padStart(2, '0')}`).join(' ');
  return `ERROR:  character with byte sequence ${bytes} in encoding "UTF8" has no equivalent in encoding "LATIN1"`;
}

export function dictPgsqlOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const cfg = cfgParserOpen(ctx);
  const user = cfg.getStr('user', '', 0, 0);
  const password = cfg.getStr('password', '', 0, 0);
  const dbname = cfg.getStr('dbname', '', 1, 0);
  const resultFormat = cfg.getStr('result_format', '%s', 1, 0);
  const expansionLimit = cfg.getInt('expansion_limit', 0, 0, 0);
  const query = pgsqlQueryTemplate(cfg);
  // Later Postfix versions read these two; 3.7 ignores them (fixed 60 s).
  const retrySec = cfg.has('retry_interval') ? cfg.getInt('retry_interval', 60, 1, 0) : null;
  const idleSec = cfg.has('idle_interval') ? cfg.getInt('idle_interval', 60, 1, 0) : null;
  const dbc: DbCommonCtx = dbCommonParse(cfg, query, { fold: ctx.fold, utf8: ctx.utf8, type: ctx.type, name: ctx.name, config: ctx.config });
  dbCommonParseTemplate(dbc, resultFormat, false);
  dbCommonParseDomain(cfg, dbc);
  let hostList = cfg.getStr('hosts', '', 0, 0).split(/[ ,\t\r\n]+/).filter((h) => h !== '');
  if (hostList.length === 0) hostList = ['localhost'];
  const hosts: PgHost[] = hostList.map((hostname) => {
    const p = pgsqlParseHost(hostname);
    const connect: Record<string, unknown> = p.uri
      ? { connectionString: p.uri }
      : { host: p.host, port: p.port, database: dbname, user: user || undefined, password: password || undefined };
    return { hostname, unix: p.unix, connect, client: null, stat: 'untried', ts: 0, scs: true, idle: null };
  });
  const failed = (): DictError => new DictError(ctx.spec, `table ${ctx.spec}: query error`);
  let closed = false;

  const closeHost = (h: PgHost, stat: HostStat): void => {
    if (h.idle) clearTimeout(h.idle);
    h.idle = null;
    const c = h.client;
    h.client = null;
    h.stat = stat;
    if (c) {
      // end() waits for the server; a hung one must not hold the socket.
      const stream = (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
      const kill = setTimeout(() => stream?.destroy(), PGSQL_END_GRACE_MS);
      kill.unref();
      c.end().then(() => clearTimeout(kill), () => stream?.destroy());
    }
  };
  const downHost = (h: PgHost): void => {
    closeHost(h, 'fail');
    h.ts = Date.now() + (retrySec !== null ? retrySec * 1000 : timing.retryMs);
  };

  /** dict_pgsql_find_host(): a random host with this status and socket kind, skipping resting failed ones. */
  const findHost = (stats: HostStat[], unix: boolean): PgHost | null => {
    const now = Date.now();
    const ok = hosts.filter((h) => stats.includes(h.stat) && h.unix === unix && !(h.stat === 'fail' && h.ts > 0 && h.ts >= now));
    if (ok.length === 0) return null;
    return ok[Math.floor(Math.random() * ok.length)]!;
  };

  const connectHost = async (h: PgHost): Promise<void> => {
    const client = new (pgClient())({ ...h.connect, connectionTimeoutMillis: timing.connectMs });
    client.on('error', () => {
      // A dropped idle connection: the next query on it fails and marks the host down.
    });
    try {
      await withTimeout(client.connect(), timing.connectMs + 1000, 'connect');
      const r = await withTimeout(
        client.query({ text: 'SHOW standard_conforming_strings', rowMode: 'array', types: TEXT_TYPES }),
        timing.queryMs,
        'query',
      );
      const rows = (Array.isArray(r) ? r[r.length - 1]! : r).rows;
      h.scs = String(rows[0]?.[0] ?? 'on') === 'on';
      h.client = client;
      h.stat = 'active';
    } catch (err) {
      client.end().catch(() => {});
      msgWarn(`connect to pgsql server ${h.hostname}: ${(err as Error).message}`);
      downHost(h);
    }
  };

  /** dict_pgsql_get_active(). */
  const getActive = async (): Promise<PgHost | null> => {
    const active = findHost(['active'], true) ?? findHost(['active'], false);
    if (active) return active;
    for (let count = PGSQL_RETRY_CONN_MAX; --count > 0; ) {
      const h = findHost(['untried', 'fail'], true) ?? findHost(['untried', 'fail'], false);
      if (!h) break;
      await connectHost(h);
      if (h.stat === 'active') return h;
    }
    return null;
  };

  /** plpgsql_query(): the rows of the first host that answers, or null. */
  const runQuery = async (key: string): Promise<unknown[][] | null> => {
    for (let h = await getActive(); h !== null && !closed; h = await getActive()) {
      const host = h;
      const q: string[] = [];
      dbCommonExpand(dbc, query, key, null, (s) => pgsqlQuote(s, host.scs), q);
      try {
        const r = await withTimeout(
          host.client!.query({ text: dbCommonJoin(q), rowMode: 'array', types: TEXT_TYPES }),
          timing.queryMs,
          'query',
        );
        const rows = (Array.isArray(r) ? r[r.length - 1]! : r).rows;
        let bad: string | null = null;
        for (const row of rows) for (const v of row) bad ??= v === null || v === undefined ? null : nonLatin1(String(v));
        if (bad !== null) {
          msgWarn(`pgsql query failed: fatal error from host ${host.hostname}: ${latin1Error(bad)}`);
          downHost(host);
          continue;
        }
        if (host.idle) clearTimeout(host.idle);
        host.idle = setTimeout(() => closeHost(host, 'untried'), idleSec !== null ? idleSec * 1000 : timing.idleMs);
        host.idle.unref();
        return rows;
      } catch (err) {
        msgWarn(`pgsql query failed: fatal error from host ${host.hostname}: ${pgErrorText(err as Error)}`);
        downHost(host);
      }
    }
    return null;
  };

  const lookupOne = async (rawKey: string): Promise<string | null> => {
    const key = dbCommonFoldKey(dbc, rawKey);
    const domain = await dbCommonCheckDomainAsync(dbc, key);
    if (domain === 'skip') return null;
    if (domain instanceof DictError) {
      msgWarn(`dict_pgsql_lookup: ${cfg.name}: ${domain.message}`);
      throw failed();
    }
    if (!dbCommonExpand(dbc, query, key, null, null, [])) return null;
    const rows = await runQuery(key);
    if (rows === null) throw failed();
    const out: string[] = [];
    let expansion = 0;
    for (const row of rows) {
      for (const v of row) {
        const value = v === null || v === undefined ? '' : String(v);
        if (dbCommonExpand(dbc, resultFormat, value, key, null, out) && expansionLimit > 0 && ++expansion > expansionLimit) {
          msgWarn(`dict_pgsql_lookup: ${cfg.name}: Expansion limit exceeded for key: '${key}'`);
          throw failed();
        }
      }
    }
    const r = dbCommonJoin(out);
    return r === '' ? null : r;
  };

  // One lookup at a time per table, a bounded number waiting.
  let tail: Promise<unknown> = Promise.resolve();
  let pending = 0;
  const lookup = (key: string): Promise<string | null> => {
    if (closed) return Promise.reject(new DictError(ctx.spec, `table ${ctx.spec}: table is closed`));
    if (pending >= PGSQL_MAX_PENDING) {
      msgWarn(`${ctx.spec}: too many pending lookups (${PGSQL_MAX_PENDING})`);
      return Promise.reject(failed());
    }
    pending++;
    const run = tail.then(() => lookupOne(key));
    tail = run.catch(() => {}).finally(() => pending--);
    return run;
  };

  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: false,
    lookup,
    close: async () => {
      closed = true;
      await tail.catch(() => {});
      for (const h of hosts) closeHost(h, 'untried');
    },
  };
}
