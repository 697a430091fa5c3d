/*
 * dict_tcp - the tcp: table: tcp_table(5) client
 *
 * What it does: "tcp:host:port" sends "get SP key NL" to the server
 * (the key %XX-encoded: '%', white space and every byte that is not
 * printable ASCII) and reads one reply line of at most 4096 bytes
 * including the newline: "200 SP text" (found; text %XX-decoded in any
 * case), "500 SP text" (not found), "400 SP text" (temporary error).
 * As Postfix's dict_tcp: connect lazily and keep the connection; a
 * connect failure, EOF, timeout or over-long reply closes it and is
 * retried up to DICT_TCP_LIMITS.maxTry times one pause apart; a
 * malformed reply, a bad status code or a 400 closes the connection and
 * fails the lookup at once. Every send/receive has a 100-second limit.
 * tcp: is a pattern table (asked the whole key only, never parent
 * domains or partial addresses) and does not fold keys (Postfix folds
 * them only with DICT_FLAG_FOLD_MUL, which no Postern caller sets).
 * Lookups from several callers go over the one connection in turn.
 *
 * What it does not do: update, delete or sequence (refused at open
 * time with Postfix's "requires O_RDONLY access mode"), or offer
 * lookupSync. (It also accepts "tcp:inet:host:port", which Postfix
 * would reject at lookup time.)
 *
 * DIAGNOSTICS
 * Postfix's warnings: "connect to TCP map HOST:PORT: REASON",
 * "read TCP map reply from HOST:PORT: unexpected EOF (REASON)" (REASON
 * "Operation now in progress" at a plain EOF: the errno Postfix's
 * non-blocking connect leaves behind, as the real postmap prints it),
 * "read TCP map reply from HOST:PORT: text longer than 4096",
 * "read TCP map reply from HOST:PORT: malformed reply: TEXT",
 * "read TCP map reply from HOST:PORT: bad status code: TEXT"; then the
 * lookup rejects with DictError. A 400 reply is not logged (Postfix
 * logs it only when verbose), its lookup still fails.
 */
import { msgInfo, msgVerboseLevel, msgWarn } from '../util/msg.js';
import { printableBytes } from '../util/printable.js';
import { type Dict, type DictOpenContext, DictError, DictOpenError } from './dict_base.js';
import { NET_PLAIN_EOF, type NetEndpoint, NetConn, NetIoError, Serializer, netConnect, parseEndpoint, pause } from './dict_net_conn.js';

/** Postfix's DICT_TCP_MAXTRY, DICT_TCP_TMOUT (seconds), DICT_TCP_MAXLEN and the sleep(1) between tries. */
export const DICT_TCP_DEFAULTS = { maxTry: 10, timeoutMs: 100_000, maxLen: 4096, pauseMs: 1000 } as const;

/** The limits in force (tests shorten the retry pause with dictTcpSetLimits). */
export const DICT_TCP_LIMITS: { maxTry: number; timeoutMs: number; maxLen: number; pauseMs: number } = {
  ...DICT_TCP_DEFAULTS,
};

/** Changes the retry/timeout limits for this process (tests); returns the previous ones. */
export function dictTcpSetLimits(limits: Partial<typeof DICT_TCP_LIMITS>): typeof DICT_TCP_LIMITS {
  const old = { ...DICT_TCP_LIMITS };
  Object.assign(DICT_TCP_LIMITS, limits);
  return old;
}

/** tcp_table(5) reply status codes (the first digit decides). */
export const TCP_TABLE_STATUS = { found: '2', tempfail: '4', notfound: '5' } as const;

/** What Postfix prints for %m after a plain EOF (errno EINPROGRESS, left by its connect). */
const EOF_ERRNO_TEXT = 'Operation now in progress';

const PRINT_FIRST = 0x21;
const PRINT_LAST = 0x7e;
const PERCENT = 0x25;
const UNDERSCORE = 0x5f;

/** Postfix hex_quote(): '%', white space and non-printable bytes become %XX (upper case). */
export function hexQuote(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw.charCodeAt(i);
    if (ch !== PERCENT && ch >= PRINT_FIRST && ch <= PRINT_LAST) out += raw[i];
    else out += '%' + (ch & 0xff).toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Postfix hex_unquote(): %XX in any case; null when a '%' is not followed by two hex digits. */
export function hexUnquote(hex: string): string | null {
  let out = '';
  for (let i = 0; i < hex.length; i++) {
    if (hex[i] !== '%') {
      out += hex[i];
      continue;
    }
    const digits = hex.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(digits)) return null;
    out += String.fromCharCode(parseInt(digits, 16));
    i += 2;
  }
  return out;
}

/** Postfix printable(text, '_') for log lines. */
function printableText(text: string): string {
  return printableBytes(Buffer.from(text, 'latin1'), false, UNDERSCORE).toString('latin1');
}

export function dictTcpOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const ep = parseEndpoint(ctx.name, true);
  if ('error' in ep) throw new DictOpenError(ep.error);
  if (ep.kind !== 'inet') throw new DictOpenError(`bad host:port syntax in "${ctx.name}"`);
  return new TcpDict(ctx, ep);
}

class TcpDict implements Dict {
  readonly spec: string;
  readonly type: string;
  readonly pattern = true;
  private readonly map: string;
  private conn: NetConn | null = null;
  private readonly serial = new Serializer();
  private closed = false;

  constructor(ctx: DictOpenContext, private readonly ep: NetEndpoint) {
    this.spec = ctx.spec;
    this.type = ctx.type;
    this.map = ctx.name;
  }

  lookup(key: string): Promise<string | null> {
    return this.serial.run(() => this.lookupNow(key)).catch((err: unknown) => {
      if (err instanceof NetIoError && err.kind === 'busy') throw new DictError(this.spec, `${this.spec}: ${err.message}`);
      throw err;
    });
  }

  private fail(text: string): never {
    throw new DictError(this.spec, `${this.spec} lookup error: ${text}`);
  }

  private drop(): void {
    this.conn?.close();
    this.conn = null;
  }

  private async lookupNow(key: string): Promise<string | null> {
    if (this.closed) this.fail('table is closed');
    const lim = DICT_TCP_LIMITS;
    const request = `get ${hexQuote(key)}\n`;
    let reply: string | null = null;
    let lastWhy = '';
    for (let tries = 0; reply === null;) {
      if (!this.conn || !this.conn.alive) {
        this.drop();
        try {
          this.conn = await netConnect(this.ep, lim.timeoutMs);
        } catch (err) {
          lastWhy = err instanceof Error ? err.message : String(err);
          msgWarn(`connect to TCP map ${this.map}: ${lastWhy}`);
        }
      }
      const conn = this.conn;
      if (conn) {
        conn.busy(true);
        try {
          await conn.write(request, lim.timeoutMs);
          if (msgVerboseLevel() > 0) msgInfo(`dict_tcp_lookup: send: get ${hexQuote(key)}`);
          reply = await conn.readLine(lim.maxLen, lim.timeoutMs);
        } catch (err) {
          if (err instanceof NetIoError && err.kind === 'toolong') {
            lastWhy = `text longer than ${lim.maxLen}`;
            msgWarn(`read TCP map reply from ${this.map}: ${lastWhy}`);
          } else {
            // At a plain EOF Postfix's %m shows the errno its non-blocking connect left behind.
            const plainEof = err instanceof NetIoError && err.kind === 'eof' && err.message === NET_PLAIN_EOF;
            lastWhy = `unexpected EOF (${plainEof ? EOF_ERRNO_TEXT : err instanceof Error ? err.message : String(err)})`;
            msgWarn(`read TCP map reply from ${this.map}: ${lastWhy}`);
          }
          this.drop();
        } finally {
          conn.busy(false);
        }
        if (reply !== null) break;
      }
      if (++tries >= lim.maxTry) this.fail(lastWhy);
      await pause(lim.pauseMs);
    }
    return this.parseReply(reply);
  }

  private parseReply(reply: string): string | null {
    const raw = /^[0-9]{3}[ \t\n\v\f\r]/.test(reply) ? hexUnquote(reply.slice(4)) : null;
    if (raw === null) {
      const why = `malformed reply: ${printableText(reply.slice(0, 100))}`;
      msgWarn(`read TCP map reply from ${this.map}: ${why}`);
      this.drop();
      this.fail(why);
    }
    switch (reply[0]) {
      case TCP_TABLE_STATUS.tempfail:
        if (msgVerboseLevel() > 0) msgInfo(`dict_tcp_lookup: soft error: ${printableText(reply)}`);
        this.drop();
        return this.fail(`server error: ${printableText(reply.slice(0, 100))}`);
      case TCP_TABLE_STATUS.notfound:
        return null;
      case TCP_TABLE_STATUS.found: {
        // The C client hands the value on as a C string: a decoded %00 ends it.
        const nul = raw.indexOf('\0');
        return nul >= 0 ? raw.slice(0, nul) : raw;
      }
      default: {
        const why = `bad status code: ${printableText(reply.slice(0, 100))}`;
        msgWarn(`read TCP map reply from ${this.map}: ${why}`);
        this.drop();
        return this.fail(why);
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.drop();
  }
}
