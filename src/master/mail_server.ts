/*
 * mail_server - the skeleton every Postern daemon runs in (Postfix
 * single_server, multi_server and trigger_server in one file)
 *
 * What it does: a daemon module hands its service function to one of
 * singleServerMain, multiServerMain or triggerServerMain. The skeleton
 * reads the worker options master(8) passes, loads main.cf with the
 * master.cf -o overrides, starts logging as syslog_name/program, runs the
 * daemon's preInit/postInit, tells master it is ready, then receives
 * clients and triggers from master and reports when each client is gone.
 * It ends the process after max_idle seconds without clients or after
 * max_use clients per client slot (max_use × the service's maxproc;
 * unless the daemon is `resident`, like qmgr), when a
 * table file it read has changed (stream servers: "table TYPE:NAME has
 * changed -- restarting", as Postfix; see global/dict_changed.ts), and on
 * master's graceful stop (reload) it finishes current clients first.
 *
 * THE CONTRACT FOR A DAEMON
 *
 *   export async function main(argv: string[]): Promise<number> {
 *     return singleServerMain(argv, {
 *       programName: 'smtpd',
 *       preInit(ctx) { ... open tables, read ctx.config ... },
 *       async service(stream, ctx) { ... talk to one client ... },
 *     });
 *   }
 *   if (isMainModule(import.meta.url)) runMain(main);
 *
 * - singleServerMain: service(stream, ctx) is called once per client;
 *   when its promise settles the skeleton closes the stream and the
 *   client is done. Many clients run concurrently in one process; master
 *   limits them to the service's maxproc.
 * - multiServerMain: service(stream, ctx) is called once per client and
 *   may return at once; the client is done when the stream closes
 *   (either side). For long-lived clients of one server (proxymap, anvil).
 * - triggerServerMain: service(data, ctx) gets each trigger: a unix
 *   socket client's request (read by readTriggerConnection from
 *   src/global/ipc/trigger_server.ts: up to and including the NUL that
 *   ends it, at most TRIGGER_BUF_SIZE bytes; the connection is closed
 *   before the call, so the client never sees a broken pipe), fifo input,
 *   a unix-dgram datagram, or master's wakeup "W"; calls are serialised,
 *   never overlap, in arrival order.
 * - ctx (ServiceContext): config (main.cf + -o overrides), serviceName
 *   (master.cf first column), serviceType, programName, args (master.cf
 *   arguments that are not skeleton options, e.g. pipe's argv=),
 *   signal (aborted on stop: long work should wind down).
 * - A service function that throws: the error is logged as a warning and
 *   that client is closed; the process carries on. A bug that must end
 *   the process calls msgPanic/msgFatal (master restarts it).
 * - Tests: createMailServer(kind, options, ctx) gives the same machinery
 *   without master: client(socket), trigger(data), stop(), done.
 *
 * Privileges: master starts every worker with its own uid (root when
 * master runs as root). With -u (master.cf unprivileged column, the
 * default) the skeleton switches to mail_owner after logging is set up
 * and preInit ran, as Postfix does after its pre-jail init, so preInit
 * may open root-only files (maillog_file, keys) and the rest runs as
 * mail_owner.
 *
 * Clients: master either hands over each accepted client, or lends the
 * process its listening sockets (master_lend.ts), which it then accepts
 * on, at most maxproc clients at once, and gives back when it retires or
 * stops. A trigger server (qmgr's public/qmgr) borrows its UNIX socket
 * too, as a Postfix trigger server accepts on its own; fifo and datagram
 * endpoints stay with master, which forwards what they carry.
 *
 * What it does not do: open listeners (master does), chroot (Node
 * cannot), or speak any protocol on the stream.
 *
 * DIAGNOSTICS
 * Fatal when the worker options are malformed or when started without
 * master (no IPC channel); a service error is a warning.
 */
import type { Server, Socket } from 'node:net';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { msgFatal, msgInfo, msgSetVerbose, msgVerbose, msgWarn } from '../util/msg.js';
import { DICT_CHANGED_CHECK_MS, dictChangedName } from '../global/dict_changed.js';
import { getpwnam } from '../util/pwd_lookup.js';
import { readTriggerConnection, TRIGGER_BUF_SIZE, TRIGGER_READ_WAIT_MS } from '../global/ipc/trigger_server.js';
import { ENV_MAIL_CONFIG, ENV_PROCESS_LIMIT, MASTER_MSG, WORKER_OPT, isMasterMessage, type WorkerToMaster } from './master_proto.js';

/** The trigger read limits are D's (src/global/ipc/trigger_server.ts), re-exported for daemons. */
export { TRIGGER_BUF_SIZE, TRIGGER_READ_WAIT_MS };
/** After the skeleton ends, a process still held by stray handles exits after this. */
export const WORKER_EXIT_GRACE_MS = 2_000;
/** Clients accepted on a lent listener while maxproc are busy, waiting for a slot (as master's queue). */
export const LENT_PENDING_LIMIT = 1000;

export type ServerKind = 'single' | 'multi' | 'trigger';

export interface ServiceContext {
  readonly config: MailConfig;
  readonly serviceName: string;
  readonly serviceType: string;
  readonly programName: string;
  readonly args: readonly string[];
  /** master.cf maxproc of the service (0: unlimited). */
  readonly processLimit: number;
  readonly signal: AbortSignal;
}

interface CommonOptions {
  /** The program name for logging ("smtpd"); syslog_name is put in front. */
  programName: string;
  /** Before the first client: open tables, check parameters. */
  preInit?(ctx: ServiceContext): void | Promise<void>;
  /** After preInit, still before the first client. */
  postInit?(ctx: ServiceContext): void | Promise<void>;
  /** Never exit for max_idle/max_use (qmgr, verify, tlsmgr, scache). */
  resident?: boolean;
  /** Never exit for max_use, but do for max_idle (Postfix postlogd sets var_use_limit = 0). */
  unlimitedUse?: boolean;
  /** Called once when the process is about to end normally. */
  onExit?(ctx: ServiceContext): void | Promise<void>;
}

export interface StreamServerOptions extends CommonOptions {
  service(stream: Socket, ctx: ServiceContext): void | Promise<void>;
}

export interface TriggerServerOptions extends CommonOptions {
  service(data: Buffer, ctx: ServiceContext): void | Promise<void>;
}

export interface WorkerArgs {
  serviceName: string;
  /** -u: drop to mail_owner after preInit (when started as root). */
  unprivileged: boolean;
  serviceType: string;
  verbose: number;
  overrides: Record<string, string>;
  args: string[];
}

/** Parses the options master puts on a worker's command line. */
export function parseWorkerArgs(argv: readonly string[]): WorkerArgs {
  const out: WorkerArgs = { serviceName: '', unprivileged: false, serviceType: 'unix', verbose: 0, overrides: {}, args: [] };
  const takeOverride = (text: string): void => {
    const eq = text.indexOf('=');
    if (eq <= 0) msgFatal(`bad -o option: "${text}": expected name=value`);
    out.overrides[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const needValue = (): string => {
      const v = argv[++i];
      if (v === undefined) msgFatal(`option ${a} requires a value`);
      return v;
    };
    if (a === WORKER_OPT.SERVICE_NAME) out.serviceName = needValue();
    else if (a === WORKER_OPT.SERVICE_TYPE) out.serviceType = needValue();
    else if (a === WORKER_OPT.VERBOSE) out.verbose++;
    else if (a === WORKER_OPT.UNPRIVILEGED) out.unprivileged = true;
    else if (a === WORKER_OPT.OVERRIDE) takeOverride(needValue());
    else if (a.startsWith(WORKER_OPT.OVERRIDE) && a.length > 2) takeOverride(a.slice(2));
    else out.args.push(a);
  }
  return out;
}

/** One client's handle on the worker side. */
interface ClientSlot {
  id: number;
  stream: Socket;
}

/** Why a worker stops taking clients on its own. */
export type RetireReason = 'max_idle' | 'max_use' | 'table_changed';

/** The skeleton's state machine, usable with or without master. */
export class MailServer {
  #active = new Set<ClientSlot>();
  #useCount = 0;
  #idleTimer: NodeJS.Timeout | null = null;
  #tableCheckTimer: NodeJS.Timeout | null = null;
  #retired = false;
  #stopping = false;
  #finished = false;
  #abort = new AbortController();
  #triggerChain: Promise<void> = Promise.resolve();
  /** Listening sockets master lent us (slot -> server), and the clients accepted on them beyond maxproc. */
  #lent = new Map<number, Server>();
  #lentWaiting: Socket[] = [];
  #resolveDone!: () => void;
  /** Settles when the server has stopped and every client is gone. */
  readonly done: Promise<void>;
  readonly ctx: ServiceContext;

  constructor(
    readonly kind: ServerKind,
    private readonly options: StreamServerOptions | TriggerServerOptions,
    ctx: Omit<ServiceContext, 'signal'>,
    private readonly hooks: {
      onClientDone?(id: number): void;
      onRetire?(why: RetireReason): void;
      /** A client accepted on a lent listener waits for a slot (master warns about its process limit). */
      onLimit?(): void;
      /** Give a lent listener back to master (the skeleton closes its copy afterwards). */
      onReturnListener?(slot: number, server: Server, sent: () => void): void;
    } = {},
  ) {
    this.ctx = { ...ctx, signal: this.#abort.signal };
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get activeClients(): number {
    return this.#active.size;
  }

  /**
   * max_use counts per client slot. Postfix runs up to maxproc processes
   * of a service, each ending after max_use clients; here one process
   * stands for all maxproc of them, so it ends after max_use × maxproc
   * clients (maxproc 0, unlimited, counts as default_process_limit).
   * A service with maxproc 1 ends after max_use clients, as in Postfix.
   * A fresh Node process costs 2–3 s of CPU before it runs at full speed
   * (start-up, lazy compilation, JIT, heap growth), which a fork+exec of
   * Postfix's C daemons does not: ending every max_use × (clients held at
   * once) clients cost a third of smtpd's and cleanup's CPU under load.
   */
  #slots(): number {
    const limit = this.ctx.processLimit;
    return limit > 0 ? limit : Math.max(1, this.ctx.config.getInt('default_process_limit'));
  }

  get useCount(): number {
    return this.#useCount;
  }

  /** Runs preInit, `between` (the privilege drop), postInit, then arms the idle timer. */
  async init(between?: () => void): Promise<void> {
    await this.options.preInit?.(this.ctx);
    between?.();
    await this.options.postInit?.(this.ctx);
    this.#armIdle();
    if (this.kind !== 'trigger') {
      this.#tableCheckTimer = setInterval(() => this.#retireIfTableChanged(), DICT_CHANGED_CHECK_MS);
      this.#tableCheckTimer.unref();
    }
  }

  /** A new client from master (or a test). `id` is echoed in the done report. */
  client(stream: Socket, id = 0): void {
    const slot: ClientSlot = { id, stream };
    this.#active.add(slot);
    this.#useCount++;
    this.#disarmIdle();
    msgVerbose(`${this.ctx.programName}: client ${id} (${this.#active.size} active, use ${this.#useCount})`);
    if (this.kind === 'trigger') this.#readTrigger(stream, slot);
    else this.#serveStream(stream, slot);
    const maxUse = this.options.unlimitedUse ? 0 : this.ctx.config.getInt('max_use');
    if (!this.options.resident && maxUse > 0 && this.#useCount >= maxUse * this.#slots()) this.#retire('max_use');
  }

  /**
   * A listening socket master lends us (master_lend.ts): clients are
   * accepted here, with no IPC per client, at most maxproc at once (the
   * rest wait, paused, as they would in master's queue). Given back when
   * this process stops taking clients.
   */
  lend(slot: number, server: Server): void {
    this.#lent.set(slot, server);
    server.on('connection', (socket: Socket) => this.#lentClient(socket));
    server.on('error', (err) => msgWarn(`${this.ctx.programName}: lent listener: ${err.message}`));
    if (this.#retired || this.#stopping) this.#returnListeners();
  }

  #lentClient(socket: Socket): void {
    const maxproc = this.ctx.processLimit;
    if (maxproc <= 0 || this.#active.size < maxproc) {
      this.client(socket, 0);
      return;
    }
    if (this.#lentWaiting.length >= LENT_PENDING_LIMIT) {
      msgWarn(`${this.ctx.programName}: ${LENT_PENDING_LIMIT} clients waiting; closing a new connection`);
      socket.destroy();
      return;
    }
    socket.pause();
    socket.on('error', () => socket.destroy());
    this.#lentWaiting.push(socket);
    if (this.#lentWaiting.length === 1) this.hooks.onLimit?.();
  }

  #returnListeners(): void {
    for (const [slot, server] of this.#lent) {
      const close = (): void => void server.close();
      if (this.hooks.onReturnListener) this.hooks.onReturnListener(slot, server, close);
      else close();
    }
    this.#lent.clear();
  }

  /**
   * Postfix's pre-accept check, run once a second by a timer (not per
   * client, to keep stat() calls off the accept path): a table file read
   * at open time changed, so this process serves the clients it has and
   * makes way for one that reads the new file. Stream servers only (a
   * trigger server such as qmgr keeps its in-memory state).
   */
  #retireIfTableChanged(): void {
    if (this.kind === 'trigger' || this.#retired) return;
    const changed = dictChangedName();
    if (changed === null) return;
    msgInfo(`table ${changed} has changed -- restarting`);
    if (this.#tableCheckTimer) clearInterval(this.#tableCheckTimer);
    this.#retire('table_changed');
  }

  /** A trigger that did not come over a stream (fifo data, master wakeup). */
  trigger(data: Buffer): Promise<void> {
    if (this.kind !== 'trigger') {
      msgVerbose(`${this.ctx.programName}: ignoring trigger for a ${this.kind} server`);
      return Promise.resolve();
    }
    this.#disarmIdle();
    const run = this.#runTrigger(data).finally(() => this.#armIdle());
    return run;
  }

  /** Graceful stop: take no more clients, end when the current ones are gone. */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#disarmIdle();
    this.#returnListeners();
    this.#maybeFinish();
  }

  /** Immediate stop (SIGTERM): abort the signal and finish now. */
  abort(): void {
    this.#abort.abort();
    this.#stopping = true;
    this.#returnListeners();
    for (const s of this.#lentWaiting) s.destroy();
    this.#lentWaiting = [];
    for (const slot of this.#active) slot.stream.destroy();
    this.#finish();
  }

  #serveStream(stream: Socket, slot: ClientSlot): void {
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#release(slot);
    };
    stream.once('close', release);
    stream.on('error', (err) => msgVerbose(`${this.ctx.programName}: client stream: ${err.message}`));
    if (stream.isPaused()) stream.resume();
    const opts = this.options as StreamServerOptions;
    Promise.resolve()
      .then(() => opts.service(stream, this.ctx))
      .catch((err: unknown) => {
        msgWarn(`${this.ctx.programName}: service error: ${err instanceof Error ? err.message : String(err)}`);
        stream.destroy();
      })
      .then(() => {
        if (this.kind === 'single') {
          if (stream.destroyed) release();
          else stream.end(() => stream.destroy());
        }
      });
  }

  /**
   * One trigger client: D's reader takes the request (waiting for the NUL
   * a Postfix client may send in a separate write) and closes the
   * connection; the service call then joins the serialised chain. The
   * client counts as busy until that call has finished, as in Postfix.
   */
  #readTrigger(stream: Socket, slot: ClientSlot): void {
    const request = readTriggerConnection(stream, { waitMs: TRIGGER_READ_WAIT_MS, maxBytes: TRIGGER_BUF_SIZE });
    // master hands the socket over paused (pauseOnConnect).
    if (stream.isPaused()) stream.resume();
    void request
      .then((data) => (data === null || this.#abort.signal.aborted ? undefined : this.#runTrigger(data)))
      .finally(() => this.#release(slot));
  }

  #runTrigger(data: Buffer): Promise<void> {
    const opts = this.options as TriggerServerOptions;
    const next = this.#triggerChain.then(async () => {
      try {
        await opts.service(data, this.ctx);
      } catch (err) {
        msgWarn(`${this.ctx.programName}: trigger service error: ${err instanceof Error ? err.message : String(err)}`);
      }
    });
    this.#triggerChain = next;
    return next;
  }

  #release(slot: ClientSlot): void {
    if (!this.#active.delete(slot)) return;
    this.hooks.onClientDone?.(slot.id);
    for (let next = this.#lentWaiting.shift(); next; next = this.#lentWaiting.shift()) {
      if (next.destroyed) continue;
      this.client(next, 0);
      break;
    }
    this.#armIdle();
    this.#maybeFinish();
  }

  #retire(why: RetireReason): void {
    if (this.#retired) return;
    this.#retired = true;
    msgVerbose(`${this.ctx.programName}: retiring after ${why}`);
    // Master hears "retire" first, so it does not lend the listener back to us.
    if (this.hooks.onRetire) this.hooks.onRetire(why);
    this.#returnListeners();
    if (!this.hooks.onRetire) this.stop();
  }

  #armIdle(): void {
    if (this.options.resident || this.#stopping || this.#retired || this.#active.size > 0) return;
    this.#disarmIdle();
    const maxIdle = this.ctx.config.getTime('max_idle');
    if (maxIdle <= 0) return;
    this.#idleTimer = setTimeout(() => this.#retire('max_idle'), maxIdle * 1000);
  }

  #disarmIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
  }

  #maybeFinish(): void {
    if (this.#stopping && this.#active.size === 0 && this.#lentWaiting.length === 0) {
      // Let a trigger that is still running complete first.
      void this.#triggerChain.then(() => this.#finish());
    }
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#disarmIdle();
    if (this.#tableCheckTimer) clearInterval(this.#tableCheckTimer);
    Promise.resolve()
      .then(() => this.options.onExit?.(this.ctx))
      .catch((err: unknown) => msgWarn(`${this.ctx.programName}: exit handler: ${err instanceof Error ? err.message : String(err)}`))
      .then(() => this.#resolveDone());
  }
}

export interface InProcessContext {
  config: MailConfig;
  serviceName?: string;
  serviceType?: string;
  args?: string[];
  /** maxproc (default 1: max_use counts clients one by one). */
  processLimit?: number;
}

/** For tests and co-located services: the skeleton without master. */
export function createMailServer(kind: 'trigger', options: TriggerServerOptions, ctx: InProcessContext): MailServer;
export function createMailServer(kind: 'single' | 'multi', options: StreamServerOptions, ctx: InProcessContext): MailServer;
export function createMailServer(
  kind: ServerKind,
  options: StreamServerOptions | TriggerServerOptions,
  ctx: InProcessContext,
): MailServer {
  return new MailServer(kind, options, {
    config: ctx.config,
    serviceName: ctx.serviceName ?? options.programName,
    serviceType: ctx.serviceType ?? 'unix',
    programName: options.programName,
    args: ctx.args ?? [],
    processLimit: ctx.processLimit ?? 1,
  });
}

/**
 * -u: as Postfix's set_ugid after the pre-jail init. A worker started as
 * root (master runs as root) has opened maillog_file and run preInit as
 * root; from here on it runs as mail_owner. Unprivileged runs keep the
 * invoking user.
 */
function dropPrivileges(config: MailConfig): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  const name = config.get('mail_owner');
  const pw = getpwnam(name);
  if (!pw) msgFatal(`unknown mail_owner user name: ${name}`);
  if (pw.uid === 0) msgFatal(`mail_owner must not be the super-user: ${name}`);
  try {
    process.setgroups?.([pw.gid]);
    process.setgid?.(pw.gid);
    process.setuid?.(pw.uid);
  } catch (err) {
    msgFatal(`set_ugid ${name}: ${(err as Error).message}`);
  }
  if (process.getuid() !== pw.uid) msgFatal(`set_ugid ${name}: still uid ${process.getuid()}`);
}

async function serverMain(kind: ServerKind, argv: string[], options: StreamServerOptions | TriggerServerOptions): Promise<number> {
  const wa = parseWorkerArgs(argv);
  msgSetVerbose(wa.verbose);
  const config = loadMailConfig({ configDir: process.env[ENV_MAIL_CONFIG], overrides: wa.overrides });
  initMailLogFromConfig(config, options.programName);
  if (!process.send) msgFatal(`${options.programName}: this program must be run by master(8)`);
  const send = (m: WorkerToMaster): void => {
    if (process.connected) process.send?.(m);
  };
  const server = new MailServer(
    kind,
    options,
    {
      config,
      serviceName: wa.serviceName || options.programName,
      serviceType: wa.serviceType,
      programName: options.programName,
      args: wa.args,
      processLimit: Number(process.env[ENV_PROCESS_LIMIT] ?? 1) || 0,
    },
    {
      // Clients accepted on a lent listener (id 0) are not master's to count.
      onClientDone: (id) => {
        if (id > 0) send({ t: MASTER_MSG.DONE, id });
      },
      onRetire: (why) => send({ t: MASTER_MSG.RETIRE, why }),
      onLimit: () => send({ t: MASTER_MSG.LIMIT }),
      onReturnListener: (slot, listener, sent) => {
        if (!process.connected) return sent();
        const m: WorkerToMaster = { t: MASTER_MSG.UNLISTEN, slot };
        process.send?.(m, listener, () => sent());
      },
    },
  );
  process.on('message', (m: unknown, handle: unknown) => {
    if (!isMasterMessage(m)) return;
    if (m.t === MASTER_MSG.CONN && handle) server.client(handle as Socket, Number(m.id));
    else if (m.t === MASTER_MSG.LISTEN && handle) server.lend(Number(m.slot), handle as Server);
    else if (m.t === MASTER_MSG.TRIGGER) void server.trigger(Buffer.from(String(m.data), 'base64'));
    else if (m.t === MASTER_MSG.STOP) server.stop();
  });
  // Master went away (or closed our channel): finish what we have, then go.
  process.on('disconnect', () => server.stop());
  process.on('SIGTERM', () => server.abort());
  // Ctrl-C on a foreground master reaches the whole process group; master
  // decides how workers end (SIGTERM), so a worker ignores SIGINT.
  process.on('SIGINT', () => undefined);
  await server.init(() => {
    if (wa.unprivileged) dropPrivileges(config);
  });
  send({ t: MASTER_MSG.READY });
  await server.done;
  if (process.connected) process.disconnect();
  setTimeout(() => process.exit(0), WORKER_EXIT_GRACE_MS).unref();
  return 0;
}

/** One service call per client; the skeleton closes the stream when it returns. */
export function singleServerMain(argv: string[], options: StreamServerOptions): Promise<number> {
  return serverMain('single', argv, options);
}

/** One service call per client; the client is done when its stream closes. */
export function multiServerMain(argv: string[], options: StreamServerOptions): Promise<number> {
  return serverMain('multi', argv, options);
}

/** Serialised service calls, one per trigger (unix client, fifo data, wakeup). */
export function triggerServerMain(argv: string[], options: TriggerServerOptions): Promise<number> {
  return serverMain('trigger', argv, options);
}
