/*
 * mbox_open - open and lock a UNIX-style mailbox or file for appending (Postfix mbox_open.c, safe_open.c)
 *
 * What it does: mboxOpen() takes the dotlock (path.lock) when the lock
 * style has "dotlock" and the target is (or will be) a regular file,
 * opens the file for appending the way Postfix's safe_open() does (an
 * existing file must have exactly one hard link, not be a directory, and
 * not be a symlink unless the link is owned by root; a new file is
 * created with O_EXCL and optionally chowned to uid/gid), then takes a
 * flock(2) lock when asked. The flock is held by a helper process,
 * util-linux flock(1), which opens the same file and keeps the lock until
 * release(); flock locks belong to the inode, so this excludes other
 * flock users (mail readers) exactly as Postfix's deliver_flock() does.
 * release() drops the kernel lock, then the dotlock, and closes the file.
 *
 * What it does NOT do: fcntl(2) record locks. Node.js has no fcntl
 * interface and a helper process cannot hold a POSIX record lock for us
 * correctly without a native addon, so "fcntl" in the lock style is
 * reported once per process as a warning and skipped; use "dotlock" (the
 * mail readers of Debian honour it) or "flock". It does not change
 * privileges either: the caller runs it with the recipient's rights.
 *
 * DIAGNOSTICS
 * Never throws: { ok: false, dsn } with Postfix's reasons ("unable to
 * create lock file /var/mail/u.lock: Permission denied", "cannot open
 * file: ...", "file has 2 hard links", "file is a symbolic link",
 * "unable to lock for exclusive access: Resource temporarily
 * unavailable") and the status of Postfix's mbox_dsn() (4.2.0 for a busy
 * lock, 5.2.2 for a full mailbox, the caller's default otherwise).
 */
import { constants as FS, type Stats } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import { spawn, type ChildProcess } from 'node:child_process';
import { dotLockfile, dotUnlockfile } from '../util/dot_lockfile.js';
import { strerror } from '../util/strerror.js';
import { msgWarn } from '../util/msg.js';
import { dsnMake, type Dsn } from './dsn.js';
import { MBOX_LOCK, mboxLockMask } from './mbox_conf.js';
import { FileSink, mboxDsnStatus } from './mail_copy.js';

/** The flock(1) helper (util-linux). */
export const FLOCK_COMMAND = '/usr/bin/flock';

export interface MboxOpenOptions {
  /** mailbox_delivery_lock / virtual_mailbox_lock text ("fcntl, dotlock"). */
  lockStyle: string;
  /** Owner for a newly created file (Postfix chown_uid/chown_gid); unset = leave as created. */
  uid?: number;
  gid?: number;
  /** Mode of a new file, default 0600 (Postfix S_IRUSR|S_IWUSR). */
  mode?: number;
  /** Status for errors mbox_dsn() does not classify, default "5.2.0". */
  defStatus?: string;
  /** A dotlock that cannot be created (other than "exists") is only a warning. */
  dotMayFail?: boolean;
  /** deliver_lock_attempts, deliver_lock_delay (ms), stale_lock_time (s). */
  lockTries?: number;
  lockDelayMs?: number;
  staleSec?: number;
}

export interface MboxHandle {
  path: string;
  handle: FileHandle;
  /** Appends at the end of the file as it was after locking; mailCopy() fsyncs/truncates it with MAIL_COPY.TOFILE. */
  sink: FileSink;
  stat: Stats;
  /** MBOX_LOCK bits actually held. */
  locked: number;
}

export type MboxOpenResult = ({ ok: true; release(): Promise<void> } & MboxHandle) | { ok: false; dsn: Dsn };

let fcntlWarned = false;

export async function mboxOpen(path: string, opts: MboxOpenOptions): Promise<MboxOpenResult> {
  const defStatus = opts.defStatus ?? '5.2.0';
  const tries = opts.lockTries ?? 20;
  const delayMs = opts.lockDelayMs ?? 1000;
  const parsed = mboxLockMask(opts.lockStyle);
  if (!parsed.ok) return { ok: false, dsn: dsnMake('4.3.5', parsed.why) };
  const style = parsed.mask | (opts.dotMayFail ? MBOX_LOCK.DOT_MAY_FAIL : 0);
  if ((style & MBOX_LOCK.FCNTL) && !fcntlWarned) {
    fcntlWarned = true;
    msgWarn('fcntl mailbox locking is not supported by this implementation; using the other configured lock styles');
  }
  let locked = 0;
  const fail = async (status: string, reason: string): Promise<MboxOpenResult> => {
    if (locked & MBOX_LOCK.DOT) await dotUnlockfile(path);
    return { ok: false, dsn: dsnMake(status, reason) };
  };

  // Dotlock before opening; never dotlock a non-file such as /dev/null.
  if (style & MBOX_LOCK.DOT) {
    const st = await stat(path).catch(() => null);
    if (st === null || st.isFile()) {
      const r = await dotLockfile(path, { tries, delayMs, staleSec: opts.staleSec ?? 500 });
      if (r.ok) locked |= MBOX_LOCK.DOT;
      else if (r.code === 'EEXIST') return fail(mboxDsnStatus({ code: 'EAGAIN' }, defStatus), r.why);
      else if (style & MBOX_LOCK.DOT_MAY_FAIL) msgWarn(r.why);
      else return fail(mboxDsnStatus({ code: r.code }, defStatus), r.why);
    }
  }

  const opened = await safeOpenAppend(path, opts.mode ?? 0o600, opts.uid, opts.gid);
  if (!opened.ok) return fail(mboxDsnStatus({ code: opened.code }, defStatus), opened.why);
  const { handle, st } = opened;

  let flockChild: ChildProcess | null = null;
  if (st.isFile() && (style & MBOX_LOCK.FLOCK)) {
    const r = await flockHold(path, Math.max(1, Math.ceil((tries * delayMs) / 1000)));
    if (!r.ok) {
      await handle.close().catch(() => undefined);
      return fail(mboxDsnStatus({ code: 'EAGAIN' }, defStatus), r.why);
    }
    flockChild = r.child;
    locked |= MBOX_LOCK.FLOCK;
  }
  // Append position: the end after all locks are held.
  const size = (await handle.stat()).size;
  const sink = new FileSink(handle, size);
  let released = false;
  return {
    ok: true,
    path,
    handle,
    sink,
    stat: st,
    locked,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      if (flockChild) await flockRelease(flockChild);
      if (locked & MBOX_LOCK.DOT) await dotUnlockfile(path);
      await handle.close().catch(() => undefined);
    },
  };
}

type SafeOpen = { ok: true; handle: FileHandle; st: Stats } | { ok: false; code: string; why: string };

/** Postfix safe_open() with O_APPEND|O_WRONLY|O_CREAT. */
export async function safeOpenAppend(path: string, mode: number, uid?: number, gid?: number): Promise<SafeOpen> {
  const flagsExist = FS.O_WRONLY | FS.O_APPEND | FS.O_NONBLOCK;
  for (let attempt = 0; attempt < 2; attempt++) {
    let handle: FileHandle | null = null;
    try {
      handle = await open(path, flagsExist);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      if (code !== 'ENOENT') return { ok: false, code, why: `cannot open file: ${strerror(e)}` };
    }
    if (handle) {
      const checked = await checkExisting(path, handle);
      if (!checked.ok) await handle.close().catch(() => undefined);
      return checked;
    }
    try {
      handle = await open(path, flagsExist | FS.O_CREAT | FS.O_EXCL, mode);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      if (code === 'EEXIST') continue;
      return { ok: false, code, why: `cannot create file exclusively: ${strerror(e)}` };
    }
    if (uid !== undefined || gid !== undefined) {
      await handle.chown(uid ?? -1, gid ?? -1).catch((e: unknown) => msgWarn(`${path}: cannot change file ownership: ${strerror(e)}`));
    }
    return { ok: true, handle, st: await handle.stat() };
  }
  return { ok: false, code: 'EAGAIN', why: 'cannot open file: file created and removed concurrently' };
}

async function checkExisting(path: string, handle: FileHandle): Promise<SafeOpen> {
  const fst = await handle.stat();
  if (fst.nlink !== 1) return { ok: false, code: 'EPERM', why: `file has ${fst.nlink} hard links` };
  if (fst.isDirectory()) return { ok: false, code: 'EISDIR', why: 'file is a directory' };
  let lst: Stats;
  try {
    lst = await lstat(path);
  } catch (e) {
    return { ok: false, code: 'EPERM', why: `file status changed unexpectedly: ${strerror(e)}` };
  }
  if (lst.isSymbolicLink()) {
    if (lst.uid === 0) return { ok: true, handle, st: fst };
    return { ok: false, code: 'EPERM', why: 'file is a symbolic link' };
  }
  if (fst.dev !== lst.dev || fst.ino !== lst.ino || fst.nlink !== lst.nlink || fst.mode !== lst.mode) {
    return { ok: false, code: 'EPERM', why: 'file status changed unexpectedly' };
  }
  return { ok: true, handle, st: fst };
}

/** Starts flock(1) holding an exclusive lock on path; resolves once it is held. */
function flockHold(path: string, waitSec: number): Promise<{ ok: true; child: ChildProcess } | { ok: false; why: string }> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { ok: true; child: ChildProcess } | { ok: false; why: string }): void => {
      if (done) return;
      done = true;
      resolve(r);
    };
    // flock(1) runs "cat", which echoes our marker only after the lock is held.
    const child = spawn(FLOCK_COMMAND, ['-x', '-w', String(waitSec), '--', path, 'cat'], { stdio: ['pipe', 'pipe', 'ignore'] });
    child.on('error', (e) => finish({ ok: false, why: `unable to lock for exclusive access: ${strerror(e)}` }));
    child.on('exit', () => finish({ ok: false, why: 'unable to lock for exclusive access: Resource temporarily unavailable' }));
    child.stdout!.once('data', () => finish({ ok: true, child }));
    child.stdin!.on('error', () => undefined);
    child.stdin!.write('L\n');
  });
}

function flockRelease(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.stdin!.end();
  });
}
