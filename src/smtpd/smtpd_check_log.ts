/*
 * smtpd_check_log - replies, deferrals and logging for smtpd restrictions
 * (the smtpd_check_reject/defer_if/log_whatsup part of Postfix smtpd_check.c)
 *
 * What it does: defines the context every restriction function works
 * in (CheckCtx: the per-process environment, the SMTP session state and
 * the per-session restriction bookkeeping), formats a rejection the way
 * Postfix does ("CODE D.S.N text", validated, truncated to 510 bytes,
 * made printable, defer_if_reject and soft_bounce applied, the DSN class
 * forced to the SMTP class), logs "QUEUEID: reject: WHERE from
 * name[addr]: reply; from=<> to=<> proto= helo=<>" (or reject_warning,
 * warn, info, hold, discard, filter, redirect, bcc, permit), remembers
 * defer_if_permit / defer_if_reject decisions, and aborts a stage with
 * "451 4.3.0 <x>: Temporary lookup failure" or "451 4.3.5 Server
 * configuration error" (Postfix's longjmp, here an exception caught by
 * the stage driver). Also dsnSplit() and smtpdDsnFix() (smtpd_dsn_fix.c).
 *
 * What it does not do: decide anything (smtpd_check.ts and the
 * smtpd_check_*.ts restriction modules do), or send replies (smtpd does).
 *
 * DIAGNOSTICS
 * "warning: SMTP reply code configuration error: ..." and "warning: DSN
 * detail code configuration error: ..." for bad configured replies.
 */
import { msgInfo, msgWarn } from '../util/msg.js';
import type { DnsLookup } from '../global/dns_lookup.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { Maps } from '../global/maps.js';
import { quote822Local } from '../global/quote_822_local.js';
import { RESOLVE_CLASS, RESOLVE_FLAG, type ResolveClient, type ResolveReply } from '../global/resolve_clnt.js';
import type { SmtpdState } from './smtpd_state.js';

/** Restriction results (Postfix SMTPD_CHECK_*). */
export const CHECK = { DUNNO: 0, OK: 1, REJECT: 2 } as const;
export type CheckStatus = (typeof CHECK)[keyof typeof CHECK];

/** Error classes (Postfix mail_error.h): only SOFTWARE/RESOURCE/DATA escape warn_if_reject. */
export const MAIL_ERROR = {
  POLICY: 1 << 0,
  PROTOCOL: 1 << 1,
  BOUNCE: 1 << 2,
  SOFTWARE: 1 << 3,
  RESOURCE: 1 << 4,
  DATA: 1 << 8,
} as const;

/** What is being rejected, in replies (Postfix SMTPD_NAME_*). */
export const SMTPD_NAME = {
  CLIENT: 'Client host',
  REV_CLIENT: 'Unverified Client host',
  HELO: 'Helo command',
  SENDER: 'Sender address',
  RECIPIENT: 'Recipient address',
  ETRN: 'Etrn command',
  DATA: 'Data command',
  EOD: 'End-of-data',
} as const;

/** Sender DSN for address problems that have no sender code (Postfix SND_DSN). */
export const SND_DSN = '4.1.7';

/** Longest reply text, as Postfix (RFC 5321 line limit less CRLF). */
export const REPLY_TEXT_LIMIT = 510;

/** Address classes and flags of a resolver reply (R's RESOLVE_FLAG / RESOLVE_CLASS, Postfix's values). */
export const RESOLVE_BITS = {
  FLAG_FINAL: RESOLVE_FLAG.FINAL,
  FLAG_ROUTED: RESOLVE_FLAG.ROUTED,
  FLAG_ERROR: RESOLVE_FLAG.ERROR,
  FLAG_FAIL: RESOLVE_FLAG.FAIL,
  CLASS_LOCAL: RESOLVE_CLASS.LOCAL,
  CLASS_ALIAS: RESOLVE_CLASS.ALIAS,
  CLASS_VIRTUAL: RESOLVE_CLASS.VIRTUAL,
  CLASS_RELAY: RESOLVE_CLASS.RELAY,
  CLASS_DEFAULT: RESOLVE_CLASS.DEFAULT,
  CLASS_FINAL: RESOLVE_CLASS.FINAL,
  CLASS_MASK: RESOLVE_CLASS.MASK,
} as const;

/** What the engine needs from the address resolver (R's ResolveClient). */
export type CheckResolveReply = ResolveReply;
export type CheckResolver = Pick<ResolveClient, 'resolve'>;

/** One postponed decision (Postfix SMTPD_DEFER). */
export interface DeferInfo {
  active: boolean;
  errorClass: number;
  code: number;
  dsn: string;
  reason: string;
}

/** Per-session restriction bookkeeping (Postfix SMTPD_STATE's check fields). */
export interface CheckSession {
  recursion: number;
  warnIfReject: number;
  deferIfPermit: DeferInfo;
  deferIfReject: DeferInfo;
  deferIfPermitClient: boolean;
  deferIfPermitHelo: boolean;
  deferIfPermitSender: boolean;
  senderRcptmapChecked: boolean;
  recipientRcptmapChecked: boolean;
  errorMask: number;
  etrnName: string | null;
  /** The reply of the last smtpd_check_reject(). */
  errorText: string;
}

function noDefer(): DeferInfo {
  return { active: false, errorClass: 0, code: 0, dsn: '', reason: '' };
}

export function newCheckSession(): CheckSession {
  return {
    recursion: 0,
    warnIfReject: 0,
    deferIfPermit: noDefer(),
    deferIfReject: noDefer(),
    deferIfPermitClient: false,
    deferIfPermitHelo: false,
    deferIfPermitSender: false,
    senderRcptmapChecked: false,
    recipientRcptmapChecked: false,
    errorMask: 0,
    etrnName: null,
    errorText: '',
  };
}

/** Parameters the restriction code reads (codes and switches), read once. */
export interface CheckParams {
  unkClientCode: number;
  badNameCode: number;
  unkNameCode: number;
  unkAddrCode: number;
  relayCode: number;
  mapsRblCode: number;
  mapRejectCode: number;
  mapDeferCode: number;
  rejectCode: number;
  deferCode: number;
  nonFqdnCode: number;
  mulRcptCode: number;
  localRcptCode: number;
  relayRcptCode: number;
  virtMailboxCode: number;
  virtAliasCode: number;
  showUnkRcptTable: boolean;
  rejectUnlistedSender: boolean;
  rejectUnlistedRecipient: boolean;
  allowUntrustedRouting: boolean;
  softBounce: boolean;
  nullAccessKey: string;
  recipientDelimiter: string;
  doubleBounceSender: string;
  delayReject: boolean;
  relayBeforeRecipient: boolean;
  /** true: defer_if_permit, false: defer (unknown_*_tempfail_action). */
  unkNameTempfailIfPermit: boolean;
  unkAddrTempfailIfPermit: boolean;
  unvFromTempfailIfPermit: boolean;
  unvRcptTempfailIfPermit: boolean;
  defaultRblReply: string;
  expansionFilter: string;
  messageSizeLimit: number;
}

/** The per-process environment (built by SmtpdChecks). */
export interface CheckEnv {
  config: MailConfig;
  params: CheckParams;
  dns: DnsLookup;
  resolver: CheckResolver;
  /** parent_domain_matches_subdomains lists smtpd_access_maps. */
  accessParentStyle: boolean;
  /** The Maps of a check_*_access table (opened when the lists were parsed). */
  accessMaps(spec: string): Maps | undefined;
  /** Named maps (local_recipient_maps, rbl_reply_maps, ...). */
  namedMaps(param: string): Maps;
  /** Resolve with the per-process cache; throws CheckAbort on failure via the caller. */
  resolveAddr(sender: string, address: string): Promise<CheckResolveReply>;
  /** Is this one of our own interface addresses (permit_inet_interfaces)? */
  ownAddress(addr: string): boolean;
  /** mynetworks matcher: true/false, or a string (the lookup error). */
  matchMynetworks(name: string, addr: string): boolean | string;
  /** The recursive restriction evaluator (smtpd_check.ts). */
  genericChecks(ctx: CheckCtx, list: readonly string[], replyName: string, replyClass: string, defAcl: string | null): Promise<number>;
  /** The pre-parsed smtpd_restriction_classes. */
  restrictionClasses: ReadonlyMap<string, readonly string[]>;
  /** Sleep for `sleep N` (tests may shorten it). */
  sleep(seconds: number): Promise<void>;
  /** Cached RBL answers. */
  rblCache: Map<string, RblAnswer>;
  /** Is this permit action listed in smtpd_log_access_permit_actions? */
  logPermit(action: string): boolean;
}

/** An RBL/DNSWL query result: hard miss, soft (temporary) failure, or the A records and TXT. */
export type RblAnswer = { kind: 'miss' } | { kind: 'soft' } | { kind: 'hit'; a: string[]; txt: string | null };

export interface CheckCtx {
  env: CheckEnv;
  state: SmtpdState;
  sess: CheckSession;
}

/** Thrown to end a stage at once (Postfix's longjmp out of generic_checks). */
export class CheckAbort extends Error {
  constructor(readonly status: number) {
    super('smtpd check aborted');
    this.name = 'CheckAbort';
  }
}

/** The address as Postfix logs it (info_log_address_format: external quotes the local part). */
function logAddr(state: SmtpdState, addr: string): string {
  if (addr === '' || state.config.get('info_log_address_format') === 'internal') return addr;
  return quote822Local(addr);
}

/** "QUEUEID: WHATSUP: WHERE from name[addr]: TEXT; from=<> to=<> proto= helo=<>". */
export function logWhatsup(state: SmtpdState, whatsup: string, text: string): void {
  let line = `${state.queueId ?? 'NOQUEUE'}: ${whatsup}: ${state.where} from ${state.namaddr}: ${text};`;
  if (state.sender !== null) line += ` from=<${logAddr(state, state.sender)}>`;
  if (state.recipient !== null) line += ` to=<${logAddr(state, state.recipient)}>`;
  if (state.protocol) line += ` proto=${state.protocol}`;
  if (state.heloName !== null) line += ` helo=<${state.heloName}>`;
  msgInfo(line);
  state.actionLog.push(`${whatsup}: ${text}`);
}

/** Postfix dsn_valid(): "d.ddd.ddd" with class 2, 4 or 5, then end or space; returns its length or 0. */
export function dsnValid(text: string): number {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?=$|[ \t])/.exec(text);
  return m ? m[0].length : 0;
}

/** Postfix dsn_split(): an optional leading D.S.N in `text`, else `defDsn`. */
export function dsnSplit(defDsn: string, text: string): { dsn: string; text: string } {
  const trimmed = text.replace(/^[ \t]+/, '');
  const len = dsnValid(trimmed);
  if (len > 0) return { dsn: trimmed.slice(0, len), text: trimmed.slice(len).replace(/^[ \t]+/, '') };
  return { dsn: defDsn, text: trimmed };
}

/** [micro code, sender DSN, recipient DSN] (Postfix smtpd_dsn_fix.c); others map to 4.1.0. */
const DSN_MAP: ReadonlyArray<[string, string, string]> = [
  ['1', SND_DSN, '4.1.1'],
  ['2', '4.1.8', '4.1.2'],
  ['3', '4.1.7', '4.1.3'],
  ['4', SND_DSN, '4.1.4'],
  ['5', SND_DSN, '4.1.5'],
  ['6', SND_DSN, '4.1.6'],
  ['7', '4.1.7', '4.1.3'],
  ['8', '4.1.8', '4.1.2'],
];
const DSN_DEFAULT = '4.1.0';

/** smtpd_dsn_fix(): make address-related DSN codes match what is rejected. */
export function smtpdDsnFix(status: string, replyClass: string): string {
  if (!/^\d\.1\./.test(status)) return status;
  let result: string;
  const micro = status.slice(4);
  const row = DSN_MAP.find((r) => r[0] === micro);
  if (replyClass === SMTPD_NAME.SENDER) result = row ? row[1] : DSN_DEFAULT;
  else if (replyClass === SMTPD_NAME.RECIPIENT) result = row ? row[2] : DSN_DEFAULT;
  else result = '4.0.0';
  if (status.slice(2) !== result.slice(2)) {
    msgInfo(`mapping DSN status ${status} into ${replyClass} status ${status[0]}${result.slice(1)}`);
  }
  return result;
}

/** Postfix printable(): non-printable ASCII (and non-ASCII bytes) become `repl`. */
export function printable(text: string, repl: string): string {
  return text.replace(/[^\x20-\x7e]/g, repl);
}

/**
 * smtpd_check_reject(): format, log and return REJECT (or DUNNO under
 * warn_if_reject). The reply is left in sess.errorText.
 */
export function checkReject(ctx: CheckCtx, errorClass: number, code: number, dsn: string, text: string): number {
  const { sess, state, env } = ctx;
  let warn = false;
  let whatsup = 'reject';
  if (sess.warnIfReject && errorClass !== MAIL_ERROR.SOFTWARE && errorClass !== MAIL_ERROR.RESOURCE && errorClass !== MAIL_ERROR.DATA) {
    warn = true;
    whatsup = 'reject_warning';
  }
  sess.errorMask |= errorClass;
  let reply = `${code} ${dsn} ${text}`;
  if (code < 400 || code > 599) {
    msgWarn(`SMTP reply code configuration error: ${reply}`);
    reply = '450 4.7.1 Service unavailable';
  }
  if (!dsnValid(reply.slice(4))) {
    msgWarn(`DSN detail code configuration error: ${reply}`);
    reply = '450 4.7.1 Service unavailable';
  }
  reply = printable(reply.slice(0, REPLY_TEXT_LIMIT), ' ');
  if (!warn && sess.deferIfReject.active && reply[0] === '5') {
    const d = sess.deferIfReject;
    sess.warnIfReject = 0;
    d.active = false;
    return checkReject(ctx, d.errorClass, d.code, d.dsn, d.reason);
  }
  if (env.params.softBounce && reply[0] === '5') reply = `4${reply.slice(1)}`;
  reply = `${reply.slice(0, 4)}${reply[0]}${reply.slice(5)}`;
  sess.errorText = reply;
  logWhatsup(state, whatsup, reply);
  return warn ? CHECK.DUNNO : CHECK.REJECT;
}

/**
 * smtpd_acl_permit(): OK, logged as "permit: ... action=NAME for CLASS=NAME
 * [from TABLE]" when smtpd_log_access_permit_actions lists the action and
 * no defer_if_permit is pending.
 */
export function aclPermit(ctx: CheckCtx, action: string, replyClass: string, replyName: string, table: string | null): number {
  if (!ctx.sess.deferIfPermit.active && ctx.env.logPermit(action)) {
    // Postfix always appends " " and its argument text, empty for restriction words.
    logWhatsup(ctx.state, 'permit', `action=${action} for ${replyClass}=${replyName} ${table === null ? '' : `from ${table}`}`);
  }
  return CHECK.OK;
}

/** defer_if(): keep the first reason of this kind of deferral. */
export function deferIf(defer: DeferInfo, errorClass: number, code: number, dsn: string, reason: string): number {
  if (!defer.active) {
    defer.active = true;
    defer.errorClass = errorClass;
    defer.code = code;
    defer.dsn = dsn;
    defer.reason = reason;
  }
  return CHECK.DUNNO;
}

/** DEFER_IF_PERMIT: postpone (ifPermit and not warn_if_reject) or reject now. */
export function deferIfPermit(ctx: CheckCtx, ifPermit: boolean, errorClass: number, code: number, dsn: string, reason: string): number {
  if (ctx.sess.warnIfReject === 0 && ifPermit) return deferIf(ctx.sess.deferIfPermit, errorClass, code, dsn, reason);
  return checkReject(ctx, errorClass, code, dsn, reason);
}

/** DEFER_IF_REJECT. */
export function deferIfReject(ctx: CheckCtx, errorClass: number, code: number, dsn: string, reason: string): number {
  return deferIf(ctx.sess.deferIfReject, errorClass, code, dsn, reason);
}

/** reject_dict_retry(): "451 4.3.0 <name>: Temporary lookup failure", ending the stage. */
export function rejectDictRetry(ctx: CheckCtx, replyName: string): never {
  throw new CheckAbort(checkReject(ctx, MAIL_ERROR.DATA, 451, '4.3.0', `<${replyName}>: Temporary lookup failure`));
}

/** reject_server_error(): "451 4.3.5 Server configuration error", ending the stage. */
export function rejectServerError(ctx: CheckCtx): never {
  throw new CheckAbort(checkReject(ctx, MAIL_ERROR.SOFTWARE, 451, '4.3.5', 'Server configuration error'));
}
