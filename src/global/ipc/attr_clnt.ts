/*
 * attr_clnt - client side of a typed attr0 service (Postfix attr_clnt)
 *
 * What it does: AttrClient connects to a service endpoint (a UNIX stream
 * socket under queue_directory/private or /public, or an in-process
 * endpoint), reads and checks the server's protocol announcement, sends
 * one request list and reads one reply list, each step bounded by
 * timeoutMs (the caller's ipc_timeout or a service's own timeout).
 * Requests on one client run one at a time. With idleMs > 0 the
 * connection is kept for reuse and closed after idleMs without a request
 * (ipc_idle) or ttlMs after it was opened (ipc_ttl); a request that fails
 * on a reused connection before the server said anything is retried once
 * on a fresh connection, as Postfix does.
 *
 * What it does not do: pick the endpoint from master.cf, log (the caller
 * decides what a failure means for it). For a server that sends a stream
 * of lists (showq), openAttrStream() connects and checks the announcement
 * and the caller reads the lists from the Attr0Stream.
 *
 * DIAGNOSTICS
 * request() never throws: a failure is { ok: false, kind, message } with
 * kind 'connect' (no such endpoint, refused), 'timeout', 'closed' (the
 * server went away mid-request), 'malformed', 'oversized', 'announce'
 * (wrong or missing protocol announcement), 'reply' (a reply that does not
 * fit the protocol) or 'request' (the request itself could not be encoded).
 */
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { Attr0Stream, type StreamFailureKind } from '../../util/attr0_stream.js';
import { strerror } from '../../util/strerror.js';
import type { AnyProtocol, GreetingOf, ReplyOf, RequestOf } from './protocol.js';

export type IpcFailureKind = 'connect' | 'timeout' | 'closed' | 'malformed' | 'oversized' | 'announce' | 'reply' | 'request';

export interface IpcFailure {
  ok: false;
  kind: IpcFailureKind;
  message: string;
}

export type IpcResult<T> = { ok: true; reply: T } | IpcFailure;

/** Where a service lives: a UNIX socket path, or a function that opens a stream. */
export type Endpoint = string | { label: string; connect(): Duplex | Promise<Duplex> };

/** Postfix ipc_timeout default (3600s); callers normally pass their own. */
export const DEF_IPC_TIMEOUT_MS = 3600 * 1000;
/** Postfix ipc_idle default (5s). */
export const DEF_IPC_IDLE_MS = 5 * 1000;
/** Postfix ipc_ttl default (1000s). */
export const DEF_IPC_TTL_MS = 1000 * 1000;

export interface AttrClientOptions {
  endpoint: Endpoint;
  /** Bound on connect, on the announcement, and on each request. */
  timeoutMs: number;
  /** Keep the connection for reuse this long after a request (0: no reuse). */
  idleMs?: number;
  /** Close a reused connection this long after it was opened. */
  ttlMs?: number;
}

export function endpointLabel(e: Endpoint): string {
  return typeof e === 'string' ? e : e.label;
}

/**
 * A UNIX-socket endpoint under a label of the caller's choice (Postfix
 * names services "private/proxymap", "public/flush" in its warnings,
 * whatever the full path): connect errors read "connect to LABEL: ...".
 */
export function labelledUnixEndpoint(path: string, label: string, timeoutMs: number): Endpoint {
  return {
    label,
    connect: () =>
      new Promise<Duplex>((resolve, reject) => {
        const sock = netConnect({ path });
        const timer = setTimeout(() => {
          sock.destroy();
          reject(new Error('Connection timed out'));
        }, timeoutMs);
        sock.once('connect', () => {
          clearTimeout(timer);
          sock.removeAllListeners('error');
          resolve(sock);
        });
        sock.once('error', (err) => {
          clearTimeout(timer);
          sock.destroy();
          reject(new Error(strerror(err)));
        });
      }),
  };
}

/** Opens a stream to an endpoint within timeoutMs. */
export function openEndpoint(endpoint: Endpoint, timeoutMs: number): Promise<{ ok: true; stream: Duplex } | IpcFailure> {
  const label = endpointLabel(endpoint);
  if (typeof endpoint !== 'string') {
    return Promise.resolve()
      .then(() => endpoint.connect())
      .then(
        (stream) => ({ ok: true as const, stream }),
        (err: unknown) => fail('connect', `connect to ${label}: ${errText(err)}`),
      );
  }
  return new Promise((resolve) => {
    const sock = netConnect({ path: endpoint });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(fail('timeout', `connect to ${label}: timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve({ ok: true, stream: sock });
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(fail('connect', `connect to ${label}: ${errText(err)}`));
    });
  });
}

/**
 * Connects and checks the server's announcement (and returns its greeting
 * fields, e.g. cleanup's queue_id); for protocols whose server sends a
 * stream of lists (showq), or that continue in another format (cleanup's
 * queue file records), carry on with `io`.
 */
export async function openAttrStream<P extends AnyProtocol>(
  protocol: P,
  endpoint: Endpoint,
  timeoutMs: number,
): Promise<{ ok: true; io: Attr0Stream; greeting: GreetingOf<P> | undefined } | IpcFailure> {
  const label = endpointLabel(endpoint);
  const opened = await openEndpoint(endpoint, timeoutMs);
  if (!opened.ok) return opened;
  const io = new Attr0Stream(opened.stream, { limits: protocol.limits, format: protocol.format });
  if (protocol.announce) {
    const hello = await io.readFrame(timeoutMs);
    if (!hello.ok) {
      io.destroy();
      return fail(streamKind(hello.kind), `${label}: reading protocol announcement: ${hello.message}`);
    }
    const check = protocol.checkAnnouncement(hello.frame);
    if (!check.ok) {
      io.destroy();
      return fail('announce', `${label}: ${check.message}`);
    }
    return { ok: true, io, greeting: check.value as GreetingOf<P> };
  }
  return { ok: true, io, greeting: undefined };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function fail(kind: IpcFailureKind, message: string): IpcFailure {
  return { ok: false, kind, message };
}

function streamKind(kind: StreamFailureKind): IpcFailureKind {
  return kind === 'eof' ? 'closed' : kind;
}

/** An idle kept connection must not keep the process alive. */
function setRef(stream: Duplex, on: boolean): void {
  const s = stream as Duplex & { ref?: () => void; unref?: () => void };
  if (on) s.ref?.();
  else s.unref?.();
}

interface Conn {
  io: Attr0Stream;
  openedAt: number;
  idleTimer: NodeJS.Timeout | null;
}

export class AttrClient<P extends AnyProtocol> {
  readonly protocol: P;
  readonly options: Readonly<AttrClientOptions>;
  #conn: Conn | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(protocol: P, options: AttrClientOptions) {
    this.protocol = protocol;
    this.options = { ...options };
  }

  get label(): string {
    return endpointLabel(this.options.endpoint);
  }

  /** Sends one request and returns the typed reply or a failure status. */
  request(req: RequestOf<P>): Promise<IpcResult<ReplyOf<P>>> {
    const run = this.#queue.then(() => this.#request(req));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #request(req: RequestOf<P>): Promise<IpcResult<ReplyOf<P>>> {
    if (this.#closed) return fail('connect', `${this.label}: client is closed`);
    let bytes: Buffer;
    try {
      bytes = this.protocol.encodeRequest(req);
    } catch (err) {
      return fail('request', `${this.label}: ${errText(err)}`);
    }
    const reused = this.#takeConn();
    if (reused) {
      const r = await this.#exchange(reused, bytes, req);
      if (r.ok || !r.retry) return r.result;
    }
    const fresh = await this.#connect();
    if (!fresh.ok) return fresh;
    return (await this.#exchange(fresh.conn, bytes, req)).result;
  }

  #takeConn(): Conn | null {
    const c = this.#conn;
    this.#conn = null;
    if (!c) return null;
    if (c.idleTimer) clearTimeout(c.idleTimer);
    setRef(c.io.stream, true);
    const ttl = this.options.ttlMs ?? DEF_IPC_TTL_MS;
    if (c.io.ended || c.io.stream.destroyed || Date.now() - c.openedAt >= ttl) {
      c.io.destroy();
      return null;
    }
    return c;
  }

  async #connect(): Promise<{ ok: true; conn: Conn } | IpcFailure> {
    const r = await openAttrStream(this.protocol, this.options.endpoint, this.options.timeoutMs);
    if (!r.ok) return r;
    return { ok: true, conn: { io: r.io, openedAt: Date.now(), idleTimer: null } };
  }

  async #exchange(conn: Conn, bytes: Buffer, req: RequestOf<P>): Promise<{ ok: boolean; retry: boolean; result: IpcResult<ReplyOf<P>> }> {
    const { timeoutMs } = this.options;
    const before = conn.io.bytesIn;
    const sent = await conn.io.writeBytes(bytes, timeoutMs);
    if (!sent) {
      conn.io.destroy();
      if (conn.io.writeTimedOut) {
        return { ok: false, retry: false, result: fail('timeout', `${this.label}: write timeout after ${timeoutMs} ms`) };
      }
      return { ok: false, retry: true, result: fail('closed', `${this.label}: write error: connection closed`) };
    }
    const r = await conn.io.readFrame(timeoutMs);
    if (!r.ok) {
      conn.io.destroy();
      const silent = conn.io.bytesIn === before && (r.kind === 'eof' || r.kind === 'closed');
      return { ok: false, retry: silent, result: fail(streamKind(r.kind), `${this.label}: reading reply: ${r.message}`) };
    }
    const reply = this.protocol.decodeReply(r.frame, req);
    if (!reply.ok) {
      conn.io.destroy();
      return { ok: false, retry: false, result: fail('reply', `${this.label}: malformed reply: ${reply.message}`) };
    }
    this.#release(conn);
    return { ok: true, retry: false, result: { ok: true, reply: reply.value as ReplyOf<P> } };
  }

  #release(conn: Conn): void {
    const idle = this.options.idleMs ?? 0;
    if (idle <= 0 || this.#closed) {
      conn.io.end();
      conn.io.destroy();
      return;
    }
    conn.idleTimer = setTimeout(() => {
      if (this.#conn === conn) this.#conn = null;
      conn.io.destroy();
    }, idle);
    conn.idleTimer.unref();
    setRef(conn.io.stream, false);
    this.#conn = conn;
  }

  /** Closes a kept connection; later requests fail with kind 'connect'. */
  close(): void {
    this.#closed = true;
    const c = this.#conn;
    this.#conn = null;
    if (c) {
      if (c.idleTimer) clearTimeout(c.idleTimer);
      c.io.destroy();
    }
  }
}
