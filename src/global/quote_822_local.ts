/*
 * quote_822_local - quote and unquote the local part of a mailbox (RFC 822)
 *
 * What it does: quote822Local() turns an address in internal (unquoted)
 * form into the external form used in message headers: when the local
 * part is not an RFC 822 dot-string (an empty part, a leading, trailing
 * or doubled dot, white space, a control character, or one of
 * ( ) < > @ , ; : \ " [ ]) it becomes a quoted-string, with a backslash
 * before '"', '\' and CR. A source route ("@a,@b:") in front is kept as
 * it is and the part after the last '@' (the domain) is copied unchanged.
 * unquote822Local() does the reverse: quotes and backslashes go away in
 * everything up to the last unquoted '@'; the domain is copied as is.
 * Like Postfix, 8-bit characters are ordinary text unless the caller
 * leaves out QUOTE_FLAG.EIGHT_BIT_CLEAN (quote822Local's default has it).
 *
 * What it does not do: check the domain (it is assumed RFC 822 clean),
 * or quote for SMTP commands (quote_821_local.ts).
 *
 * Strings are one character per byte (see tok822.ts).
 *
 * DIAGNOSTICS
 * None: every input has an output.
 */
import { isCntrl } from './tok822.js';

/** Quoting flags (Postfix QUOTE_FLAG_*). APPEND has no use here: callers concatenate. */
export const QUOTE_FLAG = {
  NONE: 0,
  /** Treat 8-bit characters as ordinary text (against the RFCs). */
  EIGHT_BIT_CLEAN: 1 << 0,
  /** Treat '@' as an ordinary character (against the RFCs). */
  EXPOSE_AT: 1 << 1,
  /** Kept for parity with Postfix; the functions here always return a new string. */
  APPEND: 1 << 2,
  /** The input is a bare local part without @domain. */
  BARE_LOCALPART: 1 << 3,
} as const;

/** What quote822Local() and quote821Local() do when given no flags (Postfix QUOTE_FLAG_DEFAULT). */
export const QUOTE_FLAG_DEFAULT = QUOTE_FLAG.EIGHT_BIT_CLEAN;

const HIGHEST_ASCII = 127;

/** Characters that a dot-string cannot hold in RFC 822 (besides space, controls and '@'). */
const NOT_IN_822_DOT_STRING = '()<>,;:\\"[]';

/** Is text[start, end) an RFC 822 dot-string? */
function is822DotString(text: string, start: number, end: number, flags: number): boolean {
  if (start >= end || text[start] === '.') return false;
  for (let i = start; i < end; i++) {
    const ch = text[i]!;
    if (ch === '.' && i + 1 < end && text[i + 1] === '.') return false;
    if (ch.charCodeAt(0) > HIGHEST_ASCII && (flags & QUOTE_FLAG.EIGHT_BIT_CLEAN) === 0) return false;
    if (ch === ' ' || isCntrl(ch)) return false;
    if (ch === '@' && (flags & QUOTE_FLAG.EXPOSE_AT) === 0) return false;
    if (NOT_IN_822_DOT_STRING.includes(ch)) return false;
  }
  return text[end - 1] !== '.';
}

/** text[start, end) as a quoted-string. */
function make822QuotedString(text: string, start: number, end: number, flags: number): string {
  let out = '"';
  for (let i = start; i < end; i++) {
    const ch = text[i]!;
    if ((ch.charCodeAt(0) > HIGHEST_ASCII && (flags & QUOTE_FLAG.EIGHT_BIT_CLEAN) === 0) || ch === '"' || ch === '\\' || ch === '\r') {
      out += '\\';
    }
    out += ch;
  }
  return `${out}"`;
}

/** Where the local part starts: after a source route "@...:" when there is one. */
function localPartStart(mbox: string): number {
  if (mbox.startsWith('@')) {
    const colon = mbox.indexOf(':');
    if (colon >= 0) return colon + 1;
  }
  return 0;
}

/** Internal form to external (header) form: quotes the local part when it is not a dot-string. */
export function quote822Local(mbox: string, flags: number = QUOTE_FLAG_DEFAULT): string {
  const start = localPartStart(mbox);
  let end = mbox.length;
  if ((flags & QUOTE_FLAG.BARE_LOCALPART) === 0) {
    const at = mbox.lastIndexOf('@');
    if (at >= start) end = at;
  }
  if (is822DotString(mbox, start, end, flags)) return mbox;
  return mbox.slice(0, start) + make822QuotedString(mbox, start, end, flags & QUOTE_FLAG.EIGHT_BIT_CLEAN) + mbox.slice(end);
}

/** External form to internal form: removes quoting up to the last unquoted '@'. */
export function unquote822Local(mbox: string): string {
  const start = localPartStart(mbox);
  let out = mbox.slice(0, start);
  let inQuote = false;
  let bareAtOut = -1;
  let bareAtIn = -1;
  for (let i = start; i < mbox.length; i++) {
    let ch = mbox[i]!;
    if (ch === '"') {
      inQuote = !inQuote;
      continue;
    }
    if (ch === '@') {
      if (!inQuote) {
        bareAtOut = out.length;
        bareAtIn = i;
      }
    } else if (ch === '\\') {
      if (i + 1 >= mbox.length) continue;
      i += 1;
      ch = mbox[i]!;
    }
    out += ch;
  }
  if (bareAtOut >= 0) out = out.slice(0, bareAtOut) + mbox.slice(bareAtIn);
  return out;
}
