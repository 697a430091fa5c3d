/*
 * dot_lockfile - dotlock file management (Postfix dot_lockfile.c)
 *
 * What it does: dotLockfile(path) creates "path.lock" with O_CREAT|O_EXCL
 * (which never follows a symbolic link), retrying while the lock exists
 * up to `tries` times with a randomised delay, and removing a lock older
 * than `staleSec` (by ctime), as Postfix does with deliver_lock_attempts,
 * deliver_lock_delay and stale_lock_time. dotUnlockfile(path) removes it.
 *
 * What it does not do: know about mail parameters (the caller passes the
 * limits), kernel locks (mbox_open.ts), or change privileges.
 *
 * DIAGNOSTICS
 * Never throws: a failure is { ok: false, code, why } with Postfix's text
 * "unable to create lock file PATH.lock: ERR" and the errno code (EEXIST
 * when the lock stayed busy).
 */
import { open, stat, unlink } from 'node:fs/promises';
import { strerror } from './strerror.js';

export interface DotLockOptions {
  /** Attempts before giving up (Postfix deliver_lock_attempts, default 20). */
  tries: number;
  /** Delay between attempts in ms (deliver_lock_delay, default 1s); randomised between 1/2 and 3/2 of it. */
  delayMs: number;
  /** A lock older than this many seconds is removed (stale_lock_time, default 500s). */
  staleSec: number;
}

export type DotLockResult = { ok: true } | { ok: false; code: string; why: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function dotLockfile(path: string, opts: DotLockOptions): Promise<DotLockResult> {
  const lockFile = `${path}.lock`;
  const tries = Math.max(1, opts.tries);
  let lastErr: unknown = null;
  for (let count = 1; ; count++) {
    try {
      const fh = await open(lockFile, 'wx', 0o000);
      await fh.close();
      return { ok: true };
    } catch (e) {
      lastErr = e;
    }
    if (count >= tries) break;
    if ((lastErr as NodeJS.ErrnoException).code !== 'EEXIST') break;
    try {
      const st = await stat(lockFile);
      if (Date.now() / 1000 > st.ctimeMs / 1000 + opts.staleSec) {
        try {
          await unlink(lockFile);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
            lastErr = e;
            break;
          }
        }
      }
    } catch {
      /* gone meanwhile: try again */
    }
    await sleep(opts.delayMs * 0.5 + Math.random() * opts.delayMs);
  }
  const code = (lastErr as NodeJS.ErrnoException)?.code ?? 'EIO';
  return { ok: false, code, why: `unable to create lock file ${lockFile}: ${strerror(lastErr)}` };
}

export async function dotUnlockfile(path: string): Promise<void> {
  await unlink(`${path}.lock`).catch(() => undefined);
}
