/*
 * attr_serv - server side of a typed attr0 service
 *
 * What it does: serveAttrConnection() runs one client connection: it
 * sends the protocol announcement, then reads request lists one at a
 * time (decoded incrementally, within the protocol's caps), calls the
 * typed async handler, and writes its reply, waiting for the socket to
 * drain before reading the next request (backpressure: a client that
 * does not read its replies stops being read from). createAttrServer()
 * wraps that around a net.Server, or around sockets accepted elsewhere
 * (master's listeners) through handle().
 *
 * What it does not do: decide where to listen (master owns the
 * listeners), count max_use/max_idle (the skeleton in src/master/ does),
 * or send several reply lists per request (use Attr0Stream directly).
 *
 * DIAGNOSTICS
 * A client that sends a malformed, oversized or unexpected list, or
 * stops for idleTimeoutMs in the middle of one, is disconnected with a
 * warning (one idle between requests is closed silently); a handler that throws gets a warning and
 * the connection is closed. Nothing a client does ends the server.
 */
import { type Server, type Socket, createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { msgVerbose, msgWarn } from '../../util/msg.js';
import { Attr0Stream } from '../../util/attr0_stream.js';
import type { AnyProtocol, GreetingOf, ReplyOf, RequestOf } from './protocol.js';

export interface AttrRequestContext {
  /** Aborted when the client disconnects or the server closes. */
  signal: AbortSignal;
  /** The service label used in warnings. */
  label: string;
}

export type AttrHandler<P extends AnyProtocol> = (req: RequestOf<P>, ctx: AttrRequestContext) => Promise<ReplyOf<P>> | ReplyOf<P>;

export interface AttrServeOptions<G = unknown> {
  /** Name for warnings, e.g. "private/flush". */
  label?: string;
  /** Greeting fields to send after protocol=<name>, per connection (cleanup: queue_id). */
  greeting?: () => G | Promise<G>;
  /** How long to wait for the (next) request; 0: forever. */
  idleTimeoutMs?: number;
  /** How long a reply may wait for the client to read it; 0: forever. */
  writeTimeoutMs?: number;
}

/** Requests a client may have decoded ahead of the one being served (pipelining bound). */
export const SERVER_MAX_QUEUED_REQUESTS = 4;

/** How a served connection ended. */
export type ServeEnd = 'eof' | 'dropped';

/** Serves one connected client until it disconnects or misbehaves. */
export async function serveAttrConnection<P extends AnyProtocol>(
  stream: Duplex,
  protocol: P,
  handler: AttrHandler<P>,
  opts: AttrServeOptions<GreetingOf<P>> = {},
): Promise<ServeEnd> {
  const label = opts.label ?? protocol.name;
  const io = new Attr0Stream(stream, { limits: protocol.limits, format: protocol.format, maxQueuedFrames: SERVER_MAX_QUEUED_REQUESTS });
  const abort = new AbortController();
  stream.once('close', () => abort.abort());
  const drop = (why: string): ServeEnd => {
    msgWarn(`${label}: ${why}`);
    io.destroy();
    return 'dropped';
  };
  if (protocol.announce) {
    let hello: Buffer;
    try {
      hello = protocol.announcement(opts.greeting ? await opts.greeting() : undefined);
    } catch (err) {
      return drop(`cannot greet client: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!(await io.writeBytes(hello, opts.writeTimeoutMs ?? 0))) {
      io.destroy();
      return 'dropped';
    }
  }
  for (;;) {
    const r = await io.readFrame(opts.idleTimeoutMs ?? 0);
    if (!r.ok) {
      if (r.kind === 'eof' || (r.kind === 'timeout' && !io.partial)) {
        // A client that hangs up, or stays idle between requests, is not an error.
        io.destroy();
        return 'eof';
      }
      return drop(`${r.kind === 'timeout' ? 'timeout' : r.kind} while reading request: ${r.message}`);
    }
    const req = protocol.decodeRequest(r.frame);
    if (!req.ok) return drop(`malformed request: ${req.message}`);
    let bytes: Buffer;
    try {
      const reply = await handler(req.value as RequestOf<P>, { signal: abort.signal, label });
      bytes = protocol.encodeReply(reply, req.value);
    } catch (err) {
      return drop(`request handler failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (abort.signal.aborted) {
      msgVerbose(`${label}: client went away before the reply`);
      return 'dropped';
    }
    if (!(await io.writeBytes(bytes, opts.writeTimeoutMs ?? 0))) {
      io.destroy();
      return 'dropped';
    }
  }
}

export interface AttrServer {
  readonly server: Server;
  /** Serves a socket accepted elsewhere (a listener passed down by master). */
  handle(stream: Duplex): Promise<ServeEnd>;
  /** Listens on a UNIX socket path (the file must not exist). */
  listen(path: string): Promise<void>;
  /** Stops accepting, drops every open connection, and waits for the listener. */
  close(): Promise<void>;
  readonly connectionCount: number;
}

export function createAttrServer<P extends AnyProtocol>(protocol: P, handler: AttrHandler<P>, opts: AttrServeOptions<GreetingOf<P>> = {}): AttrServer {
  const open = new Set<Duplex>();
  const handle = (stream: Duplex): Promise<ServeEnd> => {
    open.add(stream);
    stream.once('close', () => open.delete(stream));
    return serveAttrConnection(stream, protocol, handler, opts).catch((err: unknown) => {
      msgWarn(`${opts.label ?? protocol.name}: ${err instanceof Error ? err.message : String(err)}`);
      stream.destroy();
      return 'dropped' as const;
    });
  };
  const server = createServer((sock: Socket) => {
    void handle(sock);
  });
  server.on('error', (err) => msgWarn(`${opts.label ?? protocol.name}: listener: ${err.message}`));
  return {
    server,
    handle,
    listen(path: string) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error) => reject(err);
        server.once('error', onError);
        server.listen(path, () => {
          server.off('error', onError);
          resolve();
        });
      });
    },
    close() {
      for (const s of open) s.destroy();
      return new Promise((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
    get connectionCount() {
      return open.size;
    },
  };
}
