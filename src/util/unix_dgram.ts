/*
 * unix_dgram - typed access to UNIX-domain datagram sockets
 *
 * What it does: Node has no AF_UNIX SOCK_DGRAM sockets, and syslog's
 * /dev/log (and Postfix's postlog service) are datagram sockets. This
 * module loads the native `unix-dgram` npm package (a small node-gyp
 * addon: socket, bind, connect, send, sendto, close) and gives it
 * TypeScript types. Everything that needs datagrams imports this file,
 * never the package, so there is one place to replace it.
 *
 * What it does not do: retry, queue or format anything (msg_syslog.ts
 * does that). Note that an open socket keeps the event loop alive (the
 * addon polls it for reading): close sockets you are done with.
 *
 * DIAGNOSTICS
 * createDgramSocket() throws if the addon cannot be loaded or socket(2)
 * fails. Socket errors arrive as 'error' events (errno negative, as
 * libuv numbers them) or as the callback's error.
 */
import { createRequire } from 'node:module';
import type { EventEmitter } from 'node:events';

export interface DgramSocket extends EventEmitter {
  /** bind(2) to a path; emits 'listening' or 'error'. */
  bind(path: string): void;
  /** connect(2) to a path; emits 'connect' or 'error'. */
  connect(path: string): void;
  /** On a connected socket: send(2). A congested peer gives 'congestion', later 'writable'. */
  send(buf: Buffer, callback?: (err?: Error) => void): void;
  /** On an unconnected socket: sendto(2). */
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
  close(): void;
  connected?: boolean;
}

interface UnixDgramModule {
  createSocket(type: 'unix_dgram', listener?: (msg: Buffer, rinfo: { size: number; path?: string }) => void): DgramSocket;
}

let loaded: UnixDgramModule | null = null;

function load(): UnixDgramModule {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    loaded = require('unix-dgram') as UnixDgramModule;
  }
  return loaded;
}

/** A new AF_UNIX SOCK_DGRAM socket (non-blocking, close-on-exec). */
export function createDgramSocket(onMessage?: (msg: Buffer) => void): DgramSocket {
  return load().createSocket('unix_dgram', onMessage ? (msg) => onMessage(msg) : undefined);
}
