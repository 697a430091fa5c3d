/*
 * postsuper - Postfix superintendent (Postfix postsuper(1))
 *
 * SYNOPSIS
 *   postsuper [-psSv] [-c config_dir] [-d queue_id] [-e queue_id]
 *             [-f queue_id] [-h queue_id] [-H queue_id] [-r queue_id]
 *             [queue...]
 *
 * What it does, as Postfix 3.7's postsuper: refuses anyone but the
 * super-user, reads main.cf, changes to queue_directory and, when run as
 * root, to mail_owner (so that what it creates belongs to the mail
 * system). Then it repairs first (-p purge old temporary files, -s/-S
 * structure check: hash levels, stray objects, queue ID versus inode
 * number; the default when no option is given is -s -p), refuses to act
 * on queue IDs when names had to change, and then runs the -d/-e/-f/-h/
 * -H/-r operations in command-line order: a queue ID, ALL (a pass over
 * the queues), or "-" (queue IDs from standard input, one per line). The
 * queues are the trailing arguments, else defer, bounce, maildrop,
 * incoming, active, deferred, hold, flush. It logs each message it
 * touches ("ID: removed", "requeued", "placed on hold", "released from
 * hold", "expired") and the summary lines ("Deleted: N messages", ...).
 * The work is in postsuper_ops.ts.
 *
 * What it does not do: signal handling beyond Node's defaults (an
 * interrupted structure repair is reported on the next run).
 *
 * DIAGNOSTICS
 * "postsuper: ..." on stderr and in the mail log, as Postfix; fatal
 * errors exit 1.
 */
import { readFileSync } from 'node:fs';
import { CONF_ENV_PATH, loadMailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { splitQueueNames, MAIL_QUEUE } from '../global/mail_queue.js';
import { getopt } from '../util/getopt.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgAddSink, msgError, msgFatal, msgInfo, msgInit, msgSetVerbose, msgWarn, severityPrefix } from '../util/msg.js';
import { getpwnam } from '../util/pwd_lookup.js';
import { strerror } from '../util/strerror.js';
import { ACTION, ACTIONS_BY_QUEUE_ID, ACTIONS_FOR_REPAIR, PostsuperOps } from './postsuper_ops.js';

const OPTSTRING = 'c:d:e:f:h:H:pr:sSv';
const USAGE =
  'usage: postsuper [-c config_dir] [-d queue_id (delete)] [-e queue_id (expire)] [-f queue_id (expire and/or un-hold)] ' +
  '[-h queue_id (hold)] [-H queue_id (un-hold)] [-p (purge temporary files)] [-r queue_id (requeue)] ' +
  '[-s (structure fix)] [-S (redundant structure fix)][-v (verbose)] [queue...]';

/** Largest standard input accepted for "-" (queue IDs, one per line). */
export const POSTSUPER_STDIN_MAX = 64 * 1024 * 1024;

export const DEFAULT_QUEUES: readonly string[] = [
  MAIL_QUEUE.DEFER,
  MAIL_QUEUE.BOUNCE,
  MAIL_QUEUE.MAILDROP,
  MAIL_QUEUE.INCOMING,
  MAIL_QUEUE.ACTIVE,
  MAIL_QUEUE.DEFERRED,
  MAIL_QUEUE.HOLD,
  MAIL_QUEUE.FLUSH,
];

interface Op {
  opt: string;
  arg: string;
}

/** Lines of standard input without their newlines (Postfix vstring_get_nonl). */
function stdinIds(): string[] {
  let data: Buffer;
  try {
    data = readFileSync(0);
  } catch {
    return [];
  }
  if (data.length > POSTSUPER_STDIN_MAX) msgFatal('standard input: too many queue IDs');
  const lines = data.toString('latin1').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

const plural = (n: number): string => (n !== 1 ? 's' : '');

export async function main(argv: string[]): Promise<number> {
  process.umask(0o022);
  msgInit('postsuper');
  if (process.env.MAIL_VERBOSE) msgSetVerbose(1);
  if ((process.getuid?.() ?? 0) !== 0) msgFatal('use of this command is reserved for the superuser');
  let action = 0;
  let verbose = process.env.MAIL_VERBOSE ? 1 : 0;
  let configDir: string | undefined;
  const ops: Op[] = [];
  const byName = (arg: string, all: number, one: number): void => {
    action |= arg === 'ALL' ? all : one;
  };
  const optind = getopt(
    argv,
    OPTSTRING,
    (ch, arg = '') => {
      switch (ch) {
        case 'c':
          if (!arg.startsWith('/')) msgFatal('-c requires absolute pathname');
          configDir = arg;
          break;
        case 'd':
          byName(arg, ACTION.DELETE_ALL, ACTION.DELETE_ONE);
          break;
        case 'e':
          byName(arg, ACTION.EXPIRE_ALL, ACTION.EXPIRE_ONE);
          break;
        case 'f':
          byName(arg, ACTION.EXP_REL_ALL, ACTION.EXP_REL_ONE);
          break;
        case 'h':
          byName(arg, ACTION.HOLD_ALL, ACTION.HOLD_ONE);
          break;
        case 'H':
          byName(arg, ACTION.RELEASE_ALL, ACTION.RELEASE_ONE);
          break;
        case 'p':
          action |= ACTION.PURGE;
          break;
        case 'r':
          byName(arg, ACTION.REQUEUE_ALL, ACTION.REQUEUE_ONE);
          break;
        case 'S':
          action |= ACTION.STRUCT_RED | ACTION.STRUCT;
          break;
        case 's':
          action |= ACTION.STRUCT;
          break;
        case 'v':
          verbose++;
          break;
      }
      if ('deEfhHr'.includes(ch)) ops.push({ opt: ch, arg });
    },
    (kind, ch) => {
      process.stderr.write(`postsuper: ${kind === 'invalid' ? `invalid option -- '${ch}'` : `option requires an argument -- '${ch}'`}\n`);
      msgFatal(USAGE);
    },
  );
  msgSetVerbose(verbose);
  const config = loadMailConfig({ configDir: configDir ?? process.env[CONF_ENV_PATH] });
  initMailLogFromConfig(config, 'postsuper', { stderrIfTty: false });
  msgAddSink({ write: (sev, text) => void process.stderr.write(`postsuper: ${severityPrefix(sev)}${text}\n`) });
  const queueDir = config.get('queue_directory');
  try {
    process.chdir(queueDir);
  } catch (err) {
    msgFatal(`chdir ${queueDir}: ${strerror(err)}`);
  }
  // As Postfix set_ugid(): the rest runs as the mail system owner.
  if ((process.getuid?.() ?? 0) === 0) {
    const owner = getpwnam(config.get('mail_owner'));
    if (!owner) msgFatal(`unknown mail_owner user name: ${config.get('mail_owner')}`);
    try {
      process.setgroups?.([owner.gid]);
      process.setgid?.(owner.gid);
      process.setuid?.(owner.uid);
    } catch (err) {
      msgFatal(`set_ugid ${config.get('mail_owner')}: ${strerror(err)}`);
    }
  }
  const pso = new PostsuperOps(
    { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) },
    config.getBool('enable_long_queue_ids'),
  );
  process.on('exit', (code) => {
    if (code !== 0 && (pso.inodeMismatch > 0 || pso.inodeFixed > 0 || pso.positionMismatch > 0)) {
      process.stderr.write('postsuper: warning: OPERATION INCOMPLETE -- RERUN COMMAND TO FIX THE QUEUE FIRST\n');
    }
  });
  if (action === 0) action = ACTION.STRUCT | ACTION.PURGE;
  const queues = optind < argv.length ? argv.slice(optind) : DEFAULT_QUEUES;

  if (action & ACTIONS_FOR_REPAIR) pso.superScan(queues, action & ACTIONS_FOR_REPAIR);
  if (pso.inodeMismatch > 0) pso.superScan(queues, action & ACTIONS_FOR_REPAIR);
  if (action & ACTIONS_BY_QUEUE_ID && (pso.inodeMismatch > 0 || pso.inodeFixed > 0)) {
    msgError('QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS');
    msgFatal('CHECK YOUR QUEUE IDS AND RE-ISSUE THE COMMAND');
  }

  const table: Record<string, { all: number; one: (q: readonly string[], id: string) => void }> = {
    d: { all: ACTION.DELETE_ALL, one: (q, id) => pso.deleteOne(q, id) },
    e: { all: ACTION.EXPIRE_ALL, one: (q, id) => pso.expireOne(q, id) },
    f: { all: ACTION.EXP_REL_ALL, one: (q, id) => pso.expRelOne(q, id) },
    h: { all: ACTION.HOLD_ALL, one: (q, id) => pso.holdOne(q, id) },
    H: { all: ACTION.RELEASE_ALL, one: (q, id) => pso.releaseOne(q, id) },
    r: { all: ACTION.REQUEUE_ALL, one: (q, id) => pso.requeueOne(q, id) },
  };
  for (const op of ops) {
    const t = table[op.opt]!;
    if (op.arg === 'ALL') pso.superScan(queues, t.all);
    else if (op.arg === '-') for (const id of stdinIds()) t.one(queues, id);
    else t.one(queues, op.arg);
  }

  if (action & (ACTION.REQUEUE_ONE | ACTION.REQUEUE_ALL)) msgInfo(`Requeued: ${pso.requeued} message${plural(pso.requeued)}`);
  if (action & (ACTION.DELETE_ONE | ACTION.DELETE_ALL)) msgInfo(`Deleted: ${pso.deleted} message${plural(pso.deleted)}`);
  if (action & (ACTION.EXPIRE_ONE | ACTION.EXPIRE_ALL | ACTION.EXP_REL_ONE | ACTION.EXP_REL_ALL)) msgInfo(`Force-expired: ${pso.expired} message${plural(pso.expired)}`);
  if (action & (ACTION.HOLD_ONE | ACTION.HOLD_ALL)) msgInfo(`Placed on hold: ${pso.held} message${plural(pso.held)}`);
  if (action & (ACTION.RELEASE_ONE | ACTION.RELEASE_ALL | ACTION.EXP_REL_ONE | ACTION.EXP_REL_ALL)) msgInfo(`Released from hold: ${pso.released} message${plural(pso.released)}`);
  if (pso.inodeFixed > 0) msgInfo(`Renamed to match inode number: ${pso.inodeFixed} message${plural(pso.inodeFixed)}`);
  if (pso.inodeMismatch > 0 || pso.inodeFixed > 0) msgWarn('QUEUE FILE NAMES WERE CHANGED TO MATCH INODE NUMBERS');
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
