/*
 * smtpd_check_dns - DNS-based smtpd restrictions (Postfix smtpd_check.c:
 * reject_unknown_hostname/mailhost/address, reject_rbl_client,
 * reject_rhsbl_*, permit_dnswl_client, permit_rhswl_client, RBL replies)
 *
 * What it does: asks the DNS (through src/global/dns_lookup.ts) whether
 * a HELO name has an A, AAAA or MX record, whether a sender or recipient
 * domain can receive mail (MX, else A/AAAA; a null MX rejects), and
 * whether a client address (reversed IPv4 octets or IPv6 nibbles) or a
 * domain is listed in a DNS list, optionally only for A results that
 * match a "=d.d.d.d" filter whose octets may be [n;m..k] sets. Listed
 * clients get the reply from rbl_reply_maps or default_rbl_reply with
 * $rbl_code, $rbl_domain, $rbl_what, $rbl_class, $rbl_reason/$rbl_txt and
 * the client/helo/sender/recipient macros expanded (values filtered by
 * smtpd_expansion_filter). Temporary DNS failures become
 * defer_if_permit (or immediate deferral, per *_tempfail_action); a
 * temporarily failing DNS allow-list becomes defer_if_reject. Answers
 * are cached per process (RBL_CACHE_LIMIT entries).
 *
 * What it does not do: the client name lookup (dns_lookup.ts peerName,
 * called by smtpd), check_*_{mx,ns,a}_access.
 *
 * DIAGNOSTICS
 * "warning: QUERY: RBL lookup error: ...", "warning: rbl response code
 * configuration error: ...", fatal "RBL reply error: ..." for a bad
 * result filter, as Postfix.
 */
import { isIP } from 'node:net';
import { msgFatal, msgWarn } from '../util/msg.js';
import { DictError } from '../global/dict.js';
import { type DnsReply, type DnsType, expandIpv6 } from '../global/dns_lookup.js';
import { permitAuthDestination, resolveOrRetry, validHostname } from './smtpd_check_addr.js';
import {
  CHECK,
  type CheckCtx,
  checkReject,
  deferIfPermit,
  deferIfReject,
  dsnSplit,
  MAIL_ERROR,
  type RblAnswer,
  RESOLVE_BITS,
  rejectServerError,
  SMTPD_NAME,
  smtpdDsnFix,
} from './smtpd_check_log.js';

/** Cached DNS-list answers per process (Postfix's ctable size). */
export const RBL_CACHE_LIMIT = 100;
/** Longest concatenated TXT text (Postfix RBL_TXT_LIMIT). */
export const RBL_TXT_LIMIT = 500;

type Outcome = 'ok' | 'notfound' | 'temp' | 'nullmx';

/** Postfix dns_lookup(): an invalid name (e.g. with a trailing dot) is "not found" without asking. */
function query(ctx: CheckCtx, name: string, type: DnsType): Promise<DnsReply> {
  if (name !== '.' && !validHostname(name)) return Promise.resolve({ status: 'notfound', nxdomain: true, why: `Name service error for ${name}: invalid host or domain name` });
  return ctx.env.dns.query(name, type);
}

/** reject_unknown_helo_hostname: the name needs an A, AAAA or MX record. */
export async function rejectUnknownHostname(ctx: CheckCtx, name: string, replyName: string, replyClass: string): Promise<number> {
  let temp = false;
  for (const t of ['A', 'AAAA', 'MX'] as const) {
    const r = await query(ctx, name, t);
    if (r.status === 'ok' && r.records.length > 0) return CHECK.DUNNO;
    if (r.status === 'temp') temp = true;
  }
  const p = ctx.env.params;
  if (!temp) return checkReject(ctx, MAIL_ERROR.POLICY, p.unkNameCode, '4.7.1', `<${replyName}>: ${replyClass} rejected: Host not found`);
  return deferIfPermit(ctx, p.unkNameTempfailIfPermit, MAIL_ERROR.POLICY, 450, '4.7.1', `<${replyName}>: ${replyClass} rejected: Host not found`);
}

async function mailhostOutcome(ctx: CheckCtx, name: string): Promise<Outcome> {
  let temp = false;
  const mx = await query(ctx, name, 'MX');
  if (mx.status === 'ok' && mx.records.length > 0) {
    const nullMx = mx.records.length === 1 && (mx.records[0] === '' || mx.records[0] === '.');
    return nullMx ? 'nullmx' : 'ok';
  }
  if (mx.status === 'temp') temp = true;
  for (const t of ['A', 'AAAA'] as const) {
    const r = await query(ctx, name, t);
    if (r.status === 'ok' && r.records.length > 0) return 'ok';
    if (r.status === 'temp') temp = true;
  }
  return temp ? 'temp' : 'notfound';
}

/** reject_unknown_mailhost(): a domain that cannot receive mail. */
export async function rejectUnknownMailhost(ctx: CheckCtx, name: string, replyName: string, replyClass: string): Promise<number> {
  const p = ctx.env.params;
  const isSender = replyClass === SMTPD_NAME.SENDER;
  const outcome = await mailhostOutcome(ctx, name);
  switch (outcome) {
    case 'ok':
      return CHECK.DUNNO;
    case 'nullmx':
      return checkReject(
        ctx,
        MAIL_ERROR.POLICY,
        isSender ? 550 : 556,
        isSender ? '4.7.27' : '4.1.10',
        `<${replyName}>: ${replyClass} rejected: Domain ${name} does not accept mail (nullMX)`,
      );
    case 'notfound':
      return checkReject(ctx, MAIL_ERROR.POLICY, p.unkAddrCode, isSender ? '4.1.8' : '4.1.2', `<${replyName}>: ${replyClass} rejected: Domain not found`);
    case 'temp':
      return deferIfPermit(ctx, p.unkAddrTempfailIfPermit, MAIL_ERROR.POLICY, 450, isSender ? '4.1.8' : '4.1.2', `<${replyName}>: ${replyClass} rejected: Domain not found`);
  }
}

/** reject_unknown_sender_domain / reject_unknown_recipient_domain. */
export async function rejectUnknownAddress(ctx: CheckCtx, addr: string, replyName: string, replyClass: string): Promise<number> {
  const { state } = ctx;
  const reply = await resolveOrRetry(ctx, replyClass === SMTPD_NAME.SENDER ? state.recipient : state.sender, addr);
  const at = reply.recipient.lastIndexOf('@');
  if (at < 0) return CHECK.DUNNO;
  const domain = reply.recipient.slice(at + 1);
  if (reply.flags & RESOLVE_BITS.CLASS_FINAL) return CHECK.DUNNO;
  if (domain.startsWith('[') && domain.endsWith(']')) return CHECK.DUNNO;
  return rejectUnknownMailhost(ctx, domain, replyName, replyClass);
}

/** Parses an "=d.d.d.d" RBL result filter: per octet, the allowed values. */
export function parseIpMatch(pattern: string): Array<Set<number>> {
  const octets: Array<Set<number>> = [];
  const re = /(\d{1,3})|\[([^\]]*)\]/y;
  let i = 0;
  for (let n = 0; n < 4; n++) {
    if (n > 0) {
      if (pattern[i] !== '.') throw new Error(`bad address pattern: "${pattern}"`);
      i++;
    }
    re.lastIndex = i;
    const m = re.exec(pattern);
    if (!m) throw new Error(`bad address pattern: "${pattern}"`);
    const set = new Set<number>();
    const items = m[1] !== undefined ? [m[1]] : m[2]!.split(';');
    for (const item of items) {
      const r = /^(\d{1,3})(?:\.\.(\d{1,3}))?$/.exec(item);
      if (!r) throw new Error(`bad address pattern: "${pattern}"`);
      const lo = Number(r[1]);
      const hi = r[2] !== undefined ? Number(r[2]) : lo;
      if (lo > 255 || hi > 255 || lo > hi) throw new Error(`bad address pattern: "${pattern}"`);
      for (let v = lo; v <= hi; v++) set.add(v);
    }
    octets.push(set);
    i = re.lastIndex;
  }
  if (i !== pattern.length) throw new Error(`bad address pattern: "${pattern}"`);
  return octets;
}

function ipMatches(filter: Array<Set<number>>, addr: string): boolean {
  const parts = addr.split('.').map(Number);
  return parts.length === 4 && parts.every((v, k) => filter[k]!.has(v));
}

async function rblLookup(ctx: CheckCtx, name: string): Promise<RblAnswer> {
  const cache = ctx.env.rblCache;
  const cached = cache.get(name);
  if (cached) return cached;
  const a = await query(ctx, name, 'A');
  let answer: RblAnswer;
  if (a.status === 'temp') {
    msgWarn(`${name}: RBL lookup error: ${a.why}`);
    answer = { kind: 'soft' };
  } else if (a.status !== 'ok' || a.records.length === 0) {
    answer = { kind: 'miss' };
  } else {
    const t = await query(ctx, name, 'TXT');
    let txt: string | null = null;
    if (t.status === 'ok' && t.records.length > 0) {
      txt = '';
      for (let k = 0; k < t.records.length && txt.length < RBL_TXT_LIMIT; k++) {
        txt += t.records[k]!.slice(0, RBL_TXT_LIMIT - txt.length);
        if (k + 1 < t.records.length && RBL_TXT_LIMIT - txt.length > 3) txt += ' / ';
      }
    }
    answer = { kind: 'hit', a: a.records, txt };
  }
  if (cache.size >= RBL_CACHE_LIMIT) cache.clear();
  cache.set(name, answer);
  return answer;
}

/** Looks up `prefix.domain` (domain may carry =filter): hit only when a filter (if any) matches. */
async function findDnsxl(ctx: CheckCtx, prefix: string, rblDomain: string): Promise<RblAnswer> {
  const eq = rblDomain.indexOf('=');
  const domain = eq < 0 ? rblDomain : rblDomain.slice(0, eq);
  let filter: Array<Set<number>> | null = null;
  if (eq >= 0) {
    try {
      filter = parseIpMatch(rblDomain.slice(eq + 1));
    } catch (err) {
      msgFatal(`RBL reply error: ${(err as Error).message}`);
    }
  }
  const answer = await rblLookup(ctx, `${prefix}.${domain}`);
  if (answer.kind === 'hit' && filter && !answer.a.some((addr) => ipMatches(filter!, addr))) return { kind: 'miss' };
  return answer;
}

/** The reversed form of a client address for DNS lists. */
export function reversedAddr(addr: string): string {
  if (isIP(addr) === 6) return expandIpv6(addr).replace(/:/g, '').split('').reverse().join('.');
  return addr.split('.').reverse().join('.');
}

function rhsDomain(what: string): string | null {
  const at = what.lastIndexOf('@');
  const domain = at >= 0 ? what.slice(at + 1) : what;
  if (domain === '' || domain.startsWith('[')) return null;
  const dot = domain.lastIndexOf('.');
  if (/^\d*$/.test(dot < 0 ? domain : domain.slice(dot + 1))) return null;
  if (!validHostname(domain)) return null;
  return domain;
}

/** Expands $name, ${name}, ${name?text}, ${name:text}; null on an unknown name. */
export function macExpand(template: string, lookup: (name: string) => string | null): string | null {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const c = template[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    if (template[i + 1] === '$') {
      out += '$';
      i += 2;
      continue;
    }
    let name: string;
    let op: string | null = null;
    let arg = '';
    if (template[i + 1] === '{') {
      let depth = 1;
      let j = i + 2;
      for (; j < template.length && depth > 0; j++) {
        if (template[j] === '{') depth++;
        else if (template[j] === '}') depth--;
      }
      if (depth !== 0) return null;
      const inner = template.slice(i + 2, j - 1);
      const m = /^([A-Za-z0-9_]+)(?:([?:])([\s\S]*))?$/.exec(inner);
      if (!m) return null;
      name = m[1]!;
      op = m[2] ?? null;
      arg = m[3] ?? '';
      i = j;
    } else {
      const m = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
      if (!m) return null;
      name = m[0];
      i += 1 + name.length;
    }
    const value = lookup(name);
    if (value === null) return null;
    if (op === null) out += value;
    else if ((op === '?') === (value !== '')) {
      const sub = macExpand(arg, lookup);
      if (sub === null) return null;
      out += sub;
    }
  }
  return out;
}

/** The reply for a listed client or domain (rbl_reject_reply()). */
async function rblRejectReply(ctx: CheckCtx, answer: RblAnswer & { kind: 'hit' }, rblDomain: string, what: string, replyClass: string): Promise<number> {
  const { env, state } = ctx;
  let template: string | null = null;
  const maps = env.namedMaps('rbl_reply_maps');
  if (!maps.empty) {
    try {
      template = await maps.find(rblDomain);
    } catch (err) {
      if (err instanceof DictError) rejectServerError(ctx);
      throw err;
    }
  }
  const filter = env.params.expansionFilter;
  const clean = (v: string): string => [...v].map((ch) => (filter.includes(ch) ? ch : '_')).join('');
  const addrPart = (addr: string | null, part: string): string | null => {
    if (addr === null) return '';
    if (part === '') return addr === '' ? '<>' : addr;
    const at = addr.lastIndexOf('@');
    if (part === '_name') return addr === '' ? '<>' : at >= 0 ? addr.slice(0, at) : addr;
    if (part === '_domain') return addr === '' || at < 0 ? '' : addr.slice(at + 1);
    return null;
  };
  const lookup = (name: string): string | null => {
    let v: string | null;
    switch (name) {
      case 'rbl_code':
        v = String(env.params.mapsRblCode);
        break;
      case 'rbl_domain':
        v = rblDomain.split('=')[0]!;
        break;
      case 'rbl_reason':
      case 'rbl_txt':
        v = answer.txt ?? '';
        break;
      case 'rbl_what':
        v = what;
        break;
      case 'rbl_class':
        v = replyClass;
        break;
      case 'client':
        v = state.namaddr;
        break;
      case 'client_address':
        v = state.addr;
        break;
      case 'client_name':
        v = state.name;
        break;
      case 'reverse_client_name':
        v = state.reverseName;
        break;
      case 'helo_name':
        v = state.heloName ?? '';
        break;
      default:
        if (name.startsWith('sender')) v = addrPart(state.sender, name.slice(6));
        else if (name.startsWith('recipient')) v = addrPart(state.recipient, name.slice(9));
        else v = null;
        if (v === null) msgWarn(`unknown macro name "${name}" in expansion request`);
    }
    return v === null ? null : clean(v);
  };
  let why = template === null ? null : macExpand(template, lookup);
  if (why === null) {
    if (template !== null) msgWarn(`rbl_reject_reply: bad rbl reply template for domain ${rblDomain}: ${template}`);
    why = macExpand(env.params.defaultRblReply, lookup);
    if (why === null) msgFatal(`rbl_reject_reply: bad default rbl reply template: ${env.params.defaultRblReply}`);
  }
  if (!/^[45]\d\d /.test(why)) {
    msgWarn(`rbl response code configuration error: ${why}`);
    return checkReject(ctx, MAIL_ERROR.POLICY, 450, '4.7.1', 'Service unavailable');
  }
  const d = dsnSplit('4.7.1', why.slice(4));
  return checkReject(ctx, MAIL_ERROR.POLICY, Number(why.slice(0, 3)), smtpdDsnFix(d.dsn, replyClass), d.text || 'Service unavailable');
}

/** reject_rbl_client. */
export async function rejectRblAddr(ctx: CheckCtx, rblDomain: string, addr: string, replyClass: string): Promise<number> {
  const answer = await findDnsxl(ctx, reversedAddr(addr), rblDomain);
  if (answer.kind !== 'hit') return CHECK.DUNNO;
  return rblRejectReply(ctx, answer, rblDomain, addr, replyClass);
}

/** permit_dnswl_client: OK when listed (never for an unauthorized RCPT destination). */
export async function permitDnswlAddr(ctx: CheckCtx, dnswlDomain: string, addr: string, replyClass: string): Promise<number> {
  const { state } = ctx;
  if (state.where === 'RCPT' && state.recipient !== null && (await permitAuthDestination(ctx, state.recipient)) !== CHECK.OK) return CHECK.DUNNO;
  const answer = await findDnsxl(ctx, reversedAddr(addr), dnswlDomain);
  if (answer.kind === 'miss') return CHECK.DUNNO;
  if (answer.kind === 'soft') {
    deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.7.1', `<${addr}>: ${replyClass} rejected: Service unavailable`);
    return CHECK.DUNNO;
  }
  return CHECK.OK;
}

/** reject_rhsbl_client/sender/recipient/helo/reverse_client. */
export async function rejectRblDomain(ctx: CheckCtx, rblDomain: string, what: string, replyClass: string): Promise<number> {
  const domain = rhsDomain(what);
  if (domain === null) return CHECK.DUNNO;
  const answer = await findDnsxl(ctx, domain, rblDomain);
  if (answer.kind !== 'hit') return CHECK.DUNNO;
  return rblRejectReply(ctx, answer, rblDomain, what, replyClass);
}

/** permit_rhswl_client. */
export async function permitDnswlDomain(ctx: CheckCtx, dnswlDomain: string, what: string, replyClass: string): Promise<number> {
  const { state } = ctx;
  if (state.where === 'RCPT' && state.recipient !== null && (await permitAuthDestination(ctx, state.recipient)) !== CHECK.OK) return CHECK.DUNNO;
  const domain = rhsDomain(what);
  if (domain === null) return CHECK.DUNNO;
  const answer = await findDnsxl(ctx, domain, dnswlDomain);
  if (answer.kind === 'miss') return CHECK.DUNNO;
  if (answer.kind === 'soft') {
    deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.7.1', `<${what}>: ${replyClass} rejected: Service unavailable`);
    return CHECK.DUNNO;
  }
  return CHECK.OK;
}
