/*
 * virtual_store - write one message into a virtual mailbox as its owner (Postfix virtual/mailbox.c, maildir.c)
 *
 * What it does: storeMessage() delivers the bytes a producer writes
 * (normally mailCopy() of the queue file) into a Maildir (path ending in
 * "/": tmp/ then new/, fsync'd, via maildir.ts) or a UNIX mbox file
 * (locked per virtual_mailbox_lock via mbox_open.ts, appended, fsync'd,
 * truncated back on failure; not a regular file → 5.3.5 "mail system
 * configuration error"; strict_mailbox_ownership and a file not owned
 * by the recipient → 4.2.0). When this process is root and the mailbox
 * owner is another uid, the file work runs in a helper process started
 * with that uid/gid (virtual_helper.ts), as Postfix's set_eugid() does
 * in-process: files and directories are created by the recipient, so
 * quotas apply and no symlink in a user's directory can make us write as
 * root. The producer then writes into the helper's stdin, followed by a
 * random end marker; the helper reads it all (bounded by
 * virtual_mailbox_limit) before it opens the mailbox and stores nothing
 * unless the marker arrives intact, so a failed or interrupted copy
 * never leaves a partial message behind.
 *
 * What it does not do: look up mailbox location or ownership
 * (virtual_mailbox.ts), log, or report status.
 *
 * DIAGNOSTICS
 * Never throws: { ok: false, dsn, corrupt } with the reasons of
 * maildir.ts/mbox_open.ts/mail_copy.ts; a helper that dies or answers
 * nonsense gives 4.3.0 "virtual delivery helper failed: ...".
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { dsnMake, type Dsn } from '../global/dsn.js';
import { maildirDeliver } from '../global/maildir.js';
import { mboxOpen } from '../global/mbox_open.js';
import { FileSink, MAIL_COPY_STAT, type MailCopyResult } from '../global/mail_copy.js';
import { msgWarn } from '../util/msg.js';

export interface StoreTarget {
  /** Absolute path; ending in "/" means Maildir. */
  mailbox: string;
  uid: number;
  gid: number;
  /** virtual_mailbox_lock. */
  lockStyle: string;
  /** strict_mailbox_ownership. */
  strictOwner: boolean;
  /** For warnings. */
  recipient: string;
  /** virtual_mailbox_limit (bytes, 0 = none): the helper refuses more input. */
  sizeLimit: number;
}

export type StoreResult = { ok: true } | { ok: false; dsn: Dsn; corrupt: boolean };
/** Writes the message (headers included) into out; mailCopy's result. */
export type StoreProducer = (out: Writable) => Promise<MailCopyResult>;

/** Bytes of the random end marker that tells the helper the copy is complete. */
export const STORE_MARKER_BYTES = 16;
/** Limit on the helper's answer. */
export const STORE_HELPER_REPLY_LIMIT = 64 * 1024;
/** Hard limit on one helper run (the queue manager's own timeouts are longer). */
export const STORE_HELPER_TIMEOUT_MS = 30 * 60 * 1000;

export function isMaildir(mailbox: string): boolean {
  return mailbox.endsWith('/');
}

/** Does the file work need another identity than ours? */
export function needsHelper(uid: number, gid: number): boolean {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return false;
  return uid !== 0 || gid !== 0;
}

/** Postfix set_file_limit(virtual_mailbox_limit): writes past it fail with EFBIG (5.2.2). */
function limited(sink: FileSink, limit: number): FileSink {
  if (limit > 0) sink.limit = limit;
  return sink;
}

function failed(r: MailCopyResult & { ok: false }): StoreResult {
  return { ok: false, dsn: r.dsn, corrupt: (r.stat & MAIL_COPY_STAT.CORRUPT) !== 0 };
}

/** The store itself, with this process's rights. */
export async function storeInProcess(target: StoreTarget, produce: StoreProducer): Promise<StoreResult> {
  if (isMaildir(target.mailbox)) {
    let copyFail: StoreResult | null = null;
    const r = await maildirDeliver(target.mailbox, async (sink) => {
      const c = await produce(limited(sink, target.sizeLimit));
      if (!c.ok) {
        copyFail = failed(c);
        return { ok: false, dsn: c.dsn };
      }
      return { ok: true };
    }, { defStatus: '4.2.0' });
    if (copyFail) return copyFail;
    return r.ok ? { ok: true } : { ok: false, dsn: r.dsn, corrupt: false };
  }
  const mp = await mboxOpen(target.mailbox, { lockStyle: target.lockStyle, mode: 0o600, defStatus: '4.2.0' });
  if (!mp.ok) return { ok: false, dsn: mp.dsn, corrupt: false };
  try {
    if (!mp.stat.isFile()) {
      msgWarn(`recipient ${target.recipient}: destination ${target.mailbox} is not a regular file`);
      return { ok: false, dsn: dsnMake('5.3.5', 'mail system configuration error'), corrupt: false };
    }
    if (target.strictOwner && mp.stat.uid !== target.uid) {
      msgWarn('specify "strict_mailbox_ownership = no" to ignore mailbox ownership mismatch');
      return { ok: false, dsn: dsnMake('4.2.0', `destination ${target.mailbox} is not owned by recipient`), corrupt: false };
    }
    const c = await produce(limited(mp.sink, target.sizeLimit));
    return c.ok ? { ok: true } : failed(c);
  } finally {
    await mp.release();
  }
}

/** The helper program (compiled beside this file). */
export function storeHelperPath(): string {
  return fileURLToPath(new URL('./virtual_helper.js', import.meta.url));
}

/** Store as target.uid/gid in a helper process. */
export async function storeWithHelper(target: StoreTarget, produce: StoreProducer): Promise<StoreResult> {
  const marker = randomBytes(STORE_MARKER_BYTES);
  const spec = JSON.stringify({ limit: target.sizeLimit, mailbox: target.mailbox, uid: target.uid, lockStyle: target.lockStyle, strictOwner: target.strictOwner, recipient: target.recipient, marker: marker.toString('hex') });
  const child = spawn(process.execPath, [storeHelperPath(), spec], {
    stdio: ['pipe', 'pipe', 'pipe'],
    uid: target.uid,
    gid: target.gid,
    cwd: '/',
    env: { PATH: '/usr/bin:/bin', ...(process.env.TZ ? { TZ: process.env.TZ } : {}) },
    shell: false,
  });
  const reply: Buffer[] = [];
  let replyLen = 0;
  const errText: Buffer[] = [];
  child.stdout!.on('data', (b: Buffer) => {
    if (replyLen < STORE_HELPER_REPLY_LIMIT) reply.push(b);
    replyLen += b.length;
  });
  child.stderr!.on('data', (b: Buffer) => {
    if (errText.length < 16) errText.push(b);
  });
  child.stdin!.on('error', () => undefined);
  let spawnErr: Error | null = null;
  const done = new Promise<number | null>((resolve) => {
    child.once('error', (e) => {
      spawnErr = e;
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), STORE_HELPER_TIMEOUT_MS);
  const copy = await produce(child.stdin!);
  if (copy.ok) {
    await endStream(child.stdin!, marker);
  } else {
    // No marker: the helper stores nothing of what it got.
    await endStream(child.stdin!);
  }
  const code = await done;
  clearTimeout(timer);
  // A queue file problem is ours; a write problem means the helper failed (it answers why).
  if (!copy.ok && copy.stat !== MAIL_COPY_STAT.WRITE) return failed(copy);
  if (spawnErr !== null) return helperFail(String((spawnErr as Error).message));
  const text = Buffer.concat(reply).toString('utf8').trim();
  try {
    const r = JSON.parse(text) as StoreResult;
    if (r.ok === true && copy.ok) return { ok: true };
    if (r.ok === false && typeof r.dsn?.status === 'string' && typeof r.dsn?.reason === 'string') return { ok: false, dsn: r.dsn, corrupt: false };
  } catch {
    /* fall through */
  }
  return helperFail(`exit status ${code}: ${Buffer.concat(errText).toString('utf8').trim().slice(0, 200)}`);
}

/** Ends a Writable; settles even when it was destroyed or fails. */
function endStream(w: Writable, last?: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (w.destroyed || w.writableFinished) {
      resolve();
      return;
    }
    const done = (): void => resolve();
    w.once('finish', done);
    w.once('close', done);
    w.once('error', done);
    if (last) w.end(last);
    else w.end();
  });
}

function helperFail(why: string): StoreResult {
  msgWarn(`virtual delivery helper failed: ${why}`);
  return { ok: false, dsn: dsnMake('4.3.0', `virtual delivery helper failed: ${why}`), corrupt: false };
}

export function storeMessage(target: StoreTarget, produce: StoreProducer): Promise<StoreResult> {
  return needsHelper(target.uid, target.gid) ? storeWithHelper(target, produce) : storeInProcess(target, produce);
}
