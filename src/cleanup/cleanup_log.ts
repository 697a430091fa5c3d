/*
 * cleanup_log - cleanup(8)'s diagnostics, under cleanup's own tag
 *
 * What it does: every cleanup module logs through `clog` (info, verbose,
 * warn, error). In cleanup's own process the records carry the process's
 * tag ("postfix/cleanup[PID]"); when smtpd runs the cleanup service in
 * its process (smtpd_cleanup_colocate.ts) cleanupLogTag() makes them
 * "postfix/cleanup[SMTPD_PID]" (syslog_name from the cleanup service's
 * own settings), so Postfix's "cleanup[...]: QUEUEID: message-id=<...>"
 * lines stay what log readers look for.
 *
 * What it does not do: retag what shared modules in src/global log while
 * they work for cleanup (table warnings, the qmgr trigger), or fatal
 * errors (msgFatal ends the process whatever its tag).
 */
import { msgTagged } from '../util/msg.js';

let tag: string | null = null;

/** The tag for cleanup's records; null: the process's own. */
export function cleanupLogTag(value: string | null): void {
  tag = value;
}

export const clog = msgTagged(() => tag);
