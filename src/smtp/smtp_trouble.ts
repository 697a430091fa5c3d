/*
 * smtp_trouble - what a failure means for the recipients and the destination (Postfix smtp_trouble.c)
 *
 * What it does: the error policies of the SMTP/LMTP client.
 * siteFail(): the server could not be reached or refused the session
 * (greeting, HELO) — throttle the destination. mesgFail(): the server
 * refused the sender or the content — no throttle. rcptFail(): one
 * recipient refused. streamExcept(): timeout or lost connection —
 * throttle. bulkFail() is the common part: a temporary error (or a
 * permanent one with soft_bounce) on a server that is not the last one
 * only logs "QUEUEID: reason" and keeps the recipients for the next
 * server; otherwise every unmarked recipient is deferred (4xx) or bounced
 * (5xx) and dropped, and when throttling and something stayed queued the
 * hop status is set so qmgr throttles the destination. Reasons are built
 * as Postfix's: "Protocol error: " for replies outside 4xx/5xx (status
 * 5.5.0), remote MTA "dns; host", diagnostic "smtp; reply".
 *
 * What it does not do: speak SMTP, or notify the postmaster of protocol
 * errors (notify_classes protocol: later).
 *
 * DIAGNOSTICS
 * Logs "QUEUEID: reason" (info) for problems that move on to the next
 * server, as Postfix.
 */
import type { Recipient } from '../global/recipient_list.js';
import { msgInfo } from '../util/msg.js';
import { SMTP_ERR, type SmtpErrKind, type SmtpResp } from './smtp_chat.js';
import { RCPT_MARK, type SmtpState, type Why, unmarked, whySimple, whyToDsn } from './smtp_state.js';
import { reportBounce, reportDefer } from './smtp_status.js';

/** Postfix's translit(str, "\n", " "): a reply as one line. */
export function oneLine(text: string): string {
  return text.replace(/\n/g, ' ');
}

/** Postfix vsmtp_fill_dsn(): the why-record for a reply from mtaName. */
export function fillWhy(mtaName: string | null, resp: SmtpResp | null, reason: string): Why {
  let status = resp?.dsn ?? '4.0.0';
  let text = reason;
  if (mtaName && status[0] !== '4' && status[0] !== '5') {
    text = `Protocol error: ${reason}`;
    status = '5.5.0';
  }
  return {
    status,
    reason: text,
    mtype: mtaName ? 'dns' : '',
    mname: mtaName ?? '',
    dtype: resp ? 'smtp' : '',
    dtext: resp ? resp.str : '',
  };
}

function isSoft(state: SmtpState, why: Why): { soft: boolean; softBounce: boolean } {
  const soft = why.status[0] === '4';
  return { soft, softBounce: why.status[0] === '5' && state.params.softBounce };
}

async function reportOne(state: SmtpState, rcpt: Recipient, why: Why, soft: boolean): Promise<number> {
  const relay = state.session ? state.session.namaddrport : 'none';
  const dsn = whyToDsn(why);
  return soft ? reportDefer(state.report, rcpt, relay, dsn) : reportBounce(state.report, rcpt, relay, dsn);
}

/** Stamps the connection set-up / delivery times as smtp_bulk_fail() does before reporting. */
function stampDone(state: SmtpState): void {
  const now = Date.now();
  const st = state.req.msgStats;
  if (st.connSetupDone === 0) {
    st.connSetupDone = now;
    st.deliverDone = now;
  } else {
    st.deliverDone = now;
  }
}

/** Skip, defer or bounce every unmarked recipient; maybe set the hop status. Always -1. */
export async function bulkFail(state: SmtpState, why: Why, throttle: boolean): Promise<number> {
  state.why = why;
  // We cannot talk to this server: its session is not cached.
  if (throttle) state.throttled = true;
  const { soft, softBounce } = isSoft(state, why);
  if ((soft || softBounce) && !state.finalServer) {
    msgInfo(`${state.req.queueId}: ${why.reason}`);
    for (const r of unmarked(state)) state.marks.set(r, RCPT_MARK.KEEP);
    return -1;
  }
  stampDone(state);
  let aggregate = 0;
  for (const r of unmarked(state)) {
    aggregate |= await reportOne(state, r, why, soft);
    state.marks.set(r, RCPT_MARK.DROP);
  }
  state.status |= aggregate;
  if (throttle && aggregate !== 0 && state.hop === null) state.hop = whyToDsn(why);
  return -1;
}

export function siteFail(state: SmtpState, mtaName: string | null, resp: SmtpResp | null, reason: string): Promise<number> {
  return bulkFail(state, fillWhy(mtaName, resp, reason), true);
}

export function mesgFail(state: SmtpState, mtaName: string | null, resp: SmtpResp | null, reason: string): Promise<number> {
  return bulkFail(state, fillWhy(mtaName, resp, reason), false);
}

/** Session-level failure with a prepared why (Postfix smtp_sess_fail). */
export function sessFail(state: SmtpState, why: Why): Promise<number> {
  return bulkFail(state, why, true);
}

export async function rcptFail(state: SmtpState, rcpt: Recipient, mtaName: string | null, resp: SmtpResp | null, reason: string): Promise<void> {
  const why = fillWhy(mtaName, resp, reason);
  state.why = why;
  const { soft, softBounce } = isSoft(state, why);
  if ((soft || softBounce) && !state.finalServer) {
    msgInfo(`${state.req.queueId}: ${why.reason}`);
    state.marks.set(rcpt, RCPT_MARK.KEEP);
    return;
  }
  state.status |= await reportOne(state, rcpt, why, soft);
  state.marks.set(rcpt, RCPT_MARK.DROP);
}

/** Timeout / lost connection / local data error while `description`. */
export function streamExcept(state: SmtpState, kind: SmtpErrKind, description: string): Promise<number> {
  const who = state.session?.namaddr ?? 'none';
  let why: Why;
  if (kind === SMTP_ERR.EOF) why = whySimple('4.4.2', `lost connection with ${who} while ${description}`);
  else if (kind === SMTP_ERR.TIME) why = whySimple('4.4.2', `conversation with ${who} timed out while ${description}`);
  else why = whySimple('4.3.0', `local data error while talking to ${who}`);
  return bulkFail(state, why, true);
}
