/*
 * resolve_local - is a domain this machine's own? (Postfix resolve_local)
 *
 * What it does: decides whether the domain part of an address is local:
 * one trailing dot is stripped (a name ending in ".." or only "." is not
 * local), then the name is local when mydestination lists it (a string
 * list: exact, case-insensitive words, /file entries, type:table entries
 * looked up with the whole name) or when it is an address literal
 * "[1.2.3.4]" / "[IPv6:::1]" of an address that inet_interfaces or
 * proxy_interfaces gives us (own_inet_addr.ts). A bare address without
 * brackets is not local.
 * Two forms:
 *   - LocalDomains (async; what trivial-rewrite uses): any table type D's
 *     dictOpen knows; a lookup failure rejects with DictError, which the
 *     resolver turns into RESOLVE_FLAG.FAIL as Postfix does.
 *   - resolveLocal(config, domain) (synchronous, the contract's form):
 *     the same rules and the same opened tables, searched with a Dict's
 *     optional lookupSync (in-memory tables); a table without one, or one
 *     that fails, is warned about and does not match.
 *     resolveLocalAsync(config, domain) is the async form for one-off use.
 *
 * What it does not do: virtual or relay domains (resolve_addr.ts), DNS.
 *
 * DIAGNOSTICS
 * resolveLocal: "mydestination: a table cannot be searched synchronously"
 * once per configuration, "mydestination lookup failure: ..." per failure.
 * Lookup errors reject (async form).
 */
import { msgWarn } from '../util/msg.js';
import { DictError } from './dict.js';
import { DomainList, stringListFromConfig } from './domain_list.js';
import type { MailConfig } from './mail_conf.js';
import { canonicalAddr, ownInetAddr, proxyInetAddr } from './own_inet_addr.js';

/** The parameter that lists the local domains. */
export const VAR_MYDEST = 'mydestination';

/** The name without one trailing dot, or null when it cannot be local ("", ".", "x.."). */
export function stripOneDot(domain: string): string | null {
  let d = domain;
  if (d === '') return null;
  if (d.endsWith('.')) d = d.slice(0, -1);
  if (d === '' || d.endsWith('.')) return null;
  return d;
}

/**
 * Postfix valid_mailhost_addr on the inside of [...]: "IPv6:" + an IPv6
 * address, or an IPv4 address; returns the bare address or null.
 */
export function mailhostLiteralAddr(inside: string): string | null {
  if (/^ipv6:/i.test(inside)) {
    const a = inside.slice(5);
    if (!a.includes(':')) return null;
    return canonicalAddr(a);
  }
  if (inside.includes(':')) return null;
  return canonicalAddr(inside);
}

/** Is "[addr]" one of our own (inet_interfaces or proxy_interfaces) addresses? */
export function isOwnLiteral(config: MailConfig, name: string): boolean {
  if (!(name.startsWith('[') && name.endsWith(']'))) return false;
  const a = mailhostLiteralAddr(name.slice(1, -1));
  return a !== null && (ownInetAddr(config, a) || proxyInetAddr(config, a));
}

/** The async local-domain test, with mydestination opened once. */
export class LocalDomains {
  readonly mydestination: DomainList;
  constructor(readonly config: MailConfig) {
    this.mydestination = stringListFromConfig(config, VAR_MYDEST);
  }
  /** Resolves true/false; rejects with DictError when a table lookup fails. */
  async isLocal(domain: string): Promise<boolean> {
    const d = stripOneDot(domain);
    if (d === null) return false;
    if (await this.mydestination.match(d)) return true;
    return isOwnLiteral(this.config, d);
  }
}

const asyncCache = new WeakMap<MailConfig, LocalDomains>();

/** Async resolve_local for one-off callers; tables opened once per configuration. */
export function resolveLocalAsync(config: MailConfig, domain: string): Promise<boolean> {
  let l = asyncCache.get(config);
  if (!l) {
    l = new LocalDomains(config);
    asyncCache.set(config, l);
  }
  return l.isLocal(domain);
}

const syncWarned = new WeakSet<MailConfig>();

/**
 * Postfix resolve_local(), synchronous. A mydestination table that can
 * only answer asynchronously, or a table that fails, counts as no match
 * (warned about); use LocalDomains or resolveLocalAsync where that matters.
 */
export function resolveLocal(config: MailConfig, domain: string): boolean {
  const d = stripOneDot(domain);
  if (d === null) return false;
  let l = asyncCache.get(config);
  if (!l) {
    l = new LocalDomains(config);
    asyncCache.set(config, l);
  }
  let hit: boolean | null;
  try {
    hit = l.mydestination.matchSync(d);
  } catch (err) {
    if (!(err instanceof DictError)) throw err;
    msgWarn(`${VAR_MYDEST} lookup failure: ${err.message}`);
    hit = false;
  }
  if (hit === null) {
    if (!syncWarned.has(config)) {
      syncWarned.add(config);
      msgWarn(`${VAR_MYDEST}: a table cannot be searched synchronously; resolveLocal() skips it`);
    }
    hit = false;
  }
  return hit || isOwnLiteral(config, d);
}
