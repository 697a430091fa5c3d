/*
 * postfix - Postern control program (Postfix postfix(1))
 *
 * SYNOPSIS
 *   postfix [-c config_dir] [-Dv] command
 *
 * DESCRIPTION
 *   Starts, stops and inspects the mail system, doing what Postfix's
 *   postfix(1) and postfix-script do, with the same texts:
 *
 *   check            create missing queue directories (as post-install
 *                    create-missing), require master.cf, warn about
 *                    wrong owners and permissions and about unused
 *                    main.cf parameters.
 *   start            check, then start master in the background (master
 *                    -w) and return once it is up.
 *   start-fg         check, then run master in the foreground; Ctrl-C
 *                    (SIGINT) or SIGTERM stops it.
 *   stop             SIGTERM to master, wait up to STOP_WAIT_SECONDS, then
 *                    "stopping the Postfix mail system with force" (SIGKILL
 *                    to master's process group).
 *   abort            SIGTERM to master, without waiting.
 *   reload           SIGHUP to master.
 *   status           "the Postfix mail system is running: PID: N" (exit 0)
 *                    or "the Postfix mail system is not running" (exit 1).
 *   flush            what postqueue -f does: a trigger to qmgr
 *                    (public/$queue_service_name) with the requests F
 *                    (forget dead destinations), A (ignore time stamps),
 *                    D (scan deferred) and I (scan incoming), so qmgr
 *                    retries every deferred message, then a wakeup W to
 *                    pickup (public/$pickup_service_name) for maildrop.
 *                    Fails with "Cannot flush mail queue - mail system is
 *                    down" (exit 1; postqueue exits 69) when master or an
 *                    endpoint is not there.
 *   set-permissions  create missing directories and fix owner and mode of
 *                    the existing ones.
 *
 *   Messages go to the mail log as postfix/postfix-script, and to stderr
 *   (Postfix writes stderr only on a terminal; Postern always does, so
 *   scripts and tests see them).
 *
 *   Unprivileged use: when not run by root, nothing changes user and
 *   every directory is expected to belong to the invoking user.
 *
 * What it does not do: upgrade-configuration, logrotate, tls, post-install
 * (not yet), multi-instance (postmulti), or the postfix-script check for a
 * postlog service when maillog_file is set (Postern daemons append to
 * maillog_file themselves).
 *
 * DIAGNOSTICS
 *   Exit 0 on success, 1 with a fatal message otherwise.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { MAIL_CLASS, QMGR_REQ, TRIGGER_REQ_WAKEUP, mailPathname } from '../global/mail_proto.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { unknownParameters } from '../global/mail_params.js';
import { readMasterCf } from '../global/master_cf.js';
import { unixTrigger } from '../util/unix_trigger.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgAddSink, msgFatal, msgInfo, msgInit, msgSetVerbose, msgWarn, stderrMsgSink } from '../util/msg.js';
import { pidFilePath, readPidFile, runningMaster } from '../global/master_lock.js';
import { checkWarn, createMissing, setPermissions } from './postfix_dirs.js';

/** postfix stop waits this long for master to go before using force. */
export const STOP_WAIT_SECONDS = 5;
const POLL_MS = 100;
/** How long postfix flush waits for qmgr to take the trigger. */
export const FLUSH_TRIGGER_TIMEOUT_MS = 10_000;

const USAGE = 'usage: postfix [-c config_dir] [-Dv] command';
const COMMAND_USAGE =
  'Usage: postfix start (or stop, reload, abort, flush, check, status, set-permissions, upgrade-configuration, logrotate)';

const MASTER_JS = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'master', 'master.js');

interface Ctx {
  config: MailConfig;
  queueDir: string;
  pidDir: string;
  masterArgs: string[];
}

function masterPid(ctx: Ctx): number | null {
  return runningMaster(ctx.queueDir, ctx.pidDir);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function runMaster(ctx: Ctx, extra: string[], stdio: 'inherit' | 'ignore'): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MASTER_JS, ...ctx.masterArgs, ...extra], { stdio });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    child.on('error', (err) => {
      msgWarn(`${MASTER_JS}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

/** postfix-script check-fatal (without the postsuper queue scan). */
function checkFatal(ctx: Ctx): boolean {
  try {
    createMissing(ctx.config);
  } catch (err) {
    msgWarn((err as Error).message);
    msgFatal('unable to create missing queue directories');
  }
  const masterCf = join(ctx.config.configDir, 'master.cf');
  if (!existsSync(masterCf)) msgFatal(`no ${masterCf} file found`);
  return true;
}

/** postfix-script check-warn, plus main.cf parameters nothing uses. */
function checkWarnings(ctx: Ctx): void {
  checkWarn(ctx.config);
  let services: string[] = [];
  try {
    services = readMasterCf(ctx.config.configDir).map((e) => e.service);
  } catch (err) {
    msgWarn((err as Error).message);
  }
  for (const u of unknownParameters(ctx.config, services)) {
    msgWarn(`${u.file}: unused parameter: ${u.name}=${u.value}`);
  }
}

async function cmdStart(ctx: Ctx, foreground: boolean): Promise<number> {
  if (masterPid(ctx) !== null) msgFatal('the Postfix mail system is already running');
  checkFatal(ctx);
  checkWarnings(ctx);
  msgInfo('starting the Postfix mail system');
  if (foreground) return runMaster(ctx, ['-s'], 'inherit');
  const status = await runMaster(ctx, ['-w'], 'inherit');
  if (status !== 0) msgFatal('mail system startup failed');
  return 0;
}

async function waitGone(ctx: Ctx, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (masterPid(ctx) === null) return true;
    await sleep(POLL_MS);
  }
  return masterPid(ctx) === null;
}

async function cmdStop(ctx: Ctx): Promise<number> {
  const pid = masterPid(ctx);
  if (pid === null) msgFatal('the Postfix mail system is not running');
  msgInfo('stopping the Postfix mail system');
  process.kill(pid, 'SIGTERM');
  for (let i = STOP_WAIT_SECONDS; i > 0; i--) {
    if (await waitGone(ctx, 1)) return 0;
    msgInfo('waiting for the Postfix mail system to terminate');
  }
  msgWarn('stopping the Postfix mail system with force');
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    process.kill(pid, 'SIGKILL');
  }
  return 0;
}

function signalMaster(ctx: Ctx, signal: NodeJS.Signals, text: string): number {
  const pid = masterPid(ctx);
  if (pid === null) msgFatal('the Postfix mail system is not running');
  msgInfo(text);
  process.kill(pid, signal);
  return 0;
}

function cmdStatus(ctx: Ctx): number {
  if (masterPid(ctx) === null) {
    msgInfo('the Postfix mail system is not running');
    return 1;
  }
  msgInfo(`the Postfix mail system is running: PID: ${readPidFile(pidFilePath(ctx.queueDir, ctx.pidDir))}`);
  return 0;
}

async function cmdFlush(ctx: Ctx): Promise<number> {
  if (!existsSync(ctx.queueDir)) msgFatal(`no Postfix queue directory ${ctx.queueDir}!`);
  const down = (): never => msgFatal('Cannot flush mail queue - mail system is down');
  if (masterPid(ctx) === null) return down();
  // As postqueue -f: mail_flush_deferred() (qmgr), then mail_flush_maildrop() (pickup).
  const qmgrRequest = QMGR_REQ.FLUSH_DEAD + QMGR_REQ.SCAN_ALL + QMGR_REQ.SCAN_DEFERRED + QMGR_REQ.SCAN_INCOMING;
  const steps: Array<[string, string]> = [
    [ctx.config.get('queue_service_name'), qmgrRequest],
    [ctx.config.get('pickup_service_name'), TRIGGER_REQ_WAKEUP],
  ];
  for (const [service, request] of steps) {
    const path = mailPathname(ctx.queueDir, MAIL_CLASS.PUBLIC, service);
    if (!existsSync(path)) {
      msgWarn(`unable to look up ${MAIL_CLASS.PUBLIC}/${service}: No such file or directory`);
      return down();
    }
    if (!(await unixTrigger(path, request, FLUSH_TRIGGER_TIMEOUT_MS))) return down();
  }
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  msgInit('postfix');
  let configDir: string | undefined;
  let verbose = 0;
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-') && argv[i] !== '-'; i++) {
    const a = argv[i];
    for (let j = 1; j < a.length; j++) {
      if (a[j] === 'c') {
        configDir = a.slice(j + 1) || argv[++i];
        if (configDir === undefined) msgFatal(USAGE);
        break;
      } else if (a[j] === 'v') verbose++;
      else if (a[j] === 'D') continue;
      else msgFatal(USAGE);
    }
  }
  const command = argv[i];
  if (command === undefined) msgFatal(USAGE);
  msgSetVerbose(verbose);
  const dir = configDir ?? process.env.MAIL_CONFIG ?? '/etc/postfix';
  if (!existsSync(join(dir, 'main.cf'))) msgFatal(`open ${join(dir, 'main.cf')}: No such file or directory`);
  const config = loadMailConfig({ configDir: dir });
  initMailLogFromConfig(config, 'postfix-script');
  if (!process.stderr.isTTY) msgAddSink(stderrMsgSink());
  const masterArgs = ['-c', config.configDir];
  for (let k = 0; k < verbose; k++) masterArgs.push('-v');
  const ctx: Ctx = {
    config,
    queueDir: config.get('queue_directory'),
    pidDir: config.get('process_id_directory') || 'pid',
    masterArgs,
  };
  switch (command) {
    case 'start':
      return cmdStart(ctx, false);
    case 'start-fg':
      return cmdStart(ctx, true);
    case 'stop':
      return cmdStop(ctx);
    case 'abort':
      return signalMaster(ctx, 'SIGTERM', 'aborting the Postfix mail system');
    case 'reload':
      return signalMaster(ctx, 'SIGHUP', 'refreshing the Postfix mail system');
    case 'status':
      return cmdStatus(ctx);
    case 'flush':
      return cmdFlush(ctx);
    case 'check':
      checkFatal(ctx);
      checkWarnings(ctx);
      return 0;
    case 'set-permissions':
      try {
        setPermissions(config);
      } catch (err) {
        msgFatal((err as Error).message);
      }
      return 0;
    default:
      return msgFatal(`unknown command: '${command}'. ${COMMAND_USAGE}`);
  }
}

if (isMainModule(import.meta.url)) runMain(main);
