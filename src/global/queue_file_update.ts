/*
 * queue_file_update - rewrite a fixed-width record of a finished queue file in place
 *
 * What it does: updateFixedRecord() replaces the payload of one record at
 * a known offset with a payload of the same length, after checking that
 * the record there has the expected type and length, then fsyncs. This is
 * how the queue manager moves the time of the next delay warning ('W',
 * one "%15ld" field): updateWarnTime(). Record lengths never change, so
 * no other offset in the file moves. updateQueueFileInPlace() is the
 * open/fsync/close frame of these updates and of qmgr's killed records
 * (deliver_completed.ts, which runs once per delivered recipient, has its
 * own synchronous one without fsync).
 *
 * What it does not do: insert or grow records (Postfix uses pointer
 * records for that; cleanup's job), cross off recipients
 * (deliver_completed.ts), or lock the file.
 *
 * DIAGNOSTICS
 * Returns an error value naming the file for a record of another type or
 * length at the offset, for a payload of the wrong length, and for I/O
 * errors; never throws.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { decodeRecord, recordHeaderSize } from './record.js';
import { formatWarnRecord, REC_TYPE } from './rec_type.js';

export type UpdateResult = { ok: true } | { ok: false; message: string };

/**
 * Opens path for update, runs edit on it, fsyncs when edit succeeded
 * (unless opts.fsync is false), and closes it. Errors come back as values
 * naming the file ("PATH: open: ...", "PATH: ..."); nothing throws. Shared
 * by the in-place updates of this file and qmgr_active.ts.
 */
export async function updateQueueFileInPlace(
  path: string,
  opts: { fsync?: boolean },
  edit: (handle: FileHandle) => Promise<UpdateResult>,
): Promise<UpdateResult> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r+');
  } catch (err) {
    return { ok: false, message: `${path}: open: ${(err as Error).message}` };
  }
  try {
    const r = await edit(handle);
    if (r.ok && (opts.fsync ?? true)) await handle.sync();
    return r;
  } catch (err) {
    return { ok: false, message: `${path}: ${(err as Error).message}` };
  } finally {
    await handle.close().catch(() => {});
  }
}

/** Writes all of data at position `at`, or says "seek or write error" naming the file. */
export async function writeAt(handle: FileHandle, path: string, data: Buffer, at: number): Promise<UpdateResult> {
  const { bytesWritten } = await handle.write(data, 0, data.length, at);
  return bytesWritten === data.length ? { ok: true } : { ok: false, message: `${path}: seek or write error` };
}

export async function updateFixedRecord(path: string, offset: number, type: number, payload: Buffer, opts: { fsync?: boolean } = {}): Promise<UpdateResult> {
  return updateQueueFileInPlace(path, opts, async (handle) => {
    const want = recordHeaderSize(payload.length) + payload.length;
    const buf = Buffer.alloc(want);
    const { bytesRead } = await handle.read(buf, 0, want, offset);
    const r = decodeRecord(buf.subarray(0, bytesRead), 0);
    if (r.kind !== 'record' || r.type !== type || r.data.length !== payload.length) {
      return { ok: false, message: `${path}: no ${String.fromCharCode(type)} record of length ${payload.length} at offset ${offset}` };
    }
    return writeAt(handle, path, payload, offset + (r.next - r.data.length));
  });
}

/** Sets the time of the next delay warning in the 'W' record at `offset`. */
export async function updateWarnTime(path: string, offset: number, when: number, opts: { fsync?: boolean } = {}): Promise<UpdateResult> {
  return updateFixedRecord(path, offset, REC_TYPE.WARN, Buffer.from(formatWarnRecord(when), 'latin1'), opts);
}
