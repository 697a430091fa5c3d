/*
 * defer - report a temporary failure for one recipient (Postfix defer.c defer_append)
 *
 * What it does: deferAppend() checks the status (a non-4.x.x or malformed
 * one becomes 4.0.0 with a warning), applies the program's delivery
 * status filter (a 5.x.x result bounces instead: bounce.ts), sets the
 * DSN action "delayed",
 * appends the recipient to the message's defer log through the defer
 * service, logs "status=deferred" (log_adhoc.ts), appends to the trace
 * log when the request is traced (DEL_REQ_FLAG_RECORD), and tells the
 * flush service that the recipient's domain has deferred mail (when
 * fast_flush_domains allows). For address probes the result goes, with
 * the action "undeliverable", to the trace service (sendmail -bv) or to
 * verifyAppend (verify(8) probes; trace.ts) instead.
 *
 * Return value, as Postfix's defer_append(): -1 for a deferral ("not
 * final": the recipient stays in the queue file and the request answers
 * DEFER), whether or not the defer log record could be written (a failure
 * is the warning). It is 0 only when the delivery status filter turned
 * the deferral into a bounce that was recorded: then the recipient is
 * final and the caller crosses it off, as after bounceAppend() == 0.
 *
 * What it does not do: remove anything from the queue file, or send the
 * delay warning (qmgr asks bounce(8) with deferWarn).
 *
 * DIAGNOSTICS
 * Warnings "QUEUEID: defer service failure", "... trace service failure",
 * "... flush service failure" as Postfix; "defer_append: ignoring dsn
 * code" for a bad status.
 */
import { msgWarn } from '../util/msg.js';
import { bounceLogAppend } from './bounce_clnt.js';
import { DEL_REQ_FLAG, type DeliverRequest } from './deliver_request.js';
import type { Dsn } from './dsn.js';
import { dsnValid } from './dsn_util.js';
import { FlushClient } from './flush_clnt.js';
import { logAdhoc, type StatusContext } from './log_adhoc.js';
import { FLUSH_STAT } from './mail_proto.js';
import type { Recipient } from './recipient_list.js';
import { bounceFlags, probeAppend, serviceLabel, statusClientOptions, statusFilterLookup, traceAppend } from './trace.js';
import { bounceAppendIntern } from './bounce.js';

export async function deferAppend(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  const my = { ...dsn };
  if (my.status.charAt(0) !== '4' || !dsnValid(my.status)) {
    msgWarn(`defer_append: ignoring dsn code "${my.status}"`);
    my.status = '4.0.0';
  }
  // The delivery status filter may turn the deferral into a bounce.
  const filtered = await statusFilterLookup(ctx, my);
  if (filtered) {
    if (filtered.status.charAt(0) === '5') return bounceAppendIntern(ctx, req, rcpt, relay, filtered);
    return deferAppendIntern(ctx, req, rcpt, relay, filtered);
  }
  return deferAppendIntern(ctx, req, rcpt, relay, my);
}

/** defer_append without the status check (bounce.ts's fallback and soft_bounce use it). */
export async function deferAppendIntern(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  if (req.flags & (DEL_REQ_FLAG.MTA_VRFY | DEL_REQ_FLAG.USR_VRFY)) {
    return probeAppend(ctx, req, rcpt, relay, { ...dsn, action: 'undeliverable' });
  }
  const my: Dsn = { ...dsn, action: 'delayed' };
  const st = await bounceLogAppend(statusClientOptions(ctx), 'defer', bounceFlags(req), req.queueId, rcpt, my);
  if (st !== 0) msgWarn(`${req.queueId}: ${serviceLabel(ctx, 'defer')} service failure`);
  logAdhoc({ config: ctx.config }, req.queueId, req.msgStats, rcpt, relay, my, 'deferred');
  if (req.flags & DEL_REQ_FLAG.RECORD) {
    if ((await traceAppend(ctx, req, rcpt, relay, my)) !== 0) msgWarn(`${req.queueId}: ${serviceLabel(ctx, 'trace')} service failure`);
  }
  await flushAdd(ctx, req.queueId, rcpt.address);
  return -1;
}

/** One flush client per configuration (its fast_flush_domains list is compiled once). */
const flushClients = new WeakMap<StatusContext['config'], FlushClient>();

async function flushAdd(ctx: StatusContext, queueId: string, address: string): Promise<void> {
  const at = address.lastIndexOf('@');
  if (at < 0 || at === address.length - 1) return;
  const domain = address.slice(at + 1);
  let client = flushClients.get(ctx.config);
  if (!client) {
    client = new FlushClient(ctx.config, ctx.endpoint ? { endpoint: ctx.endpoint(ctx.config.get('flush_service_name') || 'flush') } : {});
    flushClients.set(ctx.config, client);
  }
  if (!client.policyOk(domain)) return;
  const r = await client.add(domain, queueId);
  if (r.status !== FLUSH_STAT.OK && r.status !== FLUSH_STAT.DENY) msgWarn(`${queueId}: ${serviceLabel(ctx, 'flush')} service failure`);
}
