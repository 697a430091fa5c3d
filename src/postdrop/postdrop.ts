/*
 * postdrop - put a message into the maildrop queue (Postfix postdrop(1))
 *
 * What it does: postdrop [-c config_dir] [-r] [-v] reads one message as
 * queue file records on standard input (what sendmail(1) writes), and
 * creates maildrop/<queue_id> under queue_directory the way Postfix's
 * postdrop does: mode 0644 while it is written, its own arrival time
 * record, only the submission record types and the few attributes a
 * user may set (postdrop_copy.ts), then fsync and the ready mode 0744.
 * Before reading it tells the caller the protocol and queue ID (one
 * attribute list: protocol=postdrop_protocol, queue_id); at the end it sends status (CLEANUP_STAT bits) and reason,
 * and wakes up public/pickup. When the mail system is down the file
 * simply waits in maildrop: pickup finds it at its next start or wakeup.
 * Input that ends before the end record cancels the submission (the
 * file is removed, exit 0); a fatal error or a signal removes the file.
 *
 * authorized_submit_users is checked against the invoking user's name
 * (user names, !negation, static:/inline: tables).
 *
 * What it does NOT do: run set-gid. Postfix installs postdrop set-gid
 * postdrop so that users can write the group-writable maildrop; Node
 * has no set-gid scripts, so run unprivileged the maildrop file is
 * written as (and owned by) the invoking user, and the maildrop must be
 * writable by that user. It does not import_environment-sanitize the
 * environment, and it does not follow pointer records (they are fatal).
 * Unlike Postfix it removes a submission without sender or recipient
 * (Postfix leaves the unfinished file for nobody to pick up).
 *
 * DIAGNOSTICS
 * Fatal errors go to stderr ("postdrop: fatal: uid=N: malformed input")
 * and to the mail log; the exit status is 0 on success or cancel,
 * CLEANUP_STAT.BAD without sender/recipient, 1 after a fatal error.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { CONF_ENV_PATH, loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { checkUserAcl } from '../global/user_acl.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_CLASS, TRIGGER_REQ_WAKEUP } from '../global/mail_proto.js';
import { MAIL_QUEUE, splitQueueNames } from '../global/mail_queue.js';
import { mailStreamFile, type MailStream } from '../global/mail_stream.js';
import { mailTrigger } from '../global/mail_trigger.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { encodeAttr0, formatInt } from '../util/attr0.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { matchListInit, type MatchList } from '../util/match_list.js';
import { msgAddSink, msgFatal, msgInfo, msgSetVerbose, msgVerbose, msgWarn, setFatalHandler, severityPrefix } from '../util/msg.js';
import { getpwuid } from '../util/pwd_lookup.js';
import { postdropCopy } from './postdrop_copy.js';
import '../global/match_table.js';  // tables (any type) in this program's pattern lists

/** Mode bits added to 0600 (writing) and 0700 (ready): world and group may read. */
export const POSTDROP_EXTRA_MODE = 0o444;
const USAGE = 'usage: postdrop [-c config_dir] [-v]';
const PROGRAM = 'postdrop';

/** Adds stderr output "postdrop: warning: ..." as Postfix's msg_vstream does. */
export function addCommandStderr(name: string): void {
  msgAddSink({
    write(severity, text) {
      process.stderr.write(`${name}: ${severityPrefix(severity)}${text}\n`);
    },
  });
}

/** Hash settings for queue paths, from main.cf. */
export function hashOptions(config: MailConfig): { hashDepth: number; hashQueues: string[] } {
  return { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
}

export async function main(argv: string[]): Promise<number> {
  process.umask(0o022);
  let verbose = 0;
  let configDir = process.env[CONF_ENV_PATH];
  const first = getopt(
    argv,
    'c:rv',
    (ch, optarg) => {
      if (ch === 'c') configDir = optarg!;
      else if (ch === 'v') verbose++;
    },
    (kind, ch) => {
      process.stderr.write(`${PROGRAM}: ${getoptMessage(kind, ch)}\n`);
      msgFatal(USAGE);
    },
  );
  if (first < argv.length) msgFatal(USAGE);
  const config = loadMailConfig({ configDir });
  initMailLogFromConfig(config, PROGRAM, { stderrIfTty: false });
  addCommandStderr(PROGRAM);
  msgSetVerbose(verbose);
  const uid = process.getuid?.() ?? 0;
  const denied = checkUserAcl(config, uid);
  if (denied !== null) msgFatal(`User ${denied}(${uid}) is not allowed to submit mail`);

  const queueDir = config.get('queue_directory');
  let stream: MailStream;
  try {
    stream = await mailStreamFile({
      queueDir,
      queueName: MAIL_QUEUE.MAILDROP,
      longQueueIds: config.getBool('enable_long_queue_ids'),
      extraMode: POSTDROP_EXTRA_MODE,
      ...hashOptions(config),
    });
  } catch (err) {
    return msgFatal(`mail_queue_enter: create file in ${join(queueDir, MAIL_QUEUE.MAILDROP)}: ${(err as Error).message}`);
  }
  msgVerbose(`open ${stream.path}`);
  // A fatal error or a signal removes the unfinished file (Postfix postdrop_sig).
  let pathToRemove: string | null = stream.path;
  const removeNow = (): void => {
    if (pathToRemove === null) return;
    const p = pathToRemove;
    pathToRemove = null;
    try {
      // Synchronous: this runs on the way out of the process.
      unlinkSync(p);
    } catch {
      /* already gone */
    }
  };
  setFatalHandler((_sev, _text) => {
    removeNow();
    process.exit(1);
  });
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      removeNow();
      process.exit(1);
    });
  }
  process.stdout.on('error', () => {});
  await writeOut(
    encodeAttr0([
      { name: MAIL_ATTR.PROTO, value: MAIL_ATTR_PROTO.POSTDROP },
      { name: MAIL_ATTR.QUEUEID, value: stream.queueId },
    ]),
  );

  const lineLimit = config.getInt('line_length_limit');
  const now = Date.now();
  const outcome = await postdropCopy(process.stdin, stream, {
    uid,
    lineLimit,
    sec: Math.floor(now / 1000),
    usec: (now % 1000) * 1000,
  });
  let status: number = CLEANUP_STAT.OK;
  switch (outcome.kind) {
    case 'fatal':
      return msgFatal(outcome.text);
    case 'cancelled':
      await stream.abort();
      pathToRemove = null;
      msgVerbose(`remove ${stream.path}`);
      return 0;
    case 'write-error':
      msgWarn(`uid=${uid}: ${outcome.error.message}`);
      await stream.abort();
      pathToRemove = null;
      status = (outcome.error as NodeJS.ErrnoException).code === 'EFBIG' ? CLEANUP_STAT.SIZE : CLEANUP_STAT.WRITE;
      break;
    case 'done':
      if (outcome.fromCount === 0 || outcome.rcptCount === 0) {
        status = CLEANUP_STAT.BAD;
        await stream.abort();
        pathToRemove = null;
        break;
      }
      try {
        await stream.finish();
      } catch (err) {
        msgWarn(`uid=${uid}: ${(err as Error).message}`);
        await stream.abort();
        pathToRemove = null;
        status = CLEANUP_STAT.WRITE;
        break;
      }
      pathToRemove = null;
      msgVerbose(`${stream.queueId}: maildrop file complete`);
      // Wake up pickup; when the mail system is down the file waits.
      await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, config.get('pickup_service_name'), TRIGGER_REQ_WAKEUP, config.getTime('trigger_timeout') * 1000);
      break;
  }
  await writeOut(encodeAttr0([
    { name: MAIL_ATTR.STATUS, value: formatInt(status) },
    { name: MAIL_ATTR.WHY, value: '' },
  ]));
  if (verbose) msgInfo(`status ${status}`);
  return status;
}

function writeOut(data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.destroyed) return resolve();
    process.stdout.write(data, () => resolve());
  });
}

if (isMainModule(import.meta.url)) runMain(main);
