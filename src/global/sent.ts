/*
 * sent - report a successful delivery for one recipient (Postfix sent.c)
 *
 * What it does: sent() checks the status (anything but a valid 2.x.x
 * becomes 2.0.0 with a warning), sets the DSN action ("delivered" unless
 * the agent said e.g. "relayed" or "expanded"), applies the program's
 * delivery status filter (dsn_util.ts), and, as Postfix:
 * - address probes (DEL_REQ_FLAG_USR_VRFY: sendmail -bv) go to the
 *   trace service, verify(8) probes (MTA_VRFY) to verifyAppend (trace.ts), with the action "deliverable";
 * - otherwise, when the request is traced (DEL_REQ_FLAG_RECORD) or the
 *   recipient asked NOTIFY=SUCCESS, the record goes to the trace service
 *   first; then the line "status=sent" is logged and 0 returned: the
 *   caller crosses the recipient off (deliver_completed);
 * - when the trace service fails, the recipient is deferred instead with
 *   4.3.0 "QUEUEID: trace service failed" and -1 is returned.
 *
 * What it does not do: cross off (the agent calls deliverCompleted after
 * a 0), or send the success notice (qmgr asks bounce(8) with traceFlush).
 *
 * DIAGNOSTICS
 * "sent: ignoring dsn code" for a bad status.
 */
import { msgWarn } from '../util/msg.js';
import { deferAppendIntern } from './defer.js';
import { DEL_REQ_FLAG, type DeliverRequest } from './deliver_request.js';
import { DSN_NOTIFY, type Dsn } from './dsn.js';
import { dsnValid } from './dsn_util.js';
import { logAdhoc, type StatusContext } from './log_adhoc.js';
import type { Recipient } from './recipient_list.js';
import { probeAppend, serviceLabel, statusFilterLookup, traceAppend } from './trace.js';

export async function sent(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  const my = { ...dsn };
  if (my.status.charAt(0) !== '2' || !dsnValid(my.status)) {
    msgWarn(`sent: ignoring dsn code "${my.status}"`);
    my.status = '2.0.0';
  }
  const filtered = await statusFilterLookup(ctx, my);
  if (filtered) Object.assign(my, filtered);
  if (req.flags & (DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY)) {
    return probeAppend(ctx, req, rcpt, relay, { ...my, action: 'deliverable' });
  }
  if (!my.action) my.action = 'delivered';
  const traced =
    ((req.flags & DEL_REQ_FLAG.RECORD) === 0 || (await traceAppend(ctx, req, rcpt, relay, my)) === 0) &&
    ((rcpt.dsnNotify & DSN_NOTIFY.SUCCESS) === 0 || (await traceAppend(ctx, req, rcpt, relay, my)) === 0);
  if (traced) {
    logAdhoc({ config: ctx.config }, req.queueId, req.msgStats, rcpt, relay, my, 'sent');
    return 0;
  }
  const why = `${req.queueId}: ${serviceLabel(ctx, 'trace')} service failed`;
  await deferAppendIntern(ctx, req, rcpt, relay, { ...my, status: '4.3.0', reason: why });
  return -1;
}
