/*
 * master_spawn - run one master.cf service: clients in, workers on demand
 *
 * What it does: ServiceRuntime holds a service's listener, the clients
 * waiting for a slot, and its worker processes. A client accepted by the
 * listener (paused) waits in a bounded queue until the service holds
 * fewer than maxproc clients and a ready worker exists; then it is sent
 * to that worker (child.send with the socket handle). Once no client
 * waits, the listening sockets themselves are lent to that worker
 * (master_lend.ts): it accepts its clients directly, at most maxproc at
 * once, until it gives them back (retire, stop) or dies (master then
 * binds the endpoint again). No worker runs
 * until the first client or trigger arrives. A service has one worker
 * that takes new clients at a time; workers that retire (max_idle,
 * max_use) or were told to stop (reload) finish their clients while a new
 * one takes over. A worker that exits abnormally is logged as Postfix
 * does ("process PATH pid N exit status S" / "killed by signal S"); if it
 * never took a client the service is throttled for service_throttle_time
 * ("PATH: bad command startup -- throttling") and no worker is started
 * meanwhile; waiting clients stay queued.
 *
 * What it does not do: open endpoints (master_listen.ts), time wakeups
 * (master_wakeup.ts), or read configuration (master.ts).
 *
 * DIAGNOSTICS
 * Warnings for abnormal exits, throttling, the process limit, and a
 * pending queue that overflows (the client is closed and logged, never
 * dropped silently).
 */
import { fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import type { Server, Socket } from 'node:net';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { ProcessLimit } from './master_avail.js';
import type { ServiceSpec } from './master_ent.js';
import type { Listener } from './master_listen.js';
import { ENV_MAIL_CONFIG, ENV_PROCESS_LIMIT } from './master_proto.js';
import { MasterWorker, type WorkerOwner } from './master_status.js';

/** Clients accepted but waiting for a slot, per service. */
export const MASTER_PENDING_LIMIT = 1000;
/** Triggers waiting for a worker, per service (Postfix fifo triggers coalesce). */
export const MASTER_PENDING_TRIGGER_LIMIT = 100;

export interface SpawnEnv {
  configDir: string;
  throttleSeconds: number;
  /** Called once, at the first spawn of the service (wakeup '?'). */
  onFirstUse?(rt: ServiceRuntime): void;
}

/**
 * Node options for every worker, from POSTERN_WORKER_NODE_ARGS (space
 * separated, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the
 * daemons); none by default.
 */
export function workerNodeArgs(): string[] {
  return (process.env.POSTERN_WORKER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
}

export class ServiceRuntime implements WorkerOwner {
  listener: Listener | null = null;
  readonly workers = new Set<MasterWorker>();
  readonly limit: ProcessLimit;
  #pending: Socket[] = [];
  #pendingTriggers: Buffer[] = [];
  #throttleTimer: NodeJS.Timeout | null = null;
  #generation = 0;
  #used = false;
  #closed = false;
  #exitWaiters: Array<() => void> = [];

  constructor(public spec: ServiceSpec, private env: SpawnEnv) {
    this.limit = new ProcessLimit(spec.name, spec.endpoint.label, spec.maxproc);
  }

  get throttled(): boolean {
    return this.#throttleTimer !== null;
  }

  get used(): boolean {
    return this.#used;
  }

  /** Clients held by workers right now. */
  get activeClients(): number {
    let n = 0;
    for (const w of this.workers) n += w.clients.size;
    return n;
  }

  get pendingClients(): number {
    return this.#pending.length;
  }

  /** A new client from the listener. */
  addClient(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    if (this.#pending.length >= MASTER_PENDING_LIMIT) {
      msgWarn(`service "${this.spec.name}" (${this.spec.endpoint.label}): ${MASTER_PENDING_LIMIT} clients waiting; closing a new connection`);
      socket.destroy();
      return;
    }
    socket.on('error', () => socket.destroy());
    this.#pending.push(socket);
    this.dispatch();
  }

  /** A trigger (fifo data or an internal wakeup) for the service's worker. */
  addTrigger(data: Buffer): void {
    if (this.#closed) return;
    if (this.#pendingTriggers.length >= MASTER_PENDING_TRIGGER_LIMIT) {
      msgVerbose(`${this.spec.key}: trigger queue full; dropping a duplicate trigger`);
      return;
    }
    this.#pendingTriggers.push(data);
    this.dispatch();
  }

  /** Hands waiting clients and triggers to a ready worker, spawning one if needed. */
  dispatch(): void {
    if (this.#closed || this.throttled) return;
    if (this.#pending.length === 0 && this.#pendingTriggers.length === 0) return;
    const worker = [...this.workers].find((w) => w.accepting);
    if (!worker) {
      if (![...this.workers].some((w) => w.state === 'starting')) this.#spawn();
      return;
    }
    while (this.#pendingTriggers.length > 0) {
      const data = this.#pendingTriggers.shift() as Buffer;
      if (!worker.sendTrigger(data)) {
        this.#pendingTriggers.unshift(data);
        break;
      }
    }
    while (this.#pending.length > 0 && worker.accepting) {
      if (!this.limit.hasRoom(this.activeClients)) {
        this.limit.noteWaiting();
        break;
      }
      const socket = this.#pending.shift() as Socket;
      if (socket.destroyed) continue;
      worker.sendClient(socket, (ok) => {
        if (!ok && !socket.destroyed) {
          this.#pending.unshift(socket);
          setImmediate(() => this.dispatch());
        }
      });
    }
    if (this.#pending.length === 0) this.#lend(worker);
  }

  /** Lends every listening socket master holds to a worker that accepts on its own. */
  #lend(worker: MasterWorker): void {
    if (!worker.accepting || !this.listener) return;
    this.listener.lendable.forEach((l, slot) => {
      const server = l.lendTo(worker);
      if (!server) return;
      worker.sendListener(slot, server, (ok) => (ok ? l.lent() : l.notLent()));
    });
  }

  #spawn(): void {
    const spec = this.spec;
    if (!this.#used) {
      this.#used = true;
      this.env.onFirstUse?.(this);
    }
    // Postfix's child logs this before it exits; Node would only print a stack to stderr.
    if (!existsSync(spec.modulePath)) msgWarn(`master_spawn: exec ${spec.modulePath}: No such file or directory`);
    let child;
    try {
      child = fork(spec.modulePath, spec.workerArgs, {
        execArgv: workerNodeArgs(),
        env: { ...process.env, [ENV_MAIL_CONFIG]: this.env.configDir, [ENV_PROCESS_LIMIT]: String(spec.maxproc) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
    } catch (err) {
      msgWarn(`${spec.modulePath}: fork: ${(err as Error).message} -- throttling`);
      this.#throttle();
      return;
    }
    const worker = new MasterWorker(child, this, this.#generation);
    this.workers.add(worker);
    msgVerbose(`spawn command ${spec.modulePath}; pid ${worker.pid}`);
    child.on('error', (err) => msgWarn(`${spec.modulePath}: ${err.message}`));
    child.on('exit', (code, signal) => this.#reap(worker, code, signal));
  }

  #reap(worker: MasterWorker, code: number | null, signal: NodeJS.Signals | null): void {
    const path = this.spec.modulePath;
    const wasStarting = worker.state === 'starting';
    worker.state = 'gone';
    worker.clients.clear();
    this.workers.delete(worker);
    for (const l of this.listener?.lendable ?? []) {
      if (l.holder === worker) void l.rebind().then(() => this.dispatch());
    }
    const normal = code === 0 && signal === null;
    if (!normal && !worker.killedByMaster) {
      if (signal !== null) msgWarn(`process ${path} pid ${worker.pid} killed by signal ${signalNumber(signal)}`);
      else msgWarn(`process ${path} pid ${worker.pid} exit status ${code}`);
      if (worker.useCount === 0 && !this.throttled) {
        msgWarn(`${path}: bad command startup -- throttling`);
        this.#throttle();
      }
    } else if (wasStarting && !worker.killedByMaster && !this.throttled) {
      // Exited cleanly without ever becoming ready: still a broken command.
      msgWarn(`${path}: bad command startup -- throttling`);
      this.#throttle();
    }
    if (this.workers.size === 0) {
      const waiters = this.#exitWaiters;
      this.#exitWaiters = [];
      for (const w of waiters) w();
    }
    this.dispatch();
  }

  #throttle(): void {
    if (this.#throttleTimer) return;
    msgVerbose(`throttling command ${this.spec.modulePath}`);
    this.#throttleTimer = setTimeout(() => {
      this.#throttleTimer = null;
      msgVerbose(`throttle released for command ${this.spec.modulePath}`);
      this.dispatch();
    }, this.env.throttleSeconds * 1000);
  }

  // WorkerOwner: called by MasterWorker on status messages.
  workerReady(_w: MasterWorker): void {
    this.dispatch();
  }

  workerClientDone(_w: MasterWorker, _id: number): void {
    this.dispatch();
  }

  workerRetired(_w: MasterWorker): void {
    this.dispatch();
  }

  workerAtLimit(_w: MasterWorker): void {
    this.limit.noteWaiting();
  }

  workerReturnedListener(w: MasterWorker, slot: number, server: Server | null): void {
    const l = this.listener?.lendable[slot];
    if (!l || l.holder !== w) {
      // Lent before a reload replaced the endpoint, or not lent at all.
      server?.close();
      return;
    }
    if (server) l.adopt(server);
    else void l.rebind().then(() => this.dispatch());
    this.dispatch();
  }

  /** Reload: new workers get the new spec; current ones finish their clients and exit. */
  reconfigure(spec: ServiceSpec, env: SpawnEnv): void {
    this.spec = spec;
    this.env = env;
    this.limit.maxproc = spec.maxproc;
    this.#generation++;
    for (const w of this.workers) w.stop();
    this.dispatch();
  }

  /** Removed from master.cf (graceful) or master stopping (signal). */
  async close(how: { signal?: NodeJS.Signals; waitMs: number }): Promise<void> {
    this.#closed = true;
    if (this.#throttleTimer) clearTimeout(this.#throttleTimer);
    this.#throttleTimer = null;
    if (this.listener) await this.listener.close();
    this.listener = null;
    for (const s of this.#pending) s.destroy();
    this.#pending = [];
    this.#pendingTriggers = [];
    for (const w of this.workers) {
      if (how.signal) w.kill(how.signal);
      else w.stop();
    }
    await this.waitForWorkers(how.waitMs);
  }

  /** Resolves when no worker is left or after waitMs; then kills leftovers with SIGKILL. */
  async waitForWorkers(waitMs: number): Promise<void> {
    if (this.workers.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.#exitWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.workers.size === 0) return;
    for (const w of this.workers) w.kill('SIGKILL');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.#exitWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

/** Postfix logs the signal number, not its name. */
export function signalNumber(signal: NodeJS.Signals): number | string {
  return (osConstants.signals as Record<string, number>)[signal] ?? signal;
}
