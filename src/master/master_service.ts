/*
 * master_service - the table of running services: start, reload, stop
 *
 * What it does: MasterServices keeps one ServiceRuntime per master.cf
 * service (keyed "name/type"). start() opens every endpoint and starts
 * the wakeup timers; reload() compares a freshly read master.cf with the
 * running table: a service that stays keeps its listener (unless its
 * endpoint changed) and its workers are told to finish their clients and
 * exit, so new clients get workers with the new configuration; an added
 * service is opened; a removed one is closed (its workers finish their
 * clients first). stop() closes every listener, signals the workers and
 * waits, bounded, until none is left.
 *
 * What it does not do: parse configuration files (master_ent.ts and the
 * global readers) or handle signals (master_sig.ts).
 *
 * DIAGNOSTICS
 * At start an endpoint that cannot be opened is fatal (as in Postfix);
 * at reload it is a warning and the service stays closed.
 */
import type { MailConfig } from '../global/mail_conf.js';
import { getpwnam } from '../util/pwd_lookup.js';
import { strerror } from '../util/strerror.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { readServices, type ServiceSpec } from './master_ent.js';
import { openListener, type Owner } from './master_listen.js';
import { ServiceRuntime, type SpawnEnv } from './master_spawn.js';
import { wakeupInit, wakeupStart, wakeupStop } from './master_wakeup.js';

/** How long stop() waits for workers after signalling them, per round. */
export const MASTER_STOP_WAIT_MS = 5_000;

/** mail_owner's uid/gid when master runs as root; null when unprivileged. */
export function mailOwnerIds(config: MailConfig): Owner | null {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return null;
  const name = config.get('mail_owner');
  const pw = getpwnam(name);
  if (!pw) return msgFatal(`unknown mail_owner user name: ${name}`);
  if (pw.uid === 0) return msgFatal(`mail_owner must not be the super-user: ${name}`);
  return { uid: pw.uid, gid: pw.gid };
}

export class MasterServices {
  readonly table = new Map<string, ServiceRuntime>();
  /** Services removed by a reload whose workers are still finishing. */
  readonly #leaving = new Set<ServiceRuntime>();
  #config: MailConfig;
  #owner: Owner | null;

  constructor(config: MailConfig, private readonly verbose: number) {
    this.#config = config;
    this.#owner = mailOwnerIds(config);
  }

  get config(): MailConfig {
    return this.#config;
  }

  #spawnEnv(): SpawnEnv {
    return {
      configDir: this.#config.configDir,
      throttleSeconds: this.#config.getTime('service_throttle_time'),
      onFirstUse: (rt) => {
        if (rt.spec.wakeupOnlyWhenUsed) wakeupStart(rt);
      },
    };
  }

  async #open(rt: ServiceRuntime): Promise<void> {
    rt.listener = await openListener(
      rt.spec,
      { client: (s) => rt.addClient(s), trigger: (d) => rt.addTrigger(d) },
      this.#owner,
    );
  }

  #readSpecs(fatal: boolean): ServiceSpec[] | null {
    let result;
    try {
      result = readServices(this.#config, this.verbose);
    } catch (err) {
      // MasterCfError names the file and line; a system error gets Postfix's "open FILE: text".
      const sys = err as NodeJS.ErrnoException;
      const text = sys.syscall && sys.path ? `${sys.syscall} ${sys.path}: ${strerror(err)}` : err instanceof Error ? err.message : String(err);
      if (fatal) return msgFatal(text);
      msgWarn(`${text}; keeping the current services`);
      return null;
    }
    for (const e of result.errors) {
      if (fatal) msgFatal(e.message);
      msgWarn(e.message);
    }
    return result.services;
  }

  async start(): Promise<void> {
    const specs = this.#readSpecs(true) ?? [];
    for (const spec of specs) {
      if (this.table.has(spec.key)) {
        msgWarn(`${spec.file}, line ${spec.line}: duplicate service ${spec.key}; ignoring`);
        continue;
      }
      const rt = new ServiceRuntime(spec, this.#spawnEnv());
      try {
        await this.#open(rt);
      } catch (err) {
        await this.stop();
        return msgFatal((err as Error).message);
      }
      this.table.set(spec.key, rt);
    }
    for (const rt of this.table.values()) wakeupInit(rt);
  }

  /** SIGHUP: adopt a new main.cf and master.cf. */
  async reload(config: MailConfig): Promise<void> {
    this.#config = config;
    this.#owner = mailOwnerIds(config);
    const specs = this.#readSpecs(false);
    if (!specs) return;
    const wanted = new Map<string, ServiceSpec>();
    for (const s of specs) if (!wanted.has(s.key)) wanted.set(s.key, s);
    for (const [key, rt] of this.table) {
      if (wanted.has(key)) continue;
      this.table.delete(key);
      wakeupStop(rt);
      this.#leaving.add(rt);
      void rt.close({ waitMs: MASTER_STOP_WAIT_MS * 12 }).finally(() => this.#leaving.delete(rt));
    }
    for (const [key, spec] of wanted) {
      const rt = this.table.get(key);
      if (!rt) {
        const fresh = new ServiceRuntime(spec, this.#spawnEnv());
        try {
          await this.#open(fresh);
        } catch (err) {
          msgWarn((err as Error).message);
          continue;
        }
        this.table.set(key, fresh);
        wakeupInit(fresh);
        continue;
      }
      const endpointChanged = JSON.stringify(rt.spec.endpoint) !== JSON.stringify(spec.endpoint);
      wakeupStop(rt);
      if (endpointChanged && rt.listener) {
        await rt.listener.close();
        rt.listener = null;
      }
      rt.reconfigure(spec, this.#spawnEnv());
      if (endpointChanged) {
        try {
          await this.#open(rt);
        } catch (err) {
          msgWarn((err as Error).message);
        }
      }
      wakeupInit(rt);
    }
  }

  /** Closes every endpoint, signals every worker, waits (bounded) until none is left. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const all = [...this.table.values()];
    this.table.clear();
    for (const rt of all) wakeupStop(rt);
    const leaving = [...this.#leaving];
    for (const rt of leaving) for (const w of rt.workers) w.kill(signal);
    await Promise.all([
      ...all.map((rt) => rt.close({ signal, waitMs: MASTER_STOP_WAIT_MS })),
      ...leaving.map((rt) => rt.waitForWorkers(MASTER_STOP_WAIT_MS)),
    ]);
  }
}
