/*
 * bounce_warn_service - send a delayed-mail warning from the defer log (Postfix bounce_warn_service.c)
 *
 * What it does: bounceWarnService() serves WARN on the defer service:
 * with the delay template and the recipients whose NOTIFY includes DELAY
 * (or is unset) it sends "Delayed Mail (still being retried)" from <> to
 * the sender with the original headers ("sender delay notification"),
 * then, with notify_classes delay, a postmaster copy to
 * delay_notice_recipient ("postmaster delay notification"). A delayed
 * bounce (sender <>) only gets the postmaster copy; a delayed
 * double-bounce is discarded with Postfix's warning. The defer log stays:
 * the message is still being retried.
 *
 * What it does not do: decide when a warning is due (qmgr does, from
 * delay_warning_time) or mark that it was sent (qmgr updates the queue
 * file).
 *
 * DIAGNOSTICS
 * Returns 0 when the warning was posted (or rightly not sent), 1 when it
 * must be retried.
 */
import { msgWarn } from '../util/msg.js';
import { DSN_NOTIFY, DSN_RET } from '../global/dsn.js';
import { bounceMailInit } from './bounce_notify_util.js';
import { sameAddress, sendNotice } from './bounce_notify_service.js';
import { type BounceContext, DSN_NOTIFY_OVERRIDE, MAIL_ADDR_EMPTY, MAIL_ERROR } from './bounce_service.js';

export async function bounceWarnService(
  ctx: BounceContext, _flags: number, service: string, queueName: string, queueId: string, encoding: string, smtputf8: number, recipient: string, dsnEnvid: string, _dsnRet: number,
): Promise<number> {
  const info = await bounceMailInit(ctx, service, queueName, queueId, encoding, smtputf8, dsnEnvid, ctx.templates.delay);
  const postmasterWanted = (ctx.notifyMask & MAIL_ERROR.DELAY) !== 0;
  const postmasterNotice = (ret: number): Promise<number> =>
    sendNotice(info, {
      sender: ctx.doubleBounce, recipient: ctx.delayRcpt, postmasterCopy: true, boilerplate: false,
      filter: DSN_NOTIFY_OVERRIDE, ret, what: 'postmaster delay notification',
    });
  if (sameAddress(recipient, ctx.doubleBounce)) {
    msgWarn(`${queueId}: undeliverable postmaster notification discarded`);
    return 0;
  }
  if (recipient === '') return postmasterWanted ? postmasterNotice(DSN_RET.FULL) : 0;
  const status = await sendNotice(info, {
    sender: MAIL_ADDR_EMPTY, recipient, postmasterCopy: false, boilerplate: true,
    filter: DSN_NOTIFY.DELAY, ret: DSN_RET.HDRS, what: 'sender delay notification',
  });
  if (status === 0 && postmasterWanted) {
    if ((await postmasterNotice(DSN_RET.HDRS)) !== 0) msgWarn(`${queueId}: postmaster notice failed while warning ${recipient}`);
  }
  return status;
}
