/*
 * cleanup_bounce - bounce a rejected message for clients that cannot (Postfix cleanup_bounce.c)
 *
 * What it does: when cleanup refuses a message from a client that set
 * CLEANUP_FLAG.BOUNCE (pickup: mail from sendmail/postdrop), nobody is
 * there to tell the sender, so cleanup does it: it flushes what it wrote
 * of the queue file, reads the recipient records back (original
 * recipient, DSN ORCPT and NOTIFY included), appends one "bounced" entry
 * per recipient to the bounce log (logged as Postfix does, relay=none),
 * and asks the bounce service to send the non-delivery notification. On
 * success the error bits are cleared and the message is marked for
 * discarding, so the client sees success and its file goes away; the
 * queue file is removed by cleanupFlush as for any discarded message.
 * The DSN status and text come from the rejection's reason ("5.7.1
 * text") or, without one, from cleanup's status table. A size or content
 * rejection returns headers only (never unfiltered body content).
 *
 * What it does not do: decide whether a bounce is possible
 * (cleanupCanBounce), write the notification itself (bounce(8) does), or
 * handle VERP senders differently from others beyond asking for a VERP
 * flush.
 *
 * DIAGNOSTICS
 * "QUEUEID: bounce message failure" when the bounce service could not
 * take the notification; then CLEANUP_STAT.WRITE stays set, and the
 * client keeps its copy (pickup leaves the maildrop file).
 */
import { readFile } from 'node:fs/promises';
import { BOUNCE_FLAG, bounceFlush, bounceFlushVerp, bounceLogAppend, NO_RELAY_AGENT } from '../global/bounce_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT, cleanupStatDetail } from '../global/cleanup_user.js';
import { DSN_RET, dsnMake } from '../global/dsn.js';
import { dsnSplit } from '../global/dsn_util.js';
import { logAdhoc } from '../global/log_adhoc.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { emptyMsgStats } from '../global/msg_stats.js';
import { QUEUE_ATTR } from '../global/queue_file_write.js';
import { REC_TYPE } from '../global/rec_type.js';
import type { Recipient } from '../global/recipient_list.js';
import { decodeRecord } from '../global/record.js';
import { clog } from './cleanup_log.js';
import { type CleanupState, dsnNotifyOk } from './cleanup_state.js';

/** Errors after which a bounce cannot be made (Postfix CLEANUP_STAT_MASK_CANT_BOUNCE). */
const CANT_BOUNCE = CLEANUP_STAT.BAD | CLEANUP_STAT.WRITE | CLEANUP_STAT.DEFER | CLEANUP_STAT.RCPT | CLEANUP_STAT.PROXY;

/** Postfix's CAN_BOUNCE(): an error, a BOUNCE client, a sender, and nothing that forbids it. */
export function cleanupCanBounce(state: CleanupState): boolean {
  return state.errs !== 0 && (state.errs & CANT_BOUNCE) === 0 && state.sender !== null && (state.flags & CLEANUP_FLAG.BOUNCE) !== 0;
}

/** The recipients written so far, read back from the queue file's bytes (a partial file is fine). */
export function recipientsWritten(buf: Buffer): Recipient[] {
  const out: Recipient[] = [];
  let orig: string | null = null;
  let orcpt = '';
  let notify = 0;
  for (let off = 0; off < buf.length; ) {
    const r = decodeRecord(buf, off);
    if (r.kind !== 'record' || r.type === REC_TYPE.END) break;
    let type = r.type;
    let text = r.data.toString('utf8');
    if (type === REC_TYPE.ATTR) {
      const eq = text.indexOf('=');
      const name = eq < 0 ? text : text.slice(0, eq);
      const value = eq < 0 ? '' : text.slice(eq + 1);
      if (value === '') {
        off = r.next;
        continue;
      }
      if (name === QUEUE_ATTR.DSN_ORCPT) type = REC_TYPE.DSN_ORCPT;
      else if (name === QUEUE_ATTR.DSN_NOTIFY) type = REC_TYPE.DSN_NOTIFY;
      text = value;
    }
    if (type === REC_TYPE.DSN_ORCPT) orcpt = text;
    else if (type === REC_TYPE.DSN_NOTIFY) notify = /^\d+$/.test(text) && dsnNotifyOk(Number(text)) ? Number(text) : 0;
    else if (type === REC_TYPE.ORCP) orig = text;
    else if (type === REC_TYPE.RCPT || type === REC_TYPE.DRCP || type === REC_TYPE.DONE) {
      if (type === REC_TYPE.RCPT) out.push({ origAddress: orig ?? text, address: text, offset: r.offset, dsnOrcpt: orcpt, dsnNotify: notify });
      orig = null;
      orcpt = '';
      notify = 0;
    }
    off = r.next;
  }
  return out;
}

/** Postfix cleanup_bounce(): returns the remaining error bits (0 = bounced; the message is discarded). */
export async function cleanupBounce(state: CleanupState): Promise<number> {
  const config = state.params.config;
  const queueDir = state.params.queueDir;
  let status: string;
  let text: string;
  if (state.reason) {
    const split = dsnSplit('5.0.0', state.reason);
    status = split.status;
    text = split.text;
  } else {
    const detail = cleanupStatDetail(state.errs);
    status = detail.dsn;
    text = detail.text;
  }
  let rcpts: Recipient[] = [];
  try {
    await state.out.flush();
    rcpts = recipientsWritten(await readFile(state.out.path));
  } catch (err) {
    clog.warn(`${state.queueId}: read queue file: ${(err as Error).message}`);
    state.errs |= CLEANUP_STAT.WRITE;
  }
  if (rcpts.length === 0) rcpts = [{ origAddress: '', address: 'unknown', offset: 0, dsnOrcpt: '', dsnNotify: 0 }];
  const opts = { queueDir, timeoutMs: config.getTime('ipc_timeout') * 1000, serviceNames: { bounce: config.get('bounce_service_name') } };
  const stats = { ...emptyMsgStats(), incomingArrival: state.arrivalSec * 1000 + Math.floor(state.arrivalUsec / 1000) };
  const dsn = dsnMake(status, text, { action: 'failed' });
  for (const rcpt of rcpts) {
    if (state.errs & CLEANUP_STAT.WRITE) break;
    // With soft_bounce a CLEAN bounce is refused, as Postfix: the client keeps its copy.
    const ok = !config.getBool('soft_bounce') && (await bounceLogAppend(opts, 'bounce', BOUNCE_FLAG.CLEAN, state.queueId, rcpt, dsn)) === 0;
    if (!ok) state.errs |= CLEANUP_STAT.WRITE;
    else logAdhoc({ config }, state.queueId, stats, rcpt, NO_RELAY_AGENT, dsn, 'bounced');
  }
  if ((state.errs & CLEANUP_STAT.WRITE) === 0) {
    const encoding = state.attr.get(MAIL_ATTR.ENCODING) ?? '';
    const ret = state.errs & (CLEANUP_STAT.CONT | CLEANUP_STAT.SIZE) ? DSN_RET.HDRS : state.dsnRet;
    const sender = state.sender ?? '';
    const envid = state.dsnEnvid ?? '';
    const verp = state.verpDelims && !config.getBool('disable_verp_bounces');
    const st = verp
      ? await bounceFlushVerp(opts, BOUNCE_FLAG.CLEAN, state.queueName, state.queueId, encoding, state.smtputf8, sender, envid, ret, state.verpDelims as string)
      : await bounceFlush(opts, BOUNCE_FLAG.CLEAN, state.queueName, state.queueId, encoding, state.smtputf8, sender, envid, ret);
    if (st !== 0) {
      clog.warn(`${state.queueId}: bounce message failure`);
      state.errs |= CLEANUP_STAT.WRITE;
    }
  }
  state.errs &= CLEANUP_STAT.WRITE;
  if (state.errs === 0) state.flags |= CLEANUP_FLAG.DISCARD;
  return state.errs;
}
