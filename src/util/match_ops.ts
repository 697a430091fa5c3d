/*
 * match_ops - host name and host address match functions (Postfix match_ops.c)
 *
 * What it does: matchHostname() matches a (lower-cased) host name against
 * one pattern: a type:table looked up with the name and then its parent
 * domains ("a.b.c", then "b.c", "c" with the list's PARENT flag, else
 * ".b.c", ".c"), the exact name, or a parent domain: with PARENT,
 * "example.com" matches "x.example.com"; without, only ".example.com"
 * does. matchHostaddr() matches an address: a table looked up with the
 * address, the exact text (also as [addr]), or, only for a pattern of
 * the address's family that is made of address characters, a
 * net/mask or an alternate spelling via cidr_match.ts.
 *
 * What it does not do: split lists or handle '!' (match_list.ts), or DNS.
 *
 * DIAGNOSTICS
 * A table lookup failure or a network pattern that does not parse (e.g.
 * "10.0.0.1/8", which has host bits set) sets the list's error (Postfix
 * 3.7 logs it and fails the lookup) and counts as no match.
 */
import { CidrMatchError, cidrMatchExecute, cidrMatchParse } from './cidr_match.js';
import { isTablePattern, MATCH_FLAG, type MatchList } from './match_list.js';

/** Characters of a textual IPv4 address, and of an IPv6 one. */
const V4_ADDR_STRING_CHARS = '0123456789.';
const V6_ADDR_STRING_CHARS = `${V4_ADDR_STRING_CHARS}abcdefABCDEF:`;

function onlyChars(text: string, chars: string): boolean {
  for (const ch of text) if (!chars.includes(ch)) return false;
  return true;
}

/** Match a host name against one pattern (without '!'). */
export function matchHostname(list: MatchList, name: string, pattern: string): boolean {
  const parent = (list.flags & MATCH_FLAG.PARENT) !== 0;
  if (isTablePattern(pattern)) {
    let entry = name.toLowerCase();
    while (entry !== '') {
      if (list.tableLookup(pattern, entry) !== undefined) return true;
      if (list.error !== null) return false;
      const dot = entry.indexOf('.', 1);
      if (dot < 0) break;
      entry = entry.slice(parent ? dot + 1 : dot);
    }
    return false;
  }
  if (name === pattern) return true;
  const pd = name.length - pattern.length;
  if (parent) {
    return pd > 0 && name[pd - 1] === '.' && name.slice(pd) === pattern;
  }
  return pattern.startsWith('.') && pd > 0 && name.slice(pd) === pattern;
}

/** Match a host address against one pattern (without '!'). */
export function matchHostaddr(list: MatchList, addr: string, pattern: string): boolean {
  if (!onlyChars(addr, V6_ADDR_STRING_CHARS)) return false;
  if (isTablePattern(pattern)) {
    return list.tableLookup(pattern, addr) !== undefined;
  }
  if (!pattern.startsWith('[')) {
    if (addr === pattern) return true;
  } else if (pattern === `[${addr}]`) {
    return true;
  }
  // Cheap refusals: other family, bare IPv4 (done above), not an address.
  if (addr.includes(':') !== pattern.includes(':')) return false;
  if (onlyChars(pattern, V4_ADDR_STRING_CHARS)) return false;
  if (!onlyChars(pattern, `${V6_ADDR_STRING_CHARS}[]/`)) return false;
  try {
    return cidrMatchExecute(cidrMatchParse(pattern), addr);
  } catch (e) {
    if (!(e instanceof CidrMatchError)) throw e;
    list.setError(e.message);
    return false;
  }
}
