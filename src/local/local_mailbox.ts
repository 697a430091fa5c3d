/*
 * local_mailbox - mailbox delivery of local(8) (Postfix local/mailbox.c, local/maildir.c)
 *
 * What it does: deliverMailbox() is the "user exists" stage: duplicate
 * elimination, mailbox_transport_maps / mailbox_transport (hand the
 * recipient to another transport, local_pass.ts), the passwd lookup (no
 * such user: returns null so the caller tries deliver_unknown), then
 * mailbox_command_maps / mailbox_command (local_command.ts), home_mailbox
 * ending in "/" (Maildir in the home directory), mail_spool_directory
 * ending in "/" (Maildir per user), else the UNIX mbox file in
 * home_mailbox or mail_spool_directory/user. mbox delivery uses Postfix's
 * rights rules: home mailboxes as the user; a world-writable spool as the
 * user; a group-writable spool as the user with the spool's group; else
 * as root with the new file chowned to the user; the file must be a
 * regular file owned by the recipient (strict_mailbox_ownership). A
 * process that is not root writes everything as itself: no chown and no
 * ownership check (there is no other identity it could use).
 * deliverMaildir() writes one Maildir message (src/global/maildir.ts).
 *
 * What it does not do: aliases or .forward (earlier stages), biff.
 *
 * DIAGNOSTICS
 * Postfix's texts: "delivered to mailbox", "delivered to maildir",
 * "cannot update mailbox PATH for user USER. REASON", "maildir delivery
 * failed: REASON", "destination PATH is not owned by recipient" (plus the
 * warning naming strict_mailbox_ownership), "user lookup error".
 */
import { stat, type FileHandle } from 'node:fs/promises';
import { S_IWGRP, S_IWOTH } from './local_file.js';
import { MAIL_COPY, mailCopy } from '../global/mail_copy.js';
import { mboxOpen } from '../global/mbox_open.js';
import { maildirDeliver } from '../global/maildir.js';
import { dsnMake } from '../global/dsn.js';
import { delReqTraceOnly } from '../global/deliver_request.js';
import { msgWarn } from '../util/msg.js';
import { DELIVER_HDR } from './local_params.js';
import { beenHere, type LocalEnv, type LocalState, nextLevel, reportDefer, reportFailure, reportSent, type UserAttr, userFromPasswd } from './local_state.js';
import { withEugid } from './local_privs.js';
import { deliverCommand } from './local_command.js';
import { deliverPass } from './local_pass.js';

export function copyAttrs(env: LocalEnv, s: LocalState): { queueFilePath: string; queueFile?: FileHandle; dataOffset: number; sender: string; origRcpt: string; deliveredTo: string } {
  return {
    queueFilePath: env.queueFilePath,
    ...(env.queueFile ? { queueFile: env.queueFile } : {}),
    dataOffset: env.req.dataOffset,
    sender: s.msg.sender,
    origRcpt: s.msg.rcpt.origAddress,
    deliveredTo: s.msg.delivered ?? s.msg.rcpt.address,
  };
}

/** Returns the status, or null when the user does not exist (Postfix: NO). */
export async function deliverMailbox(env: LocalEnv, state: LocalState, usr: UserAttr): Promise<number | null> {
  const s = nextLevel(state);
  if (beenHere(env, `mailbox ${s.msg.local}`)) return 0;
  const p = env.params;
  let transport: string | null = null;
  try {
    transport = env.tables.mailboxTransport.empty ? null : await env.tables.mailboxTransport.find(s.msg.user);
  } catch {
    return reportDefer(env, s, dsnMake('4.3.0', 'table lookup failure'));
  }
  if (transport === null && p.mailboxTransport !== '') transport = p.mailboxTransport;
  if (transport !== null) return deliverPass(env, s, transport);

  const pw = env.getpwnam(s.msg.user);
  if (pw === null) return null;
  const user = userFromPasswd(pw);

  let command: string | null = null;
  try {
    command = env.tables.mailboxCommand.empty ? null : await env.tables.mailboxCommand.find(s.msg.user);
  } catch {
    return reportDefer(env, s, dsnMake('4.3.0', 'table lookup failure'));
  }
  if (command === null && p.mailboxCommand !== '') command = p.mailboxCommand;
  if (command !== null) return deliverCommand(env, s, user, command);
  if (p.homeMailbox.endsWith('/')) return deliverMaildir(env, s, user, `${user.home}/${p.homeMailbox}`);
  if (p.mailSpoolDirectory.endsWith('/')) return deliverMaildir(env, s, user, `${p.mailSpoolDirectory}${s.msg.user}/`);
  return deliverMailboxFile(env, s, user);
}

async function deliverMailboxFile(env: LocalEnv, state: LocalState, usr: UserAttr): Promise<number> {
  const s = nextLevel(state);
  const p = env.params;
  if (delReqTraceOnly(env.req.flags)) return reportSent(env, s, '2.0.0', 'delivers to mailbox');
  const spoolDir = p.homeMailbox !== '' ? null : p.mailSpoolDirectory;
  const mailbox = spoolDir === null ? `${usr.home}/${p.homeMailbox}` : `${spoolDir}/${s.msg.user}`;
  let spoolUid = usr.uid;
  let spoolGid = usr.gid;
  if (spoolDir !== null) {
    const st = await stat(spoolDir).catch(() => null);
    if (st !== null && (st.mode & S_IWOTH) === 0) {
      if (st.mode & S_IWGRP) spoolGid = st.gid;
      else spoolUid = spoolGid = 0;
    }
  }
  // Unprivileged (a developer's npm start) everything is written as the invoking user: no chown, no ownership check.
  const chown = spoolUid === usr.uid || !env.privileged ? {} : { uid: usr.uid, gid: usr.gid };
  let flags: number = MAIL_COPY.MBOX;
  if ((p.deliverHdrMask & DELIVER_HDR.FILE) === 0) flags &= ~MAIL_COPY.DELIVERED;

  const result = await withEugid(env.privileged, spoolUid, spoolGid, async () => {
    const mp = await mboxOpen(mailbox, { lockStyle: p.lockStyle, ...chown, mode: 0o600, defStatus: '5.2.0', lockTries: p.lockTries, lockDelayMs: p.lockDelayMs, staleSec: p.staleLockSec });
    if (!mp.ok) return { ok: false as const, dsn: mp.dsn, corrupt: false };
    try {
      if (!mp.stat.isFile()) return { ok: false as const, dsn: dsnMake('5.2.0', `destination ${mailbox} is not a regular file`), corrupt: false };
      if (p.strictMailboxOwnership && env.privileged && mp.stat.uid !== usr.uid) {
        msgWarn('specify "strict_mailbox_ownership = no" to ignore mailbox ownership mismatch');
        return { ok: false as const, dsn: dsnMake('4.2.0', `destination ${mailbox} is not owned by recipient`), corrupt: false };
      }
      mp.sink.limit = p.mailboxSizeLimit;
      const copy = () => mailCopy({ ...copyAttrs(env, s), flags, out: mp.sink });
      const r = spoolUid !== usr.uid || spoolGid !== usr.gid ? await withEugid(env.privileged, usr.uid, usr.gid, copy) : await copy();
      return r.ok ? { ok: true as const } : { ok: false as const, dsn: r.dsn, corrupt: (r.stat & 1) !== 0 };
    } finally {
      await mp.release();
    }
  });
  if (result.ok) return reportSent(env, s, '2.0.0', 'delivered to mailbox');
  if (result.corrupt) return -1;
  return reportFailure(env, s, { ...result.dsn, reason: `cannot update mailbox ${mailbox} for user ${s.msg.user}. ${result.dsn.reason}` });
}

export async function deliverMaildir(env: LocalEnv, state: LocalState, usr: UserAttr, path: string): Promise<number> {
  const s = nextLevel(state);
  if (delReqTraceOnly(env.req.flags)) return reportSent(env, s, '2.0.0', 'delivers to maildir');
  let flags: number = MAIL_COPY.TOFILE | MAIL_COPY.RETURN_PATH | MAIL_COPY.DELIVERED | MAIL_COPY.ORIG_RCPT;
  if ((env.params.deliverHdrMask & DELIVER_HDR.FILE) === 0) flags &= ~MAIL_COPY.DELIVERED;
  let corrupt = false;
  const r = await withEugid(env.privileged, usr.uid, usr.gid, () =>
    maildirDeliver(path, async (out) => {
      out.limit = env.params.mailboxSizeLimit;
      const c = await mailCopy({ ...copyAttrs(env, s), flags, out });
      if (!c.ok && c.stat & 1) corrupt = true;
      return c.ok ? { ok: true } : { ok: false, dsn: c.dsn };
    }),
  );
  if (r.ok) return reportSent(env, s, '2.0.0', 'delivered to maildir');
  if (corrupt) return -1;
  if (r.dsn.reason.includes('Permission denied')) {
    msgWarn(`maildir access problem for UID/GID=${usr.uid}/${usr.gid}: ${r.dsn.reason}`);
    msgWarn('perhaps you need to create the maildirs in advance');
  }
  return reportFailure(env, s, { ...r.dsn, reason: `maildir delivery failed: ${r.dsn.reason}` });
}
