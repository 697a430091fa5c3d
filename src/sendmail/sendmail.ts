/*
 * sendmail - the Sendmail-compatible command (Postfix sendmail(1), mailq, newaliases)
 *
 * What it does: parses Postfix sendmail's options (sendmail_opts.ts)
 * and acts by mode, as Postfix does:
 * - -bm (default): reads the message from standard input and submits it
 *   through postdrop(1), run as a child (node dist/src/postdrop/postdrop.js
 *   -r) so that maildrop permissions live in one program: sendmail reads
 *   postdrop's greeting (protocol=postdrop_protocol, queue_id), writes the
 *   records (sendmail_enqueue.ts) and reads postdrop's status. The mail
 *   system need not run: the file waits in maildrop for pickup(8).
 *   -t extracts recipients from the headers (in sendmail, as Postfix 2.1+
 *   does, into the extracted segment), -v asks for a delivery report
 *   (trace_flags), -f/-r, -F (else NAME or the password file's full
 *   name), -N, -R, -V, -XV, -B, -G, -i/-oi as Postfix.
 * - -bs: runs smtpd(8) in stand-alone mode: node dist/src/smtpd/smtpd.js -S
 *   with standard input and output, MAIL_CONFIG set to the configuration.
 * - -bp (and the name mailq), -q, -qRsite, -qIid: run postqueue(1) -p,
 *   -f, -s site, -i id in its place, as Postfix (sendmail_queue.ts).
 * - -q<interval> and -bh/-bH: ignored, as in Postfix. -bd: postfix start.
 * - -bi, -I and the name newaliases: run postalias(1) over
 *   alias_database (sendmail_newaliases.ts).
 * - -bv: enqueues Postfix's probe message for the recipients with the
 *   "verify" trace flag: the delivery agents only report what they would
 *   do, and the sender gets a "Mail Delivery Status Report" (trace(8)).
 *
 * What it does not do: close inherited file descriptors (Node does not
 * leak them); it passes MAIL_CONFIG to its children rather than
 * applying export_environment.
 *
 * DIAGNOSTICS
 * "sendmail: fatal: ..." on stderr and in the mail log, exit status 75
 * (EX_TEMPFAIL) for every fatal error as with Postfix 3.7, whose error
 * handler exits 75 before the intended sysexits status; 0 when the
 * message is safely in maildrop. The queue modes exit with postqueue's
 * status.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLEANUP_STAT, cleanupStrerror } from '../global/cleanup_user.js';
import { CONF_ENV_PATH, loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgAddSink, msgFatal, msgSetVerbose, msgWarn, setFatalHandler, severityPrefix } from '../util/msg.js';
import { EX, SM_MODE, parseSendmailArgs, preScanConfigDir, type SendmailArgs } from './sendmail_opts.js';
import { submitViaPostdrop } from './sendmail_postdrop.js';
import { checkUserAcl } from '../global/user_acl.js';
import { senderFullName, senderLogin } from './sendmail_user.js';
import { argumentAddresses } from './sendmail_enqueue.js';
import { postqueueArgs, runPostqueue } from './sendmail_queue.js';
import { runNewaliases } from './sendmail_newaliases.js';

/** dist/src, where the other programs live. */
const PROGRAM_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function programModule(name: string): string {
  return join(PROGRAM_ROOT, name, `${name.replace(/-/g, '_')}.js`);
}

/**
 * msg_fatal_status(): log the fatal text and exit. Postfix's sendmail
 * computes a sysexits status for each error, but its run-time error
 * handler exits with EX_TEMPFAIL first, so every fatal error exits 75;
 * we do the same (the status stays in the code as documentation).
 */
let exitStatus: number = EX.TEMPFAIL;
export function fatalStatus(status: number, text: string): never {
  void status;
  return msgFatal(text);
}

function notYet(what: string): never {
  return fatalStatus(EX.UNAVAILABLE, `${what} is not available yet in Postern`);
}

/** Runs another Postern program with our standard streams; resolves its exit status. */
function runProgram(name: string, args: string[], config: MailConfig, opts: { detached?: boolean } = {}): Promise<number> {
  const mod = programModule(name);
  if (!existsSync(mod)) return Promise.resolve(notYet(`${name}(8)`));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mod, ...args], {
      stdio: opts.detached ? 'ignore' : 'inherit',
      env: { ...process.env, [CONF_ENV_PATH]: config.configDir },
      detached: opts.detached ?? false,
    });
    child.on('error', (err) => fatalStatus(EX.UNAVAILABLE, `unable to execute ${mod}: ${err.message}`));
    if (opts.detached) {
      child.unref();
      resolve(0);
    } else {
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    }
  });
}

async function enqueue(args: SendmailArgs, config: MailConfig): Promise<number> {
  const uid = process.getuid?.() ?? 0;
  const denied = checkUserAcl(config, uid);
  if (denied !== null) fatalStatus(EX.NOPERM, `User ${denied}(${uid}) is not allowed to submit mail`);
  let sender: string;
  if (args.sender !== null) {
    const addrs = argumentAddresses(args.sender);
    sender = addrs[0] ?? '';
    if (addrs.length > 1) msgWarn(`-f option specified malformed sender: ${args.sender}`);
  } else {
    const login = senderLogin(uid);
    if (login === null) fatalStatus(EX.OSERR, `no login name found for user ID ${uid}`);
    sender = login;
  }
  let verp: string | null = null;
  if (args.verpDefault) verp = config.get('default_verp_delimiters');
  else if (args.verpDelims !== null) {
    const filter = config.get('verp_delimiter_filter');
    const d = args.verpDelims;
    if (d.length !== 2 || !filter.includes(d[0]!) || !filter.includes(d[1]!)) fatalStatus(EX.USAGE, `-V requires two characters from ${filter}`);
    verp = d;
  }
  const who = `${sender}(${uid})`;
  const r = await submitViaPostdrop(programModule('postdrop'), config, args.verbose, {
    sender,
    who,
    fullName: args.fullName ?? senderFullName(uid),
    recipients: args.recipients,
    aeof: args.aeof,
    extract: args.extract,
    traceFlags: args.traceFlags,
    encoding: args.encoding,
    rewriteContext: args.rewriteContext,
    dsnNotify: args.dsnNotify,
    dsnRet: args.dsnRet,
    dsnEnvid: args.dsnEnvid,
    verpDelims: verp,
    lineLimit: config.getInt('line_length_limit'),
    headerLimit: config.getInt('header_size_limit'),
    fixEol: config.get('sendmail_fix_line_endings'),
  });
  if (r.kind === 'fatal') return fatalStatus(r.status, r.text);
  if (r.status !== CLEANUP_STAT.OK) {
    const st = r.status & CLEANUP_STAT.BAD ? EX.SOFTWARE : r.status & CLEANUP_STAT.WRITE ? EX.TEMPFAIL : EX.UNAVAILABLE;
    return fatalStatus(st, `${who}: ${cleanupStrerror(r.status)}`);
  }
  if (args.traceFlags) process.stdout.write(`Mail Delivery Status Report will be mailed to <${sender}>.\n`);
  return 0;
}

export async function main(argv: string[], progName = basename(process.argv[1] ?? 'sendmail').replace(/\.js$/, '')): Promise<number> {
  process.umask(0o022);
  const name = progName === 'sendmail' || progName === 'mailq' || progName === 'newaliases' ? progName : 'sendmail';
  setFatalHandler(() => {
    process.exit(exitStatus);
  });
  const configDir = preScanConfigDir(argv) ?? process.env[CONF_ENV_PATH];
  const config = loadMailConfig({ configDir });
  initMailLogFromConfig(config, 'sendmail', { stderrIfTty: false });
  msgAddSink({ write: (sev, text) => void process.stderr.write(`${name}: ${severityPrefix(sev)}${text}\n`) });
  if (process.env.MAIL_VERBOSE) msgSetVerbose(1);
  const parsed = parseSendmailArgs(argv, name);
  if (!parsed.ok) return fatalStatus(parsed.status, parsed.fatal);
  const args = parsed.args;
  if (args.verbose > 0) msgSetVerbose(args.verbose);
  if (args.qtime !== null && args.mode !== SM_MODE.DAEMON) return 0;
  const noRecipients = (what: string): void => {
    if (args.recipients.length > 0) fatalStatus(EX.USAGE, `${what} requires no recipient`);
  };
  switch (args.mode) {
    case SM_MODE.ENQUEUE:
      if (args.siteToFlush !== null) {
        if (args.recipients.length > 0) fatalStatus(EX.USAGE, 'flush site requires no recipient');
        return runPostqueue(postqueueArgs({ kind: 'site', site: args.siteToFlush }, args.verbose), config);
      }
      if (args.idToFlush !== null) {
        if (args.recipients.length > 0) fatalStatus(EX.USAGE, 'flush queue_id requires no recipient');
        return runPostqueue(postqueueArgs({ kind: 'id', id: args.idToFlush }, args.verbose), config);
      }
      return enqueue(args, config);
    case SM_MODE.MAILQ:
      noRecipients('display queue mode');
      return runPostqueue(postqueueArgs({ kind: 'list' }, args.verbose), config);
    case SM_MODE.FLUSHQ:
      noRecipients('flush queue mode');
      return runPostqueue(postqueueArgs({ kind: 'flush' }, args.verbose), config);
    case SM_MODE.DAEMON:
      noRecipients('daemon mode');
      return runProgram('postfix', [...Array(args.verbose).fill('-v'), 'start'], config);
    case SM_MODE.NEWALIAS:
      noRecipients('alias initialization mode');
      return runNewaliases(config, args.aliasDbMap, args.verbose);
    case SM_MODE.USER: {
      noRecipients('stand-alone mode');
      const uid = process.getuid?.() ?? 0;
      const denied = checkUserAcl(config, uid);
      if (denied !== null) fatalStatus(EX.NOPERM, `User ${denied}(${uid}) is not allowed to submit mail`);
      return runProgram('smtpd', ['-S', ...Array(args.verbose).fill('-v')], config);
    }
    case SM_MODE.IGNORE:
      return 0;
    default:
      return msgFatal(`unknown operation mode: ${args.mode}`);
  }
}

if (isMainModule(import.meta.url)) runMain((argv) => main(argv));
