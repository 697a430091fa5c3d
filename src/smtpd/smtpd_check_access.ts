/*
 * smtpd_check_access - access(5) table lookups and actions for smtpd
 * (check_table_result, check_access, check_domain_access,
 * check_addr_access, check_namadr_access, check_mail_access of Postfix
 * smtpd_check.c)
 *
 * What it does: looks a client name/address, HELO name, sender,
 * recipient or ETRN domain up in an access table with Postfix's key
 * search order (host name and parent domains — "example.com" or
 * ".example.com" per parent_domain_matches_subdomains — then the address
 * and its octet-stripped networks; for mail addresses user+ext@domain,
 * user@domain, domain and parent domains, user+ext@, user@), and turns
 * the table's answer into a decision: OK/RELAY/all-digits, REJECT/DEFER
 * [text], 4xx/5xx [D.S.N] text, DUNNO, DEFER_IF_PERMIT, DEFER_IF_REJECT,
 * HOLD, DISCARD, FILTER, REDIRECT, BCC, PREPEND, WARN, INFO, or a list of
 * restrictions / restriction class names evaluated recursively. Side
 * effects are recorded on the SmtpdState (savedFlags, savedFilter,
 * savedRedirect, savedBcc, prependHeaders, discard) and logged as Postfix
 * logs them. Only fixed-key tables see partial keys; pattern tables
 * (regexp, pcre, cidr, ...) get the full key only.
 *
 * What it does not do: open tables (SmtpdChecks does, when it parses the
 * restriction lists) or DNS-based server checks (check_*_{mx,ns,a}_access).
 *
 * DIAGNOSTICS
 * Postfix's warnings for malformed entries; a table that cannot be
 * searched answers "451 4.3.5 ... Server configuration error".
 */
import { msgWarn } from '../util/msg.js';
import { DictError } from '../global/dict.js';
import type { Maps } from '../global/maps.js';
import { stripAddr } from '../global/mail_addr_find.js';
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import {
  aclPermit,
  CHECK,
  type CheckCtx,
  checkReject,
  deferIfPermit,
  deferIfReject,
  dsnSplit,
  logWhatsup,
  MAIL_ERROR,
  RESOLVE_BITS,
  rejectDictRetry,
  rejectServerError,
  SMTPD_NAME,
  smtpdDsnFix,
} from './smtpd_check_log.js';

/** Deepest restriction nesting through access tables (Postfix: 100). */
export const MAX_RECURSION = 100;

/** The value Postfix substitutes when a table lookup fails. */
const TABLE_FAILURE = '451 4.3.5 Server configuration error';

/** Splits a restriction list on commas and white space outside {...} (Postfix mystrtokq). */
export function splitRestrictions(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++;
    if (i >= text.length) break;
    let j = i;
    let depth = 0;
    for (; j < text.length; j++) {
      const c = text[j]!;
      if (c === '{') depth++;
      else if (c === '}' && depth > 0) depth--;
      else if (depth === 0 && /[\s,]/.test(c)) break;
    }
    out.push(text.slice(i, j));
    i = j;
  }
  return out;
}

/** Postfix is_header(): "Name:" with a printable name and optional blanks before ':'. */
export function isHeader(text: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]+[ \t]*:/.test(text);
}

function canDelegate(ctx: CheckCtx, table: string, action: string): boolean {
  if (ctx.state.where === 'ETRN') {
    msgWarn(`access table ${table}: action ${action} is unavailable in smtpd_etrn_restrictions`);
    return false;
  }
  return notInClientHelo(ctx, table, action);
}

function notInClientHelo(ctx: CheckCtx, table: string, action: string): boolean {
  if (ctx.state.sender === null) {
    msgWarn(
      `access table ${table}: with smtpd_delay_reject=no, action ${action} is always skipped in ${SMTPD_NAME.CLIENT} or ${SMTPD_NAME.HELO} restrictions`,
    );
    return false;
  }
  return true;
}

/** check_table_result(): an access table answer turned into a decision. */
export async function checkTableResult(
  ctx: CheckCtx,
  table: string,
  value: string,
  datum: string,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number> {
  const { state } = ctx;
  const p = ctx.env.params;
  const sp = value.search(/[ \t]/);
  const cmd = (sp < 0 ? value : value.slice(0, sp)).toUpperCase();
  const text = sp < 0 ? '' : value.slice(sp).replace(/^[ \t]+/, '');
  const reject = (code: number, defDsn: string, defText: string): number => {
    const d = dsnSplit(defDsn, text);
    return checkReject(ctx, MAIL_ERROR.POLICY, code, smtpdDsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || defText}`);
  };

  switch (cmd) {
    case 'DUNNO':
      return CHECK.DUNNO;
    case 'REJECT':
      return reject(p.mapRejectCode, '5.7.1', 'Access denied');
    case 'DEFER':
      return reject(p.mapDeferCode, '4.7.1', 'Access denied');
    case 'INFO':
      logWhatsup(state, 'info', text);
      return CHECK.DUNNO;
    case 'WARN':
      logWhatsup(state, 'warn', text);
      return CHECK.DUNNO;
    case 'FILTER':
      if (!canDelegate(ctx, table, 'FILTER')) return CHECK.DUNNO;
      if (text === '') {
        msgWarn(`access table ${table} entry "${datum}" has FILTER entry without value`);
      } else if (!text.includes(':')) {
        msgWarn(`access table ${table} entry "${datum}" requires transport:destination`);
      } else {
        logWhatsup(state, 'filter', `<${replyName}>: ${replyClass} triggers FILTER ${text}`);
        state.savedFilter = text;
      }
      return CHECK.DUNNO;
    case 'HOLD':
      if (!canDelegate(ctx, table, 'HOLD') || state.savedFlags & CLEANUP_FLAG.HOLD) return CHECK.DUNNO;
      logWhatsup(state, 'hold', `<${replyName}>: ${replyClass} ${text || 'triggers HOLD action'}`);
      state.savedFlags |= CLEANUP_FLAG.HOLD;
      return CHECK.DUNNO;
    case 'DISCARD':
      if (!canDelegate(ctx, table, 'DISCARD')) return CHECK.DUNNO;
      logWhatsup(state, 'discard', `<${replyName}>: ${replyClass} ${text || 'triggers DISCARD action'}`);
      state.savedFlags |= CLEANUP_FLAG.DISCARD;
      state.discard = true;
      return aclPermit(ctx, value.slice(0, sp < 0 ? value.length : sp), replyClass, replyName, table);
    case 'REDIRECT':
    case 'BCC':
      if (!canDelegate(ctx, table, cmd)) return CHECK.DUNNO;
      if (!text.includes('@')) {
        msgWarn(`access table ${table} entry "${datum}" requires user@domain target`);
        return CHECK.DUNNO;
      }
      logWhatsup(state, cmd.toLowerCase(), `<${replyName}>: ${replyClass} triggers ${cmd} ${text}`);
      if (cmd === 'REDIRECT') state.savedRedirect = text;
      else state.savedBcc.push(text);
      return CHECK.DUNNO;
    case 'DEFER_IF_PERMIT': {
      const d = dsnSplit('4.7.1', text);
      return deferIfPermit(ctx, true, MAIL_ERROR.POLICY, p.mapDeferCode, smtpdDsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Service unavailable'}`);
    }
    case 'DEFER_IF_REJECT': {
      const d = dsnSplit('4.7.1', text);
      return deferIfReject(ctx, MAIL_ERROR.POLICY, p.mapDeferCode, smtpdDsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Service unavailable'}`);
    }
    case 'PREPEND':
      if (!notInClientHelo(ctx, table, 'PREPEND')) return CHECK.DUNNO;
      if (state.where === 'END-OF-MESSAGE') {
        msgWarn(`access table ${table}: action PREPEND must be used before smtpd_end_of_data_restrictions`);
        return CHECK.DUNNO;
      }
      if (text === '' || !isHeader(text)) {
        msgWarn(`access table ${table} entry "${datum}" requires header: text`);
        return CHECK.DUNNO;
      }
      state.prependHeaders.push(text);
      return CHECK.DUNNO;
    default:
      break;
  }
  if (/^\d+$/.test(value)) return aclPermit(ctx, value, replyClass, replyName, table);
  if (/^[45]\d\d$/.test(cmd) && text !== '') {
    return reject(Number(cmd), `${cmd[0]}.7.1`, 'Access denied');
  }
  if (cmd === 'OK' || cmd === 'RELAY') return aclPermit(ctx, value.slice(0, sp < 0 ? value.length : sp), replyClass, replyName, table);
  if (value.includes(':')) {
    msgWarn(`access table ${table} has entry with lookup table: ${value}`);
    msgWarn('do not specify lookup tables inside SMTPD access maps');
    msgWarn('define a restriction class and specify its name instead.');
    rejectServerError(ctx);
  }
  if (ctx.sess.recursion > MAX_RECURSION) {
    msgWarn(`access table ${table} entry ${value} causes unreasonable recursion`);
    rejectServerError(ctx);
  }
  const list = splitRestrictions(value);
  if (list.length === 0) {
    msgWarn(`access table ${table} entry ${value} has empty value`);
    return CHECK.OK;
  }
  return ctx.env.genericChecks(ctx, list, replyName, replyClass, defAcl);
}

type Found = { found: boolean };

async function lookup(maps: Maps, key: string, partial: boolean): Promise<string | null | DictError> {
  try {
    return partial ? await maps.findFixed(key) : await maps.find(key);
  } catch (err) {
    if (err instanceof DictError) return err;
    throw err;
  }
}

function tableOf(ctx: CheckCtx, table: string): Maps | string {
  const maps = ctx.env.accessMaps(table);
  if (!maps) {
    msgWarn(`check_access: unexpected dictionary: ${table}`);
    return TABLE_FAILURE;
  }
  return maps;
}

/** One key: the decision if found (or a table failure), else null. */
async function tryKey(
  ctx: CheckCtx,
  table: string,
  maps: Maps,
  key: string,
  partial: boolean,
  datum: string,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number | null> {
  const v = await lookup(maps, key, partial);
  if (v === null) return null;
  const value = v instanceof DictError ? TABLE_FAILURE : v;
  return checkTableResult(ctx, table, value, datum, replyName, replyClass, defAcl);
}

/** check_access(): the name as given, no partial keys. */
export async function checkAccess(ctx: CheckCtx, table: string, name: string, f: Found, replyName: string, replyClass: string, defAcl: string | null): Promise<number> {
  const maps = tableOf(ctx, table);
  f.found = true;
  if (typeof maps === 'string') return checkTableResult(ctx, table, maps, name, replyName, replyClass, defAcl);
  const r = await tryKey(ctx, table, maps, name, false, name, replyName, replyClass, defAcl);
  f.found = r !== null;
  return r ?? CHECK.DUNNO;
}

function isHostAddr(text: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(text) || (text.includes(':') && /^[0-9a-fA-F:.]+$/.test(text));
}

/** check_domain_access(): the name, then its parent domains (not for numeric names). */
export async function checkDomainAccess(
  ctx: CheckCtx,
  table: string,
  domain: string,
  f: Found,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number> {
  const maps = tableOf(ctx, table);
  f.found = true;
  if (typeof maps === 'string') return checkTableResult(ctx, table, maps, domain, replyName, replyClass, defAcl);
  let partial = false;
  let name = domain;
  while (name !== '') {
    const r = await tryKey(ctx, table, maps, name, partial, domain, replyName, replyClass, defAcl);
    if (r !== null) return r;
    if (partial === false && isHostAddr(domain)) break;
    const dot = name.indexOf('.', 1);
    if (dot < 0) break;
    name = ctx.env.accessParentStyle ? name.slice(dot + 1) : name.slice(dot);
    partial = true;
  }
  f.found = false;
  return CHECK.DUNNO;
}

/** check_addr_access(): the address, then its networks ("1.2.3", "1.2", "1"; IPv6 by ':'). */
export async function checkAddrAccess(
  ctx: CheckCtx,
  table: string,
  address: string,
  f: Found,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number> {
  const maps = tableOf(ctx, table);
  f.found = true;
  if (typeof maps === 'string') return checkTableResult(ctx, table, maps, address, replyName, replyClass, defAcl);
  const delim = address.includes(':') ? ':' : '.';
  let addr = address;
  let partial = false;
  for (;;) {
    const r = await tryKey(ctx, table, maps, addr, partial, address, replyName, replyClass, defAcl);
    if (r !== null) return r;
    partial = true;
    const cut = addr.lastIndexOf(delim);
    if (cut < 0) break;
    addr = addr.slice(0, cut);
  }
  f.found = false;
  return CHECK.DUNNO;
}

/** check_namadr_access(): host name (and parents), then address (and networks). */
export async function checkNamadrAccess(
  ctx: CheckCtx,
  table: string,
  name: string,
  addr: string,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number> {
  const f = { found: false };
  let status = await checkDomainAccess(ctx, table, name, f, replyName, replyClass, defAcl);
  if (status !== CHECK.DUNNO || f.found) return status;
  status = await checkAddrAccess(ctx, table, addr, f, replyName, replyClass, defAcl);
  return status;
}

/** The access-map search keys of an address, as mail_addr_find with smtpd's strategy. */
export function mailAccessKeys(address: string, delim: string, parentStyle: boolean): Array<{ key: string; partial: boolean }> {
  const keys: Array<{ key: string; partial: boolean }> = [{ key: address, partial: false }];
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const domain = address.slice(at + 1);
  const bare = delim ? stripAddr(address, delim) : null;
  if (bare) keys.push({ key: bare.bare, partial: true });
  if (domain !== '') {
    keys.push({ key: domain, partial: true });
    for (let dot = domain.indexOf('.', 1); dot >= 0; dot = domain.indexOf('.', dot + 1)) {
      keys.push({ key: parentStyle ? domain.slice(dot + 1) : domain.slice(dot), partial: true });
    }
  }
  keys.push({ key: `${local}@`, partial: true });
  if (bare) keys.push({ key: `${bare.bare.slice(0, bare.bare.lastIndexOf('@'))}@`, partial: true });
  return keys;
}

/** check_mail_access(): sender/recipient address lookups after address resolution. */
export async function checkMailAccess(
  ctx: CheckCtx,
  table: string,
  addr: string,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number> {
  const { state, env } = ctx;
  let reply;
  try {
    reply = await env.resolveAddr((replyClass === SMTPD_NAME.SENDER ? state.recipient : state.sender) ?? '', addr);
  } catch {
    rejectDictRetry(ctx, addr);
  }
  if (reply.flags & RESOLVE_BITS.FLAG_FAIL) rejectDictRetry(ctx, addr);
  const recipient = reply.recipient;
  if (!recipient.includes('@')) {
    msgWarn(`check_mail_access: no @domain in address: ${recipient}`);
    return CHECK.DUNNO;
  }
  const suspicious =
    !env.params.allowUntrustedRouting && (reply.flags & RESOLVE_BITS.FLAG_ROUTED) !== 0 && replyClass === SMTPD_NAME.RECIPIENT;
  const maps = tableOf(ctx, table);
  if (typeof maps === 'string') return checkTableResult(ctx, table, maps, recipient, replyName, replyClass, defAcl);
  for (const k of mailAccessKeys(recipient, env.params.recipientDelimiter, env.accessParentStyle)) {
    const v = await lookup(maps, k.key, k.partial);
    if (v === null) continue;
    if (v instanceof DictError) return checkTableResult(ctx, table, TABLE_FAILURE, recipient, replyName, replyClass, defAcl);
    const status = await checkTableResult(ctx, table, v, recipient, replyName, replyClass, defAcl);
    return status === CHECK.OK && suspicious ? CHECK.DUNNO : status;
  }
  return CHECK.DUNNO;
}
