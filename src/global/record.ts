/*
 * record - typed record codec of the queue file (Postfix record.c)
 *
 * What it does: a record is one type byte, the payload length in 7-bit
 * groups (low group first, the high bit says another group follows) and
 * the payload. encodeRecord() builds one; decodeRecord() takes one from
 * a buffer at an offset, with a maximum payload length, and returns a
 * typed result: a record, end of input, "need more bytes" (for a stream
 * that is still arriving) or an error. RecordStreamDecoder does the same
 * over chunks that arrive from a socket (the cleanup content stream).
 * RecordFile reads records from an open file with seek/tell, so a reader
 * can follow pointer records and jump to the offsets in the size record.
 *
 * What it does not do: know what the record types mean (rec_type.ts),
 * follow pointer records by itself, or throw on bad input: every malformed
 * length, a length over the bound, and truncation come back as a value.
 *
 * DIAGNOSTICS
 * Bad input is a RecordError with Postfix's wording ("unexpected EOF in
 * data, record type 78 length 10"). Only programming errors throw: a type
 * outside 0..255 or a negative bound (Postfix panics on those too).
 */
import { fstatSync, readSync, type PathLike } from 'node:fs';

/** Length groups: 7 bits each; more than this many bits is "too many length bits". */
export const REC_LEN_GROUP_BITS = 7;
export const REC_LEN_MAX_BITS = 32;
/** The largest length a record may carry (Postfix keeps it in a signed int). */
export const REC_LEN_MAX = 0x7fffffff;

export interface RecordOk {
  kind: 'record';
  type: number;
  data: Buffer;
  /** Offset of the type byte. */
  offset: number;
  /** Offset just after the payload. */
  next: number;
}

export interface RecordEof {
  kind: 'eof';
  offset: number;
}

/** Not enough bytes yet; for a complete file this is truncation. */
export interface RecordPartial {
  kind: 'partial';
  offset: number;
}

export type RecordErrorCode = 'too-many-length-bits' | 'eof-in-length' | 'illegal-length' | 'eof-in-data';

export interface RecordError {
  kind: 'error';
  code: RecordErrorCode;
  offset: number;
  type: number;
  length?: number;
  /** Postfix's text for this problem, without the file name. */
  message: string;
}

export type RecordResult = RecordOk | RecordEof | RecordPartial | RecordError;

function checkType(type: number): void {
  if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError(`bad record type ${type}`);
}

/** The length bytes of a record header. */
export function encodeLength(len: number): Buffer {
  if (!Number.isInteger(len) || len < 0 || len > REC_LEN_MAX) throw new RangeError(`bad record length ${len}`);
  const bytes: number[] = [];
  let rest = len;
  do {
    let b = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest !== 0) b |= 0x80;
    bytes.push(b);
  } while (rest !== 0);
  return Buffer.from(bytes);
}

/** Header size (type + length bytes) of a record with a payload of `len` bytes. */
export function recordHeaderSize(len: number): number {
  return 1 + encodeLength(len).length;
}

/** One whole record: type byte, length, payload. Strings are taken as UTF-8 bytes. */
export function encodeRecord(type: number, data: Buffer | string = Buffer.alloc(0)): Buffer {
  checkType(type);
  const payload = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  const len = encodeLength(payload.length);
  const out = Buffer.allocUnsafe(1 + len.length + payload.length);
  out[0] = type;
  len.copy(out, 1);
  payload.copy(out, 1 + len.length);
  return out;
}

/**
 * Decodes the record at `offset` in `buf[0..end)`. `maxLen` 0 means no
 * bound. When the input stops early the result is 'partial'; the caller
 * who knows the input is complete turns that into a truncation error with
 * truncationError().
 */
export function decodeRecord(buf: Buffer, offset: number, maxLen = 0, end = buf.length): RecordResult {
  if (maxLen < 0) throw new RangeError(`bad record size limit: ${maxLen}`);
  if (offset >= end) return { kind: 'eof', offset };
  const type = buf[offset]!;
  let pos = offset + 1;
  let len = 0;
  for (let shift = 0; ; shift += REC_LEN_GROUP_BITS) {
    if (shift >= REC_LEN_MAX_BITS) {
      return { kind: 'error', code: 'too-many-length-bits', offset, type, message: `too many length bits, record type ${type}` };
    }
    if (pos >= end) return { kind: 'partial', offset };
    const b = buf[pos++]!;
    len += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) break;
  }
  if (len > REC_LEN_MAX || (maxLen > 0 && len > maxLen)) {
    return { kind: 'error', code: 'illegal-length', offset, type, length: len, message: `illegal length ${len}, record type ${type}` };
  }
  if (end - pos < len) return { kind: 'partial', offset };
  return { kind: 'record', type, data: buf.subarray(pos, pos + len), offset, next: pos + len };
}

/**
 * For input that is complete (a file): what a 'partial' result at
 * `offset` means, with Postfix's wording.
 */
export function truncationError(buf: Buffer, offset: number, end = buf.length): RecordError {
  const type = buf[offset] ?? 0;
  let pos = offset + 1;
  let len = 0;
  for (let shift = 0; pos < end; shift += REC_LEN_GROUP_BITS) {
    const b = buf[pos++]!;
    len += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) {
      return { kind: 'error', code: 'eof-in-data', offset, type, length: len, message: `unexpected EOF in data, record type ${type} length ${len}` };
    }
  }
  return { kind: 'error', code: 'eof-in-length', offset, type, message: `unexpected EOF reading length, record type ${type}` };
}

/** Decodes a complete buffer: partial input is reported as truncation. */
export function decodeRecordComplete(buf: Buffer, offset: number, maxLen = 0, end = buf.length): RecordOk | RecordEof | RecordError {
  const r = decodeRecord(buf, offset, maxLen, end);
  return r.kind === 'partial' ? truncationError(buf, offset, end) : r;
}

/**
 * Records from chunks as they arrive (a socket). push() adds bytes;
 * next() returns a record, 'partial' when more bytes are needed, or an
 * error (after which the stream is unusable, as in Postfix).
 */
export class RecordStreamDecoder {
  #buf: Buffer = Buffer.alloc(0);
  #consumed = 0;
  readonly #maxLen: number;

  constructor(maxLen = 0) {
    this.#maxLen = maxLen;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** Bytes received but not yet returned as records. */
  get pending(): number {
    return this.#buf.length;
  }

  /** Stream offset of the next record. */
  get offset(): number {
    return this.#consumed;
  }

  next(): RecordOk | RecordPartial | RecordError {
    const r = decodeRecord(this.#buf, 0, this.#maxLen);
    if (r.kind === 'eof') return { kind: 'partial', offset: this.#consumed };
    if (r.kind === 'partial') return { kind: 'partial', offset: this.#consumed };
    if (r.kind === 'error') return { ...r, offset: this.#consumed };
    const data = Buffer.from(r.data);
    const rec: RecordOk = { kind: 'record', type: r.type, data, offset: this.#consumed, next: this.#consumed + r.next };
    this.#consumed += r.next;
    this.#buf = this.#buf.subarray(r.next);
    return rec;
  }

  /** At end of stream: the error that leftover bytes mean, or null. */
  finish(): RecordError | null {
    if (this.#buf.length === 0) return null;
    const e = truncationError(this.#buf, 0);
    return { ...e, offset: this.#consumed };
  }
}

/** Read-ahead window of RecordFile. */
export const RECORD_FILE_WINDOW = 64 * 1024;

/**
 * Records from an open file descriptor, with seek() and tell(). Reads
 * through a window with positional reads, so it never reads past what a
 * record needs plus the window.
 */
export class RecordFile {
  readonly #fd: number;
  readonly path: string;
  readonly #maxLen: number;
  #pos = 0;
  #win: Buffer = Buffer.alloc(0);
  #winStart = 0;
  #eofAt = -1;

  constructor(fd: number, path: PathLike, maxLen = 0) {
    this.#fd = fd;
    this.path = String(path);
    this.#maxLen = maxLen;
  }

  tell(): number {
    return this.#pos;
  }

  seek(pos: number): void {
    if (!Number.isInteger(pos) || pos < 0) throw new RangeError(`bad seek offset ${pos}`);
    this.#pos = pos;
  }

  /** Loads bytes [pos, pos+want) into the window when they are not there. */
  #fill(want: number): void {
    const winEnd = this.#winStart + this.#win.length;
    if (this.#pos >= this.#winStart && this.#pos + want <= winEnd) return;
    if (this.#eofAt >= 0 && this.#pos >= this.#winStart && winEnd >= this.#eofAt) return;
    let size = Math.max(want, RECORD_FILE_WINDOW);
    let capped = false;
    // A large length from a damaged file must not become a large allocation.
    if (size > RECORD_FILE_WINDOW) {
      const left = Math.max(0, fstatSync(this.#fd).size - this.#pos);
      if (left < size) {
        size = left;
        capped = true;
      }
    }
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const n = readSync(this.#fd, buf, got, size - got, this.#pos + got);
      if (n === 0) break;
      got += n;
    }
    if (got < size || capped) this.#eofAt = this.#pos + got;
    this.#win = buf.subarray(0, got);
    this.#winStart = this.#pos;
  }

  /** The next record; truncation at end of file is an error, not 'partial'. */
  get(): RecordOk | RecordEof | RecordError {
    for (let want = 16; ; ) {
      this.#fill(want);
      const rel = this.#pos - this.#winStart;
      const r = decodeRecord(this.#win, rel, this.#maxLen);
      const atEof = this.#eofAt >= 0 && this.#winStart + this.#win.length >= this.#eofAt;
      if (r.kind === 'partial') {
        if (atEof) {
          const e = truncationError(this.#win, rel);
          return { ...e, offset: this.#pos };
        }
        want = Math.max(want * 2, this.#needed(rel));
        continue;
      }
      if (r.kind === 'eof') {
        if (atEof) return { kind: 'eof', offset: this.#pos };
        want = 16;
        this.#win = Buffer.alloc(0);
        continue;
      }
      if (r.kind === 'error') return { ...r, offset: this.#pos };
      const out: RecordOk = { kind: 'record', type: r.type, data: Buffer.from(r.data), offset: this.#pos, next: this.#pos + (r.next - rel) };
      this.#pos = out.next;
      return out;
    }
  }

  /** Bytes a record at `rel` needs once its length bytes are known. */
  #needed(rel: number): number {
    let pos = rel + 1;
    let len = 0;
    for (let shift = 0; pos < this.#win.length; shift += REC_LEN_GROUP_BITS) {
      const b = this.#win[pos++]!;
      len += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return pos - rel + len;
    }
    return 16;
  }
}
