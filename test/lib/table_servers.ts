/*
 * table_servers - in-process tcp_table(5) and socketmap servers for tests
 *
 * What it does: TcpTableServer answers "get SP %XX-key NL" requests from
 * a Map (200 + %XX-encoded value, or "500 not found"); SocketmapServer
 * answers netstring "mapname SP key" requests from per-map Maps ("OK
 * value" or "NOTFOUND "), on 127.0.0.1:PORT or a UNIX-domain socket.
 * Both record the keys they were asked, can be given a `respond` hook
 * that overrides the reply for a key (a raw reply, HANG_UP to close the
 * connection, or NO_REPLY to stay silent), and can stop() (closing every
 * client connection, so clients see the server go away) and start()
 * again on the same port. Their encoders are written here, apart from
 * the clients under test.
 *
 * What it does not do: bound the number of clients or run outside the
 * test process; listen on anything but loopback or a socket path.
 *
 * DIAGNOSTICS
 * start() rejects when the port or path cannot be bound.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { freePort } from './proc.js';

/** `respond` result: close the client connection without a reply. */
export const HANG_UP = Symbol('hang up');
/** `respond` result: read the request and never answer. */
export const NO_REPLY = Symbol('no reply');

export type Respond = (key: string, map?: string) => string | typeof HANG_UP | typeof NO_REPLY | undefined;

/** Longest request line a test server buffers before hanging up. */
export const TEST_SERVER_MAX_REQUEST = 1 << 20;

abstract class LoopbackServer {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** Keys (decoded) in the order they were asked. */
  readonly requests: string[] = [];
  /** Number of connections accepted since construction. */
  connections = 0;
  respond: Respond | undefined;

  protected constructor(readonly port: number, readonly path: string | undefined) {}

  protected abstract onData(sock: Socket, state: { buf: Buffer }): void;

  async start(): Promise<void> {
    if (this.server) return;
    if (this.path) rmSync(this.path, { force: true });
    const server = createServer((sock) => {
      this.connections++;
      this.sockets.add(sock);
      const state = { buf: Buffer.alloc(0) };
      sock.on('data', (d: Buffer) => {
        state.buf = Buffer.concat([state.buf, d]);
        if (state.buf.length > TEST_SERVER_MAX_REQUEST) sock.destroy();
        else this.onData(sock, state);
      });
      sock.on('error', () => {});
      sock.on('close', () => this.sockets.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (this.path) server.listen(this.path, () => resolve());
      else server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Drops every client connection but keeps listening (an idle-timeout or restart seen by clients). */
  dropClients(): void {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }
}

/** tcp_table(5) %XX encoding: '%', white space and non-printable bytes. */
function tcpEncode(raw: string): string {
  return raw.replace(/[^\x21-\x24\x26-\x7e]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0'));
}

function tcpDecode(hex: string): string {
  return hex.replace(/%([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
}

export class TcpTableServer extends LoopbackServer {
  readonly entries: Map<string, string>;
  /** Request lines as received (still %XX-encoded). */
  readonly rawRequests: string[] = [];

  private constructor(port: number, entries: Map<string, string>) {
    super(port, undefined);
    this.entries = entries;
  }

  static async start(entries: Map<string, string> = new Map(), port?: number): Promise<TcpTableServer> {
    const s = new TcpTableServer(port ?? (await freePort()), entries);
    await s.start();
    return s;
  }

  /** The table's name part: "127.0.0.1:PORT". */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  protected onData(sock: Socket, state: { buf: Buffer }): void {
    for (let nl = state.buf.indexOf(0x0a); nl >= 0; nl = state.buf.indexOf(0x0a)) {
      const line = state.buf.subarray(0, nl).toString('latin1');
      state.buf = state.buf.subarray(nl + 1);
      this.rawRequests.push(line);
      const m = /^get (.*)$/.exec(line);
      if (!m) {
        sock.write('400 bad request\n');
        continue;
      }
      const key = tcpDecode(m[1]!);
      this.requests.push(key);
      const special = this.respond?.(key);
      if (special === HANG_UP) {
        sock.destroy();
        return;
      }
      if (special === NO_REPLY) continue;
      if (special !== undefined) {
        sock.write(Buffer.from(`${special}\n`, 'latin1'));
        continue;
      }
      const value = this.entries.get(key);
      sock.write(Buffer.from(value === undefined ? '500 not found\n' : `200 ${tcpEncode(value)}\n`, 'latin1'));
    }
  }
}

export class SocketmapServer extends LoopbackServer {
  /** mapname → entries. */
  readonly maps: Map<string, Map<string, string>>;

  private constructor(port: number, path: string | undefined, maps: Map<string, Map<string, string>>) {
    super(port, path);
    this.maps = maps;
  }

  static async start(maps: Map<string, Map<string, string>>, opts: { port?: number; path?: string } = {}): Promise<SocketmapServer> {
    const s = new SocketmapServer(opts.path ? 0 : (opts.port ?? (await freePort())), opts.path, maps);
    await s.start();
    return s;
  }

  /** "inet:127.0.0.1:PORT" or "unix:PATH". */
  get endpoint(): string {
    return this.path ? `unix:${this.path}` : `inet:127.0.0.1:${this.port}`;
  }

  protected onData(sock: Socket, state: { buf: Buffer }): void {
    for (;;) {
      const colon = state.buf.indexOf(0x3a);
      if (colon < 0) return;
      const lenText = state.buf.subarray(0, colon).toString('latin1');
      if (!/^[0-9]+$/.test(lenText)) {
        sock.destroy();
        return;
      }
      const len = Number(lenText);
      if (state.buf.length < colon + 1 + len + 1) return;
      const body = state.buf.subarray(colon + 1, colon + 1 + len).toString('latin1');
      if (state.buf[colon + 1 + len] !== 0x2c) {
        sock.destroy();
        return;
      }
      state.buf = state.buf.subarray(colon + 2 + len);
      const sp = body.indexOf(' ');
      const map = sp < 0 ? body : body.slice(0, sp);
      const key = sp < 0 ? '' : body.slice(sp + 1);
      this.requests.push(key);
      const special = this.respond?.(key, map);
      if (special === HANG_UP) {
        sock.destroy();
        return;
      }
      if (special === NO_REPLY) continue;
      let reply: string;
      if (special !== undefined) reply = special;
      else {
        const value = this.maps.get(map)?.get(key);
        reply = value === undefined ? 'NOTFOUND ' : `OK ${value}`;
      }
      sock.write(Buffer.from(`${reply.length}:${reply},`, 'latin1'));
    }
  }
}
