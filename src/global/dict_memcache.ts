/*
 * dict_memcache - the memcache: table: memcache_table(5) client
 *
 * What it does: "memcache:/file.cf" (or a main.cf parameter prefix)
 * reads memcache (inet:host:port or unix:/path; default
 * inet:localhost:11211), backup, key_format, domain, ttl, flags,
 * timeout, max_try, retry_pause, line_size_limit and data_size_limit as
 * Postfix's dict_memcache does, and speaks the memcache text protocol
 * itself ("get KEY", "set KEY FLAGS TTL LEN" + data, "delete KEY", CRLF
 * lines): memjs speaks only the binary protocol and has its own
 * retry/failover rules, while Postfix's limits and retry counts must be
 * exact. A key is checked as Postfix does before any request: empty,
 * outside the `domain` list, an empty key_format expansion (%u with an
 * empty local part, %d or %[1-9] without enough domain) or containing
 * white space → the lookup is skipped (not found), an update is skipped
 * with a warning and fails. Keys are folded when the table folds (non-ASCII
 * letters too with SMTPUTF8 on, as Postfix's dict_utf8 layer does).
 * Lookups try the memcache first and then the backup table, writing a
 * backup hit into the memcache; updates and deletes go to the memcache
 * and then to the backup. Each command is tried max_try times,
 * retry_pause seconds apart, but not again when no connection can be
 * made. With a backup table its answer decides the result (a memcache
 * failure is then only logged); without one a memcache failure fails
 * the lookup with DictError. sequence() walks the backup table.
 * Connected lazily, one connection per table, reconnected after any
 * error; lookups from several callers go over it in turn.
 *
 * What it does not do: bulk creation (postmap -i/build refuse memcache:,
 * as Postfix's postmap does), lookupSync, several memcache servers.
 *
 * DIAGNOSTICS
 * Postfix's texts: "connect to ENDPOINT: REASON"; on the last tries
 * "database memcache:NAME: I/O error[: REASON]", "NAME: unexpected
 * memcache server reply: TEXT", "NAME: EOF receiving memcache server
 * reply", "database memcache:NAME: update failed: TEXT", "database
 * memcache:NAME: delete failed: TEXT"; "database memcache:NAME: data for
 * key KEY is too long (data_size_limit=N) -- not stored"; "NAME:
 * skipping update for name \"KEY\": WHY"; "database memcache:NAME:
 * first/next support requires backup database".
 */
import { msgInfo, msgVerboseLevel, msgWarn } from '../util/msg.js';
import { cfgParserOpen } from './cfg_parser.js';
import { DB_COMMON_FLAG, type DbCommonCtx, dbCommonCheckDomainAsync, dbCommonExpand, dbCommonParse, dbCommonParseDomain } from './db_common.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError, foldKey } from './dict_base.js';
import { NET_PLAIN_EOF, type NetEndpoint, NetConn, NetIoError, Serializer, netConnect, parseEndpoint, pause } from './dict_net_conn.js';

/** Postfix's DICT_MC_DEF_* defaults, by memcache_table(5) parameter name. */
export const DICT_MC_DEFAULTS = {
  memcache: 'inet:localhost:11211',
  key_format: '%s',
  ttl: 3600,
  timeout: 2,
  flags: 0,
  max_try: 2,
  line_size_limit: 1024,
  data_size_limit: 10240,
  retry_pause: 1,
} as const;

/** The bound used for "timeout = 0" (no limit in Postfix). */
export const DICT_MC_UNLIMITED_TIMEOUT_MS = 3_600_000;

/** memcache text protocol replies. */
export const MC_REPLY = { end: 'END', stored: 'STORED', deleted: 'DELETED', notFound: 'NOT_FOUND' } as const;

const CRLF = '\r\n';
const MS = 1000;

/** One try's outcome: done with a value, or a text to warn with (on tries after the first). */
type Try<T> = { done: true; value: T } | { done: false; warn: string };

export function dictMemcacheOpen(ctx: DictOpenContext): Dict {
  return new MemcacheDict(ctx);
}

class MemcacheDict implements Dict {
  readonly spec: string;
  readonly type: string;
  readonly pattern: boolean;
  private readonly name: string;
  private readonly fold: boolean;
  private readonly keyFormat: string;
  private readonly timeoutMs: number;
  private readonly ttl: number;
  private readonly flags: number;
  private readonly pauseMs: number;
  private readonly maxTry: number;
  private readonly maxLine: number;
  private readonly maxData: number;
  private readonly ep: NetEndpoint;
  private readonly backup: Dict | null;
  private readonly dbc: DbCommonCtx;
  private conn: NetConn | null = null;
  private connectError = '';
  private readonly serial = new Serializer();
  readonly update?: (key: string, value: string) => Promise<void>;
  readonly delete?: (key: string) => Promise<boolean>;

  constructor(ctx: DictOpenContext) {
    this.spec = ctx.spec;
    this.type = ctx.type;
    this.name = ctx.name;
    this.fold = ctx.fold;
    const cfg = cfgParserOpen(ctx);
    const D = DICT_MC_DEFAULTS;
    this.keyFormat = cfg.getStr('key_format', D.key_format, 0, 0);
    const timeout = cfg.getInt('timeout', D.timeout, 0, 0);
    // timeout = 0 means no time limit in Postfix; Postern still bounds every wait.
    this.timeoutMs = timeout > 0 ? timeout * MS : DICT_MC_UNLIMITED_TIMEOUT_MS;
    this.ttl = cfg.getInt('ttl', D.ttl, 0, 0);
    this.flags = cfg.getInt('flags', D.flags, 0, 0);
    this.pauseMs = cfg.getInt('retry_pause', D.retry_pause, 1, 0) * MS;
    this.maxTry = cfg.getInt('max_try', D.max_try, 1, 0);
    this.maxLine = cfg.getInt('line_size_limit', D.line_size_limit, 1, 0);
    this.maxData = cfg.getInt('data_size_limit', D.data_size_limit, 1, 0);
    const server = cfg.getStr('memcache', D.memcache, 0, 0);
    const ep = parseEndpoint(server);
    if ('error' in ep) throw new DictOpenError(ep.error);
    this.ep = ep;
    const backup = cfg.getStr('backup', '', 0, 0);
    this.backup = backup !== '' && ctx.openNested ? ctx.openNested(backup) : null;
    this.dbc = dbCommonParse(cfg, this.keyFormat, {
      fold: ctx.fold, type: ctx.type, name: ctx.name, utf8: ctx.utf8, config: ctx.config,
    });
    dbCommonParseDomain(cfg, this.dbc);
    // Keys built from parts of an address break recipient delimiters: whole keys only.
    this.pattern = (this.dbc.flags & DB_COMMON_FLAG.KEY_PARTIAL) !== 0;
    if (ctx.mode !== 'read') {
      this.update = (key, value) => this.serial.run(() => this.updateNow(key, value));
      this.delete = (key) => this.serial.run(() => this.deleteNow(key));
    }
  }

  private fail(why: string): never {
    throw new DictError(this.spec, `${this.spec} lookup error: ${why}`);
  }

  /** The memcache key for a table key, or the reason it is skipped. */
  private async prepareKey(name: string): Promise<{ key: string } | { skip: string }> {
    if (name === '') return { skip: 'empty lookup key' };
    const dom = await dbCommonCheckDomainAsync(this.dbc, name);
    if (dom instanceof DictError) throw dom;
    if (dom === 'skip') return { skip: 'domain mismatch' };
    // With SMTPUTF8 on Postfix's dict_utf8 layer casefolds; else lowercase() (ASCII only).
    const folded = foldKey(name, this.fold, this.dbc.utf8);
    let key = folded;
    if (this.keyFormat !== DICT_MC_DEFAULTS.key_format) {
      const out: string[] = [];
      if (!dbCommonExpand(this.dbc, this.keyFormat, folded, null, null, out)) return { skip: 'empty lookup key expansion' };
      key = out.join('');
    }
    if (key === '') return { skip: 'empty lookup key expansion' };
    if (/[ \t\n\v\f\r]/.test(key)) return { skip: 'name contains space' };
    return { key };
  }

  private skipped(name: string, op: string, why: string, warn: boolean): void {
    const text = `${this.name}: skipping ${op} for name "${name}": ${why}`;
    if (warn) msgWarn(text);
    else if (msgVerboseLevel() > 0) msgInfo(text);
  }

  private recover(): void {
    this.conn?.close();
    this.conn = null;
  }

  /** The stream, or null when no connection can be made (after Postfix's warning). */
  private async access(): Promise<NetConn | null> {
    if (this.conn?.alive) return this.conn;
    this.recover();
    try {
      this.conn = await netConnect(this.ep, this.timeoutMs);
      return this.conn;
    } catch (err) {
      const where = this.ep.kind === 'unix' ? this.ep.path : this.ep.text.slice(this.ep.text.indexOf(':') + 1);
      this.connectError = err instanceof Error ? err.message : String(err);
      msgWarn(`connect to ${where}: ${this.connectError}`);
      return null;
    }
  }

  private ioText(err: unknown): string {
    const base = `database ${this.spec}: I/O error`;
    if (err instanceof NetIoError && (err.kind === 'timeout' || err.kind === 'io' || (err.kind === 'eof' && err.message !== NET_PLAIN_EOF))) {
      return `${base}: ${err.message}`;
    }
    return base;
  }

  /** Postfix's retry loop: max_try tries retry_pause apart, none after a failed connect. */
  private async tries<T>(step: (conn: NetConn) => Promise<Try<T>>): Promise<Try<T>> {
    let last: Try<T> = { done: false, warn: '' };
    for (let count = 0; count < this.maxTry; count++) {
      if (count > 0) await pause(this.pauseMs);
      const conn = await this.access();
      if (!conn) return { done: false, warn: `connect to ${this.ep.text}: ${this.connectError}` };
      conn.busy(true);
      try {
        last = await step(conn);
        if (last.done) return last;
      } catch (err) {
        if (!(err instanceof NetIoError)) throw err;
        last = { done: false, warn: this.ioText(err) };
      } finally {
        conn.busy(false);
      }
      if (count > 0) msgWarn(last.warn);
      this.recover();
    }
    return last;
  }

  /** One reply line without CR LF, at most line_size_limit bytes. */
  private async getLine(conn: NetConn): Promise<string> {
    const line = await conn.readLine(this.maxLine + 1, this.timeoutMs);
    if (line.endsWith('\r')) return line.slice(0, -1);
    if (line.length >= this.maxLine) throw new NetIoError('toolong', 'input too long');
    return line;
  }

  private async send(conn: NetConn, text: string): Promise<void> {
    await conn.write(text, this.timeoutMs);
  }

  private mcGet(key: string): Promise<Try<string | null>> {
    return this.tries(async (conn) => {
      await this.send(conn, `get ${key}${CRLF}`);
      const line = await this.getLine(conn);
      if (line === MC_REPLY.end) return { done: true, value: null };
      const m = /^VALUE\s+\S+\s+\S+\s+([-+]?[0-9]+)/.exec(line);
      const todo = m ? Number(m[1]) : -1;
      if (!m || todo < 0 || todo > this.maxData) {
        return { done: false, warn: `${this.name}: unexpected memcache server reply: ${line.slice(0, 30)}` };
      }
      let data: string;
      try {
        data = await conn.readBytes(todo, this.timeoutMs);
        if ((await conn.readBytes(2, this.timeoutMs)) !== CRLF) throw new NetIoError('eof', 'bad terminator');
      } catch (err) {
        if (!(err instanceof NetIoError)) throw err;
        return { done: false, warn: `${this.name}: EOF receiving memcache server reply` };
      }
      try {
        if ((await this.getLine(conn)) !== MC_REPLY.end) this.recover();
      } catch (err) {
        if (!(err instanceof NetIoError)) throw err;
        this.recover();
      }
      return { done: true, value: data };
    });
  }

  private async mcSet(key: string, value: string): Promise<boolean> {
    if (value.length > this.maxData) {
      msgWarn(`database ${this.spec}: data for key ${key} is too long (data_size_limit=${this.maxData}) -- not stored`);
      return false;
    }
    const r = await this.tries(async (conn) => {
      await this.send(conn, `set ${key} ${this.flags} ${this.ttl} ${value.length}${CRLF}${value}${CRLF}`);
      const line = await this.getLine(conn);
      if (line !== MC_REPLY.stored) return { done: false, warn: `database ${this.spec}: update failed: ${line.slice(0, 30)}` };
      return { done: true, value: true };
    });
    return r.done;
  }

  /** true deleted, false not there, null failed. */
  private async mcDel(key: string): Promise<boolean | null> {
    const r = await this.tries<boolean>(async (conn) => {
      await this.send(conn, `delete ${key}${CRLF}`);
      const line = await this.getLine(conn);
      if (line === MC_REPLY.deleted) return { done: true, value: true };
      if (line === MC_REPLY.notFound) return { done: true, value: false };
      return { done: false, warn: `database ${this.spec}: delete failed: ${line.slice(0, 30)}` };
    });
    return r.done ? r.value : null;
  }

  lookup(name: string): Promise<string | null> {
    return this.serial.run(() => this.lookupNow(name)).catch((err: unknown) => {
      if (err instanceof NetIoError && err.kind === 'busy') this.fail(err.message);
      throw err;
    });
  }

  private async lookupNow(name: string): Promise<string | null> {
    const p = await this.prepareKey(name);
    if ('skip' in p) {
      this.skipped(name, 'lookup', p.skip, false);
      return null;
    }
    const got = await this.mcGet(p.key);
    let value = got.done ? got.value : null;
    if (value === null && this.backup) {
      value = await this.backup.lookup(name);
      if (value !== null) await this.mcSet(p.key, value);
      return value;
    }
    if (!got.done) this.fail(got.warn);
    return value;
  }

  private async updateNow(name: string, value: string): Promise<void> {
    const p = await this.prepareKey(name);
    if ('skip' in p) {
      this.skipped(name, 'update', p.skip, true);
      throw new DictError(this.spec, `${this.spec}: update skipped for "${name}": ${p.skip}`);
    }
    const stored = await this.mcSet(p.key, value);
    if (this.backup) {
      if (!this.backup.update) throw new DictError(this.spec, `${this.backup.spec}: table is not open for writing`);
      await this.backup.update(name, value);
      return;
    }
    if (!stored) throw new DictError(this.spec, `${this.spec}: update of "${name}" failed`);
  }

  private async deleteNow(name: string): Promise<boolean> {
    const p = await this.prepareKey(name);
    if ('skip' in p) {
      this.skipped(name, 'delete', p.skip, false);
      return false;
    }
    const deleted = await this.mcDel(p.key);
    if (this.backup) {
      if (!this.backup.delete) throw new DictError(this.spec, `${this.backup.spec}: table is not open for writing`);
      return this.backup.delete(name);
    }
    if (deleted === null) throw new DictError(this.spec, `${this.spec}: delete of "${name}" failed`);
    return deleted;
  }

  async *sequence(): AsyncIterable<[string, string]> {
    if (!this.backup || !this.backup.sequence) {
      msgWarn(`database ${this.spec}: first/next support requires backup database`);
      return;
    }
    yield* this.backup.sequence();
  }

  async close(): Promise<void> {
    this.recover();
    if (this.backup && !this.backupShared()) await this.backup.close();
  }

  /** Read-mode nested tables come from dictOpen's shared cache: not ours to close. */
  private backupShared(): boolean {
    return this.update === undefined;
  }
}
