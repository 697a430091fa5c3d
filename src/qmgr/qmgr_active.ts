/*
 * qmgr_active - messages into and out of the active queue (Postfix qmgr_active.c)
 *
 * What it does: qmgrActiveFeed() takes one file found by a queue scan:
 * it must pass mail_open_ok (a finished file, mode 0700), a file with a
 * time stamp in the future is left alone unless the scan ignores time
 * stamps (QMGR_SCAN.ALL), then it is renamed into the active queue and
 * read; an unreadable file goes to the corrupt queue with Postfix 3.7's
 * warning 'saving corrupt file "ID" from queue "active" to queue
 * "corrupt"'. The "unthrottle" mode bit
 * (postqueue -i, sendmail -qI) becomes a per-message flush and is cleared;
 * the "expire" bit (postsuper -e/-f) forces expiry. The old defer log is
 * removed before the recipients are resolved, as Postfix does. The feed
 * is synchronous: its file operations (lstat, rename, read, chmod,
 * unlink) are local system calls, cheaper than thread pool round trips.
 *
 * qmgrActiveDone() disposes of a message whose recipients have all been
 * tried, in Postfix's order: a bounce log is flushed (sent to the
 * sender, bounce_flush) or removed when empty; a trace log is flushed
 * when the message asked for it (sendmail -v/-bv, NOTIFY=SUCCESS), and a
 * sendmail -v request record is then killed so it is sent once; if
 * some recipient must be tried again and the message is older than
 * maximal_queue_lifetime (bounce_queue_lifetime for sender ""), it logs
 * "QUEUEID: from=<sender>, status=expired, returned to sender" and asks
 * the defer service to return it (defer_flush); else, when the delay
 * warning time has come, a delay warning is sent (defer_warn) and the
 * warning record is set to -1. Then a message still to be tried is moved
 * to the deferred queue with its time stamps at now + backoff (its age,
 * within minimal_backoff_time..maximal_backoff_time), and a finished one
 * is removed and logged "QUEUEID: removed".
 *
 * What it does not do: scan directories (qmgr_scan.ts), resolve or
 * deliver recipients (qmgr_loop.ts drives that), or write the logs it
 * flushes (bounce(8) does).
 *
 * DIAGNOSTICS
 * Postfix's warnings for rename/remove/utime failures of one file; a
 * file that vanished meanwhile is a warning, not an error.
 */
import { chmodSync, statSync, unlinkSync } from 'node:fs';
import { msgInfo, msgVerbose, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_QUEUE, MAIL_QUEUE_STAT, queuePath } from '../global/mail_queue.js';
import { mailOpenOk } from '../global/mail_open_ok.js';
import { updateRecordType, updateWarnTime } from '../global/queue_file_update.js';
import { REC_TYPE } from '../global/rec_type.js';
import { BOUNCE_FLAG, type BounceClientOptions, bounceFlush, deferFlush, deferWarn, traceFlush } from '../global/bounce_clnt.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { logAddrForm } from '../global/log_adhoc.js';
import { type QmgrParams, backoffSeconds, messageExpired } from './qmgr_params.js';
import { type QueueLocation, queueRemove, queueRename, queueUtime } from './qmgr_move.js';
import { QMGR_MSG_DEFER, type QmgrMessage, qmgrMessageRead } from './qmgr_message.js';
import { QMGR_SCAN } from './qmgr_scan.js';
import { QMGR_FORCE_EXPIRE } from './qmgr_resolve.js';

export interface ActiveContext {
  config: MailConfig | null;
  params: QmgrParams;
  bounce: BounceClientOptions;
  /** Wall clock, ms. */
  now(): number;
}

function loc(ctx: ActiveContext): QueueLocation {
  return { queueDir: ctx.params.queueDir, hash: ctx.params.hash };
}

/** Postfix qmgr_active_corrupt(). */
export function qmgrActiveCorrupt(ctx: ActiveContext, queueId: string): void {
  const err = queueRename(loc(ctx), queueId, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.CORRUPT);
  if (err) msgWarn(`qmgr_active_corrupt: save corrupt file queue ${MAIL_QUEUE.ACTIVE} id ${queueId}: ${err.text}`);
  else msgWarn(`saving corrupt file "${queueId}" from queue "${MAIL_QUEUE.ACTIVE}" to queue "${MAIL_QUEUE.CORRUPT}"`);
}

/**
 * The size of a log file, or null when there is none (the common case).
 * No ENOENT error object is made for a missing file.
 */
function fileSize(path: string): number | null {
  try {
    return statSync(path, { throwIfNoEntry: false })?.size ?? null;
  } catch {
    return null;
  }
}

/** Postfix qmgr_active_feed(): null when the file was skipped, moved away or corrupt. */
export function qmgrActiveFeed(ctx: ActiveContext, queue: string, queueId: string, scanFlags: number): QmgrMessage | null {
  const p = ctx.params;
  const verdict = mailOpenOk(p.queueDir, queue, queueId, p.hash, ctx.now() / 1000);
  for (const w of verdict.warnings) msgWarn(w);
  if (!verdict.ok || !verdict.stat) return null;
  const st = verdict.stat;
  if ((scanFlags & QMGR_SCAN.ALL) === 0 && st.mtimeMs / 1000 > Math.floor(ctx.now() / 1000) + 1) {
    msgVerbose(`qmgr_active_feed: skip ${queueId} (${Math.round(st.mtimeMs / 1000 - ctx.now() / 1000)} seconds)`);
    return null;
  }
  const err = queueRename(loc(ctx), queueId, queue, MAIL_QUEUE.ACTIVE);
  if (err) {
    msgWarn(`qmgr_active_feed: ${queueId}: rename from ${queue} to ${MAIL_QUEUE.ACTIVE}: ${err.text}`);
    return null;
  }
  let qflags = scanFlags;
  if (st.mode & MAIL_QUEUE_STAT.UNTHROTTLE) qflags |= QMGR_SCAN.FLUSH_EACH | QMGR_SCAN.FLUSH_DFXP;
  if (st.mode & MAIL_QUEUE_STAT.EXPIRE) qflags |= QMGR_FORCE_EXPIRE;
  const path = queuePath(p.queueDir, MAIL_QUEUE.ACTIVE, queueId, p.hash);
  const read = qmgrMessageRead(ctx.config, MAIL_QUEUE.ACTIVE, queueId, path, qflags, ctx.now());
  if (!read.ok) {
    qmgrActiveCorrupt(ctx, queueId);
    return null;
  }
  const message = read.message;
  if (st.mode & MAIL_QUEUE_STAT.UNTHROTTLE) clearUnthrottle(path, st.mode);
  const deferLog = queuePath(p.queueDir, MAIL_QUEUE.DEFER, queueId, p.hash);
  if (qflags & QMGR_FORCE_EXPIRE && (fileSize(deferLog) ?? 0) > 0) {
    // Use the existing defer log; assign no deliveries.
    message.flags = QMGR_MSG_DEFER;
    message.recipients = [];
    return message;
  }
  // Most messages have no defer log: look before removing (see fileSize()).
  if (fileSize(deferLog) !== null) removeDeferLog(deferLog, queueId);
  return message;
}

/** The "unthrottle" mode bit is a one-time request: clear it. */
function clearUnthrottle(path: string, mode: number): void {
  try {
    chmodSync(path, mode & 0o7777 & ~MAIL_QUEUE_STAT.UNTHROTTLE);
  } catch (e) {
    msgWarn(`fchmod ${path}: ${strerror(e)}`);
  }
}

/** The old defer log goes before the recipients are tried again. */
function removeDeferLog(deferLog: string, queueId: string): void {
  try {
    unlinkSync(deferLog);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') msgWarn(`qmgr_message_alloc: ${queueId}: remove ${MAIL_QUEUE.DEFER} ${queueId}: ${strerror(e)}`);
  }
}

const ATTR_ONLY: ReadonlySet<number> = new Set([REC_TYPE.ATTR]);

/** Postfix qmgr_message_kill_record(): the envelope record at `offset` becomes a killed record. */
async function killRecord(path: string, offset: number): Promise<void> {
  const r = await updateRecordType(path, offset, ATTR_ONLY, REC_TYPE.KILL, 'no attribute record');
  if (!r.ok) msgWarn(`update queue file ${path}: ${r.message}`);
}

function notifyArgs(m: QmgrMessage): [string, string, string, number, string, string, number] {
  return [m.queueName, m.queueId, m.encoding, m.smtputf8, m.sender, m.dsnEnvid, m.dsnRet];
}

/** Postfix qmgr_active_done() and its continuations. */
export async function qmgrActiveDone(ctx: ActiveContext, message: QmgrMessage): Promise<void> {
  const p = ctx.params;
  const id = message.queueId;

  // A bounce log left from this or an earlier attempt: send it, or drop it when empty.
  const bouncePath = queuePath(p.queueDir, MAIL_QUEUE.BOUNCE, id, p.hash);
  const bounceSize = fileSize(bouncePath);
  if (bounceSize !== null) {
    if (bounceSize === 0) {
      const e = queueRemove(loc(ctx), MAIL_QUEUE.BOUNCE, id);
      if (e && e.code !== 'ENOENT') msgWarn(`remove ${MAIL_QUEUE.BOUNCE} ${id}: ${e.text}`);
    } else {
      msgVerbose(`qmgr_active_done: bounce ${id}`);
      const status = await bounceFlush(ctx.bounce, BOUNCE_FLAG.KEEP, ...notifyArgs(message));
      if (status !== 0) message.flags |= QMGR_MSG_DEFER;
    }
  }

  // A delivery agent marks a queue file corrupt by its mode, and defers.
  if (message.flags) {
    const v = mailOpenOk(p.queueDir, MAIL_QUEUE.ACTIVE, id, p.hash, ctx.now() / 1000);
    if (!v.ok && v.stat) {
      qmgrActiveCorrupt(ctx, id);
      return;
    }
  }

  if (message.tflags & (DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.RECORD) || message.notifySuccess) {
    const status = await traceFlush(ctx.bounce, message.tflags, ...notifyArgs(message));
    if (status === 0 && message.tflagsOffset > 0) await killRecord(message.path, message.tflagsOffset);
    if (status !== 0 && (message.tflags || fileSize(queuePath(p.queueDir, MAIL_QUEUE.TRACE, id, p.hash)) !== null)) {
      message.flags |= QMGR_MSG_DEFER;
    }
  }

  const nowSec = Math.floor(ctx.now() / 1000);
  if (message.flags) {
    const forced = (message.qflags & QMGR_FORCE_EXPIRE) !== 0;
    if (forced || messageExpired(p, nowSec, message.createTime, message.sender)) {
      msgInfo(`${id}: from=<${logAddrForm(ctx.config, message.sender)}>, status=${forced ? 'force-expired' : 'expired'}, returned to sender`);
      message.flags = (await deferFlush(ctx.bounce, BOUNCE_FLAG.KEEP, ...notifyArgs(message))) !== 0 ? QMGR_MSG_DEFER : 0;
    } else if (message.warnTime > 0 && nowSec >= message.warnTime - 1) {
      msgVerbose(`qmgr_active_done: sending defer warning for ${id}`);
      if ((await deferWarn(ctx.bounce, BOUNCE_FLAG.KEEP, ...notifyArgs(message))) === 0 && message.warnOffset > 0) {
        const u = await updateWarnTime(message.path, message.warnOffset, -1);
        if (!u.ok) msgWarn(`update queue file ${message.path}: ${u.message}`);
      }
    }
  }

  if (message.flags) {
    const delay = backoffSeconds(p, nowSec, message.createTime);
    msgVerbose(`wakeup ${id} after ${delay} secs`);
    const t = queueUtime(loc(ctx), message.queueName, id, nowSec + delay);
    if (t && t.code !== 'ENOENT') msgWarn(`qmgr_active_defer: update ${message.path} time stamps: ${t.text}`);
    const r = queueRename(loc(ctx), id, message.queueName, MAIL_QUEUE.DEFERRED);
    if (r) msgWarn(`qmgr_active_defer: rename ${id} from ${message.queueName} to ${MAIL_QUEUE.DEFERRED}: ${r.text}`);
    else msgVerbose(`qmgr_active_defer: defer ${id}`);
    return;
  }
  const r = queueRemove(loc(ctx), message.queueName, id);
  if (r) msgWarn(`qmgr_active_done_3_generic: remove ${id} from ${message.queueName}: ${r.text}`);
  // Same format as logged by postsuper.
  else msgInfo(`${id}: removed`);
}
