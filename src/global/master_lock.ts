/*
 * master_lock - master.pid: the pid file that also says "master is running"
 *
 * What it does: writes queue_directory/pid/master.pid and
 * data_directory/master.lock in Postfix's format (the pid right-aligned
 * in 32 columns, sizeof(unsigned long) * 4, then a newline), refuses a
 * second master on the same queue, answers master -t, and removes both
 * files at exit. Node has no flock(2), so "locked" means: the file names
 * a live process whose command line is a master. The file is created
 * with link(2) from a private temporary file, so two masters starting at
 * once cannot both win; a stale file (dead pid) is replaced.
 *
 * What it does not do: interoperate with a real Postfix master's flock on
 * the same files (a Postfix master and a Postern master must not share a
 * queue directory anyway).
 *
 * DIAGNOSTICS
 * lockMaster() returns an error text in Postfix's words ("open lock file
 * PATH: unable to set exclusive lock: Resource temporarily unavailable")
 * that master.ts makes fatal.
 */
import { chownSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Postfix: "%*lu\n" with width sizeof(unsigned long) * 4. */
export const PID_FIELD_WIDTH = 32;
export const PID_FILE_MODE = 0o600;
export const MASTER_PID_FILE = 'master.pid';
export const MASTER_LOCK_FILE = 'master.lock';
/** glibc's text for EAGAIN, which Postfix prints for a lock held elsewhere. */
const EAGAIN_TEXT = 'Resource temporarily unavailable';

export function formatPid(pid: number): string {
  return `${String(pid).padStart(PID_FIELD_WIDTH, ' ')}\n`;
}

export function pidFilePath(queueDir: string, pidDir = 'pid'): string {
  return join(queueDir, pidDir, MASTER_PID_FILE);
}

/** The pid in a master.pid file, or null when absent or unreadable. */
export function readPidFile(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/** True when pid is a live process that looks like a master. */
export function isLiveMaster(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    return /master/.test(cmd);
  } catch {
    return true; // No /proc: trust the live pid.
  }
}

/** master -t: the pid of the running master, or null. */
export function runningMaster(queueDir: string, pidDir?: string): number | null {
  const pid = readPidFile(pidFilePath(queueDir, pidDir));
  return pid !== null && pid !== process.pid && isLiveMaster(pid) ? pid : null;
}

export interface MasterLock {
  release(): void;
}

function createExclusive(path: string, content: string): 'ok' | 'exists' {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: PID_FILE_MODE });
  try {
    linkSync(tmp, path);
    return 'ok';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
    throw err;
  } finally {
    unlinkSync(tmp);
  }
}

/** Takes the master lock; returns the lock or Postfix's error text. */
export function lockMaster(opts: {
  queueDir: string;
  dataDir: string;
  pidDir?: string;
  owner?: { uid: number; gid: number } | null;
}): MasterLock | string {
  const pidPath = pidFilePath(opts.queueDir, opts.pidDir);
  const content = formatPid(process.pid);
  try {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (createExclusive(pidPath, content) === 'ok') break;
      const other = readPidFile(pidPath);
      if (other !== null && other !== process.pid && isLiveMaster(other)) {
        return `open lock file ${pidPath}: unable to set exclusive lock: ${EAGAIN_TEXT}`;
      }
      unlinkSync(pidPath); // stale: a master that died without cleaning up
      if (attempt === 1) return `open lock file ${pidPath}: unable to set exclusive lock: ${EAGAIN_TEXT}`;
    }
  } catch (err) {
    return `open lock file ${pidPath}: ${(err as Error).message}`;
  }
  const lockPath = join(opts.dataDir, MASTER_LOCK_FILE);
  try {
    writeFileSync(lockPath, content, { mode: PID_FILE_MODE });
    if (opts.owner) chownSync(lockPath, opts.owner.uid, opts.owner.gid);
  } catch (err) {
    try {
      unlinkSync(pidPath);
    } catch {
      // ignore
    }
    return `open lock file ${lockPath}: ${(err as Error).message}`;
  }
  return {
    release() {
      for (const p of [pidPath, lockPath]) {
        try {
          if (readPidFile(p) === process.pid) unlinkSync(p);
        } catch {
          // Already gone.
        }
      }
    },
  };
}
