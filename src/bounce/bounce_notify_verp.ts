/*
 * bounce_notify_verp - send VERP-style non-delivery notifications, one per recipient (Postfix bounce_notify_verp.c, verp_sender.c)
 *
 * What it does: bounceNotifyVerp() serves VERP requests (sendmail -V,
 * smtpd XVERP): for each bounced recipient in the log whose NOTIFY
 * allows FAILURE, a separate notification from <> goes to the sender
 * address with the recipient encoded in it (verpSender():
 * "owner+user=domain@origin" for delimiters "+="), using the recipient's
 * original address when it has one; each is logged as "QUEUEID: sender
 * non-delivery notification: NEWID", crossed off with DELRCPT, and, with
 * notify_classes bounce, followed by a postmaster copy (headers only).
 * The first failure stops the loop. Without a log, one notice about
 * "(recipient address unavailable)" goes to the plain sender so that the
 * failure is not lost. The log is removed when all went well.
 *
 * What it does not do: VERP for bounces of bounces (bounce.ts sends those
 * through bounceNotifyService with Postfix's warning).
 *
 * DIAGNOSTICS
 * Returns 0 when every notice was posted, 1 otherwise.
 */
import { msgWarn } from '../util/msg.js';
import { BOUNCE_FLAG } from '../global/bounce_clnt.js';
import { deliverCompleted } from '../global/deliver_completed.js';
import { DSN_NOTIFY, DSN_RET, dsnMake } from '../global/dsn.js';
import { bounceOneService } from './bounce_one_service.js';
import { bounceMailInit } from './bounce_notify_util.js';
import { removeLog, sendNotice } from './bounce_notify_service.js';
import { type BounceContext, DSN_NOTIFY_OVERRIDE, MAIL_ADDR_EMPTY, MAIL_ERROR } from './bounce_service.js';

/** prefix@origin + recipient user@domain -> prefix<d0>user<d1>domain@origin (Postfix verp_sender). */
export function verpSender(delims: string, sender: string, rcpt: string): string {
  const sAt = sender.lastIndexOf('@');
  const rAt = rcpt.lastIndexOf('@');
  const sLocal = sAt >= 0 ? sender.slice(0, sAt) : sender;
  const rLocal = rAt >= 0 ? rcpt.slice(0, rAt) : rcpt;
  let out = sLocal + delims[0] + rLocal;
  if (rAt >= 0 && rAt + 1 < rcpt.length) out += delims[1] + rcpt.slice(rAt + 1);
  if (sAt >= 0 && sAt + 1 < sender.length) out += '@' + sender.slice(sAt + 1);
  return out;
}

export async function bounceNotifyVerp(
  ctx: BounceContext, flags: number, service: string, queueName: string, queueId: string, encoding: string, smtputf8: number, recipient: string, dsnEnvid: string, dsnRet: number,
  verpDelims: string,
): Promise<number> {
  const info = await bounceMailInit(ctx, service, queueName, queueId, encoding, smtputf8, dsnEnvid, ctx.templates.failure);
  if (info.log === null) {
    const rcpt = { origAddress: '', address: '(recipient address unavailable)', offset: -1, dsnOrcpt: '', dsnNotify: 0 };
    return bounceOneService(ctx, flags, queueName, queueId, encoding, smtputf8, recipient, dsnEnvid, dsnRet, rcpt, dsnMake('5.0.0', '(error report unavailable)', { action: 'failed' }));
  }
  let status = 0;
  for (const e of info.log) {
    const one = { ...info, log: [e] };
    if (e.rcpt.dsnNotify !== 0 && (e.rcpt.dsnNotify & DSN_NOTIFY.FAILURE) === 0) {
      status = 0;
    } else {
      const to = verpSender(verpDelims, recipient, e.rcpt.origAddress || e.rcpt.address);
      status = await sendNotice(one, {
        sender: MAIL_ADDR_EMPTY, recipient: to, postmasterCopy: false, boilerplate: true,
        filter: DSN_NOTIFY_OVERRIDE, ret: dsnRet || DSN_RET.FULL, what: 'sender non-delivery notification',
      });
      if (status !== 0) break;
      if ((flags & BOUNCE_FLAG.DELRCPT) !== 0 && info.qf && e.rcpt.offset > 0) {
        const r = await deliverCompleted(info.qf.path, e.rcpt.offset);
        if (!r.ok) msgWarn(`${queueId}: ${r.message}`);
      }
    }
    if ((ctx.notifyMask & MAIL_ERROR.BOUNCE) !== 0) {
      const pm = await sendNotice(one, {
        sender: ctx.doubleBounce, recipient: ctx.bounceRcpt, postmasterCopy: true, boilerplate: false,
        filter: DSN_NOTIFY_OVERRIDE, ret: DSN_RET.HDRS, what: 'postmaster non-delivery notification',
      });
      if (pm !== 0) msgWarn(`${queueId}: postmaster notice failed while bouncing to ${recipient}`);
    }
  }
  if (status === 0 && !(await removeLog(ctx, service, queueId))) return 1;
  return status;
}
