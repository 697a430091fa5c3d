/*
 * attr_inproc - in-process transport for attr0 services
 *
 * What it does: createDuplexPair() makes two connected Duplex streams
 * that behave like the two ends of a UNIX stream socket (bytes written
 * on one are read on the other, end() is end-of-input for the peer,
 * destroy() closes both, writes wait when the reader is behind).
 * inProcessEndpoint() turns a protocol handler into an Endpoint for
 * AttrClient: every connect() makes a pair and serves the far end with
 * serveAttrConnection(), so a test, or services co-located in one
 * process, run the very same client and server code with no socket.
 *
 * What it does not do: pass file descriptors or credentials.
 *
 * DIAGNOSTICS
 * As attr_serv.ts for the served end.
 */
import { Duplex } from 'node:stream';
import type { Endpoint } from './attr_clnt.js';
import { type AttrHandler, type AttrServeOptions, serveAttrConnection } from './attr_serv.js';
import type { AnyProtocol, GreetingOf } from './protocol.js';

class PairEnd extends Duplex {
  peer: PairEnd | null = null;
  #pendingWrite: (() => void) | null = null;

  override _read(): void {
    const peer = this.peer;
    const cb = peer ? peer.#pendingWrite : null;
    if (peer && cb) {
      peer.#pendingWrite = null;
      cb();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (!peer || peer.destroyed) return cb(new Error('EPIPE: peer closed'));
    if (peer.push(chunk)) cb();
    else this.#pendingWrite = () => cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    if (peer && !peer.destroyed) peer.push(null);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = null;
    const pending = this.#pendingWrite;
    this.#pendingWrite = null;
    pending?.();
    if (peer && !peer.destroyed) {
      peer.peer = null;
      peer.push(null);
      peer.destroy();
    }
    cb(err);
  }
}

/** Two connected streams, like socketpair(2). */
export function createDuplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** An Endpoint whose every connection is served in this process. */
export function inProcessEndpoint<P extends AnyProtocol>(
  protocol: P,
  handler: AttrHandler<P>,
  opts: AttrServeOptions<GreetingOf<P>> = {},
): Endpoint {
  const label = opts.label ?? `inproc/${protocol.name}`;
  return {
    label,
    connect() {
      const [client, server] = createDuplexPair();
      void serveAttrConnection(server, protocol, handler, { ...opts, label });
      return client;
    },
  };
}
