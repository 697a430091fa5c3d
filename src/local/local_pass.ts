/*
 * local_pass - hand one recipient to another delivery transport (Postfix global/deliver_pass.c)
 *
 * What it does: deliverPass() implements mailbox_transport(_maps) and
 * fallback_transport(_maps): it sends a delivery request for this one
 * recipient (offset -1, so the other agent does not cross it off; local
 * does that after a successful hand-off) to queue_directory/private/
 * TRANSPORT, with the nexthop after ":" in "transport:nexthop" or the
 * request's own nexthop. The other agent logs and reports the outcome
 * itself (sent/bounced/deferred); its reply says whether the recipient is
 * finished.
 *
 * What it does not do: retry; a failed hand-off is a deferral.
 *
 * DIAGNOSTICS
 * An unreachable transport or a protocol error defers the recipient with
 * "mail transport unavailable" (4.3.0) and logs a warning with the cause.
 */
import { join } from 'node:path';
import { deliverRequestCall, DEL_STAT } from '../global/deliver_request.js';
import { dsnMake } from '../global/dsn.js';
import { msgWarn } from '../util/msg.js';
import { type LocalEnv, type LocalState, reportDefer } from './local_state.js';

/** Bound on the hand-off (the other agent's whole delivery). */
export const DELIVER_PASS_TIMEOUT_MS = 3600 * 1000;

export async function deliverPass(env: LocalEnv, s: LocalState, service: string): Promise<number> {
  const colon = service.indexOf(':');
  const transport = colon >= 0 ? service.slice(0, colon) : service;
  const nexthop = colon >= 0 && service.slice(colon + 1) !== '' ? service.slice(colon + 1) : env.req.nexthop;
  const rcpt = { ...s.msg.rcpt, offset: -1 };
  const endpoint = env.passEndpoint ? env.passEndpoint(transport) : join(env.params.queueDirectory, 'private', transport);
  const r = await deliverRequestCall(endpoint, { ...env.req, nexthop, recipients: [rcpt] }, { timeoutMs: DELIVER_PASS_TIMEOUT_MS });
  if (!r.ok) {
    msgWarn(`${env.req.queueId}: ${r.message}`);
    return reportDefer(env, s, dsnMake('4.3.0', 'mail transport unavailable'));
  }
  if (r.reply.status === DEL_STAT.OK) return 0;
  if (r.reply.hop) return reportDefer(env, s, r.reply.hop);
  return -1;
}
