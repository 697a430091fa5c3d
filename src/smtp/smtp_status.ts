/*
 * smtp_status - report one recipient's fate and cross it off (the agent's use of sent/bounce/defer)
 *
 * What it does: reportSent(), reportBounce() and reportDefer() hand one
 * recipient's result to the delivery framework (sent.ts, bounce.ts,
 * defer.ts: log line and bounce/defer/trace service) and cross the
 * recipient off with deliver_completed only when Postfix does: after a
 * successful sent() when the request has DEL_REQ_FLAG_SUCCESS, after a
 * successful bounce_append() always. A deferred recipient stays in
 * the queue file. Each returns the recipient's contribution to the
 * request status: 0 when the recipient is finished, non-zero when the
 * message must stay queued for it (Postfix's defer_append() returns
 * DEL_STAT_DEFER even on success). With soft_bounce = yes bounce.ts
 * turns the bounce into a deferral and returns non-zero, so such a
 * recipient is never crossed off.
 *
 * What it does not do: decide success or failure (smtp_trouble.ts,
 * smtp_proto.ts) or format reasons.
 *
 * DIAGNOSTICS
 * Warns when deliver_completed fails (the recipient is then delivered
 * again later, never lost).
 */
import { deliverCompleted } from '../global/deliver_completed.js';
import { DEL_REQ_FLAG, type DeliverRequest } from '../global/deliver_request.js';
import type { Dsn } from '../global/dsn.js';
import type { StatusContext } from '../global/log_adhoc.js';
import type { Recipient } from '../global/recipient_list.js';
import { sent } from '../global/sent.js';
import { bounceAppend } from '../global/bounce.js';
import { deferAppend } from '../global/defer.js';
import { msgWarn } from '../util/msg.js';

export interface ReportTarget {
  status: StatusContext;
  req: DeliverRequest;
  /** The queue file to cross recipients off in. */
  queueFile: string;
}

/** Status contribution of a deferred recipient (Postfix DEL_STAT_DEFER). */
export const RCPT_DEFERRED = 1;

async function crossOff(t: ReportTarget, rcpt: Recipient): Promise<void> {
  const r = await deliverCompleted(t.queueFile, rcpt.offset);
  if (!r.ok) msgWarn(`${t.req.queueId}: ${r.message}`);
}

export async function reportSent(t: ReportTarget, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  const st = await sent(t.status, t.req, rcpt, relay, dsn);
  if (st === 0) {
    // As Postfix's smtp_rcpt_done(): only when qmgr asked for it (DEL_REQ_FLAG_SUCCESS).
    if (t.req.flags & DEL_REQ_FLAG.SUCCESS) await crossOff(t, rcpt);
    return 0;
  }
  return RCPT_DEFERRED;
}

export async function reportDefer(t: ReportTarget, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  await deferAppend(t.status, t.req, rcpt, relay, dsn);
  return RCPT_DEFERRED;
}

export async function reportBounce(t: ReportTarget, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  const st = await bounceAppend(t.status, t.req, rcpt, relay, dsn);
  if (st === 0) {
    await crossOff(t, rcpt);
    return 0;
  }
  return RCPT_DEFERRED;
}
