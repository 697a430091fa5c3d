/*
 * queue_file_read - read a whole queue file into a typed structure
 *
 * What it does: readQueueFile() opens a queue file and walks its records
 * the way the queue manager does: pointer records are followed, padding
 * is skipped, records are checked against the segment they appear in
 * (envelope, content, extracted), and the result is a QueueFile: the size
 * record's fields, arrival and create time, sender, full name, named
 * attributes, recipients (with original recipient, DSN attributes, the
 * offset of each 'R'/'D' record and whether it is done), the content
 * offsets and optionally the content records, and the extracted segment.
 * parseQueueFileBuffer() does the same for bytes already in memory.
 * A file that fits in one read (RECORD_FILE_WINDOW bytes, nearly every
 * queue file) is read with one pread(2) into a buffer this module keeps
 * and parses from memory; a larger one is read through a RecordFile
 * window. Only the records that are kept become strings or copies.
 *
 * What it does not do: modify the file (deliver_completed.ts does), lock
 * it, or check its mode and owner.
 *
 * DIAGNOSTICS
 * Never throws for bad input. A truncated file, a malformed record, a
 * record type that does not belong in its segment, a missing end record,
 * or a file that does not start like a queue file is a QueueFileReadError
 * whose message names the file ("FILE: unexpected EOF in data, record
 * type 78 length 10"). Open errors come back the same way.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { decodeRecordComplete, RECORD_FILE_WINDOW, RecordFile, type RecordError, type RecordOk, type RecordEof } from './record.js';
import { REC_TYPE, REC_TYPE_CONTENT, REC_TYPE_ENVELOPE, REC_TYPE_EXTRACT, recTypeIn } from './rec_type.js';
import { QUEUE_ATTR } from './queue_file_write.js';

/** Records followed through pointers before the file counts as looping (Postfix REVERSE_JUMP_LIMIT). */
export const QUEUE_FILE_REVERSE_JUMP_LIMIT = 10000;

export interface QueueFileSize {
  contentSize: number;
  dataOffset: number;
  rcptCount: number;
  qmgrFlags: number;
  contentLength: number;
  smtputf8: number;
}

export interface QueueFileRecipient {
  address: string;
  original?: string;
  dsnOrcpt?: string;
  dsnNotify?: number;
  /** Offset of the 'R' (or 'D', '/') record. */
  offset: number;
  done: boolean;
  canceled: boolean;
  segment: 'envelope' | 'extracted';
}

export interface QueueFileText {
  offset: number;
  text: Buffer;
  /** An 'L' record: the line goes on in the next record. */
  continued: boolean;
}

export interface QueueFileAttr {
  name: string;
  value: string;
  segment: 'envelope' | 'extracted';
}

export interface QueueFile {
  path: string;
  size?: QueueFileSize;
  arrival?: { sec: number; usec: number };
  createTime?: number;
  sender?: string;
  fullName?: string;
  attrs: QueueFileAttr[];
  recipients: QueueFileRecipient[];
  /** Other envelope/extracted records by type letter (W, I, L, V, P, r, e, >, ...): last value wins. */
  other: Map<string, string>;
  /** Offset of the 'W' record, for an in-place update. */
  warnOffset?: number;
  /** Offset of the first content record and of the 'X' record. */
  contentOffset: number;
  extractedOffset: number;
  endOffset: number;
  /** Present when readQueueFile() was asked for the content. */
  content?: QueueFileText[];
}

export interface QueueFileReadError {
  path: string;
  offset: number;
  message: string;
}

export type QueueFileReadResult = { ok: true; file: QueueFile } | { ok: false; error: QueueFileReadError };

export interface QueueFileReadOptions {
  /** Keep the content records (default false: only offsets). */
  content?: boolean;
  /** Largest record payload accepted; 0 means no bound. */
  maxRecordLength?: number;
}

function fail(path: string, offset: number, message: string): QueueFileReadResult {
  return { ok: false, error: { path, offset, message: `${path}: ${message}` } };
}

/** Splits "name=value" like Postfix split_nameval(); null when there is no '='. */
export function splitNameValue(text: string): { name: string; value: string } | null {
  const m = /^\s*([^\s=]+)\s*=\s*(.*?)\s*$/s.exec(text);
  return m ? { name: m[1]!, value: m[2]! } : null;
}

/**
 * Where a small queue file is read: parsing is synchronous and keeps no
 * reference to these bytes (strings, and copies of content records), so
 * one buffer serves every read.
 */
const scratch = Buffer.allocUnsafeSlow(RECORD_FILE_WINDOW);

/** Reads and parses a queue file. */
export function readQueueFile(path: string, opts: QueueFileReadOptions = {}): QueueFileReadResult {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    return fail(path, 0, `open: ${(err as Error).message}`);
  }
  try {
    // A read that does not fill the buffer stopped at the end of the file.
    const got = readSync(fd, scratch, 0, scratch.length, 0);
    if (got < scratch.length) return parseQueueFileBuffer(scratch.subarray(0, got), path, opts);
    return parseRecords(new RecordFile(fd, path, opts.maxRecordLength ?? 0), path, opts);
  } finally {
    closeSync(fd);
  }
}

/** Parses queue file bytes already in memory; `path` names them in errors. */
export function parseQueueFileBuffer(buf: Buffer, path: string, opts: QueueFileReadOptions = {}): QueueFileReadResult {
  let pos = 0;
  const reader = {
    get(): Next {
      const r = decodeRecordComplete(buf, pos, opts.maxRecordLength ?? 0);
      if (r.kind === 'record') pos = r.next;
      return r;
    },
    seek(p: number): void {
      pos = p;
    },
  };
  return parseRecords(reader, path, opts);
}

type Next = RecordOk | RecordEof | RecordError;

function parseRecords(rf: { get(): Next; seek(pos: number): void }, path: string, opts: QueueFileReadOptions): QueueFileReadResult {
  const qf: QueueFile = { path, attrs: [], recipients: [], other: new Map(), contentOffset: -1, extractedOffset: -1, endOffset: -1 };
  if (opts.content) qf.content = [];
  let segment: 'envelope' | 'content' | 'extracted' = 'envelope';
  let pending: { original?: string; dsnOrcpt?: string; dsnNotify?: number } = {};
  let reverseJumps = 0;
  let lastJump = 0;
  let first = true;

  for (;;) {
    const r = rf.get();
    if (r.kind === 'error') {
      if (first && !recTypeIn(REC_TYPE_ENVELOPE, r.type)) return fail(path, r.offset, 'input is not a valid queue file');
      return fail(path, r.offset, r.message);
    }
    if (r.kind === 'eof') {
      return fail(path, r.offset, first ? 'empty file' : 'premature end of file: no message end record');
    }
    const { type, data, offset } = r;
    if (first && !recTypeIn(REC_TYPE_ENVELOPE, type)) return fail(path, offset, 'input is not a valid queue file');
    first = false;

    if (type === REC_TYPE.PTR) {
      const text = data.toString('latin1');
      const target = Number(text.trim());
      if (!/^\s*\d+\s*$/.test(text)) return fail(path, offset, `malformed pointer record value: ${text}`);
      if (target === 0) continue;
      if (target <= lastJump && ++reverseJumps > QUEUE_FILE_REVERSE_JUMP_LIMIT) return fail(path, offset, 'too many reverse jump records');
      lastJump = target;
      rf.seek(target);
      continue;
    }
    if (type === REC_TYPE.DTXT) continue;

    const allowed = segment === 'envelope' ? REC_TYPE_ENVELOPE : segment === 'content' ? REC_TYPE_CONTENT : REC_TYPE_EXTRACT;
    if (!recTypeIn(allowed, type)) {
      return fail(path, offset, `unexpected record type ${type} in the ${segment} segment`);
    }

    if (segment === 'content') {
      if (type === REC_TYPE.XTRA) {
        qf.extractedOffset = offset;
        segment = 'extracted';
      } else {
        qf.content?.push({ offset, text: Buffer.from(data), continued: type === REC_TYPE.CONT });
      }
      continue;
    }

    const text = data.toString('latin1');
    switch (type) {
      case REC_TYPE.SIZE: {
        const nums = text.trim().split(/\s+/).map((s) => Number(s));
        if (nums.length < 2 || nums.some((n) => !Number.isInteger(n))) return fail(path, offset, `invalid size record: ${text.slice(0, 100)}`);
        qf.size = {
          contentSize: nums[0]!,
          dataOffset: nums[1]!,
          rcptCount: nums[2] ?? 0,
          qmgrFlags: nums[3] ?? 0,
          contentLength: nums[4] ?? nums[0]!,
          smtputf8: nums[5] ?? 0,
        };
        break;
      }
      case REC_TYPE.TIME: {
        const m = /^(\d+)\D*(\d*)/.exec(text);
        qf.arrival = { sec: m ? Number(m[1]) : 0, usec: m && m[2] ? Number(m[2]) : 0 };
        break;
      }
      case REC_TYPE.FULL:
        qf.fullName = text;
        break;
      case REC_TYPE.FROM:
        qf.sender = text;
        break;
      case REC_TYPE.ATTR: {
        const nv = splitNameValue(text);
        if (nv === null) return fail(path, offset, `malformed attribute: ${text.slice(0, 100)}`);
        if (nv.name === QUEUE_ATTR.DSN_ORCPT) pending.dsnOrcpt = nv.value;
        else if (nv.name === QUEUE_ATTR.DSN_NOTIFY) pending.dsnNotify = Number(nv.value);
        else if (nv.name === QUEUE_ATTR.CREATE_TIME) qf.createTime = Number(nv.value);
        // Not { ...nv, segment }: a spread here costs more than the rest of the parse.
        qf.attrs.push({ name: nv.name, value: nv.value, segment });
        break;
      }
      case REC_TYPE.ORCP:
        pending.original = text;
        break;
      case REC_TYPE.RCPT:
      case REC_TYPE.DONE:
      case REC_TYPE.DRCP:
        qf.recipients.push({
          address: text,
          ...pending,
          offset,
          done: type !== REC_TYPE.RCPT,
          canceled: type === REC_TYPE.DRCP,
          segment,
        });
        pending = {};
        break;
      case REC_TYPE.WARN:
        qf.warnOffset = offset;
        qf.other.set(String.fromCharCode(type), text);
        break;
      case REC_TYPE.MESG:
        segment = 'content';
        qf.contentOffset = r.next;
        break;
      case REC_TYPE.END:
        qf.endOffset = offset;
        if (segment !== 'extracted') return fail(path, offset, 'message end record before the extracted segment');
        return { ok: true, file: qf };
      default:
        qf.other.set(String.fromCharCode(type), text);
    }
  }
}

/** The content as text: records joined, 'N' ends a line with "\n". */
export function queueFileContent(qf: QueueFile): Buffer {
  const parts: Buffer[] = [];
  for (const t of qf.content ?? []) {
    parts.push(t.text);
    if (!t.continued) parts.push(Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}
