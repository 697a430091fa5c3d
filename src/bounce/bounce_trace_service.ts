/*
 * bounce_trace_service - send a delivery status (success) notice from the trace log (Postfix bounce_trace_service.c)
 *
 * What it does: bounceTraceService() serves TRACE on the trace service:
 * from trace/<id> it sends the sender a "Successful Mail Delivery Report"
 * (success template) or, for sendmail -v / -bv requests
 * (DEL_REQ_FLAG_USR_VRFY or DEL_REQ_FLAG_RECORD in flags), a "Mail
 * Delivery Status Report" (verify template), listing every recipient in
 * the log with the original headers ("sender delivery status
 * notification"), then removes the log. No log: nothing to send (a
 * message where no NOTIFY=SUCCESS recipient was delivered this time).
 * A notice to the null sender or to the double-bounce address is never
 * sent.
 *
 * What it does not do: write the trace log (sent.ts/trace.ts append to it
 * through bounce_clnt.ts).
 *
 * DIAGNOSTICS
 * Returns 0 when the notice was posted (or rightly not sent), 1 when it
 * must be retried.
 */
import { msgVerbose } from '../util/msg.js';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { DSN_RET } from '../global/dsn.js';
import { bounceMailInit } from './bounce_notify_util.js';
import { removeLog, sameAddress, sendNotice } from './bounce_notify_service.js';
import { type BounceContext, DSN_NOTIFY_OVERRIDE, MAIL_ADDR_EMPTY } from './bounce_service.js';

/** Postfix DEL_REQ_FLAG_USR_VRFY and DEL_REQ_FLAG_RECORD (deliver_request.h): "what-if" and verbose delivery reports. */
export const TRACE_NON_DSN_FLAGS = DEL_REQ_FLAG.USR_VRFY | DEL_REQ_FLAG.RECORD;

export async function bounceTraceService(
  ctx: BounceContext, flags: number, service: string, queueName: string, queueId: string, encoding: string, smtputf8: number, recipient: string, dsnEnvid: string, _dsnRet: number,
): Promise<number> {
  const template = flags & TRACE_NON_DSN_FLAGS ? ctx.templates.verify : ctx.templates.success;
  const info = await bounceMailInit(ctx, service, queueName, queueId, encoding, smtputf8, dsnEnvid, template);
  if (info.log === null) {
    msgVerbose(`${queueId}: no trace file -- not sending a notification`);
    return 0;
  }
  if (recipient === '' || sameAddress(recipient, ctx.doubleBounce)) {
    msgVerbose(`${queueId}: not sending a delivery status notification to the ${recipient === '' ? 'null sender' : 'double-bounce address'}`);
    return (await removeLog(ctx, service, queueId)) ? 0 : 1;
  }
  const status = await sendNotice(info, {
    sender: MAIL_ADDR_EMPTY, recipient, postmasterCopy: false, boilerplate: true,
    filter: DSN_NOTIFY_OVERRIDE, ret: DSN_RET.HDRS, what: 'sender delivery status notification',
  });
  if (status === 0 && !(await removeLog(ctx, service, queueId))) return 1;
  return status;
}
