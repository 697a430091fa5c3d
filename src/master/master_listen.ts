/*
 * master_listen - open and close the endpoints of one master.cf service
 *
 * What it does: master owns every listener. inet: one TCP server per
 * address (host:port, [ipv6]:port, or a bare port on every
 * inet_interfaces address). unix and pass: a UNIX stream socket at
 * queue_directory/private/NAME or public/NAME, mode 0666 and owned by
 * mail_owner when master runs as root (what Postfix leaves there). fifo:
 * a named pipe made with the mkfifo(1) command (Node has no mkfifo call),
 * mode 0622, opened read-write so it never reports end of file; master
 * reads it and forwards each chunk to the worker as a trigger.
 * Stream servers are created with pauseOnConnect: master accepts a
 * client and hands the paused socket to a worker (master_spawn.ts), so
 * maxproc is an exact limit on concurrent clients.
 *
 * pass services: Postfix hands an already-accepted descriptor over the
 * socket (SCM_RIGHTS). Node cannot receive descriptors on an ordinary
 * UNIX socket, so a pass endpoint is opened like a unix endpoint and
 * each connection to it is handed to the worker as a client.
 * unix-dgram (Postfix's postlog service): master binds the datagram
 * socket (through src/util/unix_dgram.ts, the native add-on) and hands
 * each datagram to the worker as one trigger, so such a service's daemon
 * is a trigger server (mail_server.ts triggerServerMain) that gets one
 * record per call; Postfix's postlogd reads the socket itself instead.
 *
 * What it does not do: decide who gets a client (master_spawn.ts) or
 * create the private/public directories (postfix start does).
 *
 * DIAGNOSTICS
 * openListener rejects with an Error naming the endpoint when bind,
 * mkfifo or open fails; master makes that fatal at startup and a
 * warning on reload.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, constants, lstatSync, openSync, unlinkSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import type { ServiceSpec } from './master_ent.js';
import { msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { createDgramSocket, type DgramSocket } from '../util/unix_dgram.js';

/** Postfix leaves its stream sockets srw-rw-rw-. */
export const UNIX_SOCKET_MODE = 0o666;
/** Postfix's fifo mode (prw--w--w-): anyone may write a trigger. */
export const FIFO_MODE = '622';
export const LISTEN_BACKLOG = 511;

export interface ListenHandlers {
  client(socket: Socket): void;
  trigger(data: Buffer): void;
}

export interface Listener {
  readonly label: string;
  close(): Promise<void>;
}

export interface Owner {
  uid: number;
  gid: number;
}

function listenServer(server: Server, opts: { host?: string; port?: number; path?: string; ipv6Only?: boolean }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen({ ...opts, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      server.on('error', (err) => msgWarn(`${opts.path ?? `${opts.host}:${opts.port}`}: ${strerror(err)}`));
      resolve();
    });
  });
}

/**
 * Stops listening at once. Not awaiting close()'s callback: it waits for
 * every connection the server ever accepted, and those now belong to
 * workers (a handed-over socket still counts in the master's server).
 */
function closeServer(server: Server): Promise<void> {
  server.close();
  return Promise.resolve();
}

function makeStreamServer(handlers: ListenHandlers): Server {
  return createServer({ pauseOnConnect: true }, (socket) => handlers.client(socket));
}

/** Removes a stale socket or fifo left by an earlier run; never a regular file. */
function removeStale(path: string): void {
  try {
    const st = lstatSync(path);
    if (st.isSocket() || st.isFIFO()) unlinkSync(path);
    else throw new Error(`${path}: exists and is not a socket or fifo`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function openInet(spec: ServiceSpec, handlers: ListenHandlers): Promise<Listener> {
  if (spec.endpoint.kind !== 'inet') throw new Error('not inet');
  const servers: Server[] = [];
  for (const a of spec.endpoint.addrs) {
    const server = makeStreamServer(handlers);
    try {
      await listenServer(server, { host: a.host, port: a.port, ipv6Only: a.ipv6Only });
    } catch (err) {
      await Promise.all(servers.map(closeServer));
      // Postfix: "bind 127.0.0.1 port 25: Address already in use"
      throw new Error(`bind ${a.host} port ${a.port}: ${strerror(err)}`);
    }
    servers.push(server);
  }
  return { label: spec.endpoint.label, close: async () => void (await Promise.all(servers.map(closeServer))) };
}

async function openUnix(spec: ServiceSpec, handlers: ListenHandlers, owner: Owner | null): Promise<Listener> {
  if (spec.endpoint.kind !== 'path') throw new Error('not a path endpoint');
  const path = spec.endpoint.path;
  const server = makeStreamServer(handlers);
  try {
    removeStale(path);
    await listenServer(server, { path });
    chmodSync(path, UNIX_SOCKET_MODE);
    if (owner) chownSync(path, owner.uid, owner.gid);
  } catch (err) {
    throw new Error(`bind ${path}: ${strerror(err)}`);
  }
  return {
    label: spec.endpoint.label,
    close: async () => {
      await closeServer(server);
      try {
        unlinkSync(path);
      } catch {
        // Already gone (closing a server usually removes its socket file).
      }
    },
  };
}

async function openFifo(spec: ServiceSpec, handlers: ListenHandlers, owner: Owner | null): Promise<Listener> {
  if (spec.endpoint.kind !== 'path') throw new Error('not a path endpoint');
  const path = spec.endpoint.path;
  let fd: number;
  try {
    removeStale(path);
    execFileSync('mkfifo', ['-m', FIFO_MODE, path], { stdio: ['ignore', 'ignore', 'pipe'] });
    if (owner) chownSync(path, owner.uid, owner.gid);
    fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
  } catch (err) {
    throw new Error(`open fifo ${path}: ${strerror(err)}`);
  }
  const reader = new Socket({ fd, readable: true, writable: false });
  reader.on('data', (chunk: Buffer) => handlers.trigger(chunk));
  reader.on('error', (err) => msgWarn(`${path}: ${strerror(err)}`));
  return {
    label: spec.endpoint.label,
    close: async () => {
      reader.destroy(); // closes the descriptor too
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}

async function openDgram(spec: ServiceSpec, handlers: ListenHandlers, owner: Owner | null): Promise<Listener> {
  if (spec.endpoint.kind !== 'path') throw new Error('not a path endpoint');
  const path = spec.endpoint.path;
  let sock: DgramSocket;
  try {
    removeStale(path);
    sock = createDgramSocket((msg) => handlers.trigger(msg));
    await new Promise<void>((resolve, reject) => {
      sock.once('listening', () => resolve());
      sock.once('error', (err: Error) => reject(err));
      sock.bind(path);
    });
    chmodSync(path, UNIX_SOCKET_MODE);
    if (owner) chownSync(path, owner.uid, owner.gid);
  } catch (err) {
    throw new Error(`bind ${path}: ${strerror(err)}`);
  }
  sock.on('error', (err: Error) => msgWarn(`${path}: ${strerror(err)}`));
  return {
    label: spec.endpoint.label,
    close: async () => {
      sock.close();
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
  };
}

/** Opens the endpoint of one service. */
export async function openListener(spec: ServiceSpec, handlers: ListenHandlers, owner: Owner | null): Promise<Listener | null> {
  switch (spec.type) {
    case 'inet':
      return openInet(spec, handlers);
    case 'unix':
    case 'pass':
      return openUnix(spec, handlers, owner);
    case 'fifo':
      return openFifo(spec, handlers, owner);
    case 'unix-dgram':
      return openDgram(spec, handlers, owner);
    default:
      throw new Error(`unknown service type: ${String(spec.type)}`);
  }
}
