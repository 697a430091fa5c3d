/*
 * smtpd_check_server - restrictions on the DNS servers of a name
 * (Postfix smtpd_check.c check_server_access, permit_mx_backup,
 * check_relay_domains)
 *
 * What it does: check_{client,reverse_client_hostname,helo,sender,
 * recipient}_{mx,ns,a}_access look up the MX hosts (a name without MX is
 * its own MX; an address literal is its own), the NS hosts (walking up
 * to parent domains when a name has none) or the name itself (A), and
 * search the access table with each server's name and then each of its
 * addresses; such a table may not say OK (Postfix refuses it with 451
 * 4.3.5). permit_mx_backup accepts a recipient domain for which this
 * host is a backup MX (not the primary; with permit_mx_backup_networks,
 * only when every primary MX address is in those networks), and
 * anything that is a final or relay destination anyway.
 * check_relay_domains is the deprecated relay check.
 *
 * What it does not do: the access table search itself
 * (smtpd_check_access.ts).
 *
 * DIAGNOSTICS
 * "Unable to look up MX host for ..." and similar warnings, as Postfix.
 */
import { msgWarn } from '../util/msg.js';
import { matchHostname } from '../util/match_ops.js';
import { matchListInit, MATCH_FLAG, type MatchList } from '../util/match_list.js';
import type { DnsReply } from '../global/dns_lookup.js';
import { matchParentStyle, namadrListFromConfig, VAR_PAR_DOM_MATCH } from '../global/namadr_list.js';
import { resolveLocal } from '../global/resolve_local.js';
import { checkAddrAccess, checkDomainAccess } from './smtpd_check_access.js';
import { permitAuthDestination, resolveOrRetry, validHostaddr, validMailhostAddr } from './smtpd_check_addr.js';
import { CHECK, type CheckCtx, checkReject, deferIfReject, MAIL_ERROR, RESOLVE_BITS, rejectDictRetry, rejectServerError } from './smtpd_check_log.js';

export type ServerType = 'MX' | 'NS' | 'A';

function dnsError(r: DnsReply): string {
  return r.status === 'ok' ? '' : r.status === 'temp' ? 'Host not found, try again' : 'Host not found';
}

/** check_server_access(). */
export async function checkServerAccess(
  ctx: CheckCtx,
  table: string,
  name: string,
  type: ServerType,
  replyName: string,
  replyClass: string,
  defAcl: string | null,
): Promise<number> {
  const dns = ctx.env.dns;
  const f = { found: false };
  let domain = name.includes('@') ? name.slice(name.lastIndexOf('@') + 1) : name;
  if (domain.startsWith('[')) {
    if (type === 'NS' || !domain.endsWith(']')) return CHECK.DUNNO;
    const inner = domain.slice(1, -1);
    if (!validMailhostAddr(inner)) return CHECK.DUNNO;
    return checkAddrAccess(ctx, table, inner.replace(/^ipv6:/i, ''), f, replyName, replyClass, defAcl);
  }
  let servers: string[];
  if (type === 'A') {
    servers = [domain];
  } else {
    let r = await dns.query(domain, type);
    if (r.status === 'ok' && type === 'MX' && r.records.length === 1 && (r.records[0] === '' || r.records[0] === '.')) return CHECK.DUNNO;
    if (r.status === 'notfound') {
      if (type === 'MX') {
        r = { status: 'ok', records: [domain] };
      } else {
        for (let dot = domain.indexOf('.'); dot >= 0 && dot + 1 < domain.length; dot = domain.indexOf('.')) {
          domain = domain.slice(dot + 1);
          r = await dns.query(domain, type);
          if (r.status !== 'notfound') break;
        }
      }
    }
    if (r.status !== 'ok') {
      msgWarn(`Unable to look up ${type} host for ${domain || name}: ${dnsError(r)}`);
      return CHECK.DUNNO;
    }
    servers = r.records;
  }
  for (const server of servers) {
    if (validHostaddr(server)) {
      const s = await checkAddrAccess(ctx, table, server, f, replyName, replyClass, defAcl);
      if (s !== CHECK.DUNNO || f.found) return s;
      continue;
    }
    if (type !== 'A') {
      const s = await checkDomainAccess(ctx, table, server, f, replyName, replyClass, defAcl);
      if (s !== CHECK.DUNNO || f.found) return s;
    }
    const addrs = await dns.hostAddrs(server);
    if (addrs.status !== 'ok') {
      if (type !== 'A') msgWarn(`Unable to look up ${type} host ${server} for ${replyClass} ${replyName}: ${dnsError(addrs)}`);
      continue;
    }
    for (const addr of addrs.records) {
      const s = await checkAddrAccess(ctx, table, addr, f, replyName, replyClass, defAcl);
      if (s !== CHECK.DUNNO || f.found) return s;
    }
  }
  return CHECK.DUNNO;
}

/** forbid_allowlist() for server access tables. */
export function forbidAllowlist(ctx: CheckCtx, name: string, status: number, target: string): void {
  if (!ctx.state.discard && status === CHECK.OK) {
    msgWarn(`restriction ${name} returns OK for ${target}`);
    msgWarn('this is not allowed for security reasons');
    msgWarn('use DUNNO instead of OK if you want to make an exception');
    rejectServerError(ctx);
  }
}

/** has_my_addr(): does this host name have one of our addresses? */
async function hasMyAddr(ctx: CheckCtx, host: string, replyName: string, replyClass: string): Promise<boolean> {
  const r = await ctx.env.dns.hostAddrs(host);
  if (r.status !== 'ok') {
    deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.4.4', `<${replyName}>: ${replyClass} rejected: Unable to look up mail exchanger host ${host}: ${dnsError(r)}`);
    return false;
  }
  return r.records.some((a) => ctx.env.ownAddress(a));
}

async function iAmMx(ctx: CheckCtx, hosts: string[], replyName: string, replyClass: string): Promise<boolean> {
  if (hosts.some((h) => resolveLocal(ctx.env.config, h))) return true;
  for (const h of hosts) if (await hasMyAddr(ctx, h, replyName, replyClass)) return true;
  return false;
}

/** permit_mx_primary(): every address of every primary MX is in permit_mx_backup_networks. */
async function permitMxPrimary(ctx: CheckCtx, hosts: string[], replyName: string, replyClass: string): Promise<boolean> {
  const nets = namadrListFromConfig(ctx.env.config, 'permit_mx_backup_networks');
  for (const host of hosts) {
    const r = await ctx.env.dns.hostAddrs(host);
    if (r.status !== 'ok') {
      deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.4.4', `<${replyName}>: ${replyClass} rejected: Unable to look up host ${host} as mail exchanger: ${dnsError(r)}`);
      return false;
    }
    for (const a of r.records) {
      if (!nets.match(host, a)) {
        if (nets.error !== null) {
          msgWarn(`all_auth_mx_addr: permit_mx_backup_networks lookup error for address ${a} for ${host}`);
          deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.4.4', `<${replyName}>: ${replyClass} rejected: Unable to verify host ${host} as mail exchanger`);
        }
        return false;
      }
    }
  }
  return true;
}

/** permit_mx_backup. */
export async function permitMxBackup(ctx: CheckCtx, recipient: string, replyName: string, replyClass: string): Promise<number> {
  const reply = await resolveOrRetry(ctx, ctx.state.sender, recipient);
  const at = reply.recipient.lastIndexOf('@');
  if (at < 0) return CHECK.OK;
  const domain = reply.recipient.slice(at + 1);
  if (!ctx.env.params.allowUntrustedRouting && reply.flags & RESOLVE_BITS.FLAG_ROUTED) return CHECK.DUNNO;
  if (reply.flags & (RESOLVE_BITS.CLASS_FINAL | RESOLVE_BITS.CLASS_RELAY)) return CHECK.OK;
  if (domain.startsWith('[') && domain.endsWith(']')) return CHECK.DUNNO;
  const r = await ctx.env.dns.query(domain, 'MX');
  if (r.status !== 'ok' || !r.mx) {
    if (r.status === 'temp') {
      deferIfReject(ctx, MAIL_ERROR.POLICY, 450, '4.4.4', `<${replyName}>: ${replyClass} rejected: Unable to look up mail exchanger information: ${dnsError(r)}`);
    }
    return CHECK.DUNNO;
  }
  const best = Math.min(...r.mx.map((m) => m.preference));
  const primaries = r.mx.filter((m) => m.preference === best).map((m) => m.exchange);
  const backups = r.mx.filter((m) => m.preference !== best).map((m) => m.exchange);
  if (await iAmMx(ctx, primaries, replyName, replyClass)) return CHECK.DUNNO;
  if (backups.length === 0 || !(await iAmMx(ctx, backups, replyName, replyClass))) return CHECK.DUNNO;
  if (ctx.env.config.get('permit_mx_backup_networks').trim() !== '' && !(await permitMxPrimary(ctx, primaries, replyName, replyClass))) return CHECK.DUNNO;
  return CHECK.OK;
}

let relayDomainsList: { value: string; list: MatchList } | null = null;
let warnedRelayDomains = false;

/** check_relay_domains (deprecated): client in relay_domains, or an authorized destination. */
export async function checkRelayDomains(ctx: CheckCtx, recipient: string, replyName: string, replyClass: string): Promise<number> {
  if (!warnedRelayDomains) {
    warnedRelayDomains = true;
    msgWarn('support for restriction "check_relay_domains" will be removed from Postfix; use "reject_unauth_destination" instead');
  }
  const config = ctx.env.config;
  const value = config.get('relay_domains');
  if (relayDomainsList?.value !== value) {
    const flags = matchParentStyle('relay_domains', config.get(VAR_PAR_DOM_MATCH)) | MATCH_FLAG.NONE;
    relayDomainsList = { value, list: matchListInit('relay_domains', flags, value, [matchHostname]) };
  }
  if (await relayDomainsList.list.matchAsync(ctx.state.name)) return CHECK.OK;
  if (relayDomainsList.list.error !== null) rejectDictRetry(ctx, ctx.state.name);
  if ((await permitAuthDestination(ctx, recipient)) === CHECK.OK) return CHECK.OK;
  return checkReject(ctx, MAIL_ERROR.POLICY, ctx.env.params.relayCode, '5.7.1', `<${replyName}>: ${replyClass} rejected: Relay access denied`);
}
