/*
 * qmgr_move - move queue files between queues by rename (Postfix qmgr_move.c, mail_queue_rename)
 *
 * What it does: queueRename() renames one queue file from one queue to
 * another, creating a missing hashed subdirectory of the target as
 * Postfix's mail_queue_rename() does. queueRemove() unlinks one queue
 * file. qmgrMove() is the start-up crash recovery: every file left in the
 * active queue by a previous queue manager goes back to the incoming
 * queue with its time stamps set to the given time, so that it is picked
 * up again at once (incoming has priority over deferred).
 *
 * The per-file operations are synchronous system calls: one rename(2),
 * unlink(2) or utimes(2) on the local queue file system costs less than a
 * round trip through the thread pool, and qmgr does a few per message.
 *
 * What it does not do: read or check the files it moves, or decide when a
 * file is moved (qmgr_active.ts).
 *
 * DIAGNOSTICS
 * queueRename()/queueRemove()/queueUtime() return a QueueOpError on
 * failure (code 'ENOENT' when the file is gone, which callers treat as a
 * warning; text is the system error text for the log).
 * qmgrMove() logs Postfix's "qmgr_move: update FILE time stamps: ERR" and
 * "qmgr_move: rename ID from Q1 to Q2: ERR" warnings and carries on.
 */
import { mkdirSync, renameSync, unlinkSync, utimesSync } from 'node:fs';
import { dirname } from 'node:path';
import { msgVerbose, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { queuePath, type QueueHashOptions } from '../global/mail_queue.js';
import { scanQueueIds } from './qmgr_scan.js';

export interface QueueLocation {
  queueDir: string;
  hash: QueueHashOptions;
}

/** A failed queue operation: the errno code ('ENOENT': the file is gone) and Postfix's %m text. */
export interface QueueOpError {
  code: string;
  text: string;
}

function opError(err: unknown): QueueOpError {
  return { code: (err as NodeJS.ErrnoException).code ?? 'EIO', text: strerror(err) };
}

/** Renames queue file `id` from queue `from` to queue `to`; null on success. */
export function queueRename(loc: QueueLocation, id: string, from: string, to: string): QueueOpError | null {
  const src = queuePath(loc.queueDir, from, id, loc.hash);
  const dst = queuePath(loc.queueDir, to, id, loc.hash);
  try {
    renameSync(src, dst);
    return null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return opError(err);
  }
  // The source is gone, or the target's hashed subdirectory does not exist yet.
  try {
    mkdirSync(dirname(dst), { recursive: true, mode: 0o700 });
    renameSync(src, dst);
    return null;
  } catch (err) {
    return opError(err);
  }
}

/** Removes queue file `id` from `queue`; null on success. */
export function queueRemove(loc: QueueLocation, queue: string, id: string): QueueOpError | null {
  try {
    unlinkSync(queuePath(loc.queueDir, queue, id, loc.hash));
    return null;
  } catch (err) {
    return opError(err);
  }
}

/** Sets both time stamps of a queue file (seconds); null on success. */
export function queueUtime(loc: QueueLocation, queue: string, id: string, whenSec: number): QueueOpError | null {
  try {
    utimesSync(queuePath(loc.queueDir, queue, id, loc.hash), whenSec, whenSec);
    return null;
  } catch (err) {
    return opError(err);
  }
}

/** Postfix qmgr_move(): every file in `from` goes to `to` with time stamps `whenSec`. Returns how many moved. */
export async function qmgrMove(loc: QueueLocation, from: string, to: string, whenSec: number): Promise<number> {
  let moved = 0;
  for await (const id of scanQueueIds(loc.queueDir, from)) {
    const path = queuePath(loc.queueDir, from, id, loc.hash);
    const t = queueUtime(loc, from, id, whenSec);
    if (t !== null && t.code !== 'ENOENT') msgWarn(`qmgr_move: update ${path} time stamps: ${t.text}`);
    const r = queueRename(loc, id, from, to);
    if (r === null) {
      moved++;
      msgVerbose(`qmgr_move: move ${id} from ${from} to ${to}`);
    } else if (r.code !== 'ENOENT') {
      msgWarn(`qmgr_move: rename ${id} from ${from} to ${to}: ${r.text}`);
    }
  }
  return moved;
}
