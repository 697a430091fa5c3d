/*
 * logwriter - append whole records to a log file that many processes
 * share (Postfix logwriter(3) plus what postlogd(8) gives Postfix)
 *
 * What it does: opens the file the way Postfix's safe_open() does for a
 * log file (open an existing file without following a symlink unless
 * root owns the link, refuse hard-linked files and directories, otherwise
 * create it with O_EXCL and the given mode), then appends each record
 * plus "\n" with ONE write(2) on an O_APPEND descriptor. On Linux an
 * O_APPEND write to a local file positions and writes atomically, so
 * records from concurrent processes never interleave and none overwrite
 * each other; that is why Postern processes may write maillog_file
 * directly instead of funnelling every record through postlogd(8).
 *
 * Before a write (at most once per rotationCheckMs, default one second)
 * it compares the file at `path` with the open descriptor (device and
 * inode); when the file was renamed away or
 * removed (log rotation, "postfix logrotate") it reopens, which creates a
 * new file. When a write would block (maillog_file = /dev/stdout on a
 * full pipe) records wait in a bounded in-memory queue
 * (LOGWRITER_MAX_PENDING_BYTES) and are retried on a timer that does not
 * keep the process alive; past the bound records are dropped, counted,
 * and the count is reported through onWarning, so no record is lost
 * silently.
 *
 * What it does not do: format records (msg_logger.ts), compress or rotate
 * files, or check maillog_file_prefixes (maillog_init.ts).
 *
 * DIAGNOSTICS
 * open() and write() throw LogWriterError whose message reads like
 * Postfix's: "open logfile '/x': cannot create file exclusively: No such
 * file or directory". Dropped records are reported via onWarning.
 */
import {
  closeSync,
  constants as FS,
  fstatSync,
  lstatSync,
  openSync,
  statSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { strerror } from './strerror.js';

/** Default mode of a new log file, as Postfix 3.7's logwriter (0644 before umask). */
export const LOGWRITER_DEFAULT_MODE = 0o644;
/** Most bytes held in memory while the log file will not take them. */
export const LOGWRITER_MAX_PENDING_BYTES = 1 << 20;
/** Delay between attempts to write held records. */
export const LOGWRITER_RETRY_MS = 50;
/** How long flushSync() keeps trying before it gives up on held records. */
export const LOGWRITER_FLUSH_DEADLINE_MS = 2000;

export class LogWriterError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    readonly code?: string,
    op: 'open' | 'write' = 'open',
  ) {
    super(`${op} logfile '${path}': ${reason}`);
    this.name = 'LogWriterError';
  }
}

export interface LogWriterOptions {
  path: string;
  mode?: number;
  maxPendingBytes?: number;
  onWarning?: (text: string) => void;
  /** How often, at most, a write first checks for rotation (default LOGWRITER_ROTATION_CHECK_MS; 0: every write). */
  rotationCheckMs?: number;
}

/** A busy process looks for a rotated log file at most this often (a stat per record costs more than the write). */
export const LOGWRITER_ROTATION_CHECK_MS = 1000;

/*
 * O_NONBLOCK matters only for pipes and terminals (/dev/stdout): a write
 * that would block fails with EAGAIN and the record is held, instead of
 * stopping the whole process. Records are shorter than PIPE_BUF, so a
 * pipe write is all or nothing.
 */
const OPEN_FLAGS = FS.O_WRONLY | FS.O_APPEND | FS.O_NOCTTY | FS.O_NONBLOCK;

function errCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Postfix safe_open(path, O_CREAT|O_WRONLY|O_APPEND, mode) for a log file. */
export function safeOpenAppend(path: string, mode = LOGWRITER_DEFAULT_MODE): number {
  const existing = openExisting(path);
  if (typeof existing === 'number') return existing;
  if (existing.code !== 'ENOENT') throw existing;
  try {
    return openSync(path, OPEN_FLAGS | FS.O_CREAT | FS.O_EXCL, mode);
  } catch (err) {
    if (errCode(err) === 'EEXIST') {
      const again = openExisting(path);
      if (typeof again === 'number') return again;
      throw again;
    }
    throw new LogWriterError(path, `cannot create file exclusively: ${strerror(err)}`, errCode(err));
  }
}

function openExisting(path: string): number | LogWriterError {
  let fd: number;
  try {
    fd = openSync(path, OPEN_FLAGS);
  } catch (err) {
    return new LogWriterError(path, `cannot open file: ${strerror(err)}`, errCode(err));
  }
  const problem = checkOpened(path, fstatSync(fd));
  if (problem === null) return fd;
  closeSync(fd);
  return new LogWriterError(path, problem, 'EPERM');
}

function checkOpened(path: string, fst: Stats): string | null {
  if (fst.nlink !== 1 && fst.isFile()) return `file has ${fst.nlink} hard links`;
  if (fst.isDirectory()) return 'file is a directory';
  let lst: Stats;
  try {
    lst = lstatSync(path);
  } catch (err) {
    return `file status changed unexpectedly: ${strerror(err)}`;
  }
  if (lst.isSymbolicLink()) return lst.uid === 0 ? null : 'file is a symbolic link';
  if (fst.dev !== lst.dev || fst.ino !== lst.ino || fst.nlink !== lst.nlink || fst.mode !== lst.mode) {
    return 'file status changed unexpectedly';
  }
  return null;
}

const NEWLINE = Buffer.from('\n');
const NAP = new Int32Array(new SharedArrayBuffer(4));

export class LogWriter {
  readonly path: string;
  #mode: number;
  #maxPending: number;
  readonly #rotationCheckMs: number;
  #checkedAt = -Infinity;
  #onWarning: (text: string) => void;
  #fd = -1;
  #dev = 0;
  #ino = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: LogWriterOptions) {
    this.path = opts.path;
    this.#mode = opts.mode ?? LOGWRITER_DEFAULT_MODE;
    this.#maxPending = opts.maxPendingBytes ?? LOGWRITER_MAX_PENDING_BYTES;
    this.#rotationCheckMs = opts.rotationCheckMs ?? LOGWRITER_ROTATION_CHECK_MS;
    this.#onWarning = opts.onWarning ?? ((text) => process.stderr.write(`warning: ${text}\n`));
  }

  get isOpen(): boolean {
    return this.#fd >= 0;
  }

  /** Records waiting because the file would block. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Opens (or reopens) the file; throws LogWriterError. */
  open(): void {
    this.#closeFd();
    const fd = safeOpenAppend(this.path, this.#mode);
    const st = fstatSync(fd);
    this.#fd = fd;
    this.#dev = st.dev;
    this.#ino = st.ino;
  }

  /** Appends one record (a newline is added). Throws LogWriterError if the file is unusable. */
  write(record: Buffer | string): void {
    const body = typeof record === 'string' ? Buffer.from(record, 'utf8') : record;
    const line = Buffer.concat([body, NEWLINE]);
    this.#ensureCurrent();
    if (this.#pending.length > 0) {
      this.#hold(line);
      this.#drain();
      return;
    }
    if (!this.#writeLine(line)) this.#hold(line);
  }

  /** Tries, for a bounded time, to write held records; reports what it could not. */
  flushSync(): void {
    const deadline = Date.now() + LOGWRITER_FLUSH_DEADLINE_MS;
    while (this.#pending.length > 0 && Date.now() < deadline) {
      this.#drain();
      if (this.#pending.length > 0) Atomics.wait(NAP, 0, 0, LOGWRITER_RETRY_MS);
    }
    if (this.#pending.length > 0) {
      this.#dropped += this.#pending.length;
      this.#pending = [];
      this.#pendingBytes = 0;
    }
    this.#reportDropped();
  }

  close(): void {
    this.flushSync();
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
    this.#closeFd();
  }

  #closeFd(): void {
    if (this.#fd >= 0) {
      try {
        closeSync(this.#fd);
      } catch {
        // Already gone; nothing to recover.
      }
      this.#fd = -1;
    }
  }

  /** Opens the file if needed, and reopens it when it was rotated away. */
  #ensureCurrent(): void {
    if (this.#fd < 0) {
      this.open();
      return;
    }
    const now = Date.now();
    if (now - this.#checkedAt < this.#rotationCheckMs) return;
    this.#checkedAt = now;
    let st: Stats | undefined;
    try {
      st = statSync(this.path, { throwIfNoEntry: false });
    } catch {
      st = undefined;
    }
    if (!st || st.dev !== this.#dev || st.ino !== this.#ino) this.open();
  }

  /** One write(2) per record; false when it would block. */
  #writeLine(line: Buffer): boolean {
    let off = 0;
    const finishBy = Date.now() + LOGWRITER_FLUSH_DEADLINE_MS;
    while (off < line.length) {
      let n: number;
      try {
        n = writeSync(this.#fd, line, off, line.length - off);
      } catch (err) {
        if (errCode(err) === 'EAGAIN' && off === 0) return false;
        if (errCode(err) === 'EAGAIN' && Date.now() < finishBy) {
          Atomics.wait(NAP, 0, 0, LOGWRITER_RETRY_MS); // finish a started record, never split it
          continue;
        }
        throw new LogWriterError(this.path, strerror(err), errCode(err), 'write');
      }
      off += n;
    }
    return true;
  }

  #hold(line: Buffer): void {
    if (this.#pendingBytes + line.length > this.#maxPending) {
      this.#dropped++;
    } else {
      this.#pending.push(line);
      this.#pendingBytes += line.length;
    }
    this.#armRetry();
  }

  /** Tries the held records again after LOGWRITER_RETRY_MS (once armed, not again until it fires). */
  #armRetry(): void {
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#drain();
    }, LOGWRITER_RETRY_MS);
    this.#timer.unref();
  }

  #drain(): void {
    while (this.#pending.length > 0) {
      const line = this.#pending[0]!;
      let done: boolean;
      try {
        done = this.#writeLine(line);
      } catch (err) {
        this.#onWarning(err instanceof Error ? err.message : String(err));
        done = true; // a hard error: give the record up, counted below
        this.#dropped++;
      }
      if (!done) break;
      this.#pending.shift();
      this.#pendingBytes -= line.length;
    }
    if (this.#pending.length > 0) {
      this.#armRetry();
    } else {
      this.#reportDropped();
    }
  }

  #reportDropped(): void {
    if (this.#dropped > 0) {
      const n = this.#dropped;
      this.#dropped = 0;
      this.#onWarning(`logfile '${this.path}': discarded ${n} record(s) because the file would not accept them`);
    }
  }
}
