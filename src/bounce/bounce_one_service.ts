/*
 * bounce_one_service - bounce one recipient at once, without a log (Postfix bounce_one_service.c)
 *
 * What it does: bounceOneService() serves ONE on the bounce service: the
 * recipient and its status come with the request. As the notify service:
 * a double-bounce sender is discarded with a warning; a bounce of a
 * bounce (sender <>) goes to 2bounce_notice_recipient when
 * notify_classes has bounce or 2bounce; otherwise the sender gets a
 * single bounce unless the recipient's NOTIFY excludes FAILURE, and with
 * notify_classes bounce a postmaster copy (headers only) goes to
 * bounce_notice_recipient. With BOUNCE_FLAG_DELRCPT the recipient is
 * crossed off in the queue file.
 *
 * What it does not do: append to a log (APPEND requests do).
 *
 * DIAGNOSTICS
 * Returns 0 when posted (or rightly not sent), 1 when it must be retried.
 */
import { msgWarn } from '../util/msg.js';
import { BOUNCE_FLAG } from '../global/bounce_clnt.js';
import { deliverCompleted } from '../global/deliver_completed.js';
import { DSN_NOTIFY, DSN_RET, type Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import { bounceMailOneInit } from './bounce_notify_util.js';
import { sameAddress, sendNotice } from './bounce_notify_service.js';
import { type BounceContext, DSN_NOTIFY_OVERRIDE, MAIL_ADDR_EMPTY, MAIL_ERROR } from './bounce_service.js';

export async function bounceOneService(
  ctx: BounceContext, flags: number, queueName: string, queueId: string, encoding: string, smtputf8: number, origSender: string, dsnEnvid: string, dsnRet: number,
  rcpt: Recipient, dsn: Dsn,
): Promise<number> {
  const info = bounceMailOneInit(ctx, queueName, queueId, encoding, smtputf8, dsnEnvid, rcpt, dsn, ctx.templates.failure);
  let status = 1;
  if (sameAddress(origSender, ctx.doubleBounce)) {
    msgWarn(`${queueId}: undeliverable postmaster notification discarded`);
    status = 0;
  } else if (origSender === '') {
    if ((ctx.notifyMask & (MAIL_ERROR.BOUNCE | MAIL_ERROR['2BOUNCE'])) === 0) status = 0;
    else {
      status = await sendNotice(info, {
        sender: ctx.doubleBounce, recipient: ctx.twoBounceRcpt, postmasterCopy: true, boilerplate: false,
        filter: DSN_NOTIFY_OVERRIDE, ret: DSN_RET.FULL, what: 'postmaster non-delivery notification',
      });
    }
  } else {
    if (rcpt.dsnNotify !== 0 && (rcpt.dsnNotify & DSN_NOTIFY.FAILURE) === 0) status = 0;
    else {
      status = await sendNotice(info, {
        sender: MAIL_ADDR_EMPTY, recipient: origSender, postmasterCopy: false, boilerplate: true,
        filter: DSN_NOTIFY_OVERRIDE, ret: dsnRet || DSN_RET.FULL, what: 'sender non-delivery notification',
      });
    }
    if (status === 0 && (ctx.notifyMask & MAIL_ERROR.BOUNCE) !== 0) {
      const pm = await sendNotice(info, {
        sender: ctx.doubleBounce, recipient: ctx.bounceRcpt, postmasterCopy: true, boilerplate: false,
        filter: DSN_NOTIFY_OVERRIDE, ret: DSN_RET.HDRS, what: 'postmaster non-delivery notification',
      });
      if (pm !== 0) msgWarn(`${queueId}: postmaster notice failed while bouncing to ${origSender}`);
    }
  }
  if (status === 0 && (flags & BOUNCE_FLAG.DELRCPT) !== 0 && info.qf && rcpt.offset > 0) {
    const r = await deliverCompleted(info.qf.path, rcpt.offset);
    if (!r.ok) msgWarn(`${queueId}: ${r.message}`);
  }
  return status;
}
