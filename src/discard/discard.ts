/*
 * discard - the discard(8) delivery agent: "deliver" by throwing the mail away (Postfix discard.c)
 *
 * What it does: for every recipient of a delivery request it reports a
 * successful delivery with relay=none and the next-hop text as the
 * reason: a next-hop that starts with an RFC 3463 status ("2.7.1 gone
 * fishing") gives that status and the rest as the reason, anything else
 * 2.0.0 and the whole next-hop (normally the recipient domain); a non-2
 * status is replaced by 2.0.0 with sent()'s warning, as Postfix. Then it
 * crosses the recipient off the queue file (when DEL_REQ_FLAG_SUCCESS).
 * The log line is Postfix's:
 *   QUEUEID: to=<...>, relay=none, delay=..., delays=..., dsn=2.0.0, status=sent (example.com)
 * It runs as master.cf's "discard unix - - n - - discard", one request per
 * connection (src/global/delivery_agent.ts).
 *
 * What it does not do: read the message content, or take arguments.
 *
 * DIAGNOSTICS
 * Fatal for an unexpected command-line argument (as Postfix); the
 * framework's warnings for bad requests; a recipient whose status could
 * not be recorded stays in the queue and the request answers DEFER.
 */
import { msgFatal } from '../util/msg.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { DEL_REQ_FLAG, DEL_STAT, type DeliverReply, type DeliverRequest } from '../global/deliver_request.js';
import { singleServerMain } from '../master/mail_server.js';
import { type DeliveryContext, deliveryAgentMain } from '../global/delivery_agent.js';
import { dsnMake } from '../global/dsn.js';
import { dsnSplit } from '../global/dsn_util.js';
import { sent } from '../global/sent.js';

/** Postfix discard's relay name. */
export const DISCARD_RELAY = 'none';
/** The status a plain next-hop text gets. */
export const DISCARD_DEF_DSN = '2.0.0';

/** Discards every recipient of one request. */
export async function discardDeliver(req: DeliverRequest, ctx: DeliveryContext): Promise<DeliverReply> {
  const split = dsnSplit(DISCARD_DEF_DSN, req.nexthop);
  const dsn = dsnMake(split.status, split.text);
  let result = 0;
  for (const rcpt of req.recipients) {
    let status = await sent(ctx.status, req, rcpt, DISCARD_RELAY, dsn);
    if (status === 0 && req.flags & DEL_REQ_FLAG.SUCCESS) status = await ctx.completed(req, rcpt);
    result |= status;
  }
  return { status: result === 0 ? DEL_STAT.OK : DEL_STAT.DEFER, hop: null };
}

export async function main(argv: string[]): Promise<number> {
  return deliveryAgentMain(argv, {
    skeleton: singleServerMain,
    programName: 'discard',
    preInit(ctx) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
    },
    deliver: discardDeliver,
  });
}

if (isMainModule(import.meta.url)) runMain(main);
