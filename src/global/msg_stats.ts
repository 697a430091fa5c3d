/*
 * msg_stats - the time stamps behind delay= and delays=a/b/c/d (Postfix msg_stats.h)
 *
 * What it does: MsgStats carries, in milliseconds since the epoch, when a
 * message arrived in the incoming queue, entered the active queue, was
 * handed to a delivery agent, when the agent finished connection setup
 * and delivery, and how often the connection was reused. qmgr fills the
 * first three; the agent the rest. log_adhoc.ts turns them into the log's
 * delay= and delays= fields.
 *
 * What it does not do: format anything or read clocks by itself.
 *
 * DIAGNOSTICS
 * None: types only.
 */

export interface MsgStats {
  /** Arrival in the incoming queue (queue file's 'T' record), ms. 0 = unknown. */
  incomingArrival: number;
  /** Entry into the active queue, ms. 0 = unknown. */
  activeArrival: number;
  /** Hand-off to the delivery agent, ms. 0 = unknown. */
  agentHandoff: number;
  /** Connection set up done (smtp/lmtp), ms. 0 = not applicable. */
  connSetupDone: number;
  /** Delivery done, ms. 0 = not yet. */
  deliverDone: number;
  /** How many times the connection was used before (connection cache). */
  reuseCount: number;
}

export function emptyMsgStats(): MsgStats {
  return { incomingArrival: 0, activeArrival: 0, agentHandoff: 0, connSetupDone: 0, deliverDone: 0, reuseCount: 0 };
}
