/*
 * cleanup_masq - address masquerading for cleanup(8) (Postfix cleanup_masquerade.c)
 *
 * What it does: masqueradeExternal() strips subdomains as
 * masquerade_domains says: the domain of the address is compared with
 * each listed domain in order; when the domain IS a listed domain it is
 * left alone and the search stops; when it is a subdomain of one
 * ("host.example.com" under "example.com") it is replaced by that domain
 * and the search stops. A leading '!' (each one flips the meaning) turns
 * an entry into an exception: with "!sub.example.com, example.com",
 * sub.example.com and its subdomains stay as they are while every other
 * subdomain of example.com becomes example.com. Addresses whose local part
 * (external form, lower-cased) matches masquerade_exceptions are never
 * masqueraded. masqueradeInternal/Tree wrap it for internal-form
 * addresses and for one ADDR node of a parsed header.
 * parseMasqDomains() and masqExceptionsInit() read the parameters.
 *
 * What it does not do: decide which address classes are masqueraded
 * (masquerade_classes: cleanup_addr.ts and cleanup_rewrite.ts look at
 * settings.masqClasses).
 *
 * DIAGNOSTICS
 *   QUEUEID: masquerade_exceptions map lookup problem -- message not accepted, try again later
 * (logged as info, as Postfix does; then the promise rejects with
 * CleanupAddrError, status CLEANUP_STAT.WRITE).
 */
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { quote822Local, unquote822Local } from '../global/quote_822_local.js';
import type { Tok822 } from '../global/tok822.js';
import { tokExternalize } from '../global/tok822_parse.js';
import { tokRewrite } from '../global/tok822_rewrite.js';
import { type MatchList, MATCH_FLAG, matchListInit, isTablePattern } from '../util/match_list.js';
import { clog } from './cleanup_log.js';
import type { CleanupAddrCtx, CleanupAddrDeps } from './cleanup_addr.js';
import { asciiLower } from './cleanup_dup_filter.js';
import { CleanupAddrError } from './cleanup_map11.js';
import '../global/match_table.js';  // tables (any type) in this program's pattern lists

/** The parameter whose list names local parts that are never masqueraded. */
export const VAR_MASQ_EXCEPTIONS = 'masquerade_exceptions';

/** masquerade_domains split as Postfix's argv_split(CHARS_COMMA_SP); null when empty. */
export function parseMasqDomains(value: string): string[] | null {
  const words = value.split(/[ ,\t\r\n]+/).filter((w) => w !== '');
  return words.length > 0 ? words : null;
}

/** Postfix match_string: a table pattern matches when the key is found, else a case-insensitive compare. */
function matchString(list: MatchList, input: string, pattern: string): boolean {
  if (isTablePattern(pattern)) return list.tableLookup(pattern, input) !== undefined;
  return input === pattern.toLowerCase();
}

/** masquerade_exceptions as a string list; null when empty. Throws MatchListError on a bad list. */
export function masqExceptionsInit(value: string): MatchList | null {
  if (value.trim() === '') return null;
  return matchListInit(VAR_MASQ_EXCEPTIONS, MATCH_FLAG.NONE, value, [matchString]);
}

/**
 * The masquerading decision for a domain: the replacement domain, or null
 * to leave it alone.
 */
export function masqueradeDomain(domain: string, masqDomains: readonly string[]): string | null {
  const lcDomain = asciiLower(domain);
  for (const entry of masqDomains) {
    let truncate = true;
    let masq = entry;
    while (masq.startsWith('!')) {
      truncate = !truncate;
      masq = masq.slice(1);
    }
    if (masq.length === 0) continue;
    const lcMasq = asciiLower(masq);
    if (masq.length === domain.length) {
      if (lcMasq === lcDomain) return null;
    } else if (masq.length < domain.length) {
      const start = domain.length - masq.length;
      if (domain[start - 1] === '.' && lcDomain.slice(start) === lcMasq) return truncate ? masq : null;
    }
  }
  return null;
}

/** cleanup_masquerade_external: masquerade an external-form address. */
export function masqueradeExternal(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, address: string): { address: string; changed: boolean } {
  const masqDomains = deps.settings.masqDomains;
  const at = address.lastIndexOf('@');
  if (at < 0 || !masqDomains) return { address, changed: false };
  const exceptions = deps.settings.masqExceptions;
  if (exceptions) {
    const excluded = exceptions.match(asciiLower(address.slice(0, at)));
    if (exceptions.error !== null) {
      const text = `${ctx.queueId}: ${VAR_MASQ_EXCEPTIONS} map lookup problem -- message not accepted, try again later`;
      clog.info(text);
      throw new CleanupAddrError(text, CLEANUP_STAT.WRITE, null, VAR_MASQ_EXCEPTIONS);
    }
    if (excluded) return { address, changed: false };
  }
  const replacement = masqueradeDomain(address.slice(at + 1), masqDomains);
  if (replacement === null) return { address, changed: false };
  return { address: address.slice(0, at + 1) + replacement, changed: true };
}

/** cleanup_masquerade_internal: masquerade an internal-form address. */
export function masqueradeInternal(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, address: string): { address: string; changed: boolean } {
  const r = masqueradeExternal(deps, ctx, quote822Local(address));
  return { address: unquote822Local(r.address), changed: r.changed };
}

/** cleanup_masquerade_tree: masquerade one ADDR node in place; true when it changed. */
export async function cleanupMasqueradeTree(deps: CleanupAddrDeps, ctx: CleanupAddrCtx, addr: Tok822): Promise<boolean> {
  const r = masqueradeExternal(deps, ctx, tokExternalize(addr.head));
  tokRewrite(addr, () => r.address);
  return r.changed;
}
