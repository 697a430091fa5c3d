/*
 * deliver_completed - cross off a delivered recipient in its queue file (Postfix deliver_completed.c)
 *
 * What it does: rewrites the type byte of one recipient record from 'R'
 * to 'D' (REC_TYPE.DONE) at the offset the queue manager gave
 * (queue_file_update.ts updateRecordType), checking the byte it
 * replaces, so a wrong offset cannot damage another record. Like Postfix
 * it does not fsync: the mark only prevents a second delivery, so losing
 * it in a system crash means a duplicate, never a lost message, and an
 * fsync per delivered recipient would cost a disk flush each
 * (opts.fsync asks for one anyway).
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
import { type UpdateResult, updateRecordType } from './queue_file_update.js';

export type DeliverCompletedResult = UpdateResult;

/** Types that may be crossed off: a recipient to do, or one already done (idempotent). */
const CROSSABLE: ReadonlySet<number> = new Set([REC_TYPE.RCPT, REC_TYPE.DONE]);

export async function deliverCompleted(path: string, offset: number, opts: { fsync?: boolean } = {}): Promise<DeliverCompletedResult> {
  if (offset === -1) return { ok: true };
  if (!Number.isInteger(offset) || offset <= 0) return { ok: false, message: `${path}: deliver_completed: bad offset ${offset}` };
  return updateRecordType(path, offset, CROSSABLE, REC_TYPE.DONE, 'deliver_completed: no recipient record', { fsync: opts.fsync ?? false });
}
