/*
 * master_lend - a listening stream socket that master lends to a worker
 *
 * What it does: Postfix's master keeps every listening socket and its
 * worker processes accept on it themselves. Node cannot watch a socket
 * for readability without accepting on it, so a LendableSocket is held
 * by exactly one process at a time:
 *
 *  - held by master (no worker is taking clients): master accepts,
 *    pauses and queues each client and hands it to a worker over IPC
 *    (master_spawn.ts), which is how a worker gets started on demand;
 *  - lent to the worker that takes new clients: master sends the
 *    listening handle once (Node IPC duplicates the descriptor) and
 *    closes its own copy, so every later client goes straight to that
 *    worker with no IPC. The worker gives the socket back when it stops
 *    taking clients (max_idle, max_use, a changed table, reload), and
 *    master holds it again.
 *
 * The kernel socket outlives each copy as long as one process has it
 * open, so its backlog never goes away while it changes hands. If the
 * process holding it dies, the socket is gone with it and master binds a
 * new one (rebind()); clients that were in the old backlog are reset.
 * UNIX sockets are bound under a temporary name and renamed into place
 * (master_listen.ts): libuv removes a socket file when the server that
 * bound it closes, and master's copy is closed every time it is lent.
 *
 * What it does not do: pick the worker (master_spawn.ts) or speak the
 * IPC messages (master_status.ts, mail_server.ts).
 *
 * DIAGNOSTICS
 * A failed rebind is a warning naming the endpoint; the service then has
 * no listener until the next reload.
 */
import type { Server } from 'node:net';
import { msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';

export class LendableSocket {
  /** Master's listening copy; null while lent out or closed. */
  #server: Server | null;
  /** Who holds the socket when master does not (a worker object), or null. */
  holder: object | null = null;
  #closed = false;

  constructor(
    readonly label: string,
    server: Server,
    /** Binds the endpoint anew (after the holder died). */
    private readonly bind: () => Promise<Server>,
    /** Makes a server given back over IPC accept for master, as its own did. */
    private readonly acceptHere: (server: Server) => Server,
  ) {
    this.#server = server;
  }

  /** True when master holds the socket and is not already lending it. */
  get held(): boolean {
    return this.#server !== null && this.holder === null && !this.#closed;
  }

  /** Master's copy to send to `holder`; call lent() once the handle went out. */
  lendTo(holder: object): Server | null {
    if (!this.held) return null;
    this.holder = holder;
    return this.#server;
  }

  /** The worker has its copy: master stops accepting (clients accepted meanwhile were queued). */
  lent(): void {
    const s = this.#server;
    this.#server = null;
    s?.close();
  }

  /** Sending failed: master keeps holding. */
  notLent(): void {
    this.holder = null;
  }

  /** A worker gave the socket back (Node made `server` from the returned handle). */
  adopt(server: Server): void {
    this.holder = null;
    if (this.#closed || this.#server) {
      server.close();
      return;
    }
    server.on('error', (err) => msgWarn(`${this.label}: ${strerror(err)}`));
    this.#server = this.acceptHere(server);
  }

  /** The holder died with the only copy: bind the endpoint again. */
  async rebind(): Promise<void> {
    this.holder = null;
    if (this.#closed || this.#server) return;
    try {
      const server = await this.bind();
      if (this.#closed) server.close();
      else this.#server = server;
    } catch (err) {
      msgWarn(`${this.label}: cannot listen again after its process died: ${strerror(err)}`);
    }
  }

  close(): void {
    this.#closed = true;
    this.#server?.close();
    this.#server = null;
  }
}
