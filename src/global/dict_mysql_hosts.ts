/*
 * dict_mysql_hosts - the servers of one mysql: table and their connections (Postfix plmysql)
 *
 * What it does: MysqlPool keeps one HOST per entry of `hosts`
 * ("unix:/path", "inet:host:port", "host:port", "host"; "localhost"
 * means the UNIX socket, as the MySQL client library has it) with
 * dict_mysql.c's states: untried, active, failed. query() uses an active
 * connection (UNIX sockets first), else connects to untried or failed
 * hosts whose retry time has passed, in random order within each kind,
 * and runs the query there; a failed connect or query closes that
 * connection, marks the host failed for retry_interval seconds and tries
 * the next. A connection idle for idle_interval seconds is closed; one
 * the server dropped while idle is simply reconnected next time. Every
 * connect and query has a timeout. mysqlEscape() is the driver's string
 * escaping without the surrounding quotes.
 *
 * What it does not do: build queries or interpret results beyond
 * splitting them into result sets (dict_mysql.ts).
 *
 * DIAGNOSTICS
 * msgWarn "connect to mysql server HOST: ERROR" and "TABLE: query
 * failed: ERROR" (Postfix's texts); query() then answers with the error.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type mysqlTypes from 'mysql2';

/** mysql2 is loaded when a mysql: table is first used, not by every program that can open tables. */
let mysqlModule: typeof mysqlTypes | null = null;
function mysql(): typeof mysqlTypes {
  mysqlModule ??= createRequire(import.meta.url)('mysql2') as typeof mysqlTypes;
  return mysqlModule;
}
import { msgWarn } from '../util/msg.js';
import type { MysqlOptions } from './dict_mysql_options.js';

/** Where the client library looks for "localhost" (Debian's default socket). */
export const MYSQL_DEFAULT_SOCKET = '/run/mysqld/mysqld.sock';
export const MYSQL_DEFAULT_PORT = 3306;
export const MYSQL_CONNECT_TIMEOUT_MS = 10_000;
export const MYSQL_QUERY_TIMEOUT_MS = 30_000;
/** Postfix's RETRY_CONN_MAX: bound on connect attempts per query. */
export const MYSQL_RETRY_CONN_MAX = 100;
/** The connection character set the client library uses by default, and its collation. */
export const MYSQL_DEFAULT_CHARSET = 'utf8mb4';
export const MYSQL_DEFAULT_COLLATION = 'utf8mb4_general_ci';

export interface MysqlTlsSettings {
  certFile: string;
  keyFile: string;
  caFile: string;
  caPath: string;
  ciphers: string;
  verify: boolean;
}

export interface MysqlHostSettings {
  user: string;
  password: string;
  dbname: string;
  options: MysqlOptions;
  tls: MysqlTlsSettings;
  retryIntervalS: number;
  idleIntervalS: number;
}

/** One cell: the column's bytes (latin1 string) or null (SQL NULL). */
export type MysqlCell = string | null;
/** One result set: rows of cells. */
export type MysqlResultSet = MysqlCell[][];

export type MysqlAnswer = { kind: 'ok'; sets: MysqlResultSet[] } | { kind: 'error'; text: string };

type HostState = 'untried' | 'active' | 'failed';

interface MysqlHost {
  spec: string;
  unix: boolean;
  name: string;
  port: number;
  state: HostState;
  /** ms epoch before which a failed host is skipped. */
  retryAt: number;
  conn: mysqlTypes.Connection | null;
  idle: NodeJS.Timeout | null;
}

/** The driver's escaping of a string value, without the quotes it adds. */
export function mysqlEscape(s: string): string {
  return mysql().escape(s).slice(1, -1);
}

/** Postfix host_init(): parse one `hosts` entry. */
function hostInit(spec: string, options: MysqlOptions): MysqlHost {
  const host: MysqlHost = { spec, unix: false, name: '', port: 0, state: 'untried', retryAt: 0, conn: null, idle: null };
  let d = spec;
  if (d.startsWith('unix:')) {
    host.unix = true;
    host.name = d.slice(5);
    return host;
  }
  if (d.startsWith('inet:')) d = d.slice(5);
  const colon = d.lastIndexOf(':');
  if (colon >= 0) {
    const p = d.slice(colon + 1);
    host.port = /^\d+$/.test(p) ? Number(p) : p === 'mysql' ? MYSQL_DEFAULT_PORT : 0;
    d = d.slice(0, colon);
  }
  host.name = d;
  if (d.toLowerCase() === 'localhost') {
    host.unix = true;
    host.name = options.socket ?? MYSQL_DEFAULT_SOCKET;
  }
  return host;
}

/** libmariadb-style text for a failed connect. */
function connectErrorText(host: MysqlHost, err: NodeJS.ErrnoException & { sqlMessage?: string }): string {
  if (err.sqlMessage) return err.sqlMessage;
  const errno = typeof err.errno === 'number' ? Math.abs(err.errno) : 0;
  if (host.unix) return `Can't connect to local server through socket '${host.name}' (${errno})`;
  if (err.code === 'ECONNREFUSED' || err.code === 'ETIMEDOUT' || err.code === 'EHOSTUNREACH') {
    return `Can't connect to server on '${host.name}' (${errno})`;
  }
  return err.message;
}

function tlsOptions(tls: MysqlTlsSettings, options: MysqlOptions): mysqlTypes.SslOptions | undefined {
  const caFile = tls.caFile || options['ssl-ca'] || '';
  const certFile = tls.certFile || options['ssl-cert'] || '';
  const keyFile = tls.keyFile || options['ssl-key'] || '';
  const ciphers = tls.ciphers || options['ssl-cipher'] || '';
  if (!caFile && !certFile && !keyFile && !tls.caPath && !ciphers) return undefined;
  const ca: string[] = [];
  if (caFile) ca.push(readFileSync(caFile, 'latin1'));
  else if (tls.caPath) {
    for (const f of readdirSync(tls.caPath)) {
      try {
        const pem = readFileSync(join(tls.caPath, f), 'latin1');
        if (pem.includes('-----BEGIN CERTIFICATE-----')) ca.push(pem);
      } catch {
        // not a readable file: skipped, as the hashed-directory lookup would
      }
    }
  }
  return {
    ca: ca.length > 0 ? ca : undefined,
    cert: certFile ? readFileSync(certFile, 'latin1') : undefined,
    key: keyFile ? readFileSync(keyFile, 'latin1') : undefined,
    ciphers: ciphers || undefined,
    rejectUnauthorized: tls.verify,
  };
}

/** The servers of one table. */
export class MysqlPool {
  readonly #hosts: MysqlHost[];
  readonly #settings: MysqlHostSettings;
  readonly #spec: string;

  constructor(spec: string, hosts: string[], settings: MysqlHostSettings) {
    this.#spec = spec;
    this.#settings = settings;
    this.#hosts = hosts.map((h) => hostInit(h, settings.options));
  }

  /** Runs the query (built per connection by `sql`) on the first host that answers. */
  async query(sql: () => string): Promise<MysqlAnswer> {
    let last = `${this.#spec}: no mysql server available`;
    for (;;) {
      const host = await this.#getActive((text) => {
        last = text;
      });
      if (!host) return { kind: 'error', text: last };
      try {
        const sets = await this.#run(host, sql());
        this.#armIdle(host);
        return { kind: 'ok', sets };
      } catch (err) {
        last = `${this.#spec}: query failed: ${(err as Error).message}`;
        msgWarn(last);
        this.#down(host);
      }
    }
  }

  async close(): Promise<void> {
    for (const h of this.#hosts) this.#closeHost(h, 'untried');
  }

  #eligible(h: MysqlHost, states: HostState[], unix: boolean, now: number): boolean {
    if (!states.includes(h.state) || h.unix !== unix) return false;
    return !(h.state === 'failed' && h.retryAt > now);
  }

  /** Postfix dict_mysql_find_host(): a random host among those eligible. */
  #find(states: HostState[], unix: boolean): MysqlHost | null {
    const now = Date.now();
    const ok = this.#hosts.filter((h) => this.#eligible(h, states, unix, now));
    if (ok.length === 0) return null;
    return ok[Math.floor(Math.random() * ok.length)]!;
  }

  async #getActive(failed: (text: string) => void): Promise<MysqlHost | null> {
    const active = this.#find(['active'], true) ?? this.#find(['active'], false);
    if (active) return active;
    for (let count = MYSQL_RETRY_CONN_MAX; --count > 0;) {
      const host = this.#find(['untried', 'failed'], true) ?? this.#find(['untried', 'failed'], false);
      if (!host) return null;
      const error = await this.#connect(host);
      if (host.state === 'active') return host;
      if (error) failed(error);
    }
    return null;
  }

  /** Connects; on failure warns, marks the host failed and returns the warning. */
  async #connect(host: MysqlHost): Promise<string | null> {
    const s = this.#settings;
    const o = s.options;
    const timeoutS = Number(o['connect-timeout'] ?? '');
    const conn = mysql().createConnection({
      ...(host.unix ? { socketPath: host.name } : {
        host: host.name,
        port: host.port || Number(o.port ?? '') || MYSQL_DEFAULT_PORT,
      }),
      user: s.user,
      password: s.password,
      database: s.dbname,
      // latin1 makes the driver send the query's bytes unchanged; SET NAMES
      // below. Without session tracking the driver does not learn of that
      // and keeps sending bytes.
      charset: 'LATIN1_SWEDISH_CI',
      flags: ['-SESSION_TRACK'],
      connectTimeout: timeoutS > 0 ? timeoutS * 1000 : MYSQL_CONNECT_TIMEOUT_MS,
      ssl: tlsOptions(s.tls, o),
      rowsAsArray: true,
      multipleStatements: false,
      typeCast: (field) => field.buffer(),
    });
    conn.on('error', () => {
      // A dropped connection: reconnect on the next query.
      if (host.conn === conn) this.#closeHost(host, 'untried');
    });
    try {
      await new Promise<void>((resolve, reject) => conn.connect((err) => (err ? reject(err) : resolve())));
      let cs = o['default-character-set'] ?? MYSQL_DEFAULT_CHARSET;
      if (!/^[A-Za-z0-9_]+$/.test(cs)) cs = MYSQL_DEFAULT_CHARSET;
      const names = cs === MYSQL_DEFAULT_CHARSET ? `SET NAMES ${cs} COLLATE ${MYSQL_DEFAULT_COLLATION}` : `SET NAMES ${cs}`;
      await new Promise<void>((resolve, reject) => conn.query({ sql: names, timeout: MYSQL_QUERY_TIMEOUT_MS },
        (err) => (err ? reject(err) : resolve())));
      host.conn = conn;
      host.state = 'active';
      return null;
    } catch (err) {
      conn.destroy();
      const text = `connect to mysql server ${host.spec}: ${connectErrorText(host, err as NodeJS.ErrnoException)}`;
      msgWarn(text);
      this.#down(host);
      return text;
    }
  }

  /** One query; the data-returning result sets, in order. */
  #run(host: MysqlHost, sql: string): Promise<MysqlResultSet[]> {
    const conn = host.conn!;
    return new Promise((resolve, reject) => {
      conn.query({ sql, timeout: MYSQL_QUERY_TIMEOUT_MS }, (err, results, fields) => {
        if (err) return reject(err);
        resolve(splitResultSets(results, fields));
      });
    });
  }

  #armIdle(host: MysqlHost): void {
    if (host.idle) clearTimeout(host.idle);
    host.idle = setTimeout(() => this.#closeHost(host, 'untried'), this.#settings.idleIntervalS * 1000);
    host.idle.unref();
  }

  /** Postfix plmysql_down_host(). */
  #down(host: MysqlHost): void {
    this.#closeHost(host, 'failed');
    host.retryAt = Date.now() + this.#settings.retryIntervalS * 1000;
  }

  #closeHost(host: MysqlHost, state: HostState): void {
    if (host.idle) clearTimeout(host.idle);
    host.idle = null;
    const conn = host.conn;
    host.conn = null;
    host.state = state;
    if (conn) conn.destroy();
  }
}

function cellText(v: unknown): MysqlCell {
  if (v === null || v === undefined) return null;
  return Buffer.isBuffer(v) ? v.toString('latin1') : String(v);
}

/** Driver results → the result sets that carry data (a SELECT with no rows is one). */
function splitResultSets(results: unknown, fields: unknown): MysqlResultSet[] {
  const toSet = (rows: unknown): MysqlResultSet => (rows as unknown[][]).map((r) => r.map(cellText));
  if (!Array.isArray(fields) || !Array.isArray(results)) return [];
  const multi = fields.length > 0 && fields.some((f) => f === undefined || f === null || Array.isArray(f));
  if (!multi) return [toSet(results)];
  const sets: MysqlResultSet[] = [];
  fields.forEach((f, i) => {
    if (Array.isArray(f)) sets.push(toSet(results[i]));
  });
  return sets;
}
