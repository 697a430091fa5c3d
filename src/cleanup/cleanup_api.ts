/*
 * cleanup_api - open and finish one queue file (Postfix cleanup_api.c, cleanup_final.c)
 *
 * What it does: cleanupOpenState() creates a new file in the incoming
 * queue (mode 0600 while it is written; its name is the queue id the
 * client is told) and the per-message state. cleanupFlush() ends the
 * message the way Postfix's cleanup_flush() does: when every record was
 * examined, no recipient means CLEANUP_STAT.RCPT and a missing end
 * record CLEANUP_STAT.BAD; DISCARD clears all errors; the size record is
 * filled in (content size, data offset, recipient count, qmgr flags,
 * content length, SMTPUTF8 flags); with no error and no DISCARD, a HOLD
 * message is renamed into the hold queue first, then the file is
 * flushed, fsynced and given its ready mode (MailStream.finish) and, for
 * the incoming queue, qmgr is triggered (one shared trigger per process,
 * not awaited: see CoalescedTrigger); otherwise the file is removed.
 * It returns the CLEANUP_STAT bits to report. A refused message from a
 * client with CLEANUP_FLAG.BOUNCE is bounced first (cleanup_bounce.ts)
 * and then discarded, so that client sees success.
 *
 * What it does not do: milters.
 *
 * DIAGNOSTICS
 * "QUEUEID: write queue file: <error>" and CLEANUP_STAT.WRITE when the
 * file cannot be written, renamed or synced; "remove PATH: <error>".
 */
import { mkdir, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { MAIL_CLASS, QMGR_REQ } from '../global/mail_proto.js';
import { MAIL_QUEUE, queuePath } from '../global/mail_queue.js';
import { mailStreamFile } from '../global/mail_stream.js';
import { CoalescedTrigger } from '../global/mail_trigger.js';
import { formatSizeRecord, REC_TYPE } from '../global/rec_type.js';
import { encodeRecord } from '../global/record.js';
import { clog } from './cleanup_log.js';
import { cleanupBounce, cleanupCanBounce } from './cleanup_bounce.js';
import { type CleanupParams, CleanupState, CLEANUP_PRIV_FLAG } from './cleanup_state.js';

export interface CleanupApiOptions {
  /** fsync before replying (default true). */
  fsync?: boolean;
  /** Trigger qmgr after a message lands in incoming (default true). */
  triggerQmgr?: boolean;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** One shared qmgr wake-up per queue directory and service (see CoalescedTrigger). */
const qmgrTriggers = new Map<string, CoalescedTrigger>();

function qmgrTrigger(queueDir: string, service: string): CoalescedTrigger {
  const key = `${queueDir}\0${service}`;
  let t = qmgrTriggers.get(key);
  if (!t) {
    t = new CoalescedTrigger(queueDir, MAIL_CLASS.PUBLIC, service, QMGR_REQ.SCAN_INCOMING);
    qmgrTriggers.set(key, t);
  }
  return t;
}

/** Creates the incoming queue file and the message state. */
export async function cleanupOpenState(params: CleanupParams, opts: CleanupApiOptions = {}): Promise<CleanupState> {
  const stream = await mailStreamFile({
    queueDir: params.queueDir,
    queueName: MAIL_QUEUE.INCOMING,
    longQueueIds: params.longQueueIds,
    hashDepth: params.hashQueueDepth,
    hashQueues: params.hashQueueNames,
    fsync: opts.fsync ?? true,
  });
  return new CleanupState(params, stream, stream.sec);
}

/** Postfix cleanup_final(): the real size record. */
async function cleanupFinal(state: CleanupState): Promise<void> {
  const rec = encodeRecord(
    REC_TYPE.SIZE,
    formatSizeRecord([
      state.xtraOffset - state.dataOffset,
      state.dataOffset,
      state.rcptCount,
      state.qmgrOpts,
      state.contLength,
      state.smtputf8,
    ]),
  );
  await state.out.writeAt(0, rec);
}

/** Finishes or removes the queue file; returns the status to report. */
export async function cleanupFlush(state: CleanupState, opts: CleanupApiOptions = {}): Promise<number> {
  if (state.outOk()) {
    if (state.recip === null) state.errs |= CLEANUP_STAT.RCPT;
    if ((state.flags & CLEANUP_PRIV_FLAG.END_SEEN) === 0) state.errs |= CLEANUP_STAT.BAD;
  }
  if (state.flags & CLEANUP_FLAG.DISCARD) state.errs = 0;
  const stream = state.out;
  let path = stream.path;
  try {
    if (state.outOk()) await cleanupFinal(state);
  } catch (err) {
    clog.warn(`${state.queueId}: write queue file: ${errText(err)}`);
    state.errs |= CLEANUP_STAT.WRITE;
  }
  // Nobody can tell the sender of a refused message from sendmail: bounce it here.
  if (cleanupCanBounce(state)) await cleanupBounce(state);
  if (state.errs === 0 && (state.flags & CLEANUP_FLAG.DISCARD) === 0) {
    try {
      await state.out.flush();
      if (state.flags & CLEANUP_FLAG.HOLD) {
        const p = state.params;
        const target = queuePath(p.queueDir, MAIL_QUEUE.HOLD, state.queueId, { hashDepth: p.hashQueueDepth, hashQueues: p.hashQueueNames });
        await mkdir(dirname(target), { recursive: true, mode: 0o700 }).catch(() => undefined);
        await rename(path, target);
        path = target;
        state.queueName = MAIL_QUEUE.HOLD;
      }
      await stream.finish();
    } catch (err) {
      clog.warn(`${state.queueId}: write queue file: ${errText(err)}`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
    if (state.errs === 0 && state.queueName === MAIL_QUEUE.INCOMING && (opts.triggerQmgr ?? true)) {
      qmgrTrigger(state.params.queueDir, state.params.queueService).fire();
    }
  } else {
    await stream.abort();
  }
  if (state.errs !== 0 || (state.flags & CLEANUP_FLAG.DISCARD) !== 0) {
    if (path !== stream.path) {
      await unlink(path).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') clog.warn(`remove ${path}: ${errText(err)}`);
      });
    }
    await stream.abort();
  }
  return state.errs;
}

/** Drops a message whose client went away: remove the file. */
export async function cleanupAbort(state: CleanupState): Promise<void> {
  await state.out.abort();
}
