/*
 * postqueue - Postfix queue control (Postfix postqueue(1))
 *
 * SYNOPSIS
 *   postqueue [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site
 *
 * What it does, as Postfix 3.7's postqueue:
 * -p  the mailq listing: connects to public/$showq_service_name, checks
 *     the announcement and prints the listing (postqueue_showq.ts). When
 *     the service cannot be reached and the caller is the super-user, it
 *     warns "Mail system is down -- accessing queue directly (...)" and
 *     runs showq(8) in stand-alone mode (-u -S) on the queue itself; an
 *     unprivileged caller gets "Queue report unavailable - mail system
 *     is down (...)". -j: the same, one JSON object per message.
 * -f  triggers the queue manager with "FADI" (flush dead destinations,
 *     scan all, deferred and incoming; Postfix mail_flush_deferred) and
 *     pickup with "W".
 * -s  site: checks the destination syntax, then asks flush(8)
 *     send_site (fast_flush_domains policy first, as flush_clnt).
 * -i  queue_id: checks the id syntax, then asks flush(8) send_file.
 * authorized_mailq_users / authorized_flush_users are checked for users
 * other than root and mail_owner.
 *
 * What it does not do: read the queue itself (showq does), or strip the
 * environment (Node is no set-gid program).
 *
 * DIAGNOSTICS
 * "postqueue: warning|fatal: ..." on stderr and in the mail log, with
 * Postfix's texts. Every fatal error exits 69 (EX_UNAVAILABLE): Postfix's
 * postqueue installs msg_cleanup(unavailable), which exits before the
 * intended sysexits status.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FlushClient } from '../global/flush_clnt.js';
import { CONF_ENV_PATH, loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { FLUSH_STAT, MAIL_CLASS, QMGR_REQ, TRIGGER_REQ_WAKEUP, mailPathname } from '../global/mail_proto.js';
import { mailQueueIdOk } from '../global/mail_queue.js';
import { mailTrigger } from '../global/mail_trigger.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { matchListInit } from '../util/match_list.js';
import { msgAddSink, msgFatal, msgInit, msgSetVerbose, msgWarn, setFatalHandler, severityPrefix } from '../util/msg.js';
import { getpwnam, getpwuid } from '../util/pwd_lookup.js';
import { strerror } from '../util/strerror.js';
import { validHostname, validMailhostLiteral } from '../util/valid_hostname.js';
import { readShowqStream, ShowqCompat, ShowqError, ShowqJson, type ShowqFormatter } from './postqueue_showq.js';
import '../global/match_table.js';  // tables (any type) in this program's pattern lists

/** sysexits(3) EX_UNAVAILABLE: the status of every postqueue fatal error. */
export const EX_UNAVAILABLE = 69;
/** Bound on connecting to and reading from the showq service. */
export const SHOWQ_CONNECT_TIMEOUT_MS = 10_000;
const USAGE = 'usage: postqueue -f | postqueue -i queueid | postqueue -j | postqueue -p | postqueue -s site';

const MODE = { DEFAULT: 0, MAILQ: 1, FLUSH_QUEUE: 2, FLUSH_SITE: 3, FLUSH_FILE: 4, JSON: 5 } as const;

/** dist/src/<name>/<name>.js */
function programModule(name: string): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', name, `${name}.js`);
}

/** Postfix check_user_acl_byuid() for one parameter: null when allowed, else the user name. */
function userAclDenied(config: MailConfig, param: string, uid: number): string | null {
  const name = getpwuid(uid)?.name ?? 'unknown';
  const list = matchListInit(param, 0, config.get(param), [
    (l, input, pattern) => (pattern.includes(':') ? l.tableLookup(pattern, input) !== undefined : input === pattern),
  ]);
  return list.match(name) ? null : name;
}

function checkAcl(config: MailConfig, param: string, what: string): void {
  const uid = process.getuid?.() ?? 0;
  const owner = getpwnam(config.get('mail_owner'))?.uid;
  if (uid === 0 || uid === owner) return;
  const denied = userAclDenied(config, param, uid);
  if (denied !== null) msgFatal(`User ${denied}(${uid}) is not allowed to ${what}`);
}

function connectShowq(path: string): Promise<{ ok: true; sock: Socket } | { ok: false; err: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const sock = connect(path);
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ ok: false, err: Object.assign(new Error('Connection timed out'), { code: 'ETIMEDOUT' }) });
    }, SHOWQ_CONNECT_TIMEOUT_MS);
    sock.once('connect', () => {
      clearTimeout(timer);
      resolve({ ok: true, sock });
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, err });
    });
  });
}

function write(text: string): void {
  if (text.length > 0) process.stdout.write(text);
}

async function runClient(input: NodeJS.ReadableStream, fmt: ShowqFormatter): Promise<void> {
  try {
    await readShowqStream(input as unknown as import('node:stream').Readable, fmt, write);
  } catch (err) {
    if (err instanceof ShowqError) msgFatal(err.message);
    throw err;
  }
}

async function showQueue(config: MailConfig, mode: number): Promise<void> {
  checkAcl(config, 'authorized_mailq_users', 'view the mail queue');
  const fmt: ShowqFormatter =
    mode === MODE.JSON ? new ShowqJson(config.getBool('smtputf8_enable')) : new ShowqCompat(config.getBool('enable_long_queue_ids'), config.getBool('smtputf8_enable'));
  const service = config.get('showq_service_name');
  const mailName = config.get('mail_name');
  const c = await connectShowq(mailPathname(config.get('queue_directory'), MAIL_CLASS.PUBLIC, service));
  if (c.ok) {
    c.sock.setTimeout(config.getTime('ipc_timeout') * 1000, () => c.sock.destroy(new Error('timeout')));
    await runClient(c.sock, fmt);
    c.sock.destroy();
    return;
  }
  const why = strerror(c.err);
  if (c.err.code === 'EACCES' || c.err.code === 'EPERM') msgFatal(`Connect to the ${mailName} ${service} service: ${why}`);
  if ((process.geteuid?.() ?? 0) !== 0) msgFatal(`Queue report unavailable - mail system is down (Connect to the ${mailName} ${service} service: ${why})`);
  msgWarn(`Mail system is down -- accessing queue directly (Connect to the ${mailName} ${service} service: ${why})`);
  const showqPath = programModule('showq');
  const child = spawn(process.execPath, [showqPath, '-u', '-S'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, [CONF_ENV_PATH]: config.configDir } });
  const exited = new Promise<number>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  await runClient(child.stdout, fmt);
  const stat = await exited;
  if (stat !== 0) msgFatal(`Error running ${showqPath}`);
}

async function flushQueue(config: MailConfig): Promise<void> {
  checkAcl(config, 'authorized_flush_users', 'flush the mail queue');
  const queueDir = config.get('queue_directory');
  const timeoutMs = config.getTime('trigger_timeout') * 1000;
  const qmgrReq = QMGR_REQ.FLUSH_DEAD + QMGR_REQ.SCAN_ALL + QMGR_REQ.SCAN_DEFERRED + QMGR_REQ.SCAN_INCOMING;
  if (!(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, config.get('queue_service_name'), qmgrReq, timeoutMs))) msgFatal('Cannot flush mail queue - mail system is down');
  if (!(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, config.get('pickup_service_name'), TRIGGER_REQ_WAKEUP, timeoutMs))) msgFatal('Cannot flush mail queue - mail system is down');
}

/**
 * postqueue -s site / -i id: one request to the flush service, its answer
 * judged with Postfix's texts (which differ a little between the two).
 */
async function flushRequest(config: MailConfig, kind: 'site' | 'file', arg: string): Promise<void> {
  checkAcl(config, 'authorized_flush_users', 'flush the mail queue');
  const client = new FlushClient(config);
  const r = kind === 'site' ? await client.sendSite(arg) : await client.sendFile(arg);
  client.close();
  if (r.status === FLUSH_STAT.FAIL && r.why) msgWarn(r.why);
  switch (r.status) {
    case FLUSH_STAT.OK:
      return;
    case FLUSH_STAT.BAD:
      msgFatal(`Invalid request: "${arg}"`);
    case FLUSH_STAT.FAIL:
      msgFatal('Cannot flush mail queue - mail system is down');
    case FLUSH_STAT.DENY:
      if (kind === 'site') msgFatal(`Flush service is not configured for destination "${arg}"`);
  }
  msgFatal(`${kind === 'site' ? 'Unknown' : 'Unexpected'} flush server reply status ${r.status}`);
}

const clip = (s: string): string => `${s.slice(0, 100)}${s.length > 100 ? '...' : ''}`;

export async function main(argv: string[]): Promise<number> {
  process.umask(0o022);
  msgInit('postqueue');
  // As Postfix: a reader that goes away (postqueue -p | head) ends the listing quietly.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? process.exit(0) : msgFatal(`output write error: ${strerror(err)}`)));
  setFatalHandler(() => process.exit(EX_UNAVAILABLE));
  let mode: number = MODE.DEFAULT;
  let site: string | null = null;
  let id: string | null = null;
  let configDir: string | undefined;
  let verbose = 0;
  const set = (m: number): void => {
    if (mode !== MODE.DEFAULT) msgFatal(USAGE);
    mode = m;
  };
  const optind = getopt(
    argv,
    'c:fi:jps:v',
    (ch, arg) => {
      if (ch === 'c') configDir = arg;
      else if (ch === 'f') set(MODE.FLUSH_QUEUE);
      else if (ch === 'i') (set(MODE.FLUSH_FILE), (id = arg ?? ''));
      else if (ch === 'j') set(MODE.JSON);
      else if (ch === 'p') set(MODE.MAILQ);
      else if (ch === 's') (set(MODE.FLUSH_SITE), (site = arg ?? ''));
      else if (ch === 'v' && (process.geteuid?.() ?? 0) === 0) verbose++;
    },
    (kind, ch) => {
      process.stderr.write(`postqueue: ${getoptMessage(kind, ch)}\n`);
      msgFatal(USAGE);
    },
  );
  if (optind < argv.length) msgFatal(USAGE);
  msgSetVerbose(verbose);
  const config = loadMailConfig({ configDir: configDir ?? process.env[CONF_ENV_PATH] });
  initMailLogFromConfig(config, 'postqueue', { stderrIfTty: false });
  msgAddSink({ write: (sev, text) => void process.stderr.write(`postqueue: ${severityPrefix(sev)}${text}\n`) });
  try {
    process.chdir(config.get('queue_directory'));
  } catch (err) {
    msgFatal(`chdir ${config.get('queue_directory')}: ${strerror(err)}`);
  }
  if (site !== null) {
    const s: string = site;
    const bad = s.startsWith('[') ? !validMailhostLiteral(s) : !validHostname(s);
    if (bad) msgFatal(`Cannot flush mail queue - invalid destination: "${clip(s)}"`);
  }
  if (id !== null && !mailQueueIdOk(id)) msgFatal(`Cannot flush queue ID - invalid name: "${clip(id)}"`);
  switch (mode) {
    case MODE.MAILQ:
    case MODE.JSON:
      await showQueue(config, mode);
      break;
    case MODE.FLUSH_SITE:
      await flushRequest(config, 'site', site ?? '');
      break;
    case MODE.FLUSH_FILE:
      await flushRequest(config, 'file', id ?? '');
      break;
    case MODE.FLUSH_QUEUE:
      await flushQueue(config);
      break;
    default:
      msgFatal(USAGE);
  }
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
