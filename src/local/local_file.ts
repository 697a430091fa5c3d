/*
 * local_file - delivery to /file/name destinations of local(8) (Postfix local/file.c)
 *
 * What it does: deliverFile() appends the message in mbox format to a
 * file named in an alias, .forward or :include: (or to a Maildir when the
 * name ends in "/"), with the rights of the user on whose behalf the
 * delivery is made (default_privs when that is root), if
 * allow_mail_to_files permits the expansion type. An executable file is
 * refused; a dotlock that cannot be made (a directory the user cannot
 * write, /dev/null) is only a warning, as Postfix's
 * MBOX_DOT_LOCK_MAY_FAIL.
 *
 * What it does not do: decide the rights (callers pass UserAttr).
 *
 * DIAGNOSTICS
 * Postfix's texts: "delivered to file: PATH", "mail to file is
 * restricted", "cannot append message to file PATH: REASON", "file is
 * executable".
 */
import { MAIL_COPY, mailCopy } from '../global/mail_copy.js';
import { mboxOpen } from '../global/mbox_open.js';
import { dsnMake } from '../global/dsn.js';
import { delReqTraceOnly } from '../global/deliver_request.js';
import { DELIVER_HDR } from './local_params.js';
import { beenHere, type LocalEnv, type LocalState, nextLevel, reportBounce, reportFailure, reportSent, type UserAttr } from './local_state.js';
import { withEugid } from './local_privs.js';
import { copyAttrs, deliverMaildir } from './local_mailbox.js';

export const S_IWOTH = 0o002;
export const S_IWGRP = 0o020;
const S_IXUGO = 0o111;

export async function deliverFile(env: LocalEnv, state: LocalState, usrIn: UserAttr, path: string): Promise<number> {
  const s = nextLevel(state);
  const usr = { ...usrIn };
  if (beenHere(env, `file ${usr.uid} ${path}`)) return 0;
  if (delReqTraceOnly(env.req.flags)) return reportSent(env, s, '2.0.0', `delivers to file: ${path}`);
  if ((env.params.fileDeliverMask & s.msg.expType) === 0) return reportBounce(env, s, dsnMake('5.7.1', 'mail to file is restricted'));
  if (usr.uid === 0) usr.uid = env.params.defaultUid;
  if (usr.gid === 0) usr.gid = env.params.defaultGid;
  if (path.endsWith('/')) return deliverMaildir(env, s, usr, path);

  let flags: number = MAIL_COPY.MBOX;
  if ((env.params.deliverHdrMask & DELIVER_HDR.FILE) === 0) flags &= ~MAIL_COPY.DELIVERED;
  const p = env.params;
  const r = await withEugid(env.privileged, usr.uid, usr.gid, async () => {
    const mp = await mboxOpen(path, { lockStyle: p.lockStyle, dotMayFail: true, mode: 0o600, defStatus: '5.2.0', lockTries: p.lockTries, lockDelayMs: p.lockDelayMs, staleSec: p.staleLockSec });
    if (!mp.ok) return { ok: false as const, dsn: mp.dsn, corrupt: false };
    try {
      if (mp.stat.isFile() && (mp.stat.mode & S_IXUGO) !== 0) return { ok: false as const, dsn: dsnMake('5.7.1', 'file is executable'), corrupt: false };
      mp.sink.limit = p.mailboxSizeLimit;
      const c = await mailCopy({ ...copyAttrs(env, s), flags: mp.stat.isFile() ? flags : flags & ~MAIL_COPY.TOFILE, out: mp.sink });
      return c.ok ? { ok: true as const } : { ok: false as const, dsn: c.dsn, corrupt: (c.stat & 1) !== 0 };
    } finally {
      await mp.release();
    }
  });
  if (r.ok) return reportSent(env, s, '2.0.0', `delivered to file: ${path}`);
  if (r.corrupt) return -1;
  return reportFailure(env, s, { ...r.dsn, reason: `cannot append message to file ${path}: ${r.dsn.reason}` });
}
