/*
 * smtp_addr - server addresses for a destination (Postfix smtp_addr.c)
 *
 * What it does: domainAddr() looks up the MX records of a domain, orders
 * them by preference (equal preferences shuffled when
 * smtp_randomize_addresses is on), finds the addresses of each exchanger
 * and returns at most smtp_mx_address_limit of them; without MX records
 * it falls back to the domain's own A/AAAA records; a null MX ("MX 0 .")
 * is a permanent "does not accept mail". hostAddr() finds the addresses
 * of one host ([host] destinations, lmtp, disable_dns_lookups), through
 * DNS and/or the system resolver as smtp_host_lookup says; numeric
 * addresses are taken as they are. Addresses are filtered by
 * inet_protocols and ordered by smtp_address_preference.
 *
 * What it does not do: connect, cache answers, SRV lookups, DNSSEC, or
 * detect that this host is itself an MX host (best_mx_transport).
 *
 * DIAGNOSTICS
 * Failures come back as { ok: false, status, reason } with Postfix's
 * texts: "Host or domain name not found. Name service error for
 * name=N type=T: Host not found[, try again]" (status 5.4.4 / 4.4.3),
 * "N: Name or service not known" for the native lookup, and "Domain N
 * does not accept mail (nullMX)" (5.1.0).
 */
import { lookup as gaiLookup } from 'node:dns';
import { isIP } from 'node:net';
import type { DnsLookup, DnsReply } from '../global/dns_lookup.js';
import type { SmtpParams } from './smtp_params.js';

export interface SmtpAddr {
  /** The server's name (MX exchanger or host). */
  host: string;
  addr: string;
  pref: number;
}

export type AddrResult = { ok: true; addrs: SmtpAddr[] } | { ok: false; status: string; reason: string };

/** Preference given to a host that is not an MX exchanger (Postfix uses 0 for those). */
const NON_MX_PREF = 0;

/** Postfix's dns_strerror() texts. */
const DNS_TEXT = { NOTFOUND: 'Host not found', TRYAGAIN: 'Host not found, try again', NODATA: 'Host found but no data record of requested type' } as const;

function nameServiceError(name: string, type: string, reply: DnsReply): string {
  const why = reply.status === 'temp' ? DNS_TEXT.TRYAGAIN : reply.status === 'notfound' && !reply.nxdomain ? DNS_TEXT.NODATA : DNS_TEXT.NOTFOUND;
  return `Host or domain name not found. Name service error for name=${name} type=${type}: ${why}`;
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

function protocolAllowed(addr: string, params: SmtpParams): boolean {
  const protos = params.inetProtocols;
  if (protos.length === 0 || protos.includes('all')) return true;
  return protos.includes(isIP(addr) === 6 ? 'ipv6' : 'ipv4');
}

/** Orders one host's addresses per smtp_address_preference (stable; "any" keeps them). */
function preferOrder(addrs: string[], params: SmtpParams): string[] {
  const pref = params.addressPreference;
  if (pref !== 'ipv4' && pref !== 'ipv6') return addrs;
  const want = pref === 'ipv6' ? 6 : 4;
  return [...addrs.filter((a) => isIP(a) === want), ...addrs.filter((a) => isIP(a) !== want)];
}

function nativeAddrs(host: string): Promise<{ ok: true; addrs: string[] } | { ok: false; temp: boolean; text: string }> {
  return new Promise((resolve) => {
    gaiLookup(host, { all: true }, (err, list) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        const temp = code === 'EAI_AGAIN';
        resolve({ ok: false, temp, text: temp ? 'Temporary failure in name resolution' : 'Name or service not known' });
      } else {
        resolve({ ok: true, addrs: list.map((a) => a.address) });
      }
    });
  });
}

/** The addresses of one host (Postfix smtp_addr_one / smtp_host_addr). */
export async function hostAddr(dns: DnsLookup, host: string, params: SmtpParams, pref = NON_MX_PREF): Promise<AddrResult> {
  const bare = host.replace(/\.$/, '');
  if (isIP(bare) !== 0) {
    if (!protocolAllowed(bare, params)) return { ok: false, status: '5.4.4', reason: `${bare}: address family not enabled in inet_protocols` };
    return { ok: true, addrs: [{ host: bare, addr: bare, pref }] };
  }
  let soft = false;
  let failure: { status: string; reason: string } | null = null;
  const useDns = params.hostLookup.includes('dns') && !params.disableDns;
  const useNative = params.hostLookup.includes('native') || !useDns;
  if (useDns) {
    const types: Array<'A' | 'AAAA'> = [];
    const protos = params.inetProtocols;
    const all = protos.length === 0 || protos.includes('all');
    if (all || protos.includes('ipv4')) types.push('A');
    if (all || protos.includes('ipv6')) types.push('AAAA');
    if (params.addressPreference === 'ipv6') types.reverse();
    const addrs: string[] = [];
    let last: { type: string; reply: DnsReply } | null = null;
    for (const type of types) {
      const r = await dns.query(bare, type);
      if (r.status === 'ok') addrs.push(...r.records);
      else {
        last = { type, reply: r };
        if (r.status === 'temp') soft = true;
      }
    }
    if (addrs.length > 0) return { ok: true, addrs: preferOrder(addrs, params).map((addr) => ({ host: bare, addr, pref })) };
    if (last) failure = { status: soft ? '4.4.3' : '5.4.4', reason: nameServiceError(bare, last.type, last.reply) };
  }
  if (useNative) {
    const r = await nativeAddrs(bare);
    if (r.ok) {
      const addrs = r.addrs.filter((a) => protocolAllowed(a, params));
      if (addrs.length > 0) return { ok: true, addrs: preferOrder(addrs, params).map((addr) => ({ host: bare, addr, pref })) };
      failure = { status: soft ? '4.4.4' : '5.4.4', reason: `${bare}: No address associated with hostname` };
    } else {
      failure = { status: soft || r.temp ? '4.4.4' : '5.4.4', reason: `${bare}: ${r.text}` };
    }
  }
  return { ok: false, ...(failure ?? { status: '5.4.4', reason: `${bare}: Name or service not known` }) };
}

/** MX lookup, then the exchangers' addresses (Postfix smtp_domain_addr). */
export async function domainAddr(dns: DnsLookup, domain: string, params: SmtpParams): Promise<AddrResult> {
  const name = domain.replace(/\.$/, '');
  if (isIP(name) !== 0) return hostAddr(dns, name, params);
  const mx = await dns.query(name, 'MX');
  if (mx.status === 'temp') return { ok: false, status: '4.4.3', reason: nameServiceError(name, 'MX', mx) };
  if (mx.status === 'notfound') return hostAddr(dns, name, params);
  const records = mx.mx ?? mx.records.map((exchange) => ({ preference: 0, exchange }));
  if (records.length === 0) return hostAddr(dns, name, params);
  if (records.length === 1 && (records[0]!.exchange === '' || records[0]!.exchange === '.')) {
    return { ok: false, status: '5.1.0', reason: `Domain ${name} does not accept mail (nullMX)` };
  }
  // Sort by preference; shuffle each group of equal preference first.
  const byPref = new Map<number, string[]>();
  for (const r of records) {
    if (r.exchange === '' || r.exchange === '.') continue;
    const list = byPref.get(r.preference) ?? [];
    list.push(r.exchange.replace(/\.$/, ''));
    byPref.set(r.preference, list);
  }
  const prefs = [...byPref.keys()].sort((a, b) => a - b);
  const out: SmtpAddr[] = [];
  let lastFail: { status: string; reason: string } | null = null;
  let soft = false;
  for (const pref of prefs) {
    const hosts = byPref.get(pref)!;
    if (params.randomizeAddresses) shuffle(hosts);
    for (const host of hosts) {
      const r = await hostAddr(dns, host, params, pref);
      if (r.ok) out.push(...r.addrs);
      else {
        lastFail = { status: r.status, reason: r.reason };
        if (r.status.startsWith('4')) soft = true;
      }
    }
  }
  if (out.length === 0) {
    const f = lastFail ?? { status: '5.4.4', reason: `Host or domain name not found. Name service error for name=${name} type=MX: ${DNS_TEXT.NODATA}` };
    // smtp_defer_if_no_mx_address_found, or any temporary failure: try again later.
    return { ok: false, status: soft || params.deferIfNoMxAddress ? `4${f.status.slice(1)}` : f.status, reason: f.reason };
  }
  return { ok: true, addrs: params.mxAddressLimit > 0 ? out.slice(0, params.mxAddressLimit) : out };
}
