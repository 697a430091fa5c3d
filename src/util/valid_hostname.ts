/*
 * valid_hostname - syntax checks for host names and addresses (Postfix valid_hostname, valid_mailhost_addr)
 *
 * What it does: validHostname(name) is Postfix's valid_hostname() without
 * gripes: at most VALID_HOSTNAME_LEN characters, labels of letters,
 * digits, '-' and '_' (no label longer than VALID_LABEL_LEN, no empty
 * label, no '-' at either end of a label), and not all-numeric.
 * validIpv4Hostaddr / validIpv6Hostaddr / validHostaddr check an address
 * in text form the way Postfix does (IPv4: four decimal octets ≤ 255,
 * leading zeros allowed, no "0.x.y.z" except 0.0.0.0; IPv6: groups and
 * "::" with an optional trailing dotted quad). validMailhostAddr takes
 * "IPv6:" + IPv6 or a bare IPv4 address (RFC 5321 address literal
 * contents); validMailhostLiteral takes the whole "[...]".
 *
 * What it does not do: DNS, or logging why a name is bad.
 *
 * DIAGNOSTICS
 * None: every function returns a boolean (or the bare address).
 */

/** Longest host name (Postfix VALID_HOSTNAME_LEN). */
export const VALID_HOSTNAME_LEN = 255;
/** Longest label (Postfix VALID_LABEL_LEN). */
export const VALID_LABEL_LEN = 63;

function isDigit(ch: string): boolean {
  return ch >= '0' && ch <= '9';
}
function isAlnum(ch: string): boolean {
  return isDigit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

export function validHostname(name: string): boolean {
  if (name === '') return false;
  let labelLength = 0;
  let nonNumeric = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i]!;
    const next = name[i + 1];
    if (isAlnum(ch) || ch === '_') {
      labelLength++;
      if (labelLength > VALID_LABEL_LEN) return false;
      if (!isDigit(ch)) nonNumeric = true;
    } else if (ch === '.') {
      if (labelLength === 0 || next === undefined) return false;
      labelLength = 0;
    } else if (ch === '-') {
      nonNumeric = true;
      labelLength++;
      if (labelLength === 1 || next === undefined || next === '.') return false;
    } else {
      return false;
    }
  }
  if (name.length > VALID_HOSTNAME_LEN) return false;
  return nonNumeric;
}

export function validIpv4Hostaddr(addr: string): boolean {
  let inByte = false;
  let byteVal = 0;
  let byteCount = 0;
  for (let i = 0; i < addr.length; i++) {
    const ch = addr[i]!;
    if (isDigit(ch)) {
      if (!inByte) {
        inByte = true;
        byteVal = 0;
        byteCount++;
      }
      byteVal = byteVal * 10 + (ch.charCodeAt(0) - 48);
      if (byteVal > 255) return false;
    } else if (ch === '.') {
      if (!inByte || i + 1 === addr.length) return false;
      // 0.0.0.0 is allowed, 0.1.2.3 is not.
      if (byteCount === 1 && byteVal === 0 && /[^0.]/.test(addr)) return false;
      inByte = false;
    } else {
      return false;
    }
  }
  return byteCount === 4;
}

export function validIpv6Hostaddr(addr: string): boolean {
  if (addr === '' || !addr.includes(':')) return false;
  const halves = addr.split('::');
  if (halves.length > 2) return false;
  const groupsOf = (s: string): string[] | null => (s === '' ? [] : s.split(':'));
  const head = groupsOf(halves[0]!);
  const tail = halves.length === 2 ? groupsOf(halves[1]!) : [];
  if (head === null || tail === null) return false;
  const all = [...head, ...tail];
  let count = 0;
  for (let i = 0; i < all.length; i++) {
    const g = all[i]!;
    const last = i === all.length - 1;
    if (last && g.includes('.')) {
      if (!validIpv4Hostaddr(g)) return false;
      count += 2;
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    count++;
  }
  if (halves.length === 2) return count <= 7;
  return count === 8;
}

export function validHostaddr(addr: string): boolean {
  return addr.includes(':') ? validIpv6Hostaddr(addr) : validIpv4Hostaddr(addr);
}

/** The inside of an address literal: "IPv6:..." or IPv4; the bare address, or null. */
export function validMailhostAddr(addr: string): string | null {
  if (addr.slice(0, 5).toLowerCase() === 'ipv6:') {
    const bare = addr.slice(5);
    return validIpv6Hostaddr(bare) ? bare : null;
  }
  return validIpv4Hostaddr(addr) ? addr : null;
}

/** "[addr]" with valid contents and nothing after the ']'. */
export function validMailhostLiteral(text: string): boolean {
  if (!text.startsWith('[')) return false;
  const close = text.indexOf(']');
  if (close < 0 || close !== text.length - 1) return false;
  return validMailhostAddr(text.slice(1, close)) !== null;
}
