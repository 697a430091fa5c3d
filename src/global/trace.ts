/*
 * trace - report a delivery to the trace service (Postfix trace.c)
 *
 * What it does: traceAppend() appends one recipient's status to the
 * message's trace log (queue_directory/trace/<id>) through the trace
 * service, with "delivery via RELAY: " in front of the reason unless the
 * relay is "none", as Postfix's trace_append(); for user-requested
 * address verification (sendmail -bv) it also logs the result line with
 * the DSN action as status. statusClientOptions() turns a StatusContext
 * into the bounce client's options (service names from main.cf,
 * ipc_timeout); sent.ts, bounce.ts and defer.ts use it too.
 * probeAppend() routes address probe results: sendmail -bv
 * (DEL_REQ_FLAG_USR_VRFY) to the trace service, verify(8) probes
 * (DEL_REQ_FLAG_MTA_VRFY) to verifyAppend(), which only logs until
 * Postern has a verify service.
 *
 * What it does not do: send the notification (bounce(8) does, when qmgr
 * calls traceFlush), or decide when to trace (sent.ts, bounce.ts,
 * defer.ts: DEL_REQ_FLAG_RECORD, NOTIFY=SUCCESS, -bv).
 *
 * DIAGNOSTICS
 * "QUEUEID: trace service failure" as a warning; returns -1 then.
 */
import { msgProgName, msgWarn } from '../util/msg.js';
import { type BounceClientOptions, bounceLogAppend, NO_RELAY_AGENT } from './bounce_clnt.js';
import { DEL_REQ_FLAG, type DeliverRequest, delReqTraceFlags } from './deliver_request.js';
import type { Dsn } from './dsn.js';
import { deliveryStatusFilter } from './dsn_util.js';
import { logAdhoc, type StatusContext } from './log_adhoc.js';
import type { Recipient } from './recipient_list.js';

/** The bounce/defer/trace client options for a status context. */
export function statusClientOptions(ctx: StatusContext): BounceClientOptions {
  const names = {
    bounce: ctx.config.get('bounce_service_name') || 'bounce',
    defer: ctx.config.get('defer_service_name') || 'defer',
    trace: ctx.config.get('trace_service_name') || 'trace',
  };
  const opts: BounceClientOptions = { queueDir: ctx.queueDir, timeoutMs: ctx.config.getTime('ipc_timeout') * 1000, serviceNames: names };
  if (ctx.endpoint) opts.endpoint = ctx.endpoint;
  return opts;
}

/**
 * The flags the status calls pass on to the bounce service: only the
 * trace bits of the request (Postfix agents pass
 * DEL_REQ_TRACE_FLAGS(request->flags); DEL_REQ_FLAG_SUCCESS has the value
 * of BOUNCE_FLAG_CLEAN and must not leak into it).
 */
export function bounceFlags(req: DeliverRequest): number {
  return delReqTraceFlags(req.flags);
}

/** The service name as main.cf spells it (for warnings). */
export function serviceLabel(ctx: StatusContext, service: 'bounce' | 'defer' | 'trace' | 'flush'): string {
  return ctx.config.get(`${service}_service_name`) || service;
}

export async function traceAppend(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  const reason = relay !== NO_RELAY_AGENT ? `delivery via ${relay}: ${dsn.reason}` : dsn.reason;
  const st = await bounceLogAppend(statusClientOptions(ctx), 'trace', bounceFlags(req), req.queueId, rcpt, { ...dsn, reason });
  if (st !== 0) {
    msgWarn(`${req.queueId}: ${serviceLabel(ctx, 'trace')} service failure`);
    return -1;
  }
  if (req.flags & DEL_REQ_FLAG.USR_VRFY) logAdhoc({ config: ctx.config }, req.queueId, req.msgStats, rcpt, relay, dsn, dsn.action);
  return 0;
}

/**
 * Address probes from the verify service (DEL_REQ_FLAG_MTA_VRFY): Postfix's
 * verify_append() updates the verify(8) cache and logs the result with
 * the DSN action as status. Postern has no verify service yet, so this
 * logs only (as Postfix does when the update succeeded) and returns 0.
 */
export function verifyAppend(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): number {
  logAdhoc({ config: ctx.config }, req.queueId, req.msgStats, rcpt, relay, dsn, dsn.action);
  return 0;
}

/** Routes a probe result: MTA probes to verifyAppend, sendmail -bv probes to the trace service. */
export function probeAppend(ctx: StatusContext, req: DeliverRequest, rcpt: Recipient, relay: string, dsn: Dsn): Promise<number> {
  if (req.flags & DEL_REQ_FLAG.MTA_VRFY) return Promise.resolve(verifyAppend(ctx, req, rcpt, relay, dsn));
  return traceAppend(ctx, req, rcpt, relay, dsn);
}

/** The delivery status filter's replacement for a status, or null (trace.ts keeps the one place that knows the program). */
export function statusFilterLookup(ctx: StatusContext, dsn: Dsn): Promise<Dsn | null> {
  const f = deliveryStatusFilter(ctx.config, ctx.program ?? msgProgName());
  return f ? f.lookup(dsn) : Promise.resolve(null);
}

