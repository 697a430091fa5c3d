/*
 * qmgr_defer - defer recipients the queue manager itself gives up on (Postfix qmgr_defer.c)
 *
 * What it does: qmgrDeferRecipients() writes one defer log record per
 * recipient through defer_append (D's deferAppend, which also logs
 * Postfix's "to=<...>, relay=none, delay=..., status=deferred (REASON)"
 * line) for recipients of a dead transport or destination, with the
 * scheduler's DSN (e.g. "delivery temporarily suspended: ..." or "mail
 * transport unavailable"), and marks the message as to be tried again.
 * qmgrDiscardDoubleBounce() is Postfix's handling of local mail to the
 * double-bounce address: sent() with relay=none and "2.0.0 undeliverable
 * postmaster notification discarded", then the recipient is crossed off.
 *
 * What it does not do: choose which recipients to defer (the scheduler's
 * DeferredWork) or move the queue file (qmgr_active.ts).
 *
 * DIAGNOSTICS
 * None of its own: defer_append and sent log. A failed deliver_completed
 * is a warning, and the message is then tried again.
 */
import { msgWarn } from '../util/msg.js';
import { type Dsn, dsnMake } from '../global/dsn.js';
import { deferAppend } from '../global/defer.js';
import { sent } from '../global/sent.js';
import { deliverCompleted } from '../global/deliver_completed.js';
import type { StatusContext } from '../global/log_adhoc.js';
import type { Recipient } from '../global/recipient_list.js';
import { buildDeliverRequest, qmgrMsgStats } from './qmgr_deliver.js';
import { QMGR_MSG_DEFER, type QmgrMessage } from './qmgr_message.js';

/** Postfix NO_RELAY_AGENT. */
export const QMGR_NO_RELAY = 'none';

export async function qmgrDeferRecipients(ctx: StatusContext, message: QmgrMessage, nexthop: string, recipients: readonly Recipient[], dsn: Dsn): Promise<void> {
  const req = buildDeliverRequest(message, nexthop, recipients, qmgrMsgStats(message));
  const d: Dsn = { ...dsn, action: dsn.action || 'delayed' };
  for (const rcpt of recipients) {
    await deferAppend(ctx, req, rcpt, QMGR_NO_RELAY, d);
  }
  // defer_append's result is "a convenient non-zero value" in Postfix: the message is deferred either way.
  message.flags |= QMGR_MSG_DEFER;
}

export async function qmgrDiscardDoubleBounce(ctx: StatusContext, message: QmgrMessage, rcpt: Recipient): Promise<void> {
  const req = buildDeliverRequest(message, '', [rcpt], qmgrMsgStats(message));
  const dsn = dsnMake('2.0.0', 'undeliverable postmaster notification discarded', { action: 'delivered' });
  const status = await sent(ctx, req, rcpt, QMGR_NO_RELAY, dsn);
  if (status !== 0) {
    message.flags |= QMGR_MSG_DEFER;
    return;
  }
  const done = await deliverCompleted(message.path, rcpt.offset);
  if (!done.ok) {
    msgWarn(done.message);
    message.flags |= QMGR_MSG_DEFER;
  }
}
