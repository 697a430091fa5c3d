/*
 * own_inet_addr - is an address one of this mail system's own? (Postfix own_inet_addr)
 *
 * What it does: ownInetAddr(config, addr) says whether an IPv4 or IPv6
 * address (text form, no brackets) is one that inet_interfaces makes us
 * listen on: "all" means every address of every network interface of
 * this machine (os.networkInterfaces()), "loopback-only" means 127.0.0.1
 * and ::1, anything else is a list of addresses (bare or in [brackets])
 * and the host names "localhost" (the loopback addresses). Only the
 * families that inet_protocols enables count ("all" = ipv4 and ipv6).
 * proxyInetAddr(config, addr) does the same for proxy_interfaces (the
 * addresses of a proxy or NAT in front of us; empty by default).
 * The answer lists are computed once per configuration object and value.
 *
 * What it does not do: look host names other than localhost up in DNS
 * (Postfix calls getaddrinfo(); here such a name is warned about once and
 * contributes no address), or open any socket.
 *
 * DIAGNOSTICS
 * "inet_interfaces: host name NAME is not looked up; use its address"
 * once per name; an entry that is neither an address nor a name is warned
 * about and ignored.
 */
import { networkInterfaces } from 'node:os';
import { formatInetAddr, parseInetAddr } from '../util/cidr_match.js';
import { msgWarn } from '../util/msg.js';
import type { MailConfig } from './mail_conf.js';

export const INET_INTERFACES = {
  ALL: 'all',
  LOOPBACK: 'loopback-only',
} as const;

/** The loopback addresses of each family. */
const LOOPBACK_V4 = '127.0.0.1';
const LOOPBACK_V6 = '::1';

/** Names that stand for the loopback addresses without DNS. */
const LOOPBACK_NAMES = new Set(['localhost', 'localhost.localdomain']);

const warned = new Set<string>();

/** The families inet_protocols enables. */
export function inetProtocols(value: string): { v4: boolean; v6: boolean } {
  const words = value.toLowerCase().split(/[\s,]+/).filter((w) => w !== '');
  const all = words.includes('all');
  return { v4: all || words.includes('ipv4'), v6: all || words.includes('ipv6') };
}

/** Canonical text form of an address, or null when the text is not one. */
export function canonicalAddr(text: string): string | null {
  let t = text;
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  if (/^ipv6:/i.test(t)) t = t.slice(5);
  const pct = t.indexOf('%');
  if (pct >= 0 && t.includes(':')) t = t.slice(0, pct);
  const bytes = parseInetAddr(t);
  return bytes === null ? null : formatInetAddr(bytes);
}

function familyOk(addr: string, fam: { v4: boolean; v6: boolean }): boolean {
  return addr.includes(':') ? fam.v6 : fam.v4;
}

/** Every address of this machine's interfaces, canonical text. */
export function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const ni of list ?? []) {
      const a = canonicalAddr(ni.address);
      if (a !== null) out.push(a);
    }
  }
  return out;
}

/** The addresses an inet_interfaces-style list names. */
export function interfaceList(param: string, value: string, protocols: string): Set<string> {
  const fam = inetProtocols(protocols);
  const out = new Set<string>();
  const add = (a: string): void => {
    if (familyOk(a, fam)) out.add(a);
  };
  const words = value.split(/[\s,]+/).filter((w) => w !== '');
  for (const w of words) {
    const lw = w.toLowerCase();
    if (lw === INET_INTERFACES.ALL) {
      for (const a of interfaceAddresses()) add(a);
    } else if (lw === INET_INTERFACES.LOOPBACK || LOOPBACK_NAMES.has(lw)) {
      add(LOOPBACK_V4);
      add(LOOPBACK_V6);
    } else {
      const a = canonicalAddr(w);
      if (a !== null) add(a);
      else if (/^[a-z0-9.-]+$/i.test(w)) {
        const key = `${param}:${lw}`;
        if (!warned.has(key)) {
          warned.add(key);
          msgWarn(`${param}: host name ${w} is not looked up; use its address`);
        }
      } else {
        msgWarn(`${param}: ignoring bad entry: ${w}`);
      }
    }
  }
  return out;
}

const cache = new WeakMap<MailConfig, Map<string, Set<string>>>();

function listFor(config: MailConfig, param: string): Set<string> {
  const value = config.get(param);
  const protocols = config.get('inet_protocols');
  let perConfig = cache.get(config);
  if (!perConfig) {
    perConfig = new Map();
    cache.set(config, perConfig);
  }
  const key = `${param}\0${value}\0${protocols}`;
  let set = perConfig.get(key);
  if (!set) {
    set = interfaceList(param, value, protocols);
    perConfig.set(key, set);
  }
  return set;
}

/** Is addr (text, optionally [bracketed]) one that inet_interfaces listens on? */
export function ownInetAddr(config: MailConfig, addr: string): boolean {
  const a = canonicalAddr(addr);
  return a !== null && listFor(config, 'inet_interfaces').has(a);
}

/** Is addr one of proxy_interfaces? */
export function proxyInetAddr(config: MailConfig, addr: string): boolean {
  const a = canonicalAddr(addr);
  return a !== null && listFor(config, 'proxy_interfaces').has(a);
}
