/*
 * flush_log - the per-destination fast flush logfiles (Postfix flush.c)
 *
 * What it does: FlushLogs keeps, under queue_directory/flush, one logfile
 * per destination that matches fast_flush_domains (the name is the site
 * with every non-alphanumeric character turned into '_'; the file lists
 * queue IDs, one per line). add() appends an ID; sendSite() (ETRN,
 * "sendmail -qR", "postqueue -s") asks qmgr to forget dead destinations
 * ("F"), then for every distinct listed ID gives the deferred (or
 * incoming) file a fresh time stamp and moves it to incoming, empties the
 * logfile and asks qmgr to scan incoming ("I"); sendFile() ("postqueue
 * -i") does the same for one queue file and also sets its "unthrottle"
 * mode bit, as Postfix; refresh(maxAge) walks all logfiles: an empty one
 * unchanged for fast_flush_purge_time is removed, one not read for maxAge
 * is flushed without waking qmgr's dead-destination cache
 * (fast_flush_refresh_time; 0 for the "purge" request). Each returns a
 * FLUSH_STAT value.
 *
 * What it does not do: lock the logfiles against other processes (Node
 * has no flock; all work here is synchronous, so the requests of one
 * flush process never interleave), or speak the protocol (flush.ts).
 *
 * DIAGNOSTICS
 * Postfix's texts: fatal "open fast flush logfile", warnings "bad queue
 * id ... in fast flush logfile", "update ... time stamps", "rename from
 * ... to ...", "remove logfile".
 */
import { closeSync, existsSync, opendirSync, fchmodSync, fstatSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, utimesSync, writeSync, constants as FS, type Stats } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MatchList } from '../util/match_list.js';
import { FLUSH_STAT, QMGR_REQ } from '../global/mail_proto.js';
import { MAIL_QUEUE, MAIL_QUEUE_STAT, mailQueueIdOk, queuePath, type QueueHashOptions } from '../global/mail_queue.js';
import { msgFatal, msgInfo, msgVerboseLevel, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';

/** Distinct queue IDs remembered per logfile flush (Postfix FLUSH_DUP_FILTER_SIZE). */
export const FLUSH_DUP_FILTER_SIZE = 10000;
/** Largest logfile read at once. */
export const FLUSH_LOG_MAX = 64 * 1024 * 1024;

export const HOW = { REFRESH_ONLY: 0, UNTHROTTLE_BEFORE: 1 << 0, UNTHROTTLE_AFTER: 1 << 1 } as const;

export interface FlushLogOptions {
  queueDir: string;
  hash: QueueHashOptions;
  domains: MatchList;
  /** fast_flush_purge_time in seconds */
  purgeSeconds: number;
  /** Sends a trigger to qmgr; resolves false when it could not. */
  triggerQmgr(req: string): Promise<boolean>;
  now?: () => number;
}

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/** Postfix flush_site_to_path(): every non-alphanumeric character becomes '_'. */
export function flushSiteToPath(site: string): string {
  return site.replace(/[^A-Za-z0-9]/g, '_');
}

export class FlushLogs {
  constructor(private readonly opts: FlushLogOptions) {}

  #now(): number {
    return Math.floor((this.opts.now?.() ?? Date.now()) / 1000);
  }

  /** Relative path (as Postfix names files in messages) and absolute path. */
  #paths(queue: string, id: string): { rel: string; abs: string } {
    const rel = queuePath('', queue, id, this.opts.hash);
    return { rel, abs: join(this.opts.queueDir, rel) };
  }

  policyOk(site: string): boolean {
    return this.opts.domains.match(site);
  }

  add(site: string, queueId: string): number {
    if (!this.policyOk(site)) return FLUSH_STAT.DENY;
    const path = flushSiteToPath(site);
    if (!mailQueueIdOk(path)) return FLUSH_STAT.BAD;
    const { abs } = this.#paths(MAIL_QUEUE.FLUSH, path);
    let fd: number;
    try {
      fd = openLog(abs, FS.O_CREAT | FS.O_APPEND | FS.O_WRONLY);
    } catch (err) {
      msgFatal(`flush_add_path: open fast flush logfile ${path}: ${strerror(err)}`);
    }
    try {
      writeSync(fd, `${queueId}\n`);
    } catch (err) {
      msgWarn(`write fast flush logfile ${path}: ${strerror(err)}`);
    } finally {
      closeSync(fd);
    }
    return FLUSH_STAT.OK;
  }

  async sendSite(site: string): Promise<number> {
    if (!this.policyOk(site)) return FLUSH_STAT.DENY;
    return this.sendPath(flushSiteToPath(site), HOW.UNTHROTTLE_BEFORE);
  }

  async sendFile(queueId: string): Promise<number> {
    if (!mailQueueIdOk(queueId)) return FLUSH_STAT.BAD;
    if (msgVerboseLevel() > 0) msgInfo(`flush_send_file_service: requesting delivery for queue_id ${queueId}`);
    if (this.#oneFile(queueId, this.#now(), HOW.UNTHROTTLE_AFTER) > 0) await this.opts.triggerQmgr(QMGR_REQ.SCAN_INCOMING);
    return FLUSH_STAT.OK;
  }

  /** Postfix flush_one_file(): 1 when the file was found and moved (or already in incoming). */
  #oneFile(queueId: string, when: number, how: number): number {
    let queue: string = MAIL_QUEUE.DEFERRED;
    for (;;) {
      const p = this.#paths(queue, queueId);
      try {
        utimesSync(p.abs, when, when);
        break;
      } catch (err) {
        if (errno(err) !== 'ENOENT') msgWarn(`flush_one_file: update ${p.rel} time stamps: ${strerror(err)}`);
        if (queue === MAIL_QUEUE.INCOMING) return 0;
        queue = MAIL_QUEUE.INCOMING;
      }
    }
    if (how & HOW.UNTHROTTLE_AFTER) {
      let fd = -1;
      let st: Stats | null = null;
      for (;;) {
        const p = this.#paths(queue, queueId);
        try {
          fd = openSync(p.abs, FS.O_RDWR | FS.O_NOFOLLOW);
          st = fstatSync(fd);
          break;
        } catch (err) {
          if (errno(err) !== 'ENOENT') msgWarn(`flush_one_file: open ${p.rel}: ${strerror(err)}`);
          if (errno(err) !== 'ENOENT' || queue === MAIL_QUEUE.INCOMING) return 0;
          queue = MAIL_QUEUE.INCOMING;
        }
      }
      try {
        if ((st.mode & MAIL_QUEUE_STAT.READY) !== MAIL_QUEUE_STAT.READY) return 0;
        try {
          fchmodSync(fd, (st.mode | MAIL_QUEUE_STAT.UNTHROTTLE) & 0o7777);
        } catch (err) {
          msgWarn(`flush_one_file: fchmod ${this.#paths(queue, queueId).rel}: ${strerror(err)}`);
        }
      } finally {
        closeSync(fd);
      }
    }
    if (queue !== MAIL_QUEUE.INCOMING) {
      const from = this.#paths(queue, queueId);
      const to = this.#paths(MAIL_QUEUE.INCOMING, queueId);
      try {
        renameQueueFile(from.abs, to.abs);
      } catch (err) {
        if (errno(err) !== 'ENOENT') msgWarn(`${from.rel}: rename from ${queue} to ${MAIL_QUEUE.INCOMING}: ${strerror(err)}`);
      }
    }
    return 1;
  }

  /** Postfix flush_send_path(). */
  async sendPath(path: string, how: number): Promise<number> {
    if (!mailQueueIdOk(path)) return FLUSH_STAT.BAD;
    const { abs } = this.#paths(MAIL_QUEUE.FLUSH, path);
    let fd: number;
    try {
      fd = openSync(abs, FS.O_RDWR);
    } catch (err) {
      if (errno(err) !== 'ENOENT') msgFatal(`flush_send_path: open fast flush logfile ${path}: ${strerror(err)}`);
      return FLUSH_STAT.OK;
    }
    let count = 0;
    try {
      if (how & HOW.UNTHROTTLE_BEFORE) await this.opts.triggerQmgr(QMGR_REQ.FLUSH_DEAD);
      const text = readFileSync(fd).subarray(0, FLUSH_LOG_MAX).toString('latin1');
      const lines = text.split('\n');
      if (lines[lines.length - 1] === '') lines.pop();
      const seen = new Set<string>();
      const when = this.#now();
      for (const id of lines) {
        count++;
        if (!mailQueueIdOk(id)) {
          msgWarn(`bad queue id "${id.slice(0, 30)}..." in fast flush logfile ${path}`);
          continue;
        }
        if (seen.size >= FLUSH_DUP_FILTER_SIZE || !seen.has(id)) {
          if (seen.size <= FLUSH_DUP_FILTER_SIZE) seen.add(id);
          count += this.#oneFile(id, when, how);
        }
      }
      if (count > 0) {
        try {
          ftruncateSync(fd, 0);
        } catch (err) {
          msgFatal(`flush_send_path: truncate fast flush logfile ${path}: ${strerror(err)}`);
        }
      }
      // Marks the logfile as read (its access time drives the refresh).
      const now = new Date();
      try {
        utimesSync(abs, now, now);
      } catch {
        // As Postfix: best effort.
      }
    } finally {
      closeSync(fd);
    }
    if (count > 0) await this.opts.triggerQmgr(QMGR_REQ.SCAN_INCOMING);
    return FLUSH_STAT.OK;
  }

  /** Postfix flush_refresh_service(). */
  async refresh(maxAgeSeconds: number): Promise<number> {
    const dir = join(this.opts.queueDir, MAIL_QUEUE.FLUSH);
    const now = this.#now();
    for (const site of scanQueueNames(dir)) {
      if (!mailQueueIdOk(site)) continue;
      const { rel, abs } = this.#paths(MAIL_QUEUE.FLUSH, site);
      let st: Stats;
      try {
        st = statSync(abs);
      } catch (err) {
        if (errno(err) !== 'ENOENT') msgWarn(`flush_refresh_service: stat ${rel}: ${strerror(err)}`);
        continue;
      }
      if (st.size === 0) {
        if (Math.floor(st.mtimeMs / 1000) + this.opts.purgeSeconds < now) {
          try {
            unlinkSync(abs);
          } catch (err) {
            msgWarn(`remove logfile ${rel}: ${strerror(err)}`);
          }
        }
      } else if (Math.floor(st.atimeMs / 1000) + maxAgeSeconds < now) {
        await this.sendPath(site, HOW.REFRESH_ONLY);
      }
    }
    return FLUSH_STAT.OK;
  }
}

/** Bound on hashed directory nesting followed by the scan. */
export const FLUSH_MAX_SCAN_DEPTH = 16;

/** Names in a queue directory, descending into one-character subdirectories (Postfix mail_scan_dir_next). */
export function scanQueueNames(dir: string, depth = 0): string[] {
  const out: string[] = [];
  let d;
  try {
    d = opendirSync(dir);
  } catch (err) {
    msgFatal(`open directory ${dir}: ${strerror(err)}`);
  }
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) {
      if (e.name.length === 1) {
        if (depth < FLUSH_MAX_SCAN_DEPTH) out.push(...scanQueueNames(join(dir, e.name), depth + 1));
      } else {
        out.push(e.name);
      }
    }
  } finally {
    d.closeSync();
  }
  return out;
}

/** Opens (creating parent directories once, as mail_queue_open) a logfile for appending. */
function openLog(abs: string, flags: number): number {
  try {
    return openSync(abs, flags, 0o600);
  } catch (err) {
    if (errno(err) !== 'ENOENT') throw err;
    mkdirSync(dirname(abs), { recursive: true, mode: 0o700 });
    return openSync(abs, flags, 0o600);
  }
}

/** mail_queue_rename(): creates the target's hash directory when missing. */
function renameQueueFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (err) {
    if (errno(err) !== 'ENOENT' || !existsSync(from)) throw err;
    mkdirSync(dirname(to), { recursive: true, mode: 0o700 });
    renameSync(from, to);
  }
}
