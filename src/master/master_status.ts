/*
 * master_status - master's view of one worker process: busy/idle state
 *
 * What it does: MasterWorker wraps a forked worker and keeps the state
 * master needs (Postfix master_status.c keeps the same per process from
 * its status pipe): starting until the worker says ready; the ids of
 * the clients it holds (busy while any); how many clients it was ever
 * given (use count, which decides "bad command startup"); whether it
 * still takes new clients (not after retire or stop). It translates the
 * worker's IPC messages (master_proto.ts) into calls on its owner.
 *
 * What it does not do: decide when to spawn or whom to give a client
 * (master_spawn.ts, master_avail.ts), or log exits.
 *
 * DIAGNOSTICS
 * A message of unknown shape from a worker is logged as a warning and
 * ignored (Postfix: "ignoring status update from child pid ...").
 */
import type { ChildProcess } from 'node:child_process';
import type { Server, Socket } from 'node:net';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { MASTER_MSG, isMasterMessage, type MasterToWorker } from './master_proto.js';

export type WorkerState = 'starting' | 'ready' | 'retiring' | 'stopping' | 'gone';

export interface WorkerOwner {
  workerReady(w: MasterWorker): void;
  workerClientDone(w: MasterWorker, id: number): void;
  workerRetired(w: MasterWorker): void;
  /** The worker gave back the listening socket it was lent (slot = index in Listener.lendable). */
  workerReturnedListener(w: MasterWorker, slot: number, server: Server | null): void;
  /** A client the worker accepted itself waits for one of maxproc slots. */
  workerAtLimit(w: MasterWorker): void;
}

let nextClientId = 1;

export class MasterWorker {
  state: WorkerState = 'starting';
  readonly clients = new Set<number>();
  useCount = 0;
  /** Set when master itself sent a signal, so the exit is not a failure. */
  killedByMaster = false;
  /** The configuration generation this worker was started with. */
  readonly generation: number;

  constructor(readonly child: ChildProcess, private readonly owner: WorkerOwner, generation: number) {
    this.generation = generation;
    child.on('message', (m: unknown, handle: unknown) => this.#onMessage(m, handle));
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** True when master may give this worker a new client. */
  get accepting(): boolean {
    return this.state === 'ready';
  }

  get busy(): boolean {
    return this.clients.size > 0;
  }

  /** Hands one paused client to the worker; calls back false when it could not be sent. */
  sendClient(socket: Socket, sent: (ok: boolean) => void): void {
    const id = nextClientId++;
    this.clients.add(id);
    this.useCount++;
    this.#sendHandle({ t: MASTER_MSG.CONN, id }, socket, 'client', (ok) => {
      if (!ok) {
        this.clients.delete(id);
        // A channel that fails once is going away: no more clients for it.
        if (this.state === 'ready') this.state = 'stopping';
      }
      sent(ok);
    });
  }

  /** Lends a listening socket; calls back false when it could not be sent. Counts as a use. */
  sendListener(slot: number, server: Server, sent: (ok: boolean) => void): void {
    this.useCount++;
    this.#sendHandle({ t: MASTER_MSG.LISTEN, slot }, server, 'listener', sent);
  }

  /** Sends a message with a handle (a paused client is closed on our side once sent). */
  #sendHandle(msg: MasterToWorker, handle: Socket | Server, what: string, sent: (ok: boolean) => void): void {
    const fail = (err: Error): void => {
      msgVerbose(`pid ${this.pid}: send ${what}: ${err.message}`);
      sent(false);
    };
    try {
      this.child.send(msg, handle, { keepOpen: false }, (err) => (err ? fail(err) : sent(true)));
    } catch (err) {
      fail(err as Error);
    }
  }

  sendTrigger(data: Buffer): boolean {
    return this.#send({ t: MASTER_MSG.TRIGGER, data: data.toString('base64') });
  }

  /** Graceful: no new clients; the worker exits when its clients are gone. */
  stop(): void {
    if (this.state === 'gone' || this.state === 'stopping') return;
    this.state = 'stopping';
    this.#send({ t: MASTER_MSG.STOP });
  }

  kill(signal: NodeJS.Signals): void {
    if (this.state === 'gone') return;
    this.killedByMaster = true;
    try {
      this.child.kill(signal);
    } catch {
      // Already gone.
    }
  }

  #send(msg: MasterToWorker): boolean {
    if (!this.child.connected) return false;
    try {
      this.child.send(msg);
      return true;
    } catch {
      return false;
    }
  }

  #onMessage(m: unknown, handle: unknown): void {
    if (!isMasterMessage(m)) {
      msgWarn(`ignoring status update from child pid ${this.pid}`);
      return;
    }
    switch (m.t) {
      case MASTER_MSG.READY:
        if (this.state === 'starting') this.state = 'ready';
        this.owner.workerReady(this);
        break;
      case MASTER_MSG.DONE:
        if (this.clients.delete(Number(m.id))) this.owner.workerClientDone(this, Number(m.id));
        break;
      case MASTER_MSG.RETIRE:
        if (this.state === 'ready' || this.state === 'starting') this.state = 'retiring';
        this.#send({ t: MASTER_MSG.STOP });
        this.owner.workerRetired(this);
        break;
      case MASTER_MSG.LIMIT:
        this.owner.workerAtLimit(this);
        break;
      case MASTER_MSG.UNLISTEN:
        this.owner.workerReturnedListener(this, Number(m.slot), (handle as Server | undefined) ?? null);
        break;
      default:
        msgWarn(`ignoring status update from child pid ${this.pid}`);
    }
  }
}
