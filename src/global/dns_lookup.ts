/*
 * dns_lookup - DNS queries for smtpd and friends, and the client name lookup
 *
 * What it does: dnsLookup() returns a DnsLookup that asks A, AAAA, MX,
 * TXT, PTR and NS questions and answers each with the records found, a
 * permanent "not found" (NXDOMAIN or no data) or a temporary failure
 * (server failure, timeout, refused). When the environment variable
 * POSTERN_RESOLV_CONF names a file in resolv.conf format, its
 * "nameserver" lines (an address, optionally followed by ":port", or
 * "[ipv6]:port") are the only servers asked — that is how tests point
 * Postern at a dnsmasq they started. Otherwise address and name lookups
 * go through the system's getaddrinfo()/getnameinfo() paths and the
 * other record types through the system's configured name servers.
 * peerName() is smtpd_peer.c's client name lookup: reverse lookup, then
 * forward confirmation, with Postfix's status codes (2 ok, 4 temporary,
 * 5 permanent, 6 forged) and "unknown" for a name that could not be
 * found or confirmed.
 *
 * What it does not do: cache answers, follow CNAMEs by hand (the
 * resolver does), DNSSEC, or decide policy (smtpd_check does).
 *
 * DIAGNOSTICS
 * peerName() logs Postfix's warnings ("hostname X does not resolve to
 * address Y", "numeric domain name in resolver data: X"). A bad
 * POSTERN_RESOLV_CONF file is reported by throwing an Error naming the
 * file and line.
 */
import { promises as dnsp, lookup as gaiLookup, lookupService as gniLookup } from 'node:dns';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { msgWarn } from '../util/msg.js';

/** The environment variable naming a resolv.conf-format file of name servers. */
export const RESOLV_CONF_ENV = 'POSTERN_RESOLV_CONF';

/** Per-query timeout and tries (as a stub resolver's defaults, kept short). */
export const DNS_TIMEOUT_MS = 5000;
export const DNS_TRIES = 2;

/** Record types asked for. */
export const DNS_TYPE = { A: 'A', AAAA: 'AAAA', MX: 'MX', TXT: 'TXT', PTR: 'PTR', NS: 'NS' } as const;
export type DnsType = (typeof DNS_TYPE)[keyof typeof DNS_TYPE];

/** smtpd_peer.c's name status codes. */
export const SMTPD_PEER_CODE = { OK: 2, TEMP: 4, PERM: 5, FORGED: 6 } as const;
export type PeerCode = (typeof SMTPD_PEER_CODE)[keyof typeof SMTPD_PEER_CODE];

export interface MxRecord {
  preference: number;
  exchange: string;
}

/** One answer. TXT records are their strings joined; MX records come in `mx` (and `records` as exchanges). */
export type DnsReply =
  | { status: 'ok'; records: string[]; mx?: MxRecord[] }
  | { status: 'notfound'; nxdomain: boolean; why: string }
  | { status: 'temp'; why: string };

export interface DnsLookup {
  query(name: string, type: DnsType): Promise<DnsReply>;
  /** A and AAAA together: ok with every address, notfound when neither has data, temp if any failed temporarily and none answered. */
  hostAddrs(name: string): Promise<DnsReply>;
  /** The names of an address (PTR of its reverse name). */
  reverse(addr: string): Promise<DnsReply>;
}

export interface PeerNameResult {
  /** The verified name, or "unknown". */
  name: string;
  status: PeerCode;
  /** The unverified reverse name, or "unknown". */
  reverseName: string;
  reverseStatus: PeerCode;
}

const PERM_CODES = new Set(['ENOTFOUND', 'ENODATA', 'NOTFOUND', 'NODATA', 'EAI_NONAME', 'EAI_NODATA', 'ENONAME', 'EFORMERR', 'EBADNAME', 'EBADQUERY']);

function failReply(err: unknown): DnsReply {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const why = (err as Error).message ?? String(err);
  if (PERM_CODES.has(code)) return { status: 'notfound', nxdomain: code === 'ENOTFOUND' || code === 'EAI_NONAME', why };
  return { status: 'temp', why };
}

/** Parses a resolv.conf-format text: the nameserver entries as setServers() takes them. */
export function parseResolvConf(text: string, file: string): string[] {
  const servers: string[] = [];
  text.split('\n').forEach((line, i) => {
    const words = line.replace(/[#;].*$/, '').trim().split(/\s+/).filter((w) => w !== '');
    if (words.length === 0 || words[0] !== 'nameserver') return;
    const v = words[1];
    if (v === undefined) throw new Error(`${file}, line ${i + 1}: nameserver without an address`);
    let host = v;
    let port: string | null = null;
    const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
    if (bracket) {
      host = bracket[1]!;
      port = bracket[2] ?? null;
    } else if (isIP(v) === 0) {
      const m = /^([^:]+):(\d+)$/.exec(v);
      if (!m) throw new Error(`${file}, line ${i + 1}: bad nameserver address: ${v}`);
      host = m[1]!;
      port = m[2]!;
    }
    if (isIP(host) === 0) throw new Error(`${file}, line ${i + 1}: bad nameserver address: ${v}`);
    if (port !== null && (Number(port) < 1 || Number(port) > 65535)) throw new Error(`${file}, line ${i + 1}: bad nameserver port: ${v}`);
    const hostPart = isIP(host) === 6 ? `[${host}]` : host;
    servers.push(port === null ? host : `${hostPart}:${port}`);
  });
  if (servers.length === 0) throw new Error(`${file}: no nameserver lines`);
  return servers;
}

/** The reverse-lookup name of an address (in-addr.arpa / ip6.arpa). */
export function reverseName(addr: string): string {
  if (isIP(addr) === 4) return `${addr.split('.').reverse().join('.')}.in-addr.arpa`;
  return `${expandIpv6(addr).replace(/:/g, '').split('').reverse().join('.')}.ip6.arpa`;
}

/** The 32 hex digits of an IPv6 address, grouped by 4 with ':'. */
export function expandIpv6(addr: string): string {
  let a = addr.toLowerCase();
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (v4) {
    const o = v4[1]!.split('.').map(Number);
    a = a.slice(0, -v4[1]!.length) + `${((o[0]! << 8) | o[1]!).toString(16)}:${((o[2]! << 8) | o[3]!).toString(16)}`;
  }
  const [head, tail] = a.includes('::') ? a.split('::') : [a, null];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => g.padStart(4, '0')).join(':');
}

class ResolverLookup implements DnsLookup {
  readonly #resolver: dnsp.Resolver;
  /** True: the system's getaddrinfo()/getnameinfo() for addresses and names. */
  readonly #system: boolean;

  constructor(servers: string[] | null) {
    this.#resolver = new dnsp.Resolver({ timeout: DNS_TIMEOUT_MS, tries: DNS_TRIES });
    if (servers) this.#resolver.setServers(servers);
    this.#system = servers === null;
  }

  async query(name: string, type: DnsType): Promise<DnsReply> {
    const r = this.#resolver;
    try {
      switch (type) {
        case 'A':
          return { status: 'ok', records: await r.resolve4(name) };
        case 'AAAA':
          return { status: 'ok', records: await r.resolve6(name) };
        case 'MX': {
          const mx = (await r.resolveMx(name)).map((m) => ({ preference: m.priority, exchange: m.exchange }));
          return { status: 'ok', records: mx.map((m) => m.exchange), mx };
        }
        case 'TXT':
          return { status: 'ok', records: (await r.resolveTxt(name)).map((parts) => parts.join('')) };
        case 'PTR':
          return { status: 'ok', records: await r.resolvePtr(name) };
        case 'NS':
          return { status: 'ok', records: await r.resolveNs(name) };
      }
    } catch (err) {
      return failReply(err);
    }
  }

  async hostAddrs(name: string): Promise<DnsReply> {
    if (this.#system) {
      try {
        const all = await new Promise<Array<{ address: string }>>((res, rej) =>
          gaiLookup(name, { all: true }, (err, addrs) => (err ? rej(err) : res(addrs))),
        );
        return { status: 'ok', records: all.map((a) => a.address) };
      } catch (err) {
        return failReply(err);
      }
    }
    const [a, aaaa] = await Promise.all([this.query(name, 'A'), this.query(name, 'AAAA')]);
    const records = [...(a.status === 'ok' ? a.records : []), ...(aaaa.status === 'ok' ? aaaa.records : [])];
    if (records.length > 0) return { status: 'ok', records };
    if (a.status === 'temp') return a;
    if (aaaa.status === 'temp') return aaaa;
    return a;
  }

  async reverse(addr: string): Promise<DnsReply> {
    if (this.#system) {
      try {
        const r = await new Promise<string>((res, rej) => gniLookup(addr, 0, (err, host) => (err ? rej(err) : res(host))));
        // getnameinfo() without NI_NAMEREQD may answer with the address itself: that is "no name".
        if (isIP(r) !== 0) return { status: 'notfound', nxdomain: true, why: `no name for ${addr}` };
        return { status: 'ok', records: [r] };
      } catch (err) {
        return failReply(err);
      }
    }
    return this.query(reverseName(addr), 'PTR');
  }
}

/**
 * A DnsLookup over the servers in $POSTERN_RESOLV_CONF when set (the file
 * is read now), else the system's resolver.
 */
export function dnsLookup(opts: { resolvConf?: string } = {}): DnsLookup {
  const file = opts.resolvConf ?? process.env[RESOLV_CONF_ENV];
  if (file) return new ResolverLookup(parseResolvConf(readFileSync(file, 'utf8'), file));
  return new ResolverLookup(null);
}

/** Same address, IPv4-mapped IPv6 folded to IPv4, IPv6 expanded. */
function sameAddr(a: string, b: string): boolean {
  const norm = (x: string): string => {
    const s = x.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
    return isIP(s) === 6 ? expandIpv6(s) : s;
  };
  return norm(a) === norm(b);
}

/** Postfix's valid_hostname() without gripes: labels of letters, digits, '-', '_', not all numeric. */
function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  const labels = name.replace(/\.$/, '').split('.');
  let nonNumeric = false;
  for (const l of labels) {
    if (l.length === 0 || l.length > 63) return false;
    if (!/^[A-Za-z0-9_-]+$/.test(l) || l.startsWith('-') || l.endsWith('-')) return false;
    if (!/^\d+$/.test(l)) nonNumeric = true;
  }
  return nonNumeric;
}

/**
 * The client name as smtpd_peer.c finds it: the reverse name (status
 * 4/5 and "unknown" when there is none), then the forward lookup of that
 * name must list the address (else "unknown" with status 6 forged, or 4
 * when the forward lookup failed temporarily).
 */
export async function peerName(addr: string, dns: DnsLookup = dnsLookup()): Promise<PeerNameResult> {
  const unknown = (status: PeerCode): PeerNameResult => ({ name: 'unknown', status, reverseName: 'unknown', reverseStatus: status });
  const rev = await dns.reverse(addr);
  if (rev.status !== 'ok' || rev.records.length === 0) {
    return unknown(rev.status === 'temp' ? SMTPD_PEER_CODE.TEMP : SMTPD_PEER_CODE.PERM);
  }
  const name = rev.records[0]!.replace(/\.$/, '');
  if (isIP(name) !== 0) {
    msgWarn(`numeric domain name in resolver data: ${name}`);
    return unknown(SMTPD_PEER_CODE.PERM);
  }
  if (!validHostname(name)) return unknown(SMTPD_PEER_CODE.PERM);
  const fwd = await dns.hostAddrs(name);
  if (fwd.status !== 'ok') {
    msgWarn(`hostname ${name} does not resolve to address ${addr}: ${fwd.status === 'temp' ? 'Temporary failure in name resolution' : 'Name or service not known'}`);
    return { name: 'unknown', status: fwd.status === 'temp' ? SMTPD_PEER_CODE.TEMP : SMTPD_PEER_CODE.FORGED, reverseName: name, reverseStatus: SMTPD_PEER_CODE.OK };
  }
  if (!fwd.records.some((a) => sameAddr(a, addr))) {
    msgWarn(`hostname ${name} does not resolve to address ${addr}`);
    return { name: 'unknown', status: SMTPD_PEER_CODE.FORGED, reverseName: name, reverseStatus: SMTPD_PEER_CODE.OK };
  }
  return { name, status: SMTPD_PEER_CODE.OK, reverseName: name, reverseStatus: SMTPD_PEER_CODE.OK };
}
