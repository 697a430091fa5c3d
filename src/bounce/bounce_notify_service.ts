/*
 * bounce_notify_service - send a non-delivery notification from a log (Postfix bounce_notify_service.c)
 *
 * What it does: bounceNotifyService() serves FLUSH on the bounce service
 * (recipients that bounced) and on the defer service (the message
 * expired: every deferred recipient bounces). Who gets what, as Postfix:
 * - the original sender was double_bounce_sender@myhostname: nothing is
 *   sent, "QUEUEID: undeliverable postmaster notification discarded" is
 *   warned, and the request succeeds (never a triple bounce);
 * - the sender was empty (a bounce bounced): when notify_classes has
 *   bounce or 2bounce, a double bounce from double-bounce goes to
 *   2bounce_notice_recipient with the full original ("postmaster
 *   non-delivery notification"); otherwise nothing;
 * - else a single bounce from <> to the sender with the failure template
 *   and the recipients whose NOTIFY includes FAILURE (or is unset), the
 *   original per RET ("sender non-delivery notification"), then, with
 *   notify_classes bounce, a postmaster copy with all recipients and the
 *   headers only to bounce_notice_recipient (failure only warned).
 * With BOUNCE_FLAG_DELRCPT the reported recipients are crossed off in the
 * queue file; on success the log is removed. sendNotice() is the shared
 * open/compose/close step the other services use.
 *
 * What it does not do: delay warnings (bounce_warn_service.ts), success
 * notices (bounce_trace_service.ts), single recipients without a log
 * (bounce_one_service.ts).
 *
 * DIAGNOSTICS
 * Returns 0 when the notification was posted (or rightly not sent), 1
 * when it must be retried; logs Postfix's info lines and warnings.
 */
import { unlink } from 'node:fs/promises';
import { msgInfo, msgWarn } from '../util/msg.js';
import { deliverCompleted } from '../global/deliver_completed.js';
import { DSN_NOTIFY, DSN_RET } from '../global/dsn.js';
import { BOUNCE_FLAG } from '../global/bounce_clnt.js';
import { postMailOpen } from './bounce_post_mail.js';
import {
  type BounceInfo,
  bounceBoilerplate,
  bounceDiagnosticDsn,
  bounceDiagnosticLog,
  bounceHeader,
  bounceHeaderDsn,
  bounceMailInit,
  bounceOriginal,
} from './bounce_notify_util.js';
import { type BounceContext, DSN_NOTIFY_OVERRIDE, MAIL_ADDR_EMPTY, MAIL_ERROR, bouncePath } from './bounce_service.js';

export interface NoticeSpec {
  sender: string;
  recipient: string;
  postmasterCopy: boolean;
  boilerplate: boolean;
  filter: number;
  ret: number;
  /** "sender non-delivery notification" etc., logged with the new queue id. */
  what: string;
}

/** Posts one notice; 0 when posted or nothing applied, non-zero on failure (Postfix's pattern in each service). */
export async function sendNotice(info: BounceInfo, spec: NoticeSpec): Promise<number> {
  const pm = await postMailOpen(info.ctx, spec.sender, spec.recipient, info.smtputf8);
  if (!pm) return 1;
  try {
    bounceHeader(pm, info, spec.recipient, spec.postmasterCopy);
    if (spec.boilerplate) bounceBoilerplate(pm, info);
    const count = bounceDiagnosticLog(pm, info, spec.filter);
    if (count <= 0) {
      pm.abort();
      return count === 0 ? 0 : 1;
    }
    bounceHeaderDsn(pm, info);
    if (bounceDiagnosticDsn(pm, info, spec.filter) <= 0) {
      pm.abort();
      return 1;
    }
    await bounceOriginal(pm, info, spec.ret);
  } catch (err) {
    pm.abort();
    throw err;
  }
  const status = await pm.close();
  if (status === 0) msgInfo(`${info.queueId}: ${spec.what}: ${pm.queueId}`);
  return status === 0 ? 0 : 1;
}

export const sameAddress = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** Crosses off every logged recipient with an offset (Postfix bounce_delrcpt). */
export async function bounceDelrcpt(info: BounceInfo): Promise<void> {
  if (!info.qf || !info.log) return;
  for (const e of info.log) {
    if (e.rcpt.offset <= 0) continue;
    const r = await deliverCompleted(info.qf.path, e.rcpt.offset);
    if (!r.ok) msgWarn(`${info.queueId}: ${r.message}`);
  }
}

/** Removes the service's log after a posted notification; false when that failed. */
export async function removeLog(ctx: BounceContext, service: string, queueId: string): Promise<boolean> {
  try {
    await unlink(bouncePath(ctx, service, queueId));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      msgWarn(`remove ${service} ${queueId}: ${(err as Error).message}`);
      return false;
    }
  }
  return true;
}

export async function bounceNotifyService(
  ctx: BounceContext, flags: number, service: string, queueName: string, queueId: string, encoding: string, smtputf8: number, recipient: string, dsnEnvid: string, dsnRet: number,
): Promise<number> {
  const info = await bounceMailInit(ctx, service, queueName, queueId, encoding, smtputf8, dsnEnvid, ctx.templates.failure);
  let status = 1;
  if (sameAddress(recipient, ctx.doubleBounce)) {
    msgWarn(`${queueId}: undeliverable postmaster notification discarded`);
    status = 0;
  } else if (recipient === '') {
    if ((ctx.notifyMask & (MAIL_ERROR.BOUNCE | MAIL_ERROR['2BOUNCE'])) === 0) status = 0;
    else {
      status = await sendNotice(info, {
        sender: ctx.doubleBounce, recipient: ctx.twoBounceRcpt, postmasterCopy: true, boilerplate: false,
        filter: DSN_NOTIFY_OVERRIDE, ret: DSN_RET.FULL, what: 'postmaster non-delivery notification',
      });
    }
  } else {
    status = await sendNotice(info, {
      sender: MAIL_ADDR_EMPTY, recipient, postmasterCopy: false, boilerplate: true,
      filter: DSN_NOTIFY.FAILURE, ret: dsnRet || DSN_RET.FULL, what: 'sender non-delivery notification',
    });
    if (status === 0 && (ctx.notifyMask & MAIL_ERROR.BOUNCE) !== 0) {
      const pm = await sendNotice(info, {
        sender: ctx.doubleBounce, recipient: ctx.bounceRcpt, postmasterCopy: true, boilerplate: false,
        filter: DSN_NOTIFY_OVERRIDE, ret: DSN_RET.HDRS, what: 'postmaster non-delivery notification',
      });
      if (pm !== 0) msgWarn(`${queueId}: postmaster notice failed while bouncing to ${recipient}`);
    }
  }
  if (status === 0 && (flags & BOUNCE_FLAG.DELRCPT) !== 0) await bounceDelrcpt(info);
  if (status === 0 && !(await removeLog(ctx, service, queueId))) return 1;
  return status;
}
