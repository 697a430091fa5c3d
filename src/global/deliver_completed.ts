/*
 * deliver_completed - cross off a delivered recipient in its queue file (Postfix deliver_completed.c)
 *
 * What it does: rewrites the type byte of one recipient record from 'R'
 * to 'D' (REC_TYPE.DONE) at the offset the queue manager gave, then
 * fsyncs, so that a delivery agent reports success only after the
 * recipient is durably marked done. A crash before the fsync can cause a
 * duplicate delivery, never a lost one. It checks the byte it replaces,
 * so a wrong offset cannot damage another record.
 *
 * What it does not do: remove the queue file when every recipient is
 * done (the queue manager does), log the delivery, or lock the file.
 *
 * DIAGNOSTICS
 * Returns an error value (never throws) for an offset that does not point
 * at a recipient record, or for an I/O error; the message names the file.
 * An offset of -1 means "nothing to mark" (Postfix's convention) and
 * succeeds without touching the file. A non-positive offset otherwise is
 * a caller bug and is reported as an error too.
 */
import { REC_TYPE } from './rec_type.js';
import { type UpdateResult, updateQueueFileInPlace, writeAt } from './queue_file_update.js';

export type DeliverCompletedResult = UpdateResult;

/** Types that may be crossed off: a recipient to do, or one already done (idempotent). */
const CROSSABLE: ReadonlySet<number> = new Set([REC_TYPE.RCPT, REC_TYPE.DONE]);

export async function deliverCompleted(path: string, offset: number, opts: { fsync?: boolean } = {}): Promise<DeliverCompletedResult> {
  if (offset === -1) return { ok: true };
  if (!Number.isInteger(offset) || offset <= 0) return { ok: false, message: `${path}: deliver_completed: bad offset ${offset}` };
  return updateQueueFileInPlace(path, opts, async (handle) => {
    const byte = Buffer.alloc(1);
    const { bytesRead } = await handle.read(byte, 0, 1, offset);
    if (bytesRead !== 1 || !CROSSABLE.has(byte[0]!)) {
      return { ok: false, message: `${path}: deliver_completed: no recipient record at offset ${offset}` };
    }
    if (byte[0] === REC_TYPE.DONE) return { ok: true };
    return writeAt(handle, path, Buffer.from([REC_TYPE.DONE]), offset);
  });
}
