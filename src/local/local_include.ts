/*
 * local_include - :include: file expansion of local(8) (Postfix local/include.c)
 *
 * What it does: deliverInclude() reads an absolute-path :include: file
 * with the current delivery rights and delivers to every destination in
 * it. The file must be a regular file without world write permission.
 * When the rights are still root's (the :include: came from a root-owned
 * alias table), the file owner's rights are used for /file and |command
 * destinations (unless the owner is root: default_privs then). Recipients
 * of an include file are always forwarded (resubmitted), so the owner
 * attribute is set when it was not; unmatched extensions propagate only
 * with "include" in propagate_unmatched_extensions.
 *
 * What it does not do: allow |command or /file inside it unless
 * allow_mail_to_commands/files has "include" (checked per destination).
 *
 * DIAGNOSTICS
 * Postfix's warnings (":include:PATH uses a relative path", "unable to
 * lookup :include: file PATH: ERR", ":include: file PATH is not a regular
 * file", ":include: file PATH is world writable", "cannot open include
 * file PATH: ERR") and a 5.3.5 "mail system configuration error" bounce.
 */
import { readFile, stat } from 'node:fs/promises';
import { dsnMake } from '../global/dsn.js';
import { strerror } from '../util/strerror.js';
import { msgWarn } from '../util/msg.js';
import { EXT_PROP } from './local_params.js';
import { beenHere, EXPAND_TYPE, type LocalEnv, type LocalState, LOCAL_NESTING_LIMIT, nextLevel, reportBounce, reportDefer, type UserAttr, userFromPasswd } from './local_state.js';
import { withEugid } from './local_privs.js';
import { deliverTokenStream } from './local_token.js';

/** Largest :include: or .forward file read (a bound on memory, far above real lists). */
export const INCLUDE_FILE_MAX_BYTES = 16 * 1024 * 1024;

export async function deliverInclude(env: LocalEnv, state: LocalState, usrIn: UserAttr, path: string): Promise<number> {
  const s = nextLevel(state);
  let usr = { ...usrIn };
  if (s.level > LOCAL_NESTING_LIMIT) {
    msgWarn(`${s.msg.rcpt.address}: include nesting limit exceeded`);
    return reportBounce(env, s, dsnMake('5.4.6', 'local alias expansion nesting limit exceeded'));
  }
  if (beenHere(env, `include ${usr.uid} ${path}`)) return 0;
  s.msg.expFrom = s.msg.local;
  const config = (): Promise<number> => reportBounce(env, s, dsnMake('5.3.5', 'mail system configuration error'));
  if (!path.startsWith('/')) {
    msgWarn(`:include:${path} uses a relative path`);
    return config();
  }
  let st;
  try {
    st = await withEugid(env.privileged, usr.uid, usr.gid, () => stat(path));
  } catch (e) {
    msgWarn(`unable to lookup :include: file ${path}: ${strerror(e)}`);
    return config();
  }
  if (!st.isFile()) {
    msgWarn(`:include: file ${path} is not a regular file`);
    return config();
  }
  if (st.mode & 0o002) {
    msgWarn(`:include: file ${path} is world writable`);
    return config();
  }
  s.msg.expType = EXPAND_TYPE.INCL;
  if (usr.uid === 0) {
    const pw = env.getpwuid(st.uid);
    if (pw === null) {
      msgWarn(`cannot find username for uid ${st.uid}`);
      msgWarn(`${path}: cannot find :include: file owner username`);
      return reportDefer(env, s, dsnMake('4.3.5', 'mail system configuration error'));
    }
    if (pw.uid !== 0) usr = userFromPasswd(pw);
  }
  if (s.msg.owner === null) s.msg.owner = s.msg.rcpt.address;
  let text: string;
  try {
    text = await withEugid(env.privileged, usr.uid, usr.gid, async () => {
      const buf = await readFile(path);
      return buf.subarray(0, INCLUDE_FILE_MAX_BYTES).toString('utf8');
    });
  } catch (e) {
    msgWarn(`cannot open include file ${path}: ${strerror(e)}`);
    return config();
  }
  if ((env.params.extPropMask & EXT_PROP.INCLUDE) === 0) s.msg.unmatched = null;
  return (await deliverTokenStream(env, s, usr, text)).status;
}
