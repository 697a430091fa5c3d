/*
 * dict_net_conn - one client connection for the network table types
 * (memcache:, tcp:, socketmap:), in the manner of Postfix's auto_clnt
 * and vstream timeouts
 *
 * What it does: parseEndpoint() reads Postfix's "inet:host:port",
 * "unix:/path" (and, for tcp:, a bare "host:port") endpoint forms;
 * netConnect() connects with a time limit; NetConn reads bounded lines
 * and exact byte counts and writes, each with a time limit, and
 * reports every failure as a NetIoError whose text is the C library's
 * wording ("Connection refused", "Connection timed out"). An idle
 * connection does not keep the process alive (it is unref'ed between
 * requests). Serializer runs one request at a time per connection with
 * a bounded number of waiters, because a table Dict is shared by every
 * caller in the process and the protocols are strictly request/reply.
 *
 * What it does not do: retry, log, or know any table protocol: the
 * dict_<type>.ts files do that with Postfix's texts.
 *
 * DIAGNOSTICS
 * Errors only (NetIoError with kind 'connect' | 'eof' | 'timeout' |
 * 'toolong' | 'io'); a full Serializer rejects with NetIoError kind 'busy'.
 */
import { connect, type Socket } from 'node:net';
import { strerror, strerrorCode } from '../util/strerror.js';

/** A server address as Postfix's connect layer takes it. */
export type NetEndpoint =
  | { kind: 'inet'; host: string; port: number; text: string }
  | { kind: 'unix'; path: string; text: string };

/** How many callers may wait for one connection before lookups fail (no unbounded queues). */
export const NET_MAX_WAITERS = 1000;

export type NetIoKind = 'connect' | 'eof' | 'timeout' | 'toolong' | 'io' | 'busy';

/** A failed connect, read or write; message is the strerror-style reason. */
export class NetIoError extends Error {
  readonly kind: NetIoKind;

  constructor(kind: NetIoKind, message: string) {
    super(message);
    this.name = 'NetIoError';
    this.kind = kind;
  }
}

const TIMED_OUT = strerrorCode('ETIMEDOUT');
/** NetIoError text of an EOF with no system error behind it. */
export const NET_PLAIN_EOF = 'unexpected EOF';

/** Parses "host:port" (IPv6 in brackets); null when malformed. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0 || text[end + 1] !== ':') return null;
    host = text.slice(1, end);
    portText = text.slice(end + 2);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) return null;
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
  }
  if (!/^[0-9]{1,5}$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  return { host: host === '' ? 'localhost' : host, port };
}

/**
 * Parses "inet:host:port" or "unix:/path" ("local:" is a synonym of
 * "unix:"); with allowBare, "host:port" is inet. Returns an error text
 * when the form is not understood.
 */
export function parseEndpoint(spec: string, allowBare = false): NetEndpoint | { error: string } {
  const colon = spec.indexOf(':');
  const transport = colon > 0 ? spec.slice(0, colon) : '';
  const rest = colon > 0 ? spec.slice(colon + 1) : '';
  if (transport === 'unix' || transport === 'local') {
    if (rest === '') return { error: `need service transport:endpoint instead of "${spec}"` };
    return { kind: 'unix', path: rest, text: spec };
  }
  if (transport === 'inet') {
    const hp = parseHostPort(rest);
    if (!hp) return { error: `bad host:port syntax in "${spec}"` };
    return { kind: 'inet', ...hp, text: spec };
  }
  if (allowBare) {
    const hp = parseHostPort(spec);
    if (hp) return { kind: 'inet', ...hp, text: spec };
  }
  if (transport === '' || rest === '') return { error: `need service transport:endpoint instead of "${spec}"` };
  return { error: `invalid transport name: ${transport} in service: ${spec}` };
}

/** Opens a connection within timeoutMs; rejects with NetIoError('connect'). */
export function netConnect(ep: NetEndpoint, timeoutMs: number): Promise<NetConn> {
  return new Promise((resolve, reject) => {
    const sock = ep.kind === 'unix' ? connect({ path: ep.path }) : connect({ host: ep.host, port: ep.port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new NetIoError('connect', TIMED_OUT));
    }, timeoutMs);
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      reject(new NetIoError('connect', strerror(err)));
    });
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(new NetConn(sock));
    });
  });
}

/** One connected stream with bounded, timed reads. */
export class NetConn {
  private readonly sock: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private failure: string | null = null;
  private wake: (() => void) | null = null;
  /** When the connection was made (for time-to-live checks). */
  readonly openedAt = Date.now();

  constructor(sock: Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on('data', (chunk: Buffer) => {
      this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
      this.poke();
    });
    sock.on('end', () => {
      this.ended = true;
      this.poke();
    });
    sock.on('error', (err) => {
      this.failure = strerror(err);
      this.ended = true;
      this.poke();
    });
    sock.on('close', () => {
      this.ended = true;
      this.poke();
    });
    sock.unref();
  }

  /** False once the peer closed or an error happened. */
  get alive(): boolean {
    return !this.ended && !this.sock.destroyed;
  }

  /** Keep the process alive while a request is in flight; let it go when idle. */
  busy(on: boolean): void {
    if (on) this.sock.ref();
    else this.sock.unref();
  }

  private poke(): void {
    const w = this.wake;
    this.wake = null;
    if (w) w();
  }

  /** Waits until more data, EOF or the deadline; throws NetIoError on timeout. */
  private async more(deadline: number): Promise<void> {
    if (this.ended) throw new NetIoError('eof', this.failure ?? NET_PLAIN_EOF);
    const left = deadline - Date.now();
    if (left <= 0) throw new NetIoError('timeout', TIMED_OUT);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, left);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Sends bytes (latin1 string or Buffer) within timeoutMs. */
  async write(data: string | Buffer, timeoutMs: number): Promise<void> {
    if (!this.alive) throw new NetIoError('eof', this.failure ?? 'Broken pipe');
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new NetIoError('timeout', TIMED_OUT)), timeoutMs);
      this.sock.write(bytes, (err) => {
        clearTimeout(timer);
        if (err) reject(new NetIoError('io', strerror(err)));
        else resolve();
      });
    });
  }

  /**
   * Reads through the next '\n' and returns the line without it (latin1).
   * At most maxBytes bytes including the newline are read: a longer line
   * throws 'toolong' (the rest stays unread: drop the connection).
   */
  async readLine(maxBytes: number, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl >= 0 && nl < maxBytes) {
        const line = this.buf.subarray(0, nl).toString('latin1');
        this.buf = this.buf.subarray(nl + 1);
        return line;
      }
      if (this.buf.length >= maxBytes) throw new NetIoError('toolong', `text longer than ${maxBytes}`);
      await this.more(deadline);
    }
  }

  /** Reads exactly n bytes (latin1). */
  async readBytes(n: number, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) await this.more(deadline);
    const out = this.buf.subarray(0, n).toString('latin1');
    this.buf = this.buf.subarray(n);
    return out;
  }

  /** Reads one byte as a number. */
  async readByte(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < 1) await this.more(deadline);
    const b = this.buf[0]!;
    this.buf = this.buf.subarray(1);
    return b;
  }

  close(): void {
    this.ended = true;
    this.sock.destroy();
    this.poke();
  }
}

/** Runs async jobs one at a time; at most maxWaiters wait (then 'busy'). */
export class Serializer {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly maxWaiters = NET_MAX_WAITERS) {}

  run<T>(job: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.maxWaiters) {
      return Promise.reject(new NetIoError('busy', `too many concurrent requests (${this.maxWaiters})`));
    }
    this.waiting++;
    const result = this.tail.then(job);
    this.tail = result.then(
      () => {
        this.waiting--;
      },
      () => {
        this.waiting--;
      },
    );
    return result;
  }
}

/** Resolves after ms milliseconds (retry pauses); the timer does not hold the process. */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
