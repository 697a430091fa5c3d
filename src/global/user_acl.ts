/*
 * user_acl - may this user submit mail? (Postfix check_user_acl_byuid)
 *
 * What it does: checkUserAcl() matches the invoking user's name (from
 * the uid; "unknown" without a passwd entry) against
 * authorized_submit_users: names, '!' negation, and table entries
 * (static:, inline: and the other types match_list.ts supports). It
 * returns null when the user may submit, else the name to report in
 * "User NAME(UID) is not allowed to submit mail".
 *
 * What it does not do: print the refusal (sendmail and postdrop word it
 * themselves) or look at groups.
 *
 * DIAGNOSTICS
 * A broken list (bad table, lookup error) is fatal, naming the parameter,
 * as in Postfix.
 */
import { matchListInit } from '../util/match_list.js';
import { msgFatal } from '../util/msg.js';
import { getpwuid } from '../util/pwd_lookup.js';
import type { MailConfig } from './mail_conf.js';
import './match_table.js';  // tables (any type) in this program's pattern lists

export const VAR_SUBMIT_ACL = 'authorized_submit_users';

/** null when `uid` may submit mail, else the user name to report. */
export function checkUserAcl(config: MailConfig, uid: number): string | null {
  const name = getpwuid(uid)?.name ?? 'unknown';
  try {
    const list = matchListInit(VAR_SUBMIT_ACL, 0, config.get(VAR_SUBMIT_ACL), [
      (l, input, pattern) => (pattern.includes(':') ? l.tableLookup(pattern, input) !== undefined : input === pattern),
    ]);
    if (list.match(name)) return null;
    if (list.error) msgFatal(list.error);
  } catch (err) {
    msgFatal((err as Error).message);
  }
  return name;
}
