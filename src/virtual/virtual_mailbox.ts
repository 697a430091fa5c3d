/*
 * virtual_mailbox - deliver to one virtual recipient (Postfix virtual/recipient.c, mailbox.c, maildir.c, unknown.c)
 *
 * What it does: deliverRecipient() folds the recipient to lower case,
 * looks it up in virtual_mailbox_maps with Postfix's mail_addr_find
 * order (user+ext@domain, user@domain, @domain), and then
 * virtual_uid_maps and virtual_gid_maps; builds the mailbox path
 * $virtual_mailbox_base/<result> (ending in "/" = Maildir, else mbox) and
 * stores the message there as the mailbox owner (virtual_store.ts) with
 * Return-Path:, Delivered-To: (the recipient, lower case) and
 * X-Original-To: (and, for mbox, the From_ line, >From quoting and the
 * empty line at the end). It reports the outcome as Postfix does:
 *   sent       "delivered to maildir" / "delivered to mailbox" (2.0.0)
 *   bounced    5.1.1 unknown user: "user@domain"   (not in the table)
 *   deferred   4.3.5 mail system configuration error   (table lookup
 *              error, no uid/gid, uid below virtual_minimum_uid, gid <= 0;
 *              each with Postfix's warning)
 *   4.x/5.x    "maildir delivery failed: ..." / "delivery failed to
 *              mailbox PATH: ..." (defer or bounce by the status class)
 * Address probes and other trace-only requests get "delivers to
 * maildir"/"delivers to mailbox" without touching a mailbox.
 *
 * What it does not do: aliases, .forward, commands or files (local(8)
 * and virtual_alias_maps do that), or Delivered-To loop detection
 * (Postfix's virtual(8) has none either; local(8) and pipe(8) flag D do).
 *
 * DIAGNOSTICS
 * Postfix's warnings: "table T: lookup U: ERR", "recipient U: not found
 * in T", "recipient U: bad uid N in T", "recipient U: bad gid N in T",
 * "maildir access problem for UID/GID=U/G: ...".
 */
import { msgWarn } from '../util/msg.js';
import { bounceAppend } from '../global/bounce.js';
import { deferAppend } from '../global/defer.js';
import { sent } from '../global/sent.js';
import { delReqTraceOnly, DEL_REQ_FLAG, type DeliverRequest } from '../global/deliver_request.js';
import type { DeliveryContext } from '../global/delivery_agent.js';
import { dsnMake, type Dsn } from '../global/dsn.js';
import { DictError } from '../global/dict_base.js';
import { mailAddrFind, type MailAddrFindOptions } from '../global/mail_addr_find.js';
import { MAIL_COPY, mailCopy } from '../global/mail_copy.js';
import type { Maps } from '../global/maps.js';
import type { Recipient } from '../global/recipient_list.js';
import { isMaildir, storeMessage } from './virtual_store.js';

/** The per-process settings of virtual(8) (virtual.ts builds them once). */
export interface VirtualSettings {
  mailboxMaps: Maps;
  uidMaps: Maps;
  gidMaps: Maps;
  mailboxBase: string;
  minimumUid: number;
  lockStyle: string;
  mailboxLimit: number;
  strictOwner: boolean;
  findOptions: MailAddrFindOptions;
}

/** Per-recipient outcome, as Postfix's rcpt_stat: 0 final (crossed off or may be), non-zero: try again. */
export type RcptStat = number;

const CONFIG_ERROR = 'mail system configuration error';

/** Postfix atol(): the leading decimal number, 0 when none. */
export function atol(text: string): number {
  const m = /^\s*([-+]?\d+)/.exec(text);
  return m ? Number(m[1]) : 0;
}

async function lookup(maps: Maps, key: string, s: VirtualSettings): Promise<{ value: string | null; error: unknown }> {
  try {
    const hit = await mailAddrFind(maps, key, s.findOptions);
    return { value: hit ? hit.result : null, error: null };
  } catch (e) {
    if (e instanceof DictError) return { value: null, error: e };
    throw e;
  }
}

async function finalStatus(req: DeliverRequest, rcpt: Recipient, ctx: DeliveryContext, dsn: Dsn, how: 'sent' | 'bounce' | 'defer'): Promise<RcptStat> {
  const relay = ctx.serviceName;
  if (how === 'defer') {
    await deferAppend(ctx.status, req, rcpt, relay, dsn);
    return -1;
  }
  const st = how === 'sent' ? await sent(ctx.status, req, rcpt, relay, dsn) : await bounceAppend(ctx.status, req, rcpt, relay, dsn);
  // Postfix local_deliver(): final recipients are crossed off when the request says so (DEL_REQ_FLAG_SUCCESS).
  if (st === 0 && req.flags & DEL_REQ_FLAG.SUCCESS) {
    if ((await ctx.completed(req, rcpt)) !== 0) return -1;
  }
  return st;
}

function byClass(dsn: Dsn): 'bounce' | 'defer' {
  return dsn.status.charAt(0) === '4' ? 'defer' : 'bounce';
}

/** One recipient of the request: look up, store, report, cross off. */
export async function deliverRecipient(req: DeliverRequest, rcpt: Recipient, ctx: DeliveryContext, s: VirtualSettings): Promise<RcptStat> {
  const user = rcpt.address.toLowerCase();
  const configError = (): Promise<RcptStat> => finalStatus(req, rcpt, ctx, dsnMake('4.3.5', CONFIG_ERROR), 'defer');

  const box = await lookup(s.mailboxMaps, user, s);
  if (box.value === null) {
    if (box.error === null) return finalStatus(req, rcpt, ctx, dsnMake('5.1.1', `unknown user: "${user}"`), 'bounce');
    msgWarn(`table ${s.mailboxMaps.title}: lookup ${user}: ${(box.error as Error).message}`);
    return configError();
  }
  const mailbox = `${s.mailboxBase}/${box.value}`;

  const uidRes = await lookup(s.uidMaps, user, s);
  if (uidRes.value === null) {
    msgWarn(`recipient ${user}: not found in ${s.uidMaps.title}`);
    return configError();
  }
  const uid = atol(uidRes.value);
  if (uid < s.minimumUid) {
    msgWarn(`recipient ${user}: bad uid ${uidRes.value} in ${s.uidMaps.title}`);
    return configError();
  }
  const gidRes = await lookup(s.gidMaps, user, s);
  if (gidRes.value === null) {
    msgWarn(`recipient ${user}: not found in ${s.gidMaps.title}`);
    return configError();
  }
  const gid = atol(gidRes.value);
  if (gid <= 0) {
    msgWarn(`recipient ${user}: bad gid ${gidRes.value} in ${s.gidMaps.title}`);
    return configError();
  }

  const maildir = isMaildir(mailbox);
  if (delReqTraceOnly(req.flags)) {
    return finalStatus(req, rcpt, ctx, dsnMake('2.0.0', maildir ? 'delivers to maildir' : 'delivers to mailbox'), 'sent');
  }
  const flags = maildir ? MAIL_COPY.TOFILE | MAIL_COPY.RETURN_PATH | MAIL_COPY.DELIVERED | MAIL_COPY.ORIG_RCPT : MAIL_COPY.MBOX;
  const queueFilePath = ctx.queueFilePath(req);
  const result = await storeMessage(
    { mailbox, uid, gid, lockStyle: s.lockStyle, strictOwner: s.strictOwner, recipient: rcpt.address, sizeLimit: s.mailboxLimit },
    (out) => mailCopy({ queueFilePath, dataOffset: req.dataOffset, sender: req.sender, deliveredTo: rcpt.address.toLowerCase(), origRcpt: rcpt.origAddress, flags, out }),
  );
  if (result.ok) {
    return finalStatus(req, rcpt, ctx, dsnMake('2.0.0', maildir ? 'delivered to maildir' : 'delivered to mailbox'), 'sent');
  }
  if (result.corrupt) {
    msgWarn(`${req.queueId}: ${result.dsn.reason}`);
    return -1;
  }
  if (maildir) {
    if (/Permission denied/.test(result.dsn.reason)) {
      msgWarn(`maildir access problem for UID/GID=${uid}/${gid}: ${result.dsn.reason}`);
      msgWarn('perhaps you need to create the maildirs in advance');
    }
    const dsn = { ...result.dsn, reason: `maildir delivery failed: ${result.dsn.reason}` };
    return finalStatus(req, rcpt, ctx, dsn, byClass(dsn));
  }
  const dsn = { ...result.dsn, reason: `delivery failed to mailbox ${mailbox}: ${result.dsn.reason}` };
  return finalStatus(req, rcpt, ctx, dsn, byClass(dsn));
}
