/*
 * local_privs - run a file operation with a user's rights (Postfix set_eugid.c, open_as.c, stat_as.c)
 *
 * What it does: withEugid(env, uid, gid, fn) runs fn with the effective
 * uid/gid (and the single supplementary group gid) of the recipient,
 * then restores root, exactly like Postfix's set_eugid() around mailbox,
 * file, .forward and :include: access. Only a process started as root
 * switches; an unprivileged process (npm start as a user, tests) runs fn
 * as itself. The effective ids belong to the whole process, and one
 * Postern process serves many clients at once, so a root local(8) runs
 * its deliveries one after another (exclusive()): no other delivery's
 * I/O can happen under a borrowed identity; sockets to bounce/cleanup
 * are used only after the switch back.
 *
 * What it does not do: start commands (local_command_run.ts gives the
 * child its uid/gid with spawn(), never via the effective ids).
 *
 * DIAGNOSTICS
 * A failure to switch or restore is fatal (Postfix msg_fatal "seteuid:
 * ..."): continuing with the wrong identity would be worse.
 */
import { msgFatal } from '../util/msg.js';

export function processIsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

let depth = 0;

export async function withEugid<T>(privileged: boolean, uid: number, gid: number, fn: () => Promise<T>): Promise<T> {
  if (!privileged || (uid === 0 && gid === 0)) return fn();
  if (depth > 0) return fn();
  const savedGroups = process.getgroups!();
  try {
    process.setegid!(gid);
    process.setgroups!([gid]);
    process.seteuid!(uid);
  } catch (e) {
    msgFatal(`set_eugid ${uid}/${gid}: ${(e as Error).message}`);
  }
  depth++;
  try {
    return await fn();
  } finally {
    depth--;
    try {
      process.seteuid!(0);
      process.setegid!(0);
      process.setgroups!(savedGroups);
    } catch (e) {
      msgFatal(`restore root privileges: ${(e as Error).message}`);
    }
  }
}

let chain: Promise<unknown> = Promise.resolve();

/** Runs fn after every earlier exclusive() call has settled: one at a time per process. */
export function exclusive<T>(fn: () => Promise<T>): Promise<T> {
  const run = chain.then(fn, fn);
  chain = run.catch(() => undefined);
  return run;
}
