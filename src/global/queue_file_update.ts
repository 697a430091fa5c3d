/*
 * queue_file_update - rewrite part of a finished queue file in place
 *
 * What it does: updateRecordType() replaces the type byte of one record
 * at a known offset when the record there is of an expected type: how a
 * delivery agent crosses off a recipient (deliver_completed.ts) and how
 * the queue manager kills a sendmail -v request record. updateFixedRecord()
 * replaces the payload of one record with a payload of the same length,
 * after checking the record's type and length: how the queue manager
 * moves the time of the next delay warning ('W', one "%15ld" field):
 * updateWarnTime(). Record lengths never change, so no other offset in
 * the file moves. updateQueueFileInPlace() is their frame: open, edit,
 * fsync (unless opts.fsync is false), close. Open, read, write and close
 * are synchronous (one of each on a local file costs less than the
 * thread-pool round trips of their asynchronous forms); only the fsync
 * goes through the thread pool.
 *
 * What it does not do: insert or grow records (Postfix uses pointer
 * records for that; cleanup's job), or lock the file.
 *
 * DIAGNOSTICS
 * Returns an error value naming the file for a record of another type or
 * length at the offset, for a payload of the wrong length, and for I/O
 * errors; never throws.
 */
import { closeSync, fsync, openSync, readSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import { decodeRecord, recordHeaderSize } from './record.js';
import { formatWarnRecord, REC_TYPE } from './rec_type.js';

export type UpdateResult = { ok: true } | { ok: false; message: string };

const fsyncAsync = promisify(fsync);

/**
 * Opens path for update, runs edit on its descriptor, fsyncs when edit
 * succeeded (unless opts.fsync is false), and closes it. Errors come back
 * as values naming the file ("PATH: open: ...", "PATH: ..."); nothing
 * throws.
 */
export async function updateQueueFileInPlace(path: string, opts: { fsync?: boolean }, edit: (fd: number) => UpdateResult): Promise<UpdateResult> {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (err) {
    return { ok: false, message: `${path}: open: ${(err as Error).message}` };
  }
  try {
    const r = edit(fd);
    if (r.ok && (opts.fsync ?? true)) await fsyncAsync(fd);
    return r;
  } catch (err) {
    return { ok: false, message: `${path}: ${(err as Error).message}` };
  } finally {
    try {
      closeSync(fd);
    } catch {
      // The update is done or already reported; a failing close changes neither.
    }
  }
}

/** Writes all of data at position `at`, or says "seek or write error" naming the file. */
function writeAt(fd: number, path: string, data: Buffer, at: number): UpdateResult {
  return writeSync(fd, data, 0, data.length, at) === data.length ? { ok: true } : { ok: false, message: `${path}: seek or write error` };
}

/**
 * Makes the record at `offset` one of type `to` when its type is in
 * `from` (already `to`: nothing is written); otherwise the error
 * "PATH: MISSING at offset N".
 */
export function updateRecordType(path: string, offset: number, from: ReadonlySet<number>, to: number, missing: string, opts: { fsync?: boolean } = {}): Promise<UpdateResult> {
  return updateQueueFileInPlace(path, opts, (fd) => {
    const byte = Buffer.alloc(1);
    if (readSync(fd, byte, 0, 1, offset) !== 1 || !from.has(byte[0]!)) return { ok: false, message: `${path}: ${missing} at offset ${offset}` };
    if (byte[0] === to) return { ok: true };
    byte[0] = to;
    return writeAt(fd, path, byte, offset);
  });
}

export function updateFixedRecord(path: string, offset: number, type: number, payload: Buffer, opts: { fsync?: boolean } = {}): Promise<UpdateResult> {
  return updateQueueFileInPlace(path, opts, (fd) => {
    const want = recordHeaderSize(payload.length) + payload.length;
    const buf = Buffer.alloc(want);
    const bytesRead = readSync(fd, buf, 0, want, offset);
    const r = decodeRecord(buf.subarray(0, bytesRead), 0);
    if (r.kind !== 'record' || r.type !== type || r.data.length !== payload.length) {
      return { ok: false, message: `${path}: no ${String.fromCharCode(type)} record of length ${payload.length} at offset ${offset}` };
    }
    return writeAt(fd, path, payload, offset + (r.next - r.data.length));
  });
}

/** Sets the time of the next delay warning in the 'W' record at `offset`. */
export async function updateWarnTime(path: string, offset: number, when: number, opts: { fsync?: boolean } = {}): Promise<UpdateResult> {
  return updateFixedRecord(path, offset, REC_TYPE.WARN, Buffer.from(formatWarnRecord(when), 'latin1'), opts);
}
