/*
 * cidr_match - IPv4/IPv6 network patterns and address parsing
 *
 * What it does: cidrMatchParse() turns one pattern (a.b.c.d, a.b.c.d/len,
 * ipv6, ipv6/len, [ipv6], [ipv6]/len or [ipv6/len], with leading '!'
 * negation) into a CidrMatch; cidrMatchExecute() tells whether a textual
 * address falls inside it (honouring the negation, as Postfix's
 * cidr_match_execute() does). Like Postfix, a network pattern must have
 * no bits set beyond its prefix length: "10.0.0.1/8" is refused with
 * Postfix's own wording, which suggests "10.0.0.0/8". parseInetAddr()
 * converts an address to bytes with the strictness of inet_pton(3)
 * (dotted quad with exactly four decimal parts and no leading zeros;
 * RFC 4291 text form, optionally ending in a dotted quad).
 *
 * What it does not do: host names, lists of patterns (match_list.ts),
 * the IF/ENDIF blocks of cidr: tables, or zone identifiers (fe80::1%eth0
 * is not an address here, as it is not for inet_pton).
 *
 * DIAGNOSTICS
 * cidrMatchParse() throws CidrMatchError whose message is Postfix's text:
 * "no pattern", "missing ']' character after ...", "garbage after ...",
 * "bad net/mask pattern: ...", "bad address pattern: ...", "non-null host
 * address bits in ..., perhaps you should use ... instead".
 */

/** Address sizes, as Postfix's MAI_V4ADDR_BITS/MAI_V6ADDR_BITS. */
export const INET_ADDR = {
  V4_BITS: 32,
  V6_BITS: 128,
  V4_BYTES: 4,
  V6_BYTES: 16,
} as const;

/** Largest value of one dotted-quad part and of one IPv6 group. */
const V4_PART_MAX = 255;
const V6_GROUP_MAX = 0xffff;
/** Number of 16-bit groups in an IPv6 address. */
const V6_GROUPS = 8;
/** Longest text of a dotted-quad part and of an IPv6 group. */
const V4_PART_DIGITS = 3;
const V6_GROUP_DIGITS = 4;

export type InetFamily = 4 | 6;

export interface CidrMatch {
  family: InetFamily;
  /** Network bytes (already masked: parsing refuses host bits). */
  net: Uint8Array;
  mask: Uint8Array;
  /** Prefix length; the family's full width when no /len was given. */
  maskShift: number;
  /** false for a '!'-negated pattern: a hit then means "no match". */
  match: boolean;
}

export class CidrMatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CidrMatchError';
  }
}

/** The address family Postfix infers from a text: IPv6 when it has a ':'. */
export function addrFamily(text: string): InetFamily {
  return text.includes(':') ? 6 : 4;
}

function parseV4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== INET_ADDR.V4_BYTES) return null;
  const out = new Uint8Array(INET_ADDR.V4_BYTES);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (!/^[0-9]+$/.test(p) || p.length > V4_PART_DIGITS) return null;
    if (p.length > 1 && p[0] === '0') return null;
    const v = Number(p);
    if (v > V4_PART_MAX) return null;
    out[i] = v;
  }
  return out;
}

function parseV6Groups(text: string): number[] | null {
  if (text === '') return [];
  const out: number[] = [];
  const items = text.split(':');
  for (let i = 0; i < items.length; i++) {
    const g = items[i]!;
    if (i === items.length - 1 && g.includes('.')) {
      const v4 = parseV4(g);
      if (!v4) return null;
      out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      continue;
    }
    if (!/^[0-9a-fA-F]+$/.test(g) || g.length > V6_GROUP_DIGITS) return null;
    const v = parseInt(g, 16);
    if (v > V6_GROUP_MAX) return null;
    out.push(v);
  }
  return out;
}

function parseV6(text: string): Uint8Array | null {
  const halves = text.split('::');
  if (halves.length > 2) return null;
  let groups: number[];
  if (halves.length === 2) {
    const head = parseV6Groups(halves[0]!);
    const tail = parseV6Groups(halves[1]!);
    if (!head || !tail) return null;
    // The embedded dotted quad may only end the address.
    if (halves[0]!.includes('.')) return null;
    const fill = V6_GROUPS - head.length - tail.length;
    if (fill < 1) return null;
    groups = [...head, ...new Array<number>(fill).fill(0), ...tail];
  } else {
    const all = parseV6Groups(text);
    if (!all || all.length !== V6_GROUPS) return null;
    groups = all;
  }
  const out = new Uint8Array(INET_ADDR.V6_BYTES);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** inet_pton(3) for the given family: the address bytes, or null. */
export function parseInetAddr(text: string, family: InetFamily = addrFamily(text)): Uint8Array | null {
  return family === 4 ? parseV4(text) : parseV6(text);
}

/** Text form of address bytes: dotted quad, or RFC 5952 IPv6 as inet_ntop prints it. */
export function formatInetAddr(bytes: Uint8Array): string {
  if (bytes.length === INET_ADDR.V4_BYTES) return Array.from(bytes).join('.');
  const groups: number[] = [];
  for (let i = 0; i < V6_GROUPS; i++) groups.push((bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  // Longest run of two or more zero groups becomes "::" (first one on ties).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < V6_GROUPS; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < V6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (best < 0) return hex(groups);
  // IPv4-compatible and IPv4-mapped addresses end in a dotted quad.
  if (best === 0 && (bestLen === 6 || (bestLen === 5 && groups[5] === 0xffff))) {
    const tail = Array.from(bytes.slice(12)).join('.');
    return bestLen === 5 ? `::ffff:${tail}` : `::${tail}`;
  }
  return `${hex(groups.slice(0, best))}::${hex(groups.slice(best + bestLen))}`;
}

/** A mask of `shift` leading one bits over `bytes` bytes. */
function prefixMask(bytes: number, shift: number): Uint8Array {
  const mask = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) {
    const bits = Math.max(0, Math.min(8, shift - 8 * i));
    mask[i] = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
  }
  return mask;
}

/** Parse one network pattern; throws CidrMatchError with Postfix's wording. */
export function cidrMatchParse(input: string): CidrMatch {
  let pattern = input;
  let match = true;
  while (pattern.startsWith('!')) {
    match = !match;
    pattern = pattern.slice(1);
  }
  if (pattern === '') throw new CidrMatchError('no pattern');

  // Strip [] from [addr/len] or [addr]/len; find where a /mask may start.
  let maskText: string | null = null;
  if (pattern.startsWith('[')) {
    pattern = pattern.slice(1);
    const close = pattern.indexOf(']');
    if (close < 0) throw new CidrMatchError(`missing ']' character after "[${pattern}"`);
    const after = pattern.slice(close + 1);
    pattern = pattern.slice(0, close);
    if (after.startsWith('/')) {
      maskText = after.slice(1);
    } else if (after !== '') {
      throw new CidrMatchError(`garbage after "[${pattern}]"`);
    }
  }
  if (maskText === null) {
    const slash = pattern.indexOf('/');
    if (slash >= 0) {
      maskText = pattern.slice(slash + 1);
      pattern = pattern.slice(0, slash);
    }
  }

  const family = addrFamily(pattern);
  const bits = family === 4 ? INET_ADDR.V4_BITS : INET_ADDR.V6_BITS;
  const bytes = family === 4 ? INET_ADDR.V4_BYTES : INET_ADDR.V6_BYTES;
  if (maskText !== null) {
    const net = parseInetAddr(pattern, family);
    // alldig() accepts an empty string; atoi("") is 0.
    const shift = /^[0-9]*$/.test(maskText) ? Number(maskText || '0') : NaN;
    if (!(shift <= bits) || net === null) {
      throw new CidrMatchError(`bad net/mask pattern: "${pattern}/${maskText}"`);
    }
    const mask = prefixMask(bytes, shift);
    for (let i = 0; i < bytes; i++) {
      if (net[i]! & ~mask[i]! & 0xff) {
        const fixed = net.map((b, k) => b & mask[k]!);
        throw new CidrMatchError(
          `non-null host address bits in "${pattern}/${maskText}", ` +
            `perhaps you should use "${formatInetAddr(fixed)}/${shift}" instead`,
        );
      }
    }
    return { family, net, mask, maskShift: shift, match };
  }
  const net = parseInetAddr(pattern, family);
  if (net === null) throw new CidrMatchError(`bad address pattern: "${pattern}"`);
  return { family, net, mask: prefixMask(bytes, bits), maskShift: bits, match };
}

/**
 * Does a textual address hit the pattern? An address that does not parse,
 * or of the other family, never hits. A hit on a negated pattern is false
 * and a miss is true, as in Postfix (only when the family is the same).
 */
export function cidrMatchExecute(entry: CidrMatch, addr: string): boolean {
  const family = addrFamily(addr);
  if (family !== entry.family) return false;
  const bytes = parseInetAddr(addr, family);
  if (bytes === null) return false;
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i]! & entry.mask[i]!) !== entry.net[i]) return !entry.match;
  }
  return entry.match;
}
