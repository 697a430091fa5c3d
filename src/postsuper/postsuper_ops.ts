/*
 * postsuper_ops - the queue operations of postsuper(1) (Postfix postsuper.c)
 *
 * What it does: PostsuperOps works in queue_directory (the caller has
 * chdir'ed there, so paths and messages are relative, as Postfix's) and
 * keeps Postfix's counters. Per queue ID: deleteOne() (removes the
 * bounce/defer/trace logfiles, then the message file, logs "ID:
 * removed"), requeueOne() (renames into maildrop with fresh time stamps so
 * that pickup rewrites it again: "ID: requeued"), holdOne() (into hold,
 * never from maildrop), releaseOne() (hold to deferred), expireOne()
 * (sets the group-execute "forced to expire" bit on a ready file). Each
 * looks in the given queues, twice, to survive a race with qmgr, and
 * skips an invalid ID with "invalid mail queue id". superScan() walks
 * queues (hashed ones through their one-character subdirectories, in
 * readdir order) for the mass operations (-d/-r/-h/-H/-e/-f ALL) and the
 * repairs: -p (temporary files older than 7 days), -s (files at the
 * wrong hash level moved, stray directories and non-files removed, queue
 * IDs renamed to match the file's inode number through ID#FIX names, as
 * Postfix), -S (also long IDs).
 *
 * What it does not do: parse options or print the summary (postsuper.ts).
 *
 * DIAGNOSTICS
 * Postfix's texts: fatal "remove file", "rename file", "remove directory",
 * "invalid directory name", "open directory", "QUEUE must not be hashed";
 * warnings "bogus file name", "name/inode mismatch", "remove subdirectory",
 * "expire file", "reset time stamps".
 */
import { chmodSync, closeSync, fstatSync, lstatSync, mkdirSync, opendirSync, openSync, renameSync, rmdirSync, unlinkSync, utimesSync, constants as FS, type Dir, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { mailOpenOk } from '../global/mail_open_ok.js';
import { MAIL_QUEUE, MAIL_QUEUE_STAT, encodeInode, mailQueueIdOk, parseQueueId, queuePath, type QueueHashOptions } from '../global/mail_queue.js';
import { msgFatal, msgInfo, msgVerbose, msgVerboseLevel, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';

/** Age after which a temporary (not ready) queue file is purged (Postfix MAX_TEMP_AGE). */
export const MAX_TEMP_AGE_SECONDS = 7 * 24 * 3600;
/** Suffix of a file renamed to match its inode number, between the two passes. */
export const FIX_SUFFIX = '#FIX';
/** Bound on hashed directory nesting followed by a scan. */
export const SUPER_MAX_DEPTH = 16;

export const ACTION = {
  STRUCT: 1 << 0,
  PURGE: 1 << 1,
  DELETE_ONE: 1 << 2,
  DELETE_ALL: 1 << 3,
  REQUEUE_ONE: 1 << 4,
  REQUEUE_ALL: 1 << 5,
  HOLD_ONE: 1 << 6,
  HOLD_ALL: 1 << 7,
  RELEASE_ONE: 1 << 8,
  RELEASE_ALL: 1 << 9,
  STRUCT_RED: 1 << 10,
  EXPIRE_ONE: 1 << 11,
  EXPIRE_ALL: 1 << 12,
  EXP_REL_ONE: 1 << 13,
  EXP_REL_ALL: 1 << 14,
} as const;
export const ACTIONS_BY_QUEUE_ID = ACTION.DELETE_ONE | ACTION.REQUEUE_ONE | ACTION.HOLD_ONE | ACTION.RELEASE_ONE | ACTION.EXPIRE_ONE | ACTION.EXP_REL_ONE;
export const ACTIONS_BY_WILDCARD = ACTION.DELETE_ALL | ACTION.REQUEUE_ALL | ACTION.HOLD_ALL | ACTION.RELEASE_ALL | ACTION.EXPIRE_ALL | ACTION.EXP_REL_ALL;
export const ACTIONS_FOR_REPAIR = ACTION.PURGE | ACTION.STRUCT | ACTION.STRUCT_RED;

interface QueueInfo {
  perms: number;
  recurse: boolean;
}

const QUEUE_INFO: Readonly<Record<string, QueueInfo>> = {
  [MAIL_QUEUE.MAILDROP]: { perms: MAIL_QUEUE_STAT.READY, recurse: false },
  [MAIL_QUEUE.INCOMING]: { perms: MAIL_QUEUE_STAT.READY, recurse: true },
  [MAIL_QUEUE.ACTIVE]: { perms: MAIL_QUEUE_STAT.READY, recurse: true },
  [MAIL_QUEUE.DEFERRED]: { perms: MAIL_QUEUE_STAT.READY, recurse: true },
  [MAIL_QUEUE.HOLD]: { perms: MAIL_QUEUE_STAT.READY, recurse: true },
  [MAIL_QUEUE.TRACE]: { perms: 0o600, recurse: true },
  [MAIL_QUEUE.DEFER]: { perms: 0o600, recurse: true },
  [MAIL_QUEUE.BOUNCE]: { perms: 0o600, recurse: true },
  [MAIL_QUEUE.FLUSH]: { perms: 0o600, recurse: true },
};

/** Directories with per-message logfiles. */
const LOG_QUEUES = [MAIL_QUEUE.BOUNCE, MAIL_QUEUE.DEFER, MAIL_QUEUE.TRACE];

function findQueueInfo(name: string): QueueInfo {
  const qp = Object.prototype.hasOwnProperty.call(QUEUE_INFO, name) ? QUEUE_INFO[name] : undefined;
  if (!qp) msgFatal(`invalid directory name: ${name}`);
  return qp;
}

const isMessageQueue = (qp: QueueInfo): boolean => qp.perms === MAIL_QUEUE_STAT.READY;
const isReady = (st: Stats): boolean => (st.mode & 0o700) === MAIL_QUEUE_STAT.READY;
const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

export class PostsuperOps {
  requeued = 0;
  held = 0;
  released = 0;
  deleted = 0;
  expired = 0;
  inodeFixed = 0;
  inodeMismatch = 0;
  positionMismatch = 0;

  constructor(
    private readonly hash: QueueHashOptions,
    private readonly longQueueIds: boolean,
  ) {}

  path(queue: string, id: string): string {
    return queuePath('', queue, id, this.hash);
  }

  /** Postfix postremove(): 0 when removed, -1 when it was not there. */
  postremove(path: string): number {
    try {
      unlinkSync(path);
    } catch (err) {
      if (errno(err) === 'EISDIR' || errno(err) === 'EPERM') {
        try {
          rmdirSync(path);
          return 0;
        } catch (e2) {
          if (errno(e2) !== 'ENOENT') msgFatal(`remove file ${path}: ${strerror(e2)}`);
          return -1;
        }
      }
      if (errno(err) !== 'ENOENT') msgFatal(`remove file ${path}: ${strerror(err)}`);
      return -1;
    }
    if (msgVerboseLevel() > 0) msgInfo(`removed file ${path}`);
    return 0;
  }

  /** Postfix postrename(): creates missing directories once; 0 or -1 (source gone). */
  postrename(oldPath: string, newPath: string): number {
    try {
      renameSync(oldPath, newPath);
    } catch (err) {
      let e: unknown = err;
      if (errno(err) === 'ENOENT') {
        try {
          mkdirSync(dirname(newPath), { recursive: true, mode: 0o700 });
          renameSync(oldPath, newPath);
          e = null;
        } catch (e2) {
          e = e2;
        }
      }
      if (e !== null) {
        if (errno(e) !== 'ENOENT') msgFatal(`rename file ${oldPath} as ${newPath}: ${strerror(e)}`);
        return -1;
      }
    }
    if (msgVerboseLevel() > 0) msgInfo(`renamed file ${oldPath} as ${newPath}`);
    return 0;
  }

  postrmdir(path: string): void {
    try {
      rmdirSync(path);
    } catch (err) {
      if (errno(err) !== 'ENOENT') msgFatal(`remove directory ${path}: ${strerror(err)}`);
      return;
    }
    if (msgVerboseLevel() > 0) msgInfo(`remove directory ${path}`);
  }

  /** Sets the "forced to expire" bit on a ready queue file; 0 on success. */
  postexpire(path: string): number {
    let fd: number;
    try {
      fd = openSync(path, FS.O_RDWR | FS.O_NOFOLLOW);
    } catch (err) {
      if (errno(err) !== 'ENOENT') msgWarn(`expire file ${path}: cannot open file: ${strerror(err)}`);
      return -1;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile() || !isReady(st) || (st.mode & MAIL_QUEUE_STAT.EXPIRE) !== 0) return -1;
      try {
        chmodSync(path, (st.mode | MAIL_QUEUE_STAT.EXPIRE) & 0o7777);
      } catch (err) {
        msgWarn(`expire file ${path}: cannot set permission: ${strerror(err)}`);
        return -1;
      }
      return 0;
    } finally {
      closeSync(fd);
    }
  }

  #openOk(queue: string, id: string): string | null {
    const v = mailOpenOk('', queue, id, this.hash);
    for (const w of v.warnings) msgWarn(w);
    return v.ok && v.path ? v.path : null;
  }

  #eachTry(queues: readonly string[], skip: (q: string) => boolean, act: (q: string, path: string) => boolean, tries = 2): void {
    for (let t = 0; t < tries; t++) {
      for (const q of queues) {
        if (skip(q)) continue;
        const p = this.#openOk(q, this.#id);
        if (p !== null && act(q, p)) return;
      }
    }
  }

  #id = '';

  #checkId(id: string): boolean {
    if (!mailQueueIdOk(id)) {
      msgWarn(`invalid mail queue id: ${id}`);
      return false;
    }
    this.#id = id;
    return true;
  }

  deleteOne(queues: readonly string[], id: string): void {
    if (!this.#checkId(id)) return;
    this.#eachTry(
      queues,
      (q) => !isMessageQueue(findQueueInfo(q)),
      (_q, p) => {
        for (const lq of LOG_QUEUES) this.postremove(this.path(lq, id));
        if (this.postremove(p) !== 0) return false;
        this.deleted++;
        msgInfo(`${id}: removed`);
        return true;
      },
    );
  }

  requeueOne(queues: readonly string[], id: string): void {
    if (!this.#checkId(id)) return;
    this.#eachTry(
      queues,
      (q) => q === MAIL_QUEUE.MAILDROP || !isMessageQueue(findQueueInfo(q)),
      (_q, p) => {
        const np = this.path(MAIL_QUEUE.MAILDROP, id);
        if (this.postrename(p, np) !== 0) return false;
        const now = new Date();
        try {
          utimesSync(np, now, now);
        } catch (err) {
          msgWarn(`${np}: reset time stamps: ${strerror(err)}`);
        }
        msgInfo(`${id}: requeued`);
        this.requeued++;
        return true;
      },
    );
  }

  holdOne(queues: readonly string[], id: string): void {
    if (!this.#checkId(id)) return;
    this.#eachTry(
      queues,
      (q) => q === MAIL_QUEUE.MAILDROP || q === MAIL_QUEUE.HOLD || !isMessageQueue(findQueueInfo(q)),
      (_q, p) => {
        if (this.postrename(p, this.path(MAIL_QUEUE.HOLD, id)) !== 0) return false;
        msgInfo(`${id}: placed on hold`);
        this.held++;
        return true;
      },
    );
  }

  releaseOne(queues: readonly string[], id: string): void {
    if (!this.#checkId(id)) return;
    this.#eachTry(
      queues,
      (q) => q !== MAIL_QUEUE.HOLD,
      (_q, p) => {
        if (this.postrename(p, this.path(MAIL_QUEUE.DEFERRED, id)) !== 0) return false;
        msgInfo(`${id}: released from hold`);
        this.released++;
        return true;
      },
      1,
    );
  }

  expireOne(queues: readonly string[], id: string): void {
    if (!this.#checkId(id)) return;
    this.#eachTry(
      queues,
      (q) => !isMessageQueue(findQueueInfo(q)) || q === MAIL_QUEUE.MAILDROP,
      (_q, p) => {
        if (this.postexpire(p) !== 0) return false;
        msgInfo(`${id}: expired`);
        this.expired++;
        return true;
      },
    );
  }

  expRelOne(queues: readonly string[], id: string): void {
    this.expireOne(queues, id);
    this.releaseOne(queues, id);
  }

  /** The inode part of a new queue ID for a file (Postfix get_file_id_st). */
  #fixQueueId(actualPath: string, queue: string, id: string, st: Stats): void {
    const parsed = parseQueueId(id);
    let newId: string;
    if (parsed && !parsed.longForm) newId = id.slice(0, 5) + encodeInode(BigInt(st.ino), false);
    else if (this.longQueueIds) newId = id.slice(0, id.lastIndexOf('z')) + 'z' + encodeInode(BigInt(st.ino), true);
    else newId = (parsed?.usec ?? 0).toString(16).toUpperCase().padStart(5, '0') + encodeInode(BigInt(st.ino), false);
    for (const lq of LOG_QUEUES) this.postrename(this.path(lq, id), this.path(lq, newId) + FIX_SUFFIX);
    this.postrename(actualPath, this.path(queue, newId) + FIX_SUFFIX);
  }

  /** Postfix super(): repairs and mass operations over `queues`; returns the action left. */
  superScan(queues: readonly string[], action: number): number {
    for (const queue of queues) {
      if (msgVerboseLevel() > 0) msgVerbose(`queue: ${queue}`);
      const qp = findQueueInfo(queue);
      const wantedDepth = this.hash.hashQueues.includes(queue) ? this.hash.hashDepth : 0;
      if (wantedDepth > 0 && !qp.recurse) msgFatal(`${queue} queue must not be hashed`);
      action = this.#scanDir(queue, queue, qp, 0, wantedDepth, action);
    }
    return action;
  }

  #scanDir(dirPath: string, queue: string, qp: QueueInfo, depth: number, wantedDepth: number, action: number): number {
    let d: Dir;
    try {
      d = opendirSync(dirPath);
    } catch (err) {
      msgFatal(`open directory ${dirPath}: ${strerror(err)}`);
    }
    try {
      for (let e = d.readSync(); e !== null; e = d.readSync()) {
        let name = e.name;
        if (name.length === 1 && qp.recurse) {
          if (depth < SUPER_MAX_DEPTH) {
            const sub = `${dirPath}/${name}`;
            action = this.#scanDir(sub, queue, qp, depth + 1, wantedDepth, action);
            if (depth + 1 > wantedDepth) this.postrmdir(sub);
          }
          continue;
        }
        let actual = `${dirPath}/${name}`;
        let st: Stats;
        try {
          st = lstatSync(actual);
        } catch {
          continue;
        }
        if (st.isDirectory()) {
          try {
            rmdirSync(actual);
            if (msgVerboseLevel() > 0) msgInfo(`remove subdirectory ${actual}`);
          } catch (err) {
            if (errno(err) !== 'ENOENT') msgWarn(`remove subdirectory ${actual}: ${strerror(err)}`);
          }
          continue;
        }
        if (action & ACTION.DELETE_ALL) {
          if (this.postremove(actual) === 0 && isMessageQueue(qp) && isReady(st)) this.deleted++;
          continue;
        }
        if (!st.isFile() || ((action & ACTION.PURGE) !== 0 && isMessageQueue(qp) && !isReady(st) && Date.now() / 1000 > st.mtimeMs / 1000 + MAX_TEMP_AGE_SECONDS)) {
          this.postremove(actual);
          continue;
        }
        if (action & ACTION.STRUCT && name.endsWith(FIX_SUFFIX)) {
          name = name.slice(0, -FIX_SUFFIX.length);
          if (!mailQueueIdOk(name)) {
            msgWarn(`bogus file name: ${actual}`);
            continue;
          }
          if (isMessageQueue(qp)) {
            const parsed = parseQueueId(name);
            if (!parsed) {
              msgWarn(`bogus file name: ${actual}`);
              continue;
            }
            if (parsed.inode !== BigInt(st.ino)) {
              msgWarn(`name/inode mismatch: ${actual}`);
              continue;
            }
          }
          const wanted = this.path(queue, name);
          if (this.postrename(actual, wanted) < 0) continue;
          if (isMessageQueue(qp)) this.inodeFixed++;
          actual = wanted;
        }
        if (!mailQueueIdOk(name)) {
          msgWarn(`bogus file name: ${actual}`);
          continue;
        }
        if (action & ACTION.STRUCT && isMessageQueue(qp)) {
          const parsed = parseQueueId(name);
          if (!parsed) {
            msgWarn(`bogus file name: ${actual}`);
            continue;
          }
          if ((parsed.longForm && !this.longQueueIds) || (parsed.inode !== BigInt(st.ino) && (!parsed.longForm || action & ACTION.STRUCT_RED))) {
            this.inodeMismatch++;
            action &= ~ACTIONS_BY_WILDCARD;
            this.#fixQueueId(actual, queue, name, st);
            continue;
          }
        }
        if (action & ACTION.REQUEUE_ALL && isMessageQueue(qp) && queue !== MAIL_QUEUE.MAILDROP) {
          if (this.postrename(actual, this.path(MAIL_QUEUE.MAILDROP, name)) === 0) this.requeued++;
          continue;
        }
        if (action & (ACTION.EXPIRE_ALL | ACTION.EXP_REL_ALL) && isMessageQueue(qp) && isReady(st) && queue !== MAIL_QUEUE.MAILDROP && this.postexpire(actual) === 0) this.expired++;
        if (action & ACTION.HOLD_ALL && isMessageQueue(qp) && queue !== MAIL_QUEUE.MAILDROP && queue !== MAIL_QUEUE.HOLD) {
          if (this.postrename(actual, this.path(MAIL_QUEUE.HOLD, name)) === 0) this.held++;
          continue;
        }
        if (action & (ACTION.RELEASE_ALL | ACTION.EXP_REL_ALL) && queue === MAIL_QUEUE.HOLD) {
          if (this.postrename(actual, this.path(MAIL_QUEUE.DEFERRED, name)) === 0) this.released++;
          continue;
        }
        if (action & ACTION.STRUCT) {
          const wanted = this.path(queue, name);
          if (actual !== wanted) {
            this.positionMismatch++;
            this.postrename(actual, wanted);
            continue;
          }
        }
      }
    } finally {
      d.closeSync();
    }
    return action;
  }
}
