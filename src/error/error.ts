/*
 * error - the error(8) and retry delivery agent: always fail (Postfix error.c)
 *
 * What it does: for every recipient of a delivery request it reports a
 * failure with relay=none and the next-hop text as the reason. A next-hop
 * that starts with an RFC 3463 status ("5.1.1 no such user") gives that
 * status and the rest as the reason; otherwise the whole text is the
 * reason with the service's default status. Run as the "error" service
 * it bounces (default 5.0.0; bounceAppend turns anything but 5.x.x into
 * 5.0.0 with a warning, and soft_bounce into a deferral, as Postfix 3.7
 * does); run as the "retry" service it defers (default 4.0.0; deferAppend
 * turns anything but 4.x.x into 4.0.0). A bounced recipient is crossed off
 * the queue file; a deferred one stays, and the request answers DEFER.
 * Log lines are Postfix's:
 *   QUEUEID: to=<...>, relay=none, delay=..., delays=..., dsn=5.1.1, status=bounced (no such user)
 *
 * Note: that mail to "error:4.x.x text" is deferred rather than bounced
 * is qmgr's short-cut in Postfix (it never hands the error transport a
 * request); error(8) itself bounces whatever status the next-hop has.
 *
 * What it does not do: read the message content, or send the bounce
 * (qmgr asks bounce(8) when the message is done).
 *
 * DIAGNOSTICS
 * Fatal for an unexpected command-line argument, and for a master.cf
 * service name other than error or retry ("bad error service name"), as
 * Postfix.
 */
import { msgFatal } from '../util/msg.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { bounceAppend } from '../global/bounce.js';
import { deferAppend } from '../global/defer.js';
import { DEL_STAT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { singleServerMain } from '../master/mail_server.js';
import { type DeliveryContext, deliveryAgentMain } from '../global/delivery_agent.js';
import { dsnMake } from '../global/dsn.js';
import { dsnSplit } from '../global/dsn_util.js';
import { MAIL_SERVICE } from '../global/mail_proto.js';

export const ERROR_RELAY = 'none';

/** Service name → default status and what to do with each recipient. */
export const ERROR_SERVICES = {
  [MAIL_SERVICE.ERROR]: { defStatus: '5.0.0', bounce: true },
  [MAIL_SERVICE.RETRY]: { defStatus: '4.0.0', bounce: false },
} as const;

/** Fails every recipient of one request, as the service ctx.serviceName. */
export async function errorDeliver(req: DeliverRequest, ctx: DeliveryContext): Promise<DeliverReply> {
  const kind = (ERROR_SERVICES as Record<string, { defStatus: string; bounce: boolean }>)[ctx.serviceName];
  if (!kind) return msgFatal(`bad error service name: ${ctx.serviceName}`);
  const split = dsnSplit(kind.defStatus, req.nexthop);
  const dsn = dsnMake(split.status, split.text);
  let result = 0;
  for (const rcpt of req.recipients) {
    // bounceAppend: 0 = bounced and recorded; deferAppend: -1, or 0 when a status filter made it a bounce.
    let status = kind.bounce ? await bounceAppend(ctx.status, req, rcpt, ERROR_RELAY, dsn) : await deferAppend(ctx.status, req, rcpt, ERROR_RELAY, dsn);
    if (status === 0) status = await ctx.completed(req, rcpt);
    result |= status;
  }
  return { status: result === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: null };
}

export async function main(argv: string[]): Promise<number> {
  return deliveryAgentMain(argv, {
    skeleton: singleServerMain,
    programName: 'error',
    preInit(ctx) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
    },
    deliver: errorDeliver,
  });
}

if (isMainModule(import.meta.url)) runMain(main);
