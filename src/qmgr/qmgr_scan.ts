/*
 * qmgr_scan - incoming and deferred queue scans (Postfix qmgr_scan.c, mail_scan_dir.c)
 *
 * What it does: scanQueueIds() walks one queue directory, descending into
 * the one-character hashed subdirectories (hash_queue_names), and yields
 * each name that is a valid queue ID. QmgrScan is the state of one
 * queue's scan as in Postfix: request(flags) records a scan request
 * (QMGR_SCAN.START starts a scan now, or restarts it when the current
 * one ends; SCAN_ALL and FLUSH_DFXP also apply to the scan in progress);
 * next() yields the next queue ID with the flags of the scan it belongs
 * to, or null when no scan is running.
 *
 * Directories are opened and read with synchronous calls (a queue
 * directory is local, and one getdents(2) per batch of names costs less
 * than a thread pool round trip); the scan still yields between names.
 *
 * What it does not do: open, check or move the files it finds (the
 * caller checks readiness and time stamps with mail_open_ok), or forget
 * dead destinations (the QMGR_SCAN.FLUSH_ONCE request is acted on by the
 * daemon, which owns the scheduler).
 *
 * DIAGNOSTICS
 * A directory that cannot be read is a warning ("scan_dir_next: open
 * DIR: ERR") and ends that part of the scan.
 */
import { type Dir, opendirSync } from 'node:fs';
import { join } from 'node:path';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { mailQueueIdOk } from '../global/mail_queue.js';

/** Scan and selection flags (Postfix QMGR_SCAN_*, QMGR_FLUSH_*), same bit values. */
export const QMGR_SCAN = {
  /** Start now, or restart when the scan in progress is done. */
  START: 1 << 0,
  /** Ignore queue file time stamps. */
  ALL: 1 << 1,
  /** Forget dead destinations and transports (once). */
  FLUSH_ONCE: 1 << 2,
  /** Override defer_transports. */
  FLUSH_DFXP: 1 << 3,
  /** Unthrottle per message (a file with the "unthrottle" mode bit). */
  FLUSH_EACH: 1 << 4,
} as const;

/** Hashed subdirectories are deeper than any sane hash_queue_depth beyond this. */
export const QMGR_SCAN_MAX_DEPTH = 16;

/** Yields the queue IDs in queue_directory/<queue>, hashed subdirectories included. */
export async function* scanQueueIds(queueDir: string, queue: string): AsyncGenerator<string> {
  const stack: Array<{ dir: string; depth: number }> = [{ dir: join(queueDir, queue), depth: 0 }];
  while (stack.length > 0) {
    const { dir, depth } = stack.pop()!;
    let handle: Dir;
    try {
      handle = opendirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') msgWarn(`scan_dir_next: open ${dir}: ${strerror(err)}`);
      continue;
    }
    const subdirs: string[] = [];
    try {
      for (let ent = handle.readSync(); ent !== null; ent = handle.readSync()) {
        if (ent.name.length === 1 && ent.isDirectory()) {
          if (depth < QMGR_SCAN_MAX_DEPTH) subdirs.push(join(dir, ent.name));
        } else if (mailQueueIdOk(ent.name)) {
          yield ent.name;
        }
      }
    } catch (err) {
      msgWarn(`scan_dir_next: read ${dir}: ${strerror(err)}`);
    } finally {
      closeDir(handle);
    }
    for (const d of subdirs.reverse()) stack.push({ dir: d, depth: depth + 1 });
  }
}

function closeDir(handle: Dir): void {
  try {
    handle.closeSync();
  } catch {
    // Already closed, or nothing left to release.
  }
}

export interface ScanItem {
  queueId: string;
  /** The flags of the scan run this ID came from (QMGR_SCAN bits). */
  flags: number;
}

/** One queue's scan state (Postfix QMGR_SCAN). */
export class QmgrScan {
  #flags = 0;
  #nflags = 0;
  #iter: AsyncGenerator<string> | null = null;

  constructor(
    readonly queueDir: string,
    readonly queue: string,
  ) {}

  /** Is a scan running? */
  get busy(): boolean {
    return this.#iter !== null;
  }

  /** Flags of the scan in progress. */
  get flags(): number {
    return this.#flags;
  }

  /** Postfix qmgr_scan_request(). */
  request(flags: number): void {
    if (this.#iter !== null && flags & QMGR_SCAN.ALL) this.#flags |= QMGR_SCAN.ALL;
    if (this.#iter !== null && flags & QMGR_SCAN.FLUSH_DFXP) this.#flags |= QMGR_SCAN.FLUSH_DFXP;
    this.#nflags |= flags;
    if (this.#iter === null && flags & QMGR_SCAN.START) {
      this.#nflags &= ~QMGR_SCAN.START;
      this.#start();
    }
  }

  #start(): void {
    msgVerbose(`qmgr_scan_start: ${this.#nflags & QMGR_SCAN.START ? 're' : ''}start ${this.queue} queue scan`);
    this.#flags = this.#nflags & ~QMGR_SCAN.START;
    this.#nflags = 0;
    this.#iter = scanQueueIds(this.queueDir, this.queue);
  }

  /** Postfix qmgr_scan_next(): the next queue ID, restarting once when a start request came meanwhile. */
  async next(): Promise<ScanItem | null> {
    if (this.#iter !== null) {
      const r = await this.#iter.next();
      if (!r.done) return { queueId: r.value, flags: this.#flags };
      this.#iter = null;
      if ((this.#nflags & QMGR_SCAN.START) === 0) msgVerbose(`done ${this.queue} queue scan`);
    }
    if (this.#iter === null && this.#nflags & QMGR_SCAN.START) {
      this.#start();
      const r = await this.#iter!.next();
      if (!r.done) return { queueId: r.value, flags: this.#flags };
      this.#iter = null;
    }
    return null;
  }
}
