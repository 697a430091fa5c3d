/*
 * quote_821_local - quote the local part of an address for SMTP commands (RFC 821)
 *
 * What it does: quote821Local() returns an address in internal form with
 * its local part (everything before the last '@') turned into an RFC 821
 * quoted-string when it is not a dot-string (empty, a leading, trailing
 * or doubled dot, white space, a control, 8-bit text without
 * QUOTE_FLAG.EIGHT_BIT_CLEAN, or one of < > ( ) [ ] \ , ; : @ ").
 * Inside the quotes a backslash goes before CR, LF, '"' and '\'. As in
 * Postfix on platforms with a signed char, 8-bit characters are not
 * backslash-escaped inside the quotes.
 *
 * What it does not do: skip a source route (SMTP addresses reach here
 * without one), check the domain, or unquote (quote_822_local.ts).
 *
 * DIAGNOSTICS
 * None: every input has an output.
 */
import { QUOTE_FLAG, QUOTE_FLAG_DEFAULT } from './quote_822_local.js';
import { isCntrl } from './tok822.js';

const HIGHEST_ASCII = 127;
const NOT_IN_821_DOT_STRING = '<>()[]\\,;:"';

function is821DotString(text: string, end: number, flags: number): boolean {
  if (end === 0 || text[0] === '.') return false;
  for (let i = 0; i < end; i++) {
    const ch = text[i]!;
    if (ch === '.' && text[i + 1] === '.') return false;
    if (ch.charCodeAt(0) > HIGHEST_ASCII && (flags & QUOTE_FLAG.EIGHT_BIT_CLEAN) === 0) return false;
    if (ch === ' ' || isCntrl(ch)) return false;
    if (ch === '@' && (flags & QUOTE_FLAG.EXPOSE_AT) === 0) return false;
    if (NOT_IN_821_DOT_STRING.includes(ch)) return false;
  }
  return text[end - 1] !== '.';
}

/** Internal form to SMTP form: quotes the local part when it is not a dot-string. */
export function quote821Local(addr: string, flags: number = QUOTE_FLAG_DEFAULT): string {
  const at = addr.lastIndexOf('@');
  const end = at >= 0 ? at : addr.length;
  if (is821DotString(addr, end, flags)) return addr;
  let out = '"';
  for (let i = 0; i < end; i++) {
    const ch = addr[i]!;
    if (ch === '\r' || ch === '\n' || ch === '"' || ch === '\\') out += '\\';
    out += ch;
  }
  return `${out}"${addr.slice(end)}`;
}
