/*
 * qmgr_resolve - route a message's recipients to (transport, nexthop) (Postfix qmgr_message_resolve)
 *
 * What it does: resolveRecipients() runs each undelivered recipient of a
 * message through trivial-rewrite's resolver (ResolveCache: a bounded,
 * time-limited cache in front of resolve_clnt, keyed on request, sender
 * and address) and applies Postfix's rules in Postfix's order:
 * a redirect record ('>') sends the first recipient there and drops the
 * rest; content_filter overrides the resolver (nexthop from the filter,
 * default_filter_nexthop, the recipient domain or myhostname); a resolver
 * failure goes to the retry service ("4.3.0 address resolver failure"),
 * bad syntax to the error service ("5.1.3 bad address syntax"), an empty
 * recipient to error ("5.1.3 null recipient address"); a force-expired
 * message goes to retry ("4.7.0 message is administratively expired");
 * local mail to the double-bounce address is set aside to be discarded;
 * defer_transports go to retry ("4.3.2 deferred transport") unless a
 * flush lifted them. The result groups recipients per transport/nexthop,
 * sorted by domain and address as Postfix's qmgr_message_sort().
 *
 * What it does not do: log or mark anything (the caller sends the
 * discarded double bounces through sent() and deliver_completed), nor
 * split per destination recipient limit (the scheduler does).
 *
 * DIAGNOSTICS
 * None of its own; resolve_clnt warns about the rewrite service.
 */
import { MAIL_SERVICE } from '../global/mail_proto.js';
import { RESOLVE_CLASS, RESOLVE_FLAG, type ResolveClient, type ResolveReply } from '../global/resolve_clnt.js';
import { DEL_REQ_FLAG, DEL_REQ_TRACE_ONLY_MASK } from '../global/deliver_request.js';
import type { Recipient } from '../global/recipient_list.js';
import { RecentAnswers } from '../util/recent_answers.js';
import type { QmgrMessage } from './qmgr_message.js';
import { QMGR_SCAN } from './qmgr_scan.js';

/** Postfix QMGR_FORCE_EXPIRE: the message was expired by postsuper -e/-f. */
export const QMGR_FORCE_EXPIRE = 1 << 5;
/** Resolver answers kept at most this many. */
export const RESOLVE_CACHE_MAX_ENTRIES = 10_000;
/** Resolver answers kept at most this long (ms), so table changes show through. */
export const RESOLVE_CACHE_TTL_MS = 60_000;

export class ResolveCache {
  readonly #answers: RecentAnswers<ResolveReply>;

  constructor(
    readonly client: ResolveClient,
    now: () => number = Date.now,
    maxEntries = RESOLVE_CACHE_MAX_ENTRIES,
    ttlMs = RESOLVE_CACHE_TTL_MS,
  ) {
    this.#answers = new RecentAnswers(ttlMs, maxEntries, now);
  }

  async resolve(verify: boolean, sender: string, address: string): Promise<ResolveReply> {
    const key = `${verify ? 'v' : 'r'}\0${sender}\0${address}`;
    const hit = this.#answers.get(key);
    if (hit) return { ...hit };
    const reply = verify ? await this.client.verify(sender, address) : await this.client.resolve(sender, address);
    // A failed lookup is not remembered: the next message tries again.
    if ((reply.flags & RESOLVE_FLAG.FAIL) === 0) this.#answers.set(key, { ...reply });
    return reply;
  }

  clear(): void {
    this.#answers.clear();
  }
}

export interface ResolveSettings {
  deferTransports: readonly string[];
  doubleBounceSender: string;
  defaultFilterNexthop: string;
  myhostname: string;
}

export interface RecipientGroup {
  transport: string;
  nexthop: string;
  recipients: Recipient[];
}

export interface ResolveResult {
  groups: RecipientGroup[];
  /** Local mail to the double-bounce address: discarded ("undeliverable postmaster notification discarded"). */
  doubleBounces: Recipient[];
}

function domainOf(addr: string): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? '' : addr.slice(at + 1).toLowerCase();
}

/** Postfix qmgr_message_sort_compare, for the recipients of one group. */
function compareRecipients(a: Recipient, b: Recipient): number {
  const da = a.address.lastIndexOf('@') >= 0;
  const db = b.address.lastIndexOf('@') >= 0;
  if (!da && db) return 1;
  if (da && !db) return -1;
  const c = domainOf(a.address).localeCompare(domainOf(b.address));
  if (c !== 0) return c;
  return a.address < b.address ? -1 : a.address > b.address ? 1 : 0;
}

function redirect(transport: string, nexthop: string, recipient: string): ResolveReply {
  return { transport, nexthop, recipient, flags: 0 };
}

/** Postfix's qmgr_resolve_one: the resolver's answer with FAIL/ERROR mapped to retry/error. */
async function resolveOne(cache: ResolveCache, message: QmgrMessage, address: string): Promise<ResolveReply> {
  const reply = await cache.resolve((message.tflags & DEL_REQ_FLAG.MTA_VRFY) !== 0, message.sender, address);
  if (reply.flags & RESOLVE_FLAG.FAIL) return redirect(MAIL_SERVICE.RETRY, '4.3.0 address resolver failure', reply.recipient || address);
  if (reply.flags & RESOLVE_FLAG.ERROR) return redirect(MAIL_SERVICE.ERROR, '5.1.3 bad address syntax', reply.recipient || address);
  return reply;
}

/** Is `recipient` the local double-bounce address? (local part compared without case) */
function isDoubleBounce(recipient: string, doubleBounceSender: string): boolean {
  const at = recipient.lastIndexOf('@');
  const local = at < 0 ? recipient : recipient.slice(0, at);
  return local.toLowerCase() === doubleBounceSender.toLowerCase();
}

export async function resolveRecipients(
  message: QmgrMessage,
  cache: ResolveCache,
  s: ResolveSettings,
  recipients: readonly Recipient[] = message.recipients,
  firstBatch = true,
): Promise<ResolveResult> {
  const groups = new Map<string, RecipientGroup>();
  const doubleBounces: Recipient[] = [];
  let first = firstBatch;
  for (const original of recipients) {
    let rcpt = original;
    let reply: ResolveReply;
    if (message.redirectAddr !== '') {
      // Redirect overrides all else, but only once per message.
      if (!first) {
        first = false;
        continue;
      }
      rcpt = { ...rcpt, address: message.redirectAddr };
      reply = await resolveOne(cache, message, rcpt.address);
    } else if (message.filterXport !== '' && (message.tflags & DEL_REQ_TRACE_ONLY_MASK) === 0) {
      const colon = message.filterXport.indexOf(':');
      const transport = colon < 0 ? message.filterXport : message.filterXport.slice(0, colon);
      let nexthop = colon < 0 ? '' : message.filterXport.slice(colon + 1);
      if (nexthop === '') nexthop = s.defaultFilterNexthop;
      if (nexthop === '') nexthop = domainOf(rcpt.address) || s.myhostname;
      reply = redirect(transport, nexthop, rcpt.address);
    } else {
      reply = await resolveOne(cache, message, rcpt.address);
    }
    first = false;
    if (reply.recipient !== rcpt.address && reply.recipient !== '') rcpt = { ...rcpt, address: reply.recipient };
    if (rcpt.address === '') reply = redirect(MAIL_SERVICE.ERROR, '5.1.3 null recipient address', '');
    if (message.qflags & QMGR_FORCE_EXPIRE) reply = redirect(MAIL_SERVICE.RETRY, '4.7.0 message is administratively expired', rcpt.address);
    if (reply.flags & RESOLVE_CLASS.LOCAL && isDoubleBounce(reply.recipient, s.doubleBounceSender)) {
      doubleBounces.push(rcpt);
      continue;
    }
    if ((message.qflags & QMGR_SCAN.FLUSH_DFXP) === 0 && s.deferTransports.includes(reply.transport)) {
      reply = redirect(MAIL_SERVICE.RETRY, '4.3.2 deferred transport', rcpt.address);
    }
    const key = `${reply.transport}\0${reply.nexthop}`;
    let g = groups.get(key);
    if (!g) {
      g = { transport: reply.transport, nexthop: reply.nexthop, recipients: [] };
      groups.set(key, g);
    }
    g.recipients.push(rcpt);
  }
  const sorted = [...groups.values()].sort((a, b) =>
    a.transport !== b.transport ? (a.transport < b.transport ? -1 : 1) : a.nexthop < b.nexthop ? -1 : a.nexthop > b.nexthop ? 1 : 0,
  );
  for (const g of sorted) g.recipients.sort(compareRecipients);
  return { groups: sorted, doubleBounces };
}
