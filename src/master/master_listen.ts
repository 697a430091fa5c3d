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
 * Stream servers are created with pauseOnConnect: while master holds
 * one it accepts a client and hands the paused socket to a worker
 * (master_spawn.ts). Each listening stream socket is a LendableSocket
 * (master_lend.ts): master lends it to the worker that takes new
 * clients, which then accepts on it itself. A UNIX socket is bound under
 * a temporary name in its directory and renamed into place, because
 * libuv removes the file a server bound when that server closes, and
 * master closes its copy each time it lends the socket.
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
import { chmodSync, chownSync, constants, lstatSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { LendableSocket } from './master_lend.js';
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
  /** The listening stream sockets (inet, unix, pass); none for fifo and unix-dgram. */
  readonly lendable: readonly LendableSocket[];
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
 * Makes `server` accept for master: clients arrive paused and go to
 * handlers.client. For master's own servers and for those a worker gives
 * back over IPC (made by Node without pauseOnConnect, which net.Server
 * reads per accepted client).
 */
function acceptForMaster(server: Server, handlers: ListenHandlers): Server {
  (server as Server & { pauseOnConnect: boolean }).pauseOnConnect = true;
  server.on('connection', (socket: Socket) => handlers.client(socket));
  return server;
}

function makeStreamServer(handlers: ListenHandlers): Server {
  return acceptForMaster(createServer(), handlers);
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
  const sockets: LendableSocket[] = [];
  for (const a of spec.endpoint.addrs) {
    const bind = async (): Promise<Server> => {
      const server = makeStreamServer(handlers);
      try {
        await listenServer(server, { host: a.host, port: a.port, ipv6Only: a.ipv6Only });
      } catch (err) {
        // Postfix: "bind 127.0.0.1 port 25: Address already in use"
        throw new Error(`bind ${a.host} port ${a.port}: ${strerror(err)}`);
      }
      return server;
    };
    try {
      sockets.push(new LendableSocket(`${a.host}:${a.port}`, await bind(), bind, (s) => acceptForMaster(s, handlers)));
    } catch (err) {
      for (const l of sockets) l.close();
      throw err;
    }
  }
  return {
    label: spec.endpoint.label,
    lendable: sockets,
    close: async () => {
      for (const l of sockets) l.close();
    },
  };
}

let tempSocketCount = 0;

/** Listens on a UNIX socket bound under a temporary name, then renamed to `path`. */
async function bindUnix(path: string, handlers: ListenHandlers, owner: Owner | null): Promise<Server> {
  // Short: sun_path holds 107 bytes, and the real name must fit too.
  const temp = join(dirname(path), `.m${process.pid}.${++tempSocketCount}`);
  const server = makeStreamServer(handlers);
  try {
    removeStale(temp);
    await listenServer(server, { path: temp });
    chmodSync(temp, UNIX_SOCKET_MODE);
    if (owner) chownSync(temp, owner.uid, owner.gid);
    renameSync(temp, path);
  } catch (err) {
    server.close();
    throw new Error(`bind ${path}: ${strerror(err)}`);
  }
  return server;
}

async function openUnix(spec: ServiceSpec, handlers: ListenHandlers, owner: Owner | null): Promise<Listener> {
  if (spec.endpoint.kind !== 'path') throw new Error('not a path endpoint');
  const path = spec.endpoint.path;
  try {
    removeStale(path);
  } catch (err) {
    throw new Error(`bind ${path}: ${strerror(err)}`);
  }
  const bind = (): Promise<Server> => bindUnix(path, handlers, owner);
  const socket = new LendableSocket(path, await bind(), bind, (s) => acceptForMaster(s, handlers));
  return {
    label: spec.endpoint.label,
    lendable: [socket],
    close: async () => {
      socket.close();
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
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
    lendable: [],
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
    lendable: [],
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
