/*
 * local_dotforward - ~/.forward expansion of local(8) (Postfix local/dotforward.c)
 *
 * What it does: deliverDotforward() searches forward_path (expanded per
 * recipient with forward_expansion_filter; entries with an undefined name
 * such as ${extension} without an extension are skipped) for the first
 * file that exists, looked up with the recipient's rights, and delivers
 * to its destinations with the recipient's rights. The file must be a
 * regular file owned by the recipient or root and not world-writable. The
 * owner attribute becomes the user (other local users listed are
 * forwarded, not delivered directly); an unmatched extension is kept only
 * with "forward" in propagate_unmatched_extensions and when the file name
 * did not use the extension. A user who lists herself is delivered to her
 * mailbox: the second visit of the same file answers "not found" unless
 * the first one finished ("forward-done"). An empty file (no addresses)
 * counts as no .forward.
 *
 * What it does not do: mailbox delivery (local_mailbox.ts).
 *
 * DIAGNOSTICS
 * Postfix's warnings: "file PATH is not a regular file", "file PATH has
 * bad owner uid N", "file PATH is world writable", "cannot open file
 * PATH: ERR". An address-verification probe reports "forward via file:
 * PATH".
 */
import { lstat, readFile } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { dsnMake, DSN_NOTIFY } from '../global/dsn.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { strerror } from '../util/strerror.js';
import { msgWarn } from '../util/msg.js';
import { EXT_PROP } from './local_params.js';
import { beenHere, beenHereCheck, EXPAND_TYPE, type LocalEnv, type LocalState, nextLevel, reportSent, userFromPasswd } from './local_state.js';
import { localExpand } from './local_expand.js';
import { withEugid } from './local_privs.js';
import { deliverTokenStream } from './local_token.js';
import { notifyWithoutSuccess } from './local_alias.js';
import { INCLUDE_FILE_MAX_BYTES } from './local_include.js';

/** Returns the status when a .forward was used, null otherwise (Postfix NO). */
export async function deliverDotforward(env: LocalEnv, state: LocalState): Promise<number | null> {
  const s = nextLevel(state);
  const p = env.params;
  if (p.forwardPath.trim() === '') return null;
  const pw = env.getpwnam(s.msg.user);
  if (pw === null) return null;
  if (!p.frozenDeliveredTo) s.msg.delivered = s.msg.rcpt.address;
  const usr = userFromPasswd(pw);
  s.msg.expType = EXPAND_TYPE.FWD;
  s.msg.owner = s.msg.user;

  let path = '';
  let st: Stats | null = null;
  for (const lhs of p.forwardPath.split(/[,\s]+/).filter((w) => w !== '')) {
    const x = localExpand(lhs, s, usr, p.recipientDelimiter, p.forwardExpansionFilter);
    if (x.error || x.undefined) continue;
    st = await withEugid(env.privileged, usr.uid, usr.gid, () => lstat(x.value)).catch(() => null);
    if (st !== null) {
      path = x.value;
      if (x.extensionMatched || (p.extPropMask & EXT_PROP.FORWARD) === 0) s.msg.unmatched = null;
      break;
    }
  }
  if (st === null) return null;
  if (env.req.flags & DEL_REQ_FLAG.MTA_VRFY) return reportSent(env, s, '2.0.0', `forward via file: ${path}`);
  if (beenHere(env, `forward ${path}`)) {
    return beenHereCheck(env, `forward-done ${path}`) ? 0 : null;
  }
  s.msg.expFrom = s.msg.local;
  if (!st.isFile()) {
    msgWarn(`file ${path} is not a regular file`);
    return null;
  }
  if (st.uid !== 0 && st.uid !== usr.uid) {
    msgWarn(`file ${path} has bad owner uid ${st.uid}`);
    return null;
  }
  if (st.mode & 0o002) {
    msgWarn(`file ${path} is world writable`);
    return null;
  }
  let text: string;
  try {
    text = await withEugid(env.privileged, usr.uid, usr.gid, async () => (await readFile(path)).subarray(0, INCLUDE_FILE_MAX_BYTES).toString('utf8'));
  } catch (e) {
    msgWarn(`cannot open file ${path}: ${strerror(e)}`);
    return null;
  }
  const savedNotify = s.msg.rcpt.dsnNotify;
  s.msg.rcpt = { ...s.msg.rcpt, dsnNotify: notifyWithoutSuccess(savedNotify) };
  const r = await deliverTokenStream(env, s, usr, text);
  if (r.count === 0) return null;
  beenHere(env, `forward-done ${path}`);
  if (r.status === 0 && savedNotify & DSN_NOTIFY.SUCCESS) {
    await env.report.trace(env.req, { ...s.msg.rcpt, dsnNotify: savedNotify }, env.service, dsnMake('2.0.0', 'alias expanded', { action: 'expanded' }));
  }
  return r.status;
}
