/*
 * smtpd_check_addr - address-class and syntax restrictions for smtpd
 * (Postfix smtpd_check.c: permit_auth_destination,
 * reject_unauth_destination, reject_non_fqdn_*, reject_invalid_*,
 * reject_unknown_client/reverse_name, check_rcpt_maps)
 *
 * What it does: resolves addresses through the trivial-rewrite resolver
 * (with the per-process cache) to decide whether a recipient is an
 * authorized destination (mydestination, virtual alias/mailbox domains,
 * relay_domains: Postfix's address classes; source-routed addresses are
 * not, unless allow_untrusted_routing), rejects relay attempts with
 * relay_domains_reject_code ("Relay access denied"), validates HELO
 * names and address domains (valid_hostname / valid_hostaddr /
 * fully-qualified rules, one trailing dot allowed), rejects clients
 * whose name lookup failed (unknown_client_reject_code, 450 on temporary
 * failures), and checks recipients and senders against the recipient
 * tables of their address class (local_recipient_maps,
 * virtual_mailbox_maps, relay_recipient_maps; canonical and virtual
 * alias matches count as known; the error transport rejects).
 *
 * What it does not do: DNS (smtpd_check_dns.ts) or access tables
 * (smtpd_check_access.ts).
 *
 * DIAGNOSTICS
 * A resolver or table failure ends the stage with "451 4.3.0 <addr>:
 * Temporary lookup failure".
 */
import { isIP } from 'node:net';
import { DictError } from '../global/dict.js';
import { mailAddrFind } from '../global/mail_addr_find.js';
import type { Maps } from '../global/maps.js';
import {
  CHECK,
  type CheckCtx,
  type CheckResolveReply,
  checkReject,
  dsnSplit,
  MAIL_ERROR,
  RESOLVE_BITS,
  rejectDictRetry,
  rejectServerError,
  SMTPD_NAME,
  smtpdDsnFix,
} from './smtpd_check_log.js';

/** Postfix's name-status codes (smtpd_peer). */
const PEER_OK = 2;
const PEER_PERM = 5;

/** Longest host name and label (Postfix VALID_HOSTNAME_LEN / VALID_LABEL_LEN). */
export const VALID_HOSTNAME_LEN = 255;
export const VALID_LABEL_LEN = 63;

/** Resolve an address, ending the stage with 451 4.3.0 when the resolver fails. */
export async function resolveOrRetry(ctx: CheckCtx, sender: string | null, addr: string): Promise<CheckResolveReply> {
  let reply: CheckResolveReply;
  try {
    reply = await ctx.env.resolveAddr(sender ?? '', addr);
  } catch {
    rejectDictRetry(ctx, addr);
  }
  if (reply.flags & RESOLVE_BITS.FLAG_FAIL) rejectDictRetry(ctx, addr);
  return reply;
}

/** Postfix valid_hostname() without gripes. */
export function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > VALID_HOSTNAME_LEN) return false;
  let nonNumeric = false;
  for (const label of name.split('.')) {
    if (label.length === 0 || label.length > VALID_LABEL_LEN) return false;
    if (!/^[A-Za-z0-9_-]+$/.test(label)) return false;
    if (label.startsWith('-') || label.endsWith('-')) return false;
    if (!/^\d+$/.test(label)) nonNumeric = true;
  }
  return nonNumeric;
}

/** Postfix valid_hostaddr(): an IPv4 or IPv6 address. */
export function validHostaddr(addr: string): boolean {
  return isIP(addr) !== 0;
}

/** Postfix valid_mailhost_addr(): IPv4, or IPv6 with the "IPv6:" prefix. */
export function validMailhostAddr(addr: string): boolean {
  if (/^ipv6:/i.test(addr)) return isIP(addr.slice(5)) === 6;
  return isIP(addr) === 4;
}

/** Drops one trailing dot (not from "..."). */
export function dupIfTruncate(name: string): string {
  return name.length > 1 && name.endsWith('.') && name[name.length - 2] !== '.' ? name.slice(0, -1) : name;
}

export function rejectUnknownClient(ctx: CheckCtx): number {
  const { state, env } = ctx;
  if (state.nameStatus === PEER_OK) return CHECK.DUNNO;
  return checkReject(
    ctx,
    MAIL_ERROR.POLICY,
    state.nameStatus >= PEER_PERM ? env.params.unkClientCode : 450,
    '4.7.25',
    `Client host rejected: cannot find your hostname, [${state.addr}]`,
  );
}

export function rejectUnknownReverseName(ctx: CheckCtx): number {
  const { state, env } = ctx;
  if (state.reverseNameStatus === PEER_OK) return CHECK.DUNNO;
  return checkReject(
    ctx,
    MAIL_ERROR.POLICY,
    state.reverseNameStatus === PEER_PERM ? env.params.unkClientCode : 450,
    '4.7.1',
    `Client host rejected: cannot find your reverse hostname, [${state.addr}]`,
  );
}

export function rejectInvalidHostaddr(ctx: CheckCtx, addr: string, replyName: string, replyClass: string): number {
  const bare = addr.startsWith('[') && addr.length > 2 && addr.endsWith(']') ? addr.slice(1, -1) : addr;
  if (validMailhostAddr(bare)) return CHECK.DUNNO;
  return checkReject(ctx, MAIL_ERROR.POLICY, ctx.env.params.badNameCode, '5.5.2', `<${replyName}>: ${replyClass} rejected: invalid ip address`);
}

export function rejectInvalidHostname(ctx: CheckCtx, name: string, replyName: string, replyClass: string): number {
  const test = dupIfTruncate(name);
  if (validHostname(test) || validHostaddr(test)) return CHECK.DUNNO;
  return checkReject(ctx, MAIL_ERROR.POLICY, ctx.env.params.badNameCode, '5.5.2', `<${replyName}>: ${replyClass} rejected: Invalid name`);
}

export function rejectNonFqdnHostname(ctx: CheckCtx, name: string, replyName: string, replyClass: string): number {
  const test = dupIfTruncate(name);
  if (validHostname(test) && test.includes('.')) return CHECK.DUNNO;
  return checkReject(ctx, MAIL_ERROR.POLICY, ctx.env.params.nonFqdnCode, '5.5.2', `<${replyName}>: ${replyClass} rejected: need fully-qualified hostname`);
}

export function rejectNonFqdnAddress(ctx: CheckCtx, addr: string, replyName: string, replyClass: string): number {
  const at = addr.lastIndexOf('@');
  const domain = at >= 0 ? addr.slice(at + 1) : '';
  if (domain.startsWith('[') && domain.endsWith(']')) return CHECK.DUNNO;
  const test = dupIfTruncate(domain);
  if (test !== '' && validHostname(test) && test.includes('.')) return CHECK.DUNNO;
  return checkReject(ctx, MAIL_ERROR.POLICY, ctx.env.params.nonFqdnCode, '4.5.2', `<${replyName}>: ${replyClass} rejected: need fully-qualified address`);
}

/** permit_auth_destination(): OK for final and relay_domains destinations. */
export async function permitAuthDestination(ctx: CheckCtx, recipient: string): Promise<number> {
  const reply = await resolveOrRetry(ctx, ctx.state.sender, recipient);
  if (!reply.recipient.includes('@')) return CHECK.OK;
  if (!ctx.env.params.allowUntrustedRouting && reply.flags & RESOLVE_BITS.FLAG_ROUTED) return CHECK.DUNNO;
  if (reply.flags & RESOLVE_BITS.CLASS_FINAL) return CHECK.OK;
  if (reply.flags & RESOLVE_BITS.CLASS_RELAY) return CHECK.OK;
  return CHECK.DUNNO;
}

/** reject_unauth_destination / defer_unauth_destination. */
export async function rejectUnauthDestination(ctx: CheckCtx, recipient: string, code: number, dsn: string): Promise<number> {
  if ((await permitAuthDestination(ctx, recipient)) === CHECK.OK) return CHECK.DUNNO;
  return checkReject(ctx, MAIL_ERROR.POLICY, code, dsn, `<${recipient}>: Relay access denied`);
}

/** reject_unauth_pipelining: the client talked ahead of our replies. */
export function rejectUnauthPipelining(ctx: CheckCtx, replyName: string, replyClass: string): number {
  if (!ctx.state.earlyInput()) return CHECK.DUNNO;
  return checkReject(ctx, MAIL_ERROR.PROTOCOL, 503, '5.5.0', `<${replyName}>: ${replyClass} rejected: Improper use of SMTP command pipelining`);
}

/** check_mail_addr_find(): a table lookup that ends the stage on failure. */
async function mailAddrMatch(ctx: CheckCtx, replyName: string, maps: Maps, key: string, isLocal: boolean): Promise<boolean> {
  if (maps.empty) return false;
  try {
    const r = await mailAddrFind(maps, key, {
      recipientDelimiter: ctx.env.params.recipientDelimiter,
      isLocalDomain: () => isLocal,
      doubleBounceSender: ctx.env.params.doubleBounceSender,
    });
    return r !== null;
  } catch (err) {
    if (err instanceof DictError) rejectDictRetry(ctx, replyName);
    rejectServerError(ctx);
  }
}

/** "local@" matches the left-hand side of `addr`, case-insensitively. */
function matchLeft(local: string, addr: string): boolean {
  return addr.toLowerCase().startsWith(`${local.toLowerCase()}@`);
}

/** check_rcpt_maps(): is this address known in the tables of its address class? */
async function checkRcptMaps(ctx: CheckCtx, sender: string | null, recipient: string, replyClass: string): Promise<number> {
  const { env } = ctx;
  const p = env.params;
  const reply = await resolveOrRetry(ctx, sender, recipient);
  const rcpt = reply.recipient;
  const isLocal = (reply.flags & RESOLVE_BITS.CLASS_LOCAL) !== 0;
  const match = (param: string): Promise<boolean> => mailAddrMatch(ctx, recipient, env.namedMaps(param), rcpt, isLocal);
  if (
    (await match('recipient_canonical_maps')) ||
    (replyClass === SMTPD_NAME.SENDER && (await match('sender_canonical_maps'))) ||
    (await match('canonical_maps')) ||
    (await match('virtual_alias_maps'))
  ) {
    return CHECK.DUNNO;
  }
  const isSender = replyClass === SMTPD_NAME.SENDER;
  if (reply.transport === 'error' || reply.transport === 'retry') {
    const hard = reply.transport === 'error';
    const d = dsnSplit(hard ? (isSender ? '5.1.0' : '5.1.1') : isSender ? '4.1.0' : '4.1.1', reply.nexthop);
    const code = hard ? (reply.flags & RESOLVE_BITS.CLASS_ALIAS ? p.virtAliasCode : 550) : 450;
    return checkReject(ctx, MAIL_ERROR.BOUNCE, code, smtpdDsnFix(d.dsn, replyClass), `<${recipient}>: ${replyClass} rejected: ${d.text}`);
  }
  const unknown = (code: number, table: string): number =>
    checkReject(
      ctx,
      MAIL_ERROR.BOUNCE,
      code,
      isSender ? '5.1.0' : '5.1.1',
      `<${recipient}>: ${replyClass} rejected: User unknown${p.showUnkRcptTable ? ` in ${table} table` : ''}`,
    );
  switch (reply.flags & RESOLVE_BITS.CLASS_MASK) {
    case RESOLVE_BITS.CLASS_LOCAL:
      if (
        !env.namedMaps('local_recipient_maps').empty &&
        !matchLeft(p.doubleBounceSender, rcpt) &&
        !matchLeft('postmaster', rcpt) &&
        !matchLeft('MAILER-DAEMON', rcpt) &&
        !(await match('local_recipient_maps'))
      ) {
        return unknown(p.localRcptCode, 'local recipient');
      }
      break;
    case RESOLVE_BITS.CLASS_VIRTUAL:
      if (!env.namedMaps('virtual_mailbox_maps').empty && !(await match('virtual_mailbox_maps'))) {
        return unknown(p.virtMailboxCode, 'virtual mailbox');
      }
      break;
    case RESOLVE_BITS.CLASS_RELAY:
      if (!env.namedMaps('relay_recipient_maps').empty && !(await match('relay_recipient_maps'))) {
        return unknown(p.relayRcptCode, 'relay recipient');
      }
      break;
    default:
      break;
  }
  return CHECK.DUNNO;
}

/** reject_unlisted_recipient (once per RCPT). */
export async function checkRecipientRcptMaps(ctx: CheckCtx, recipient: string): Promise<number> {
  if (ctx.sess.recipientRcptmapChecked) return CHECK.DUNNO;
  if (ctx.sess.warnIfReject === 0) ctx.sess.recipientRcptmapChecked = true;
  return checkRcptMaps(ctx, ctx.state.sender, recipient, SMTPD_NAME.RECIPIENT);
}

/** reject_unlisted_sender (once per MAIL). */
export async function checkSenderRcptMaps(ctx: CheckCtx, sender: string): Promise<number> {
  if (ctx.sess.senderRcptmapChecked) return CHECK.DUNNO;
  if (ctx.sess.warnIfReject === 0) ctx.sess.senderRcptmapChecked = true;
  return checkRcptMaps(ctx, ctx.state.recipient, sender, SMTPD_NAME.SENDER);
}
