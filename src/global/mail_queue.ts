/*
 * mail_queue - queue names, queue IDs and queue file paths (Postfix mail_queue.c)
 *
 * What it does: names the queues under queue_directory (MAIL_QUEUE) and
 * every directory that lives there (queueDirNames), builds queue IDs in
 * Postfix's two forms and takes them apart again, validates queue names
 * and IDs like Postfix, maps a queue ID to its path with the hashed
 * subdirectories of hash_queue_names / hash_queue_depth (queuePath), and
 * creates a new queue file with a locally unique ID (mailQueueEnter):
 * a temporary name first, then a rename to the ID derived from the time
 * and the file's inode number.
 *
 * Short IDs (enable_long_queue_ids = no): the microseconds as five
 * upper-case hex digits, then the inode number in upper-case hex.
 * Long IDs (yes): the seconds in base 52 (at least six characters), the
 * microseconds in base 52 (exactly four), the separator 'z', then the
 * inode number in base 51 (no 'z'). The alphabet is digits and letters
 * without vowels.
 *
 * What it does not do: write records (queue_file_write.ts), finish a
 * queue file (mail_stream.ts) or decide which queue a message goes to.
 *
 * DIAGNOSTICS
 * queuePath() throws QueueNameError for a bad queue name or ID (Postfix
 * panics: it is a caller bug). mailQueueEnter() throws
 * the system error when the file cannot be created or renamed.
 */
import { closeSync, constants as fsConstants, fstatSync, mkdirSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const MAIL_QUEUE = {
  MAILDROP: 'maildrop',
  INCOMING: 'incoming',
  ACTIVE: 'active',
  DEFERRED: 'deferred',
  HOLD: 'hold',
  CORRUPT: 'corrupt',
  BOUNCE: 'bounce',
  DEFER: 'defer',
  TRACE: 'trace',
  FLUSH: 'flush',
  SAVED: 'saved',
} as const;

export type MailQueueName = (typeof MAIL_QUEUE)[keyof typeof MAIL_QUEUE];

/** Directories under queue_directory that are not queues. */
export const QUEUE_AUX_DIRS = { PRIVATE: 'private', PUBLIC: 'public', PID: 'pid' } as const;

/** Every directory that lives under queue_directory, as `postfix check` creates them. */
export function queueDirNames(): string[] {
  return [...Object.values(MAIL_QUEUE), ...Object.values(QUEUE_AUX_DIRS)].sort();
}

/* Queue file modes (Postfix mail_queue.h). A complete file has the owner-execute bit. */
export const MAIL_QUEUE_STAT = {
  READY: 0o700,
  CORRUPT: 0o400,
  UNTHROTTLE: 0o040,
  EXPIRE: 0o010,
} as const;
/** Mode of a queue file while it is being written. */
export const MAIL_QUEUE_MODE_WRITING = 0o600;

/* Limits from Postfix: a queue name is at most 100 characters, an ID at most a host name. */
export const MAIL_QUEUE_NAME_MAX = 100;
export const VALID_HOSTNAME_LEN = 255;

/* Queue ID encoding (Postfix MQID_*). */
export const MQID = {
  SH_USEC_PAD: 5,
  LG_SEC_BASE: 52,
  LG_SEC_PAD: 6,
  LG_USEC_BASE: 52,
  LG_USEC_PAD: 4,
  LG_TIME_PAD: 10,
  LG_INUM_SEP: 'z',
  LG_INUM_BASE: 51,
} as const;

/** Digits, then letters without vowels: B..Z are 10..30, b..z are 31..51. */
export const SAFE_ALPHABET = '0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz';

/** A number in the safe alphabet, left-padded with '0' to `pad` characters. */
export function safeUltostr(value: bigint | number, base: number, pad = 0): string {
  if (base < 2 || base > SAFE_ALPHABET.length) throw new RangeError(`bad base: ${base}`);
  let v = BigInt(value);
  if (v < 0n) throw new RangeError(`negative value: ${value}`);
  const b = BigInt(base);
  let out = '';
  while (v !== 0n) {
    out = SAFE_ALPHABET[Number(v % b)]! + out;
    v /= b;
  }
  return out.padStart(pad, '0');
}

/** The inverse of safeUltostr(); null when a character is not a digit of `base`. */
export function safeStrtoul(text: string, base: number): bigint | null {
  if (base < 2 || base > SAFE_ALPHABET.length) throw new RangeError(`bad base: ${base}`);
  if (text.length === 0) return null;
  let v = 0n;
  for (const ch of text) {
    const d = SAFE_ALPHABET.indexOf(ch);
    if (d < 0 || d >= base) return null;
    v = v * BigInt(base) + BigInt(d);
  }
  return v;
}

/** Inode number as it appears in a queue ID. */
export function encodeInode(inode: bigint | number, longForm: boolean): string {
  return longForm ? safeUltostr(inode, MQID.LG_INUM_BASE) : BigInt(inode).toString(16).toUpperCase();
}

/** Builds a queue ID from a time stamp and an inode number. */
export function makeQueueId(sec: number, usec: number, inode: bigint | number, longForm: boolean): string {
  if (longForm) {
    return (
      safeUltostr(sec, MQID.LG_SEC_BASE, MQID.LG_SEC_PAD) +
      safeUltostr(usec, MQID.LG_USEC_BASE, MQID.LG_USEC_PAD) +
      MQID.LG_INUM_SEP +
      encodeInode(inode, true)
    );
  }
  return usec.toString(16).toUpperCase().padStart(MQID.SH_USEC_PAD, '0') + encodeInode(inode, false);
}

export interface ParsedQueueId {
  longForm: boolean;
  /** Seconds: only the long form carries them. */
  sec?: number;
  usec: number;
  inode: bigint;
}

/** Where the long form's 'z' separator is, or -1 (Postfix MQID_FIND_LG_INUM_SEPARATOR). */
function longSeparator(id: string): number {
  const z = id.lastIndexOf(MQID.LG_INUM_SEP);
  return z >= MQID.LG_TIME_PAD ? z : -1;
}

/** True when the ID has the long form's shape. */
export function isLongQueueId(id: string): boolean {
  return longSeparator(id) >= 0;
}

/** Takes a queue ID apart; null when it is in neither form. */
export function parseQueueId(id: string): ParsedQueueId | null {
  const z = longSeparator(id);
  if (z >= 0) {
    const sec = safeStrtoul(id.slice(0, z - MQID.LG_USEC_PAD), MQID.LG_SEC_BASE);
    const usec = safeStrtoul(id.slice(z - MQID.LG_USEC_PAD, z), MQID.LG_USEC_BASE);
    const inode = safeStrtoul(id.slice(z + 1), MQID.LG_INUM_BASE);
    if (sec === null || usec === null || inode === null) return null;
    return { longForm: true, sec: Number(sec), usec: Number(usec), inode };
  }
  if (!/^[0-9A-F]+$/.test(id) || id.length <= MQID.SH_USEC_PAD) return null;
  return {
    longForm: false,
    usec: parseInt(id.slice(0, MQID.SH_USEC_PAD), 16),
    inode: BigInt('0x' + id.slice(MQID.SH_USEC_PAD)),
  };
}

/** Postfix mail_queue_name_ok(): 1..100 alphanumerics. */
export function mailQueueNameOk(name: string): boolean {
  return name.length > 0 && name.length <= MAIL_QUEUE_NAME_MAX && /^[A-Za-z0-9]+$/.test(name);
}

/**
 * Postfix mail_queue_id_ok(): alphanumerics and '_' (a queue ID, or a
 * fast-flush log name), at most VALID_HOSTNAME_LEN characters.
 */
export function mailQueueIdOk(id: string): boolean {
  return id.length > 0 && id.length <= VALID_HOSTNAME_LEN && /^[A-Za-z0-9_]+$/.test(id);
}

export class QueueNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QueueNameError';
  }
}

export interface QueueHashOptions {
  /** hash_queue_depth */
  hashDepth: number;
  /** hash_queue_names, already split */
  hashQueues: readonly string[];
}

/** One directory level per character, '_' when the name runs out (Postfix dir_forest). */
export function dirForest(name: string, depth: number): string {
  let out = '';
  for (let i = 0; i < depth; i++) out += (name[i] ?? '_') + '/';
  return out;
}

/** The hashed subdirectory part ("D/" or "") of a queue file path. */
export function queueHashDir(queueName: string, queueId: string, opts: QueueHashOptions): string {
  const hashed = opts.hashQueues.some((q) => q.toLowerCase() === queueName.toLowerCase());
  if (!hashed) return '';
  let key = queueId;
  const z = longSeparator(queueId);
  if (z >= 0) {
    // Long IDs hash on their microseconds, written as the short form's five hex digits.
    const usec = safeStrtoul(queueId.slice(z - MQID.LG_USEC_PAD, z), MQID.LG_USEC_BASE);
    key = Number(usec ?? 0n).toString(16).toUpperCase().padStart(MQID.SH_USEC_PAD, '0');
  }
  return dirForest(key, opts.hashDepth);
}

/** Path of a queue directory relative to queue_directory ("deferred/D/"). */
export function queueDirPath(queueName: string, queueId: string, opts: QueueHashOptions): string {
  if (!mailQueueNameOk(queueName)) throw new QueueNameError(`mail_queue_dir: bad queue name: ${queueName}`);
  if (!mailQueueIdOk(queueId)) throw new QueueNameError(`mail_queue_dir: bad queue id: ${queueId}`);
  return `${queueName}/${queueHashDir(queueName, queueId, opts)}`;
}

/** Path of a queue file; relative when queueDir is '' (as Postfix, which runs in queue_directory). */
export function queuePath(queueDir: string, queueName: string, queueId: string, opts: QueueHashOptions): string {
  const rel = queueDirPath(queueName, queueId, opts) + queueId;
  return queueDir === '' ? rel : join(queueDir, rel);
}

/** Splits hash_queue_names the way Postfix does (commas and white space). */
export function splitQueueNames(value: string): string[] {
  return value.split(/[\s,]+/).filter((s) => s.length > 0);
}

export interface EnteredQueueFile {
  queueId: string;
  path: string;
  /** The open descriptor (read-write); the caller closes it. */
  fd: number;
  /** The time the ID was made from. */
  sec: number;
  usec: number;
}

/** Tries before giving up on renaming a new file to its ID (Postfix uses 1000). */
export const MAIL_QUEUE_ENTER_TRIES = 1000;

function nowParts(): { sec: number; usec: number } {
  const ns = process.hrtime.bigint() - hrBase + wallBaseNs;
  return { sec: Number(ns / 1_000_000_000n), usec: Number((ns / 1000n) % 1_000_000n) };
}
/* Wall clock in ns, sampled once and advanced with the monotonic clock. */
const wallBaseNs = BigInt(Date.now()) * 1_000_000n;
const hrBase = process.hrtime.bigint();

/**
 * Creates a new file in a queue with a locally unique ID (Postfix
 * mail_queue_enter): open "queue/usec.pid" exclusively with `mode`, take
 * its inode number, then rename it to its queue ID (creating a missing
 * hash directory). The caller owns the returned descriptor.
 *
 * Synchronous, as in Postfix: open, fstat and rename of a small file take
 * microseconds, and through Node's thread pool each cost more CPU in
 * hand-offs than in the system call (about a tenth of cleanup's CPU when
 * every step of a queue file went through it).
 */
export function mailQueueEnter(
  queueDir: string,
  queueName: string,
  mode: number,
  opts: QueueHashOptions & { longQueueIds: boolean },
): EnteredQueueFile {
  if (!mailQueueNameOk(queueName)) throw new QueueNameError(`mail_queue_enter: bad queue name: ${queueName}`);
  let fd = -1;
  let tempPath = '';
  for (let tries = 0; fd < 0; tries++) {
    const { usec } = nowParts();
    tempPath = join(queueDir, queueName, `${usec}.${process.pid}`);
    try {
      fd = openSync(tempPath, fsConstants.O_RDWR | fsConstants.O_CREAT | fsConstants.O_EXCL, mode);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'EEXIST' || code === 'EISDIR') && tries < MAIL_QUEUE_ENTER_TRIES) continue;
      throw err;
    }
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    for (let tries = 0; ; tries++) {
      const { sec, usec } = nowParts();
      const queueId = makeQueueId(sec, usec, st.ino, opts.longQueueIds);
      const path = queuePath(queueDir, queueName, queueId, opts);
      try {
        renameSync(tempPath, path);
        return { queueId, path, fd, sec, usec };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (tries >= MAIL_QUEUE_ENTER_TRIES) throw err;
        if (code === 'ENOENT') mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        else if (code !== 'EPERM' && code !== 'EISDIR') throw err;
      }
    }
  } catch (err) {
    for (const undo of [() => closeSync(fd), () => unlinkSync(tempPath)]) {
      try {
        undo();
      } catch {
        // Best effort: the error that matters is err.
      }
    }
    throw err;
  }
}
