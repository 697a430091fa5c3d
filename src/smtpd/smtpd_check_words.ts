/*
 * smtpd_check_words - the restriction words and the recursive evaluator
 * (Postfix smtpd_check.c generic_checks)
 *
 * What it does: genericChecks() walks one restriction list in order:
 * warn_if_reject, bare "type:table" (the stage's default check_*_access),
 * every smtpd restriction word of Postfix 3.7 that this server supports,
 * smtpd_restriction_classes names (recursively), and stops at the first
 * OK or REJECT, at DISCARD, or when both a defer_if_permit and a
 * defer_if_reject are pending. An unknown word, a check_*_access without
 * "type:table", or a "sleep" without a number end the stage with "451
 * 4.3.5 Server configuration error", as Postfix. Words that need
 * features this server does not have yet (SASL, TLS) behave as Postfix
 * built without them; check_policy_service answers 451 4.3.5 and
 * reject_unverified_* defer as when the verify service fails, until
 * those services exist.
 *
 * What it does not do: the per-stage bookkeeping (smtpd_check.ts).
 *
 * DIAGNOSTICS
 * Postfix's warnings: "unknown smtpd restriction", "restriction X: bad
 * argument ...: need maptype:mapname", "restriction `X' after `Y' is
 * ignored", "restriction X requires domain name argument".
 */
import { msgWarn } from '../util/msg.js';
import { checkAccess, checkDomainAccess, checkMailAccess, checkNamadrAccess, MAX_RECURSION } from './smtpd_check_access.js';
import {
  checkRecipientRcptMaps,
  checkSenderRcptMaps,
  permitAuthDestination,
  rejectInvalidHostaddr,
  rejectInvalidHostname,
  rejectNonFqdnAddress,
  rejectNonFqdnHostname,
  rejectUnauthDestination,
  rejectUnauthPipelining,
  rejectUnknownClient,
  rejectUnknownReverseName,
} from './smtpd_check_addr.js';
import { checkRelayDomains, checkServerAccess, forbidAllowlist, permitMxBackup, type ServerType } from './smtpd_check_server.js';
import { permitDnswlAddr, permitDnswlDomain, rejectRblAddr, rejectRblDomain, rejectUnknownAddress, rejectUnknownHostname } from './smtpd_check_dns.js';
import {
  aclPermit,
  CHECK,
  type CheckCtx,
  checkReject,
  deferIfPermit,
  deferIfReject,
  MAIL_ERROR,
  rejectDictRetry,
  rejectServerError,
  SMTPD_NAME,
  SND_DSN,
} from './smtpd_check_log.js';

/** Reply code of reject_plaintext_session (plaintext_reject_code default). */
const PLAINTEXT_CODE = 450;

/** The stage's list position and what a word consumed. */
interface Cursor {
  list: readonly string[];
  i: number;
}

/** is_map_command(): the next token must be "type:table". */
function mapArg(ctx: CheckCtx, cur: Cursor, command: string): string {
  const next = cur.list[cur.i + 1];
  if (next === undefined || !next.includes(':')) {
    msgWarn(`restriction ${command}: bad argument "${next ?? command}": need maptype:mapname`);
    rejectServerError(ctx);
  }
  cur.i++;
  return next;
}

/** A domain-name argument, or null (with Postfix's warning) when missing. */
function domainArg(cur: Cursor, name: string): string | null {
  const next = cur.list[cur.i + 1];
  if (next === undefined) {
    msgWarn(`restriction ${name} requires domain name argument`);
    return null;
  }
  cur.i++;
  return next;
}

function ignoredAfter(ctx: CheckCtx, cur: Cursor, word: string): void {
  const next = cur.list[cur.i + 1];
  if (next !== undefined && ctx.sess.warnIfReject === 0) msgWarn(`restriction \`${next}' after \`${word}' is ignored`);
}

/** A permit-style result: logged per smtpd_log_access_permit_actions when OK. */
function permitted(ctx: CheckCtx, status: number, action: string, replyClass: string, replyName: string): number {
  return status === CHECK.OK ? aclPermit(ctx, action, replyClass, replyName, null) : status;
}

/** A SASL-only restriction in a server without SASL. */
function noSaslTls(word: string): number {
  msgWarn(`restriction \`${word}' ignored: no SASL support`);
  return CHECK.DUNNO;
}

/** One word at cur.i; returns its status and leaves cur.i at the last token used. */
async function evalWord(ctx: CheckCtx, cur: Cursor, word: string, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const { state, env } = ctx;
  const p = env.params;
  const sender = state.sender;
  const rcpt = state.recipient;
  const helo = state.heloName;
  switch (word) {
    case 'permit':
      if (cur.list[cur.i + 1] !== undefined) msgWarn(`restriction \`${cur.list[cur.i + 1]}' after \`permit' is ignored`);
      return aclPermit(ctx, word, replyClass, replyName, null);
    case 'defer':
      ignoredAfter(ctx, cur, word);
      return checkReject(ctx, MAIL_ERROR.POLICY, p.deferCode, '4.3.2', `<${replyName}>: ${replyClass} rejected: Try again later`);
    case 'reject':
      ignoredAfter(ctx, cur, word);
      return checkReject(ctx, MAIL_ERROR.POLICY, p.rejectCode, '5.7.1', `<${replyName}>: ${replyClass} rejected: Access denied`);
    case 'reject_unauth_pipelining':
      return rejectUnauthPipelining(ctx, replyName, replyClass);
    case 'defer_if_permit':
      return deferIfPermit(ctx, true, MAIL_ERROR.POLICY, 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_permit requested`);
    case 'defer_if_reject':
      return deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_reject requested`);
    case 'sleep': {
      const n = cur.list[cur.i + 1];
      if (n === undefined || !/^\d+$/.test(n)) {
        msgWarn('restriction sleep must be followed by number');
        rejectServerError(ctx);
      }
      cur.i++;
      await env.sleep(Number(n));
      return CHECK.DUNNO;
    }
    case 'reject_plaintext_session':
      return checkReject(ctx, MAIL_ERROR.POLICY, PLAINTEXT_CODE, '4.7.1', 'Session encryption is required');
    case 'check_policy_service':
      msgWarn('restriction check_policy_service: policy services are not supported yet');
      return rejectServerError(ctx);

    /* Client name/address. */
    case 'reject_unknown_client_hostname':
    case 'reject_unknown_client':
      return rejectUnknownClient(ctx);
    case 'reject_unknown_reverse_client_hostname':
      return rejectUnknownReverseName(ctx);
    case 'permit_inet_interfaces':
      return env.ownAddress(state.addr) ? aclPermit(ctx, word, SMTPD_NAME.CLIENT, state.namaddr, null) : CHECK.DUNNO;
    case 'permit_mynetworks': {
      const m = env.matchMynetworks(state.name, state.addr);
      if (typeof m === 'string') rejectDictRetry(ctx, replyName);
      return m ? aclPermit(ctx, word, SMTPD_NAME.CLIENT, state.namaddr, null) : CHECK.DUNNO;
    }
    case 'check_client_access':
      return checkNamadrAccess(ctx, mapArg(ctx, cur, word), state.name, state.addr, state.namaddr, SMTPD_NAME.CLIENT, defAcl);
    case 'check_reverse_client_hostname_access': {
      const s = await checkNamadrAccess(ctx, mapArg(ctx, cur, word), state.reverseName, state.addr, state.reverseName, SMTPD_NAME.REV_CLIENT, defAcl);
      forbidAllowlist(ctx, word, s, state.reverseName);
      return s;
    }
    case 'reject_maps_rbl': {
      msgWarn('support for restriction "reject_maps_rbl" will be removed from Postfix; use "reject_rbl_client domain-name" instead');
      for (const d of env.config.getList('maps_rbl_domains')) {
        const s = await rejectRblAddr(ctx, d, state.addr, SMTPD_NAME.CLIENT);
        if (s !== CHECK.DUNNO) return s;
      }
      return CHECK.DUNNO;
    }
    case 'reject_rbl_client':
    case 'reject_rbl': {
      const d = domainArg(cur, word);
      return d === null ? CHECK.DUNNO : rejectRblAddr(ctx, d, state.addr, SMTPD_NAME.CLIENT);
    }
    case 'permit_dnswl_client': {
      const d = domainArg(cur, word);
      if (d === null) return CHECK.DUNNO;
      return permitted(ctx, await permitDnswlAddr(ctx, d, state.addr, SMTPD_NAME.CLIENT), word, SMTPD_NAME.CLIENT, state.namaddr);
    }
    case 'reject_rhsbl_client': {
      const d = domainArg(cur, word);
      return d === null || state.name.toLowerCase() === 'unknown' ? CHECK.DUNNO : rejectRblDomain(ctx, d, state.name, SMTPD_NAME.CLIENT);
    }
    case 'permit_rhswl_client': {
      const d = domainArg(cur, word);
      if (d === null || state.name.toLowerCase() === 'unknown') return CHECK.DUNNO;
      return permitted(ctx, await permitDnswlDomain(ctx, d, state.name, SMTPD_NAME.CLIENT), word, SMTPD_NAME.CLIENT, state.namaddr);
    }
    case 'reject_rhsbl_reverse_client': {
      const d = domainArg(cur, word);
      return d === null || state.reverseName.toLowerCase() === 'unknown' ? CHECK.DUNNO : rejectRblDomain(ctx, d, state.reverseName, SMTPD_NAME.REV_CLIENT);
    }
    case 'check_ccert_access':
      mapArg(ctx, cur, word);
      return CHECK.DUNNO;
    case 'check_sasl_access':
      mapArg(ctx, cur, word);
      return noSaslTls(word);

    /* HELO/EHLO. */
    case 'check_helo_access': {
      const t = mapArg(ctx, cur, word);
      return helo === null ? CHECK.DUNNO : checkDomainAccess(ctx, t, helo, { found: false }, helo, SMTPD_NAME.HELO, defAcl);
    }
    case 'reject_invalid_helo_hostname':
    case 'reject_invalid_hostname':
      if (helo === null) return CHECK.DUNNO;
      return helo.startsWith('[') ? rejectInvalidHostaddr(ctx, helo, helo, SMTPD_NAME.HELO) : rejectInvalidHostname(ctx, helo, helo, SMTPD_NAME.HELO);
    case 'reject_unknown_helo_hostname':
    case 'reject_unknown_hostname':
      if (helo === null) return CHECK.DUNNO;
      return helo.startsWith('[') ? rejectInvalidHostaddr(ctx, helo, helo, SMTPD_NAME.HELO) : rejectUnknownHostname(ctx, helo, helo, SMTPD_NAME.HELO);
    case 'reject_non_fqdn_helo_hostname':
    case 'reject_non_fqdn_hostname':
      if (helo === null) return CHECK.DUNNO;
      return helo.startsWith('[') ? rejectInvalidHostaddr(ctx, helo, helo, SMTPD_NAME.HELO) : rejectNonFqdnHostname(ctx, helo, helo, SMTPD_NAME.HELO);
    case 'permit_naked_ip_address':
      msgWarn('restriction permit_naked_ip_address is deprecated. Use permit_mynetworks or permit_sasl_authenticated instead');
      if (helo !== null && /^[0-9.:]*$/.test(helo) && rejectInvalidHostaddr(ctx, helo, helo, SMTPD_NAME.HELO) === CHECK.DUNNO) {
        return aclPermit(ctx, word, SMTPD_NAME.HELO, helo, null);
      }
      return CHECK.DUNNO;
    case 'reject_rhsbl_helo': {
      const d = domainArg(cur, word);
      return d === null || helo === null ? CHECK.DUNNO : rejectRblDomain(ctx, d, helo, SMTPD_NAME.HELO);
    }

    /* Sender. */
    case 'check_sender_access': {
      const t = mapArg(ctx, cur, word);
      if (sender === null) return CHECK.DUNNO;
      if (sender !== '') return checkMailAccess(ctx, t, sender, sender, SMTPD_NAME.SENDER, defAcl);
      return checkAccess(ctx, t, p.nullAccessKey, { found: false }, sender, SMTPD_NAME.SENDER, defAcl);
    }
    case 'reject_unknown_address':
    case 'reject_unknown_sender_domain':
      return sender ? rejectUnknownAddress(ctx, sender, sender, SMTPD_NAME.SENDER) : CHECK.DUNNO;
    case 'reject_unverified_sender':
      if (!sender) return CHECK.DUNNO;
      msgWarn('verify service failure');
      return deferIfPermit(ctx, p.unvFromTempfailIfPermit, MAIL_ERROR.POLICY, 450, SND_DSN, `<${sender}>: ${SMTPD_NAME.SENDER} rejected: address verification problem`);
    case 'reject_non_fqdn_sender':
      return sender ? rejectNonFqdnAddress(ctx, sender, sender, SMTPD_NAME.SENDER) : CHECK.DUNNO;
    case 'reject_authenticated_sender_login_mismatch':
    case 'reject_known_sender_login_mismatch':
    case 'reject_unauthenticated_sender_login_mismatch':
    case 'reject_sender_login_mismatch':
      return noSaslTls(word);
    case 'reject_rhsbl_sender': {
      const d = domainArg(cur, word);
      return d === null || !sender ? CHECK.DUNNO : rejectRblDomain(ctx, d, sender, SMTPD_NAME.SENDER);
    }
    case 'reject_unlisted_sender':
      return sender ? checkSenderRcptMaps(ctx, sender) : CHECK.DUNNO;

    /* Recipient. */
    case 'check_recipient_access': {
      const t = mapArg(ctx, cur, word);
      return rcpt === null ? CHECK.DUNNO : checkMailAccess(ctx, t, rcpt, rcpt, SMTPD_NAME.RECIPIENT, defAcl);
    }
    case 'permit_auth_destination':
      if (rcpt === null) return CHECK.DUNNO;
      return permitted(ctx, await permitAuthDestination(ctx, rcpt), word, SMTPD_NAME.RECIPIENT, rcpt);
    case 'reject_unauth_destination':
      return rcpt === null ? CHECK.DUNNO : rejectUnauthDestination(ctx, rcpt, p.relayCode, '5.7.1');
    case 'defer_unauth_destination':
      return rcpt === null ? CHECK.DUNNO : rejectUnauthDestination(ctx, rcpt, p.relayCode - 100, '4.7.1');
    case 'permit_sasl_authenticated':
    case 'permit_tls_clientcerts':
    case 'permit_tls_all_clientcerts':
      return CHECK.DUNNO;
    case 'reject_unknown_recipient_domain':
      return rcpt === null ? CHECK.DUNNO : rejectUnknownAddress(ctx, rcpt, rcpt, SMTPD_NAME.RECIPIENT);
    case 'reject_non_fqdn_recipient':
      return rcpt === null ? CHECK.DUNNO : rejectNonFqdnAddress(ctx, rcpt, rcpt, SMTPD_NAME.RECIPIENT);
    case 'reject_rhsbl_recipient': {
      const d = domainArg(cur, word);
      return d === null || rcpt === null ? CHECK.DUNNO : rejectRblDomain(ctx, d, rcpt, SMTPD_NAME.RECIPIENT);
    }
    case 'check_recipient_maps':
    case 'reject_unlisted_recipient':
      return rcpt ? checkRecipientRcptMaps(ctx, rcpt) : CHECK.DUNNO;
    case 'reject_multi_recipient_bounce':
      if (sender === '' && state.rcptCount > (state.where !== 'RCPT' ? 1 : 0)) {
        return checkReject(ctx, MAIL_ERROR.POLICY, p.mulRcptCode, '5.5.3', `<${replyName}>: ${replyClass} rejected: Multi-recipient bounce`);
      }
      return CHECK.DUNNO;
    case 'reject_unverified_recipient':
      if (!rcpt) return CHECK.DUNNO;
      msgWarn('verify service failure');
      return deferIfPermit(ctx, p.unvRcptTempfailIfPermit, MAIL_ERROR.POLICY, 450, '4.1.1', `<${rcpt}>: ${SMTPD_NAME.RECIPIENT} rejected: address verification problem`);

    case 'permit_mx_backup':
      if (rcpt === null) return CHECK.DUNNO;
      return permitted(ctx, await permitMxBackup(ctx, rcpt, rcpt, SMTPD_NAME.RECIPIENT), word, SMTPD_NAME.RECIPIENT, rcpt);
    case 'check_relay_domains': {
      const st = rcpt === null ? CHECK.DUNNO : await checkRelayDomains(ctx, rcpt, rcpt, SMTPD_NAME.RECIPIENT);
      ignoredAfter(ctx, cur, word);
      return permitted(ctx, st, word, SMTPD_NAME.RECIPIENT, rcpt ?? '');
    }

    /* ETRN. */
    case 'check_etrn_access': {
      const t = mapArg(ctx, cur, word);
      const d = ctx.sess.etrnName;
      return d === null ? CHECK.DUNNO : checkDomainAccess(ctx, t, d, { found: false }, d, SMTPD_NAME.ETRN, defAcl);
    }
    default:
      break;
  }
  const server = /^check_(client|reverse_client_hostname|helo|sender|recipient)_(ns|mx|a)_access$/.exec(word);
  if (server) {
    const t = mapArg(ctx, cur, word);
    const type = server[2]!.toUpperCase() as ServerType;
    let target: string | null;
    let name: string;
    let cls: string;
    switch (server[1]) {
      case 'client':
        target = state.name.toLowerCase() === 'unknown' ? null : state.name;
        name = state.namaddr;
        cls = SMTPD_NAME.CLIENT;
        break;
      case 'reverse_client_hostname':
        target = state.reverseName.toLowerCase() === 'unknown' ? null : state.reverseName;
        name = state.reverseName;
        cls = SMTPD_NAME.REV_CLIENT;
        break;
      case 'helo':
        target = helo;
        name = helo ?? '';
        cls = SMTPD_NAME.HELO;
        break;
      case 'sender':
        target = sender ? sender : null;
        name = sender ?? '';
        cls = SMTPD_NAME.SENDER;
        break;
      default:
        target = rcpt ? rcpt : null;
        name = rcpt ?? '';
        cls = SMTPD_NAME.RECIPIENT;
    }
    if (target === null) return CHECK.DUNNO;
    const st = await checkServerAccess(ctx, t, target, type, name, cls, defAcl);
    forbidAllowlist(ctx, word, st, target);
    return st;
  }
  const cls = env.restrictionClasses.get(word);
  if (cls) return genericChecks(ctx, cls, replyName, replyClass, defAcl);
  msgWarn(`unknown smtpd restriction: "${word}"`);
  return rejectServerError(ctx);
}

/** generic_checks(). */
export async function genericChecks(ctx: CheckCtx, list: readonly string[], replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const { sess, state } = ctx;
  if (sess.recursion > MAX_RECURSION) {
    // Postfix bounds this only for access-table right-hand sides; a class that names itself would overflow its stack.
    msgWarn(`restriction list ${list.join(' ')} causes unreasonable recursion`);
    rejectServerError(ctx);
  }
  const savedRecursion = sess.recursion++;
  let status: number = CHECK.DUNNO;
  const cur: Cursor = { list, i: 0 };
  for (; cur.i < list.length; cur.i++) {
    if (state.discard) break;
    const token = list[cur.i]!;
    if (token.toLowerCase() === 'warn_if_reject') {
      if (sess.warnIfReject === 0) sess.warnIfReject = sess.recursion;
      continue;
    }
    let word = token.toLowerCase();
    if (token.includes(':') || token.startsWith('{')) {
      if (defAcl === null) {
        msgWarn(
          `specify one of (check_client_access, check_reverse_client_hostname_access, check_helo_access, check_sender_access, check_recipient_access, check_etrn_access) before ${replyClass} restriction "${token}"`,
        );
        rejectServerError(ctx);
      }
      word = defAcl;
      cur.i--;
    }
    status = await evalWord(ctx, cur, wordName(ctx, word, token), replyName, replyClass, defAcl);
    if (sess.warnIfReject >= sess.recursion) sess.warnIfReject = 0;
    if (status !== CHECK.DUNNO) break;
    if (sess.deferIfPermit.active && sess.deferIfReject.active) break;
  }
  sess.recursion = savedRecursion;
  if (sess.warnIfReject >= sess.recursion) sess.warnIfReject = 0;
  return status;
}

/** Restriction class names keep their case; words compare case-insensitively. */
function wordName(ctx: CheckCtx, lower: string, token: string): string {
  return ctx.env.restrictionClasses.has(token) ? token : lower;
}
