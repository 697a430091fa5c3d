/*
 * dict_socketmap - the socketmap: table: Sendmail's socketmap protocol
 *
 * What it does: "socketmap:inet:host:port:mapname" and
 * "socketmap:unix:/path:mapname" (the map name is what follows the last
 * ':') send one netstring "mapname SP key" per lookup and read one
 * netstring reply of at most 100000 bytes: "OK SP data" (found),
 * "NOTFOUND SP" (not found); "TEMP", "TIMEOUT", "PERM" or anything else
 * fail the lookup with Postfix's warning. As Postfix's dict_sockmap:
 * the connection is made lazily and shared by every socketmap table
 * naming the same server; an idle connection is closed after 10 s and
 * an old one after 100 s; a connection the server closed is retried
 * once (server restarts are transparent), other errors are not; every
 * read and write has a 100-second limit. socketmap: is a pattern table
 * (the whole key only) and does not fold keys (Postfix folds them only
 * with DICT_FLAG_FOLD_MUL, which no Postern caller sets).
 *
 * What it does not do: update, delete, sequence (refused at open time
 * with Postfix's "requires O_RDONLY access mode"), or lookupSync.
 *
 * DIAGNOSTICS
 * Postfix's warnings: "connect to ENDPOINT: REASON" then
 * "table socketmap:NAME lookup error: REASON"
 * (connect failures, "unexpected disconnect", "time limit exceeded",
 * "input format error", "input exceeds size limit") and
 * "socketmap:NAME socketmap server CLASS error[: REASON]" with CLASS
 * temporary, timeout, permanent or unknown; then the lookup rejects
 * with DictError. Open errors: "socketmap requires server:socketmap
 * argument".
 */
import { msgInfo, msgVerboseLevel, msgWarn } from '../util/msg.js';
import { printableBytes } from '../util/printable.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError } from './dict_base.js';
import { type NetEndpoint, NetConn, NetIoError, Serializer, netConnect, parseEndpoint } from './dict_net_conn.js';

/** Postfix's DICT_SOCKMAP_DEF_* limits (seconds → ms). */
export const DICT_SOCKMAP_DEFAULTS = {
  timeoutMs: 100_000, maxReply: 100_000, maxIdleMs: 10_000, maxTtlMs: 100_000,
} as const;

/** The limits in force (tests may shorten them with dictSocketmapSetLimits). */
export const DICT_SOCKMAP_LIMITS: { timeoutMs: number; maxReply: number; maxIdleMs: number; maxTtlMs: number } = {
  ...DICT_SOCKMAP_DEFAULTS,
};

export function dictSocketmapSetLimits(limits: Partial<typeof DICT_SOCKMAP_LIMITS>): typeof DICT_SOCKMAP_LIMITS {
  const old = { ...DICT_SOCKMAP_LIMITS };
  Object.assign(DICT_SOCKMAP_LIMITS, limits);
  return old;
}

/** Reply status words. */
export const SOCKMAP_PROTO = {
  ok: 'OK', notFound: 'NOTFOUND', temp: 'TEMP', timeout: 'TIMEOUT', perm: 'PERM',
} as const;

/** Postfix netstring_strerror() texts. */
export const NETSTRING_ERR_TEXT = {
  eof: 'unexpected disconnect',
  time: 'time limit exceeded',
  format: 'input format error',
  size: 'input exceeds size limit',
} as const;

class NetstringError extends Error {
  constructor(readonly kind: keyof typeof NETSTRING_ERR_TEXT) {
    super(NETSTRING_ERR_TEXT[kind]);
  }
}

const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
const COLON = 0x3a;
const COMMA = 0x2c;
/** Longest length prefix accepted before calling it a format error. */
const NETSTRING_MAX_DIGITS = 15;

/** Encodes one netstring "LEN:DATA," (latin1 bytes). */
export function netstringEncode(data: string): string {
  return `${data.length}:${data},`;
}

function ioKind(err: unknown): 'eof' | 'time' {
  return err instanceof NetIoError && err.kind === 'timeout' ? 'time' : 'eof';
}

/** Reads one netstring of at most maxLen bytes; throws NetstringError. */
export async function netstringRead(conn: NetConn, maxLen: number, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  let len = 0;
  let digits = 0;
  try {
    for (;;) {
      const ch = await conn.readByte(left());
      if (ch === COLON) break;
      if (ch < DIGIT_0 || ch > DIGIT_9 || ++digits > NETSTRING_MAX_DIGITS) throw new NetstringError('format');
      len = len * 10 + (ch - DIGIT_0);
    }
    if (len > maxLen) throw new NetstringError('size');
    const data = await conn.readBytes(len, left());
    if ((await conn.readByte(left())) !== COMMA) throw new NetstringError('format');
    return data;
  } catch (err) {
    if (err instanceof NetstringError) throw err;
    throw new NetstringError(ioKind(err));
  }
}

/** One server connection shared by the socketmap tables that name it (Postfix auto_clnt). */
class SockmapClient {
  refs = 0;
  private conn: NetConn | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  readonly serial = new Serializer();

  constructor(readonly ep: NetEndpoint) {}

  /** The open stream, connecting if needed; throws NetIoError('connect'). */
  async access(): Promise<NetConn> {
    this.stopIdle();
    const lim = DICT_SOCKMAP_LIMITS;
    if (this.conn && (!this.conn.alive || Date.now() - this.conn.openedAt >= lim.maxTtlMs)) this.recover();
    if (!this.conn) this.conn = await netConnect(this.ep, lim.timeoutMs);
    return this.conn;
  }

  /** Done with a request: close the stream when idle too long. */
  release(): void {
    this.stopIdle();
    if (!this.conn) return;
    this.idleTimer = setTimeout(() => this.recover(), DICT_SOCKMAP_LIMITS.maxIdleMs);
    this.idleTimer.unref();
  }

  private stopIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  recover(): void {
    this.conn?.close();
    this.conn = null;
  }

  free(): void {
    this.stopIdle();
    this.recover();
  }
}

/** Shared clients by endpoint text ("inet:host:port", "unix:/path"). */
const clients = new Map<string, SockmapClient>();

function printableReason(text: string): string {
  return printableBytes(Buffer.from(text, 'latin1'), false).toString('latin1');
}

export function dictSocketmapOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const last = ctx.name.lastIndexOf(':');
  if (last < 0) throw new DictOpenError(`${ctx.type} requires server:socketmap argument`);
  const server = ctx.name.slice(0, last);
  const mapName = ctx.name.slice(last + 1);
  let client = clients.get(server);
  if (!client) {
    const ep = parseEndpoint(server);
    if ('error' in ep) throw new DictOpenError(ep.error);
    client = new SockmapClient(ep);
    clients.set(server, client);
  }
  client.refs++;
  return new SocketmapDict(ctx, server, mapName, client);
}

class SocketmapDict implements Dict {
  readonly spec: string;
  readonly type: string;
  readonly pattern = true;
  private closed = false;

  constructor(
    ctx: DictOpenContext,
    private readonly server: string,
    private readonly mapName: string,
    private readonly client: SockmapClient,
  ) {
    this.spec = ctx.spec;
    this.type = ctx.type;
  }

  private fail(why: string): never {
    throw new DictError(this.spec, `${this.spec} lookup error: ${why}`);
  }

  lookup(key: string): Promise<string | null> {
    if (this.closed) return Promise.reject(new DictError(this.spec, `${this.spec} lookup error: table is closed`));
    return this.client.serial.run(() => this.lookupNow(key)).catch((err: unknown) => {
      if (err instanceof NetIoError && err.kind === 'busy') this.fail(err.message);
      throw err;
    });
  }

  private async lookupNow(key: string): Promise<string | null> {
    if (msgVerboseLevel() > 0) msgInfo(`dict_sockmap_lookup: key ${key}`);
    const lim = DICT_SOCKMAP_LIMITS;
    const request = netstringEncode(`${this.mapName} ${key}`);
    let reply: string | null = null;
    for (let except = 0; reply === null; except++) {
      let conn: NetConn;
      try {
        conn = await this.client.access();
      } catch (err) {
        const why = err instanceof Error ? err.message : String(err);
        // auto_clnt's own warning names the endpoint without its transport.
        const ep = this.client.ep;
        msgWarn(`connect to ${ep.kind === 'unix' ? ep.path : ep.text.slice(ep.text.indexOf(':') + 1)}: ${why}`);
        msgWarn(`table ${this.spec} lookup error: ${why}`);
        this.fail(why);
      }
      conn.busy(true);
      try {
        try {
          await conn.write(request, lim.timeoutMs);
        } catch (err) {
          throw new NetstringError(ioKind(err));
        }
        reply = await netstringRead(conn, lim.maxReply, lim.timeoutMs);
      } catch (err) {
        const kind = err instanceof NetstringError ? err.kind : 'eof';
        this.client.recover();
        if (except === 0 && kind === 'eof') continue;
        msgWarn(`table ${this.spec} lookup error: ${NETSTRING_ERR_TEXT[kind]}`);
        this.fail(NETSTRING_ERR_TEXT[kind]);
      } finally {
        conn.busy(false);
        this.client.release();
      }
    }
    return this.parseReply(reply);
  }

  private parseReply(wire: string): string | null {
    // Postfix parses the reply as a C string: a NUL byte ends it.
    const nul = wire.indexOf('\0');
    const reply = nul >= 0 ? wire.slice(0, nul) : wire;
    const sp = reply.indexOf(' ');
    const status = sp >= 0 ? reply.slice(0, sp) : reply;
    let payload: string | null = sp >= 0 ? reply.slice(sp + 1) : null;
    if (status === SOCKMAP_PROTO.ok) return payload;
    if (status === SOCKMAP_PROTO.notFound) return null;
    const errorClass = status === SOCKMAP_PROTO.temp ? 'temporary'
      : status === SOCKMAP_PROTO.timeout ? 'timeout'
        : status === SOCKMAP_PROTO.perm ? 'permanent' : 'unknown';
    if (payload !== null) payload = payload.replace(/^[ \t\n\v\f\r]+/, '');
    const reason = payload ? `: ${printableReason(payload).slice(0, 200)}` : '';
    msgWarn(`${this.spec} socketmap server ${errorClass} error${reason}`);
    return this.fail(`socketmap server ${errorClass} error${reason}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (--this.client.refs === 0) {
      this.client.free();
      clients.delete(this.server);
    }
  }
}
