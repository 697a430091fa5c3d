/*
 * master - Postern master process (Postfix master(8))
 *
 * SYNOPSIS
 *   master [-dstvw] [-c config_dir] [-e exit_time]
 *
 * DESCRIPTION
 *   The resident process that runs Postern daemons on demand. It reads
 *   main.cf and master.cf, opens every endpoint of every service itself
 *   (inet, unix, fifo, pass; unix-dgram is not supported), and starts a
 *   worker process for a service when its first client or trigger
 *   arrives. One worker serves many clients; maxproc limits the clients a
 *   service holds at once. Workers end after max_idle seconds idle or
 *   max_use clients and are started again on demand; a worker that keeps
 *   failing at startup gets its service throttled for
 *   service_throttle_time. Wakeup triggers follow the wakeup column.
 *
 *   How a worker gets its clients: master accepts each connection with
 *   pauseOnConnect and hands the paused socket to the worker over the
 *   Node IPC channel (master_proto.ts); the worker reports when the
 *   client is gone. The server side of that contract is mail_server.ts.
 *   fifo and unix-dgram input is read by master and passed on as
 *   triggers.
 *
 *   Privileges: master itself keeps the user it was started as. Workers
 *   start as that user too; a worker of an unprivileged service (-u, the
 *   master.cf default) switches to mail_owner after its logging and
 *   pre-init are done, as Postfix daemons do. Unprivileged (not root),
 *   everything runs as the invoking user.
 *
 *   Options:
 *   -c config_dir  read main.cf and master.cf from config_dir (also passed
 *                  to every worker, as MAIL_CONFIG).
 *   -d             stay in the foreground, keep stderr (debugging).
 *   -e exit_time   terminate after exit_time seconds.
 *   -i, -s         init / stdout mode: like -d for Postern (foreground).
 *   -t             test mode: exit 0 when no master runs on this queue,
 *                  1 when one does.
 *   -v             verbose logging, passed on to workers.
 *   -w             start the real master in the background and exit 0
 *                  once it is initialised (non-zero if it failed); what
 *                  "postfix start" uses.
 *
 * SIGNALS
 *   SIGHUP   re-read main.cf and master.cf. Running workers finish their
 *            current clients and exit; new clients get workers with the
 *            new configuration. Added services open, removed ones close.
 *   SIGTERM  stop: close every endpoint, pass SIGTERM to the workers,
 *            wait for them (bounded, then SIGKILL), remove sockets and the
 *            pid file, exit. SIGINT does the same (Ctrl-C in foreground).
 *
 * FILES
 *   $queue_directory/pid/master.pid, $data_directory/master.lock
 *   (src/global/master_lock.ts), $queue_directory/{private,public}/* endpoints.
 *
 * CONFIGURATION PARAMETERS
 *   default_process_limit, max_idle, max_use, service_throttle_time,
 *   master_service_disable, inet_interfaces, inet_protocols,
 *   known_tcp_ports, mail_owner, queue_directory, data_directory,
 *   process_id_directory, mail_version, syslog_name, maillog_file.
 *
 * What it does not do: chroot (ignored), run a debugger (-D is accepted
 * and ignored), or keep running when the lock is held by another master.
 *
 * DIAGNOSTICS
 *   "daemon started -- version V, configuration DIR", "reload -- version
 *   V, configuration DIR", "terminating on signal N" (info); worker exits
 *   and throttling as warnings (master_spawn.ts); fatal on a bad option,
 *   a bad configuration file, an endpoint that cannot be opened, or a
 *   lock held by another master.
 */
import { spawn } from 'node:child_process';
import { closeSync, writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadMailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { isMainModule, runMain } from '../util/main_module.js';
import {
  msgAddSink,
  msgFatal,
  msgInfo,
  msgInit,
  msgSetVerbose,
  severityPrefix,
  stderrMsgSink,
  type MsgSink,
} from '../util/msg.js';
import { lockMaster, runningMaster } from '../global/master_lock.js';
import { mailOwnerIds, MasterServices } from './master_service.js';
import { masterSigSetup } from './master_sig.js';
import { signalNumber } from './master_spawn.js';

/** master -w gives up on a background master that is not up after this. */
export const MASTER_START_TIMEOUT_MS = 30_000;
/** Environment naming the descriptor a background master reports on (-w). */
export const ENV_STATUS_FD = 'POSTERN_MASTER_STATUS_FD';
export const STATUS_READY = 'R';
export const STATUS_LOG = 'L';

const USAGE = 'usage: master [-c config_dir] [-D (debug)] [-d (don\'t detach from terminal)] [-e exit_time] [-t (test)] [-v] [-w (wait for initialization)]';

interface MasterOptions {
  configDir?: string;
  foreground: boolean;
  exitTime: number;
  test: boolean;
  verbose: number;
  wait: boolean;
}

function parseOptions(argv: string[]): MasterOptions {
  const o: MasterOptions = { foreground: false, exitTime: 0, test: false, verbose: 0, wait: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('-') || a === '-') msgFatal(USAGE);
    for (let j = 1; j < a.length; j++) {
      const c = a[j];
      const value = (): string => {
        const rest = a.slice(j + 1);
        j = a.length;
        const v = rest || argv[++i];
        if (v === undefined) msgFatal(USAGE);
        return v;
      };
      if (c === 'c') o.configDir = value();
      else if (c === 'd' || c === 'i' || c === 's') o.foreground = true;
      else if (c === 'D') continue;
      else if (c === 'e') o.exitTime = Number(value());
      else if (c === 't') o.test = true;
      else if (c === 'v') o.verbose++;
      else if (c === 'w') o.wait = true;
      else msgFatal(USAGE);
    }
  }
  return o;
}

/** A sink that copies diagnostics to the -w parent until master is up. */
function statusFdSink(fd: number): MsgSink & { close(): void } {
  let open = true;
  return {
    write(severity, text) {
      if (!open) return;
      try {
        writeSync(fd, `${STATUS_LOG} ${severityPrefix(severity)}${text}\n`);
      } catch {
        open = false;
      }
    },
    close() {
      if (!open) return;
      open = false;
      try {
        writeSync(fd, `${STATUS_READY}\n`);
        closeSync(fd);
      } catch {
        // The parent gave up waiting.
      }
    },
  };
}

/** -w: run the real master in the background, wait until it says it is up. */
function startInBackground(o: MasterOptions): Promise<number> {
  const args: string[] = [];
  if (o.configDir !== undefined) args.push('-c', o.configDir);
  for (let i = 0; i < o.verbose; i++) args.push('-v');
  if (o.exitTime > 0) args.push('-e', String(o.exitTime));
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), ...args], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, [ENV_STATUS_FD]: '3' },
  });
  const status = child.stdio[3] as NodeJS.ReadableStream;
  return new Promise((resolve) => {
    let buf = '';
    let ready = false;
    const timer = setTimeout(() => finish(1, 'master did not report its initialization in time'), MASTER_START_TIMEOUT_MS);
    const finish = (code: number, why?: string): void => {
      clearTimeout(timer);
      if (why) process.stderr.write(`postfix/master: fatal: ${why}\n`);
      child.unref();
      (status as unknown as { destroy(): void }).destroy();
      resolve(code);
    };
    status.on('data', (chunk: Buffer) => {
      buf += chunk.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line === STATUS_READY) {
          ready = true;
          return finish(0);
        }
        // Relay problems, not the routine "daemon started" line.
        const text = line.slice(STATUS_LOG.length + 1);
        if (line.startsWith(`${STATUS_LOG} `) && /^(warning|error|fatal|panic): /.test(text)) {
          process.stderr.write(`postfix/master: ${text}\n`);
        }
      }
    });
    status.on('end', () => {
      if (!ready) finish(1);
    });
    child.on('error', (err) => finish(1, err.message));
  });
}

/** Period of the timer that keeps master's event loop alive (its length does not matter). */
const MASTER_KEEPALIVE_MS = 3_600_000;

export async function main(argv: string[]): Promise<number> {
  msgInit('postfix/master');
  const opts = parseOptions(argv);
  msgSetVerbose(opts.verbose);
  const config = loadMailConfig({ configDir: opts.configDir });
  const queueDir = config.get('queue_directory');
  const pidDir = config.get('process_id_directory') || 'pid';
  if (opts.test) return runningMaster(queueDir, pidDir) === null ? 0 : 1;
  if (opts.wait) return startInBackground(opts);

  const statusFd = process.env[ENV_STATUS_FD] ? Number(process.env[ENV_STATUS_FD]) : null;
  delete process.env[ENV_STATUS_FD];
  initMailLogFromConfig(config, 'master');
  if (opts.foreground && !process.stderr.isTTY) msgAddSink(stderrMsgSink());
  const status = statusFd !== null ? statusFdSink(statusFd) : null;
  if (status) msgAddSink(status);
  try {
    process.chdir(queueDir);
  } catch (err) {
    msgFatal(`chdir ${queueDir}: ${(err as Error).message}`);
  }
  const owner = mailOwnerIds(config);
  const lock = lockMaster({ queueDir, dataDir: config.get('data_directory'), pidDir, owner });
  if (typeof lock === 'string') return msgFatal(lock);
  process.on('exit', () => lock.release());

  let services = new MasterServices(config, opts.verbose);
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  // A pending promise does not keep Node running: with no listener open
  // (an empty master.cf) master must still wait for its signal.
  const keepAlive = setInterval(() => {}, MASTER_KEEPALIVE_MS);
  const started = services.start();
  masterSigSetup({
    async reload() {
      const fresh = loadMailConfig({ configDir: opts.configDir });
      msgInfo(`reload -- version ${fresh.get('mail_version')}, configuration ${fresh.configDir}`);
      await services.reload(fresh);
    },
    async terminate(signal) {
      msgInfo(`terminating on signal ${signalNumber(signal)}`);
      await services.stop('SIGTERM');
      lock.release();
      finished();
    },
  }, started);
  await started;
  msgInfo(`daemon started -- version ${config.get('mail_version')}, configuration ${config.configDir}`);
  status?.close();
  if (opts.exitTime > 0) {
    setTimeout(() => process.kill(process.pid, 'SIGTERM'), opts.exitTime * 1000).unref();
  }
  await done;
  clearInterval(keepAlive);
  services = null as unknown as MasterServices;
  // Anything still holding the loop (a stray socket) must not keep master alive.
  setImmediate(() => process.exit(0));
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
