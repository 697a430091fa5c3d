/*
 * bounce - report a permanent failure for one recipient (Postfix bounce.c bounce_append)
 *
 * What it does: bounceAppend() checks the status (anything but a valid
 * 5.x.x becomes 5.0.0 with a warning, as Postfix 3.7 does), applies the
 * program's delivery status filter (a 4.x.x result defers instead), then,
 * as Postfix:
 * - address probes (DEL_REQ_FLAG_USR_VRFY: sendmail -bv) go to the
 *   trace service, verify(8) probes (MTA_VRFY) to verifyAppend (trace.ts), with the action "undeliverable";
 * - with soft_bounce = yes the status class becomes 4, the action
 *   "delayed", the record goes to the defer service and the log says
 *   status=SOFTBOUNCE; the result is -1 so the recipient stays in the
 *   queue (with BOUNCE_FLAG_CLEAN nothing is written at all);
 * - otherwise the action is "failed", the record goes to the bounce
 *   service (and the trace service when DEL_REQ_FLAG_RECORD) and the log
 *   says status=bounced; 0 is returned and the caller may cross off;
 * - when the bounce (or trace) service fails, the recipient is deferred
 *   instead with 4.3.0 "bounce or trace service failure" (deferAppendIntern's
 *   result: -1, never a cross-off), unless BOUNCE_FLAG_CLEAN.
 *
 * What it does not do: send the non-delivery notification (qmgr asks
 * bounce(8) with bounceFlush when the message is done).
 *
 * DIAGNOSTICS
 * "bounce_append: ignoring dsn code" for a bad status.
 */
import { msgWarn } from '../util/msg.js';
import { BOUNCE_FLAG, bounceLogAppend } from './bounce_clnt.js';
import { deferAppendIntern } from './defer.js';
import { DEL_REQ_FLAG, type DeliverRequest } from './deliver_request.js';
import type { Dsn } from './dsn.js';
import { dsnValid } from './dsn_util.js';
import { logAdhoc, type StatusContext } from './log_adhoc.js';
import type { Recipient } from './recipient_list.js';
import { bounceFlags, probeAppend, serviceLabel, statusClientOptions, statusFilterLookup, traceAppend } from './trace.js';

/** Logged instead of "bounced" when soft_bounce = yes (Postfix). */
export const SOFT_BOUNCE_STATUS = 'SOFTBOUNCE';

export async function bounceAppend(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  const my = { ...dsn };
  if (my.status.charAt(0) !== '5' || !dsnValid(my.status)) {
    msgWarn(`bounce_append: ignoring dsn code "${my.status}"`);
    my.status = '5.0.0';
  }
  // The delivery status filter may turn the bounce into a deferral.
  const filtered = await statusFilterLookup(ctx, my);
  if (filtered) {
    // Deferred now: -1 (not final), except for a recorded address probe, as Postfix.
    if (filtered.status.charAt(0) === '4') return deferAppendIntern(ctx, req, rcpt, relay, filtered);
    return bounceAppendIntern(ctx, req, rcpt, relay, filtered);
  }
  return bounceAppendIntern(ctx, req, rcpt, relay, my);
}

/** bounce_append without the status check. A -1 result: the recipient must stay in the queue. */
export async function bounceAppendIntern(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  if (req.flags & (DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY)) {
    return probeAppend(ctx, req, rcpt, relay, { ...dsn, action: 'undeliverable' });
  }
  const flags = bounceFlags(req);
  const soft = ctx.config.getBool('soft_bounce');
  if (soft && flags & BOUNCE_FLAG.CLEAN) return -1;
  const my: Dsn = soft ? { ...dsn, status: '4' + dsn.status.slice(1), action: 'delayed' } : { ...dsn, action: 'failed' };
  const appended = await bounceLogAppend(statusClientOptions(ctx), soft ? 'defer' : 'bounce', flags, req.queueId, rcpt, my);
  if (appended === 0 && ((req.flags & DEL_REQ_FLAG.RECORD) === 0 || (await traceAppend(ctx, req, rcpt, relay, my)) === 0)) {
    logAdhoc({ config: ctx.config }, req.queueId, req.msgStats, rcpt, relay, my, soft ? SOFT_BOUNCE_STATUS : 'bounced');
    return soft ? -1 : 0;
  }
  if ((flags & BOUNCE_FLAG.CLEAN) === 0) {
    const why = `${serviceLabel(ctx, 'bounce')} or ${serviceLabel(ctx, 'trace')} service failure`;
    // Deferred, not bounced: deferAppendIntern() answers -1 (never a cross-off), whatever the defer service said.
    return deferAppendIntern(ctx, req, rcpt, relay, { ...my, status: '4.3.0', reason: why });
  }
  return -1;
}
