/*
 * qmgr_deliver - hand one delivery to a delivery agent and read its verdict (Postfix qmgr_deliver.c)
 *
 * What it does: buildDeliverRequest() turns a scheduled delivery of a
 * message into the delivery request Postfix's qmgr sends (flags = trace
 * flags | DEL_REQ_FLAG_DEFLT, or DEL_REQ_FLAG_BOUNCE for an inspected
 * message; queue name and ID, data offset, content length, nexthop,
 * encoding, SMTPUTF8, sender, DSN envelope ID and RET, time stamps,
 * client/SASL logging attributes, log_ident, rewrite context, and the
 * recipients). qmgrDeliver() sends it to private/<transport> with
 * deliverRequestCall() and maps what happened to a DeliveryOutcome:
 *
 *   - no agent (connect or announcement failed): transport-fail with
 *     "4.3.0 mail transport unavailable" and Postfix's warning
 *     "connect to transport private/T: ...";
 *   - the agent took the job, then died, timed out or answered garbage:
 *     transport-fail with "4.3.0 unknown mail transport error" and
 *     Postfix's "transport T failure -- see a previous warning/fatal/panic
 *     logfile record for the problem description";
 *   - DEFER with a hop status: site-fail with the agent's hop DSN (the
 *     scheduler sanitises it and adds "delivery temporarily suspended: ");
 *   - otherwise ok. `deferred` tells whether the message must be tried
 *     again (any DEFER or failure), as Postfix's message->flags.
 *
 * What it does not do: choose the recipients (the scheduler), write defer
 * logs for recipients the scheduler gives up on (qmgr_defer.ts), or touch
 * the queue file (the agent crosses recipients off).
 *
 * DIAGNOSTICS
 * The warnings above; nothing is thrown.
 */
import { msgWarn } from '../util/msg.js';
import { dsnMake } from '../global/dsn.js';
import { DEL_REQ_FLAG, DEL_REQ_FLAG_DEFLT, DEL_STAT, type DeliverRequest, deliverRequestCall } from '../global/deliver_request.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import { MAIL_CLASS, mailPathname } from '../global/mail_proto.js';
import type { MsgStats } from '../global/msg_stats.js';
import type { Recipient } from '../global/recipient_list.js';
import type { DeliveryOutcome } from './qmgr_sched.js';
import type { QmgrMessage } from './qmgr_message.js';

/** Postfix SMTPUTF8_FLAG_RECIPIENT (smtputf8.h): a recipient address needs SMTPUTF8. */
export const SMTPUTF8_FLAG_RECIPIENT = 1 << 3;

/** The time stamps qmgr knows (Postfix QMGR_MSG_STATS). */
export function qmgrMsgStats(message: QmgrMessage, handoffMs = 0): MsgStats {
  return {
    incomingArrival: message.arrival,
    activeArrival: message.activeTime,
    agentHandoff: handoffMs,
    connSetupDone: 0,
    deliverDone: 0,
    reuseCount: 0,
  };
}

/** Postfix qmgr_deliver_send_request: a non-ASCII (UTF-8) recipient address needs SMTPUTF8. */
function needsUtf8(recipients: readonly Recipient[]): boolean {
  // Addresses travel as latin1-decoded bytes; a valid UTF-8 sequence re-decodes without U+FFFD.
  return recipients.some((r) => /[^\x00-\x7f]/.test(r.address) && !Buffer.from(r.address, 'latin1').toString('utf8').includes('\uFFFD'));
}

/** A request for `recipients` of `message` (also used for logging through sent()/defer_append()). */
export function buildDeliverRequest(message: QmgrMessage, nexthop: string, recipients: readonly Recipient[], stats: MsgStats, smtputf8Enable = true): DeliverRequest {
  return {
    flags: message.tflags | (message.inspectXport !== '' ? DEL_REQ_FLAG.BOUNCE : DEL_REQ_FLAG_DEFLT),
    queueName: message.queueName,
    queueId: message.queueId,
    dataOffset: message.dataOffset,
    dataSize: message.contLength,
    nexthop,
    encoding: message.encoding,
    smtputf8: smtputf8Enable && needsUtf8(recipients) ? message.smtputf8 | SMTPUTF8_FLAG_RECIPIENT : message.smtputf8,
    sender: message.sender,
    dsnEnvid: message.dsnEnvid,
    dsnRet: message.dsnRet,
    msgStats: stats,
    clientName: message.clientName,
    clientAddr: message.clientAddr,
    clientPort: message.clientPort,
    clientProto: message.clientProto,
    clientHelo: message.clientHelo,
    saslMethod: message.saslMethod,
    saslUsername: message.saslUsername,
    saslSender: message.saslSender,
    logIdent: message.logIdent,
    rewriteContext: message.rewriteContext,
    recipients: recipients.map((r) => ({ ...r })),
  };
}

export interface DeliverResult {
  outcome: DeliveryOutcome;
  /** Some recipient of this delivery must be tried again. */
  deferred: boolean;
}

export interface DeliverOptions {
  queueDir: string;
  transport: string;
  nexthop: string;
  timeoutMs: number;
  /** smtputf8_enable. */
  smtputf8Enable?: boolean;
  /** The destination's connection cache flags (Postfix queue dflags: DEL_REQ_FLAG_CONN_LOAD/STORE). */
  dflags?: number;
  /** Tests: where the agent of a transport is (default queueDir/private/<transport>). */
  endpoint?: (transport: string) => Endpoint;
  now: () => number;
}

export async function qmgrDeliver(message: QmgrMessage, recipients: readonly Recipient[], opts: DeliverOptions): Promise<DeliverResult> {
  const endpoint = opts.endpoint ? opts.endpoint(opts.transport) : mailPathname(opts.queueDir, MAIL_CLASS.PRIVATE, opts.transport);
  const req = buildDeliverRequest(message, opts.nexthop, recipients, qmgrMsgStats(message, opts.now()), opts.smtputf8Enable ?? true);
  req.flags |= opts.dflags ?? 0;
  let ready = false;
  const r = await deliverRequestCall(endpoint, req, { timeoutMs: opts.timeoutMs, onReady: () => (ready = true) });
  if (!r.ok) {
    if (!ready) {
      if (r.kind === 'connect') msgWarn(`connect to transport ${MAIL_CLASS.PRIVATE}/${opts.transport}: ${stripLabel(r.message)}`);
      else msgWarn(`${MAIL_CLASS.PRIVATE}/${opts.transport}: ${stripLabel(r.message)}`);
      return { outcome: { kind: 'transport-fail', dsn: dsnMake('4.3.0', 'mail transport unavailable', { action: 'delayed' }) }, deferred: true };
    }
    if (r.kind === 'timeout') msgWarn(`${message.queueId}: timeout receiving delivery status from transport: ${opts.transport}`);
    else if (r.kind === 'closed') msgWarn(`${MAIL_CLASS.PRIVATE}/${opts.transport}: premature disconnect`);
    else msgWarn(`${MAIL_CLASS.PRIVATE}/${opts.transport}: malformed response`);
    msgWarn(`transport ${opts.transport} failure -- see a previous warning/fatal/panic logfile record for the problem description`);
    return { outcome: { kind: 'transport-fail', dsn: dsnMake('4.3.0', 'unknown mail transport error', { action: 'delayed' }) }, deferred: true };
  }
  const reply = r.reply;
  if (reply.status !== DEL_STAT.OK) {
    // The scheduler sanitizes the hop DSN and adds the "delivery temporarily suspended: " prefix.
    if (reply.hop && reply.hop.status !== '') return { outcome: { kind: 'site-fail', dsn: reply.hop }, deferred: true };
    return { outcome: { kind: 'ok' }, deferred: true };
  }
  return { outcome: { kind: 'ok' }, deferred: false };
}

/** deliverRequestCall's messages start with the endpoint; Postfix prints only the system error. */
function stripLabel(message: string): string {
  const i = message.lastIndexOf(': ');
  return i >= 0 ? message.slice(i + 2) : message;
}
