/*
 * mail_copy - copy a queued message to a mailbox, file or command (Postfix mail_copy.c)
 *
 * What it does: mailCopy() reads the message content of a queue file
 * from the data offset (following pointer records, skipping padding, up
 * to the extracted segment) and writes it to a Writable, prepending as
 * the flags ask the mbox "From sender date" line, Return-Path:,
 * Delivered-To: and X-Original-To:, quoting body lines that start with
 * "From " as ">From " (QUOTE), doubling a leading "." (DOT, for BSMTP),
 * appending an empty line (BLANK), with the line end `eol`. When `out`
 * is a FileSink (fileSink() below) and TOFILE is set, the copy is
 * fsync'd, and on failure the file is truncated back to where it was.
 *
 * What it does not do: open or lock the destination (mbox_open.ts,
 * maildir.ts), decide flags (the delivery agents), or log.
 *
 * DIAGNOSTICS
 * Never throws for I/O or queue file problems: the result is
 * { ok: false, dsn, stat } with Postfix's texts: "error reading message:
 * ERR" (5.3.0, 4.3.0 for EAGAIN/ESTALE), "error writing message: ERR"
 * (status per Postfix's mbox_dsn: 5.2.2 for EDQUOT/EFBIG, 4.3.0 for
 * ENOSPC), and a corrupt queue file (4.3.0, stat CORRUPT; the caller logs
 * and defers). Sender, X-Original-To and Delivered-To are quoted with
 * quote_822_local as Postfix does; case is kept (Postfix 3.7 writes
 * "Delivered-To: Team+Ext@example" for that recipient, checked).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { RecordFile } from './record.js';
import { REC_TYPE } from './rec_type.js';
import { dsnMake, type Dsn } from './dsn.js';
import { QUEUE_FILE_REVERSE_JUMP_LIMIT } from './queue_file_read.js';
import { quote822Local } from './quote_822_local.js';
import { strerror } from '../util/strerror.js';

/** Flag bits, Postfix's values (mail_copy.h). */
export const MAIL_COPY = {
  QUOTE: 1 << 0,
  TOFILE: 1 << 1,
  FROM: 1 << 2,
  DELIVERED: 1 << 3,
  RETURN_PATH: 1 << 4,
  DOT: 1 << 5,
  BLANK: 1 << 6,
  ORIG_RCPT: 1 << 7,
  NONE: 0,
  MBOX: (1 << 2) | (1 << 0) | (1 << 1) | (1 << 3) | (1 << 4) | (1 << 6) | (1 << 7),
} as const;

/** Result bits of Postfix's mail_copy() (for callers that want the classification). */
export const MAIL_COPY_STAT = { OK: 0, CORRUPT: 1 << 0, READ: 1 << 1, WRITE: 1 << 2 } as const;

/** Largest content record accepted while copying (defensive bound; cleanup writes lines in line_length_limit pieces). */
export const MAIL_COPY_MAX_RECORD = 16 * 1024 * 1024;
/** Output is gathered into chunks of about this size before each write. */
export const MAIL_COPY_CHUNK = 64 * 1024;

export interface MailCopyOptions {
  queueFilePath: string;
  dataOffset: number;
  sender: string;
  /** Value of Delivered-To: (with MAIL_COPY.DELIVERED), case kept as Postfix does. */
  deliveredTo?: string;
  /** Value of X-Original-To: (with MAIL_COPY.ORIG_RCPT). */
  origRcpt?: string;
  flags: number;
  /** Line end, '\n' unless given (pipe(8) eol=). */
  eol?: string;
  out: Writable;
  /** An already open queue file (e.g. opened before giving up privileges); not closed by mailCopy. */
  queueFile?: FileHandle;
  /** Arrival-independent time for the From_ line (tests); default now. */
  now?: Date;
}

export type MailCopyResult = { ok: true; bytes: number } | { ok: false; dsn: Dsn; stat: number };

/** A Writable over an open file that can fsync and truncate (TOFILE). Appends at `position`. */
export class FileSink extends Writable {
  readonly handle: FileHandle;
  position: number;
  readonly startPosition: number;
  /** Largest file size in bytes (Postfix: RLIMIT_FSIZE from mailbox_size_limit); 0 = none. Beyond it writes fail with EFBIG. */
  limit: number;
  constructor(handle: FileHandle, position: number, limit = 0) {
    super({ decodeStrings: true });
    this.handle = handle;
    this.position = position;
    this.startPosition = position;
    this.limit = limit;
    // Write errors reach mailCopy() through the write callback; no unhandled 'error' event.
    this.on('error', () => undefined);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    void (async () => {
      if (this.limit > 0 && this.position + chunk.length > this.limit) {
        throw Object.assign(new Error('File too large'), { code: 'EFBIG' });
      }
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await this.handle.write(chunk, off, chunk.length - off, this.position);
        off += bytesWritten;
        this.position += bytesWritten;
      }
    })().then(() => cb(), (e: Error) => cb(e));
  }
}

/** A FileSink appending at the current end of the file. */
export async function fileSink(handle: FileHandle): Promise<FileSink> {
  const st = await handle.stat();
  return new FileSink(handle, st.size);
}

/** Postfix's "From sender date" time format: asctime without the newline ("Sat Nov 28 23:19:22 2026"). */
export function mboxDate(d: Date): string {
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const mons = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p2 = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getDay()]} ${mons[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${d.getFullYear()}`;
}

function writeChunk(out: Writable, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    out.write(buf, (err) => (err ? reject(err) : resolve()));
  });
}

function errText(e: unknown): string {
  return strerror(e);
}

/** Postfix mbox_dsn(): ENOSPC 4.3.0, EAGAIN/ESTALE 4.2.0, EDQUOT/EFBIG 5.2.2, else the default. */
export function mboxDsnStatus(e: unknown, defStatus: string): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC') return '4.3.0';
  if (code === 'EAGAIN' || code === 'ESTALE') return '4.2.0';
  if (code === 'EDQUOT' || code === 'EFBIG') return '5.2.2';
  return defStatus;
}

function readErrorStatus(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return code === 'EAGAIN' || code === 'ESTALE' ? '4.3.0' : '5.3.0';
}

export async function mailCopy(opts: MailCopyOptions): Promise<MailCopyResult> {
  const eol = opts.eol ?? '\n';
  const flags = opts.flags;
  const out = opts.out;
  const head: string[] = [];
  const qsender = quote822Local(opts.sender);
  if (flags & MAIL_COPY.FROM) {
    head.push(`From ${opts.sender === '' ? 'MAILER-DAEMON' : qsender}  ${mboxDate(opts.now ?? new Date())}${eol}`);
  }
  if (flags & MAIL_COPY.RETURN_PATH) head.push(`Return-Path: <${opts.sender === '' ? '' : qsender}>${eol}`);
  // An empty original recipient means original recipient processing was off: no header.
  if ((flags & MAIL_COPY.ORIG_RCPT) && opts.origRcpt) head.push(`X-Original-To: ${quote822Local(opts.origRcpt)}${eol}`);
  if ((flags & MAIL_COPY.DELIVERED) && opts.deliveredTo !== undefined) head.push(`Delivered-To: ${quote822Local(opts.deliveredTo)}${eol}`);

  let fh: FileHandle;
  const ownHandle = opts.queueFile === undefined;
  try {
    fh = opts.queueFile ?? (await open(opts.queueFilePath, 'r'));
  } catch (e) {
    return { ok: false, stat: MAIL_COPY_STAT.READ, dsn: dsnMake(readErrorStatus(e), `error reading message: ${errText(e)}`) };
  }
  const close = async (): Promise<void> => {
    if (ownHandle) await fh.close().catch(() => undefined);
  };
  let bytes = 0;
  const eolBuf = Buffer.from(eol, 'latin1');
  const parts: Buffer[] = [Buffer.from(head.join(''), 'latin1')];
  let pending = parts[0]!.length;
  const flush = async (): Promise<void> => {
    if (pending === 0) return;
    const buf = Buffer.concat(parts);
    parts.length = 0;
    pending = 0;
    await writeChunk(out, buf);
    bytes += buf.length;
  };
  const push = (b: Buffer): void => {
    parts.push(b);
    pending += b.length;
  };
  try {
    let prevType: number = REC_TYPE.NORM;
    let corrupt: string | null = null;
    for (const r of contentRecords(fh.fd, opts.queueFilePath, opts.dataOffset)) {
      if (r.kind === 'error') {
        corrupt = r.message;
        break;
      }
      if (r.kind === 'end') break;
      const atLineStart = prevType === REC_TYPE.NORM;
      if (atLineStart) {
        if ((flags & MAIL_COPY.QUOTE) && r.data.length >= 5 && r.data.subarray(0, 5).toString('latin1') === 'From ') push(Buffer.from('>'));
        if ((flags & MAIL_COPY.DOT) && r.data.length >= 1 && r.data[0] === 0x2e) push(Buffer.from('.'));
      }
      push(r.data);
      if (r.type === REC_TYPE.NORM) push(eolBuf);
      prevType = r.type;
      if (pending >= MAIL_COPY_CHUNK) await flush();
    }
    await close();
    if (corrupt !== null) {
      await undo(out, flags);
      return { ok: false, stat: MAIL_COPY_STAT.CORRUPT, dsn: dsnMake('4.3.0', `queue file corrupt: ${corrupt}`) };
    }
    // A last line without its end (CONT at end of content) still gets one, as Postfix.
    if (prevType === REC_TYPE.CONT) push(eolBuf);
    if (flags & MAIL_COPY.BLANK) push(eolBuf);
    await flush();
    if ((flags & MAIL_COPY.TOFILE) && out instanceof FileSink) await out.handle.sync();
    return { ok: true, bytes };
  } catch (e) {
    await close();
    await undo(out, flags);
    return { ok: false, stat: MAIL_COPY_STAT.WRITE, dsn: dsnMake(mboxDsnStatus(e, '5.3.0'), `error writing message: ${errText(e)}`) };
  }
}

export type ContentRecord = { kind: 'record'; type: number; data: Buffer } | { kind: 'end' } | { kind: 'error'; message: string };

/**
 * The message content records (NORM/CONT) from `offset` to the extracted
 * segment, following pointer records and skipping padding, as Postfix's
 * rec_get() does for mail_copy and forward. Ends with 'end' at the XTRA
 * record or 'error' for anything else (a corrupt file).
 */
export function* contentRecords(fd: number, path: string, offset: number): Generator<ContentRecord> {
  const rf = new RecordFile(fd, path, MAIL_COPY_MAX_RECORD);
  rf.seek(offset);
  let lastJump = 0;
  let reverse = 0;
  for (;;) {
    let r;
    try {
      r = rf.get();
    } catch (e) {
      yield { kind: 'error', message: `error reading message: ${errText(e)}` };
      return;
    }
    if (r.kind !== 'record') {
      yield { kind: 'error', message: r.kind === 'eof' ? 'unexpected end of file' : r.message };
      return;
    }
    if (r.type === REC_TYPE.PTR) {
      const target = Number(r.data.toString('latin1').trim());
      if (!Number.isInteger(target) || target < 0) {
        yield { kind: 'error', message: 'malformed pointer record' };
        return;
      }
      if (target === 0) continue;
      if (target <= lastJump && ++reverse > QUEUE_FILE_REVERSE_JUMP_LIMIT) {
        yield { kind: 'error', message: 'too many reverse jump records' };
        return;
      }
      lastJump = target;
      rf.seek(target);
      continue;
    }
    if (r.type === REC_TYPE.DTXT) continue;
    if (r.type === REC_TYPE.XTRA) {
      yield { kind: 'end' };
      return;
    }
    if (r.type !== REC_TYPE.NORM && r.type !== REC_TYPE.CONT) {
      yield { kind: 'error', message: `bad record type: ${r.type} in message content` };
      return;
    }
    yield { kind: 'record', type: r.type, data: r.data };
  }
}

/** On failure, a file is truncated back to its size before the copy (Postfix ftruncate). */
async function undo(out: Writable, flags: number): Promise<void> {
  if ((flags & MAIL_COPY.TOFILE) && out instanceof FileSink) {
    await out.handle.truncate(out.startPosition).catch(() => undefined);
    out.position = out.startPosition;
  }
}
