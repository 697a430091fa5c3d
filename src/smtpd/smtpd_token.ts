/*
 * smtpd_token - split an SMTP command line into tokens (Postfix smtpd_token.c)
 *
 * What it does: smtpdToken() breaks a command into words at white space,
 * except white space protected by "quotes", by <angle brackets> (which
 * may nest quotes) or by a backslash; a word that ends in ':' and reads
 * "from:" or "to:" (any case) ends there, so "MAIL FROM:<a>" gives
 * MAIL, FROM:, <a>. A quoted or bracketed part without its closing
 * character makes the word an error token (the MAIL/RCPT "Bad address
 * syntax" replies). Also the small string helpers the commands share:
 * collapseArgs (join words with one space, as Postfix collapse_args),
 * neuter (replace characters that upset headers and logs), allDigits.
 *
 * What it does not do: interpret addresses (tok822 does) or commands.
 *
 * DIAGNOSTICS
 * None: malformed input gives error tokens.
 */

export interface SmtpdToken {
  text: string;
  error: boolean;
}

/** Characters replaced in HELO names and XCLIENT/XFORWARD values (Postfix NEUTER_CHARACTERS). */
export const NEUTER_CHARACTERS = ' <>()\\";@';

const SPACE = /[ \t\n\v\f\r]/;

/** Reads up to the closing `last`, nesting quotes (and <> inside <>); returns the new position. */
function quoted(s: string, i: number, start: string, last: string, out: { buf: string; error: boolean }): number {
  const stack: string[] = [last];
  let wanted = last;
  out.buf += start;
  while (i < s.length) {
    const c = s[i++]!;
    out.buf += c;
    if (c === '\\') {
      if (i >= s.length) break;
      out.buf += s[i++]!;
    } else if (c === wanted) {
      if (stack.length === 1) return i;
      stack.pop();
      wanted = stack[stack.length - 1]!;
    } else if (c === '"') {
      stack.push((wanted = '"'));
    } else if (c === '<' && wanted === '>') {
      stack.push((wanted = '>'));
    }
  }
  out.error = true;
  return i;
}

/** Tokenizes one command line (without its line ending). */
export function smtpdToken(line: string): SmtpdToken[] {
  const tokens: SmtpdToken[] = [];
  let i = 0;
  for (;;) {
    const out = { buf: '', error: false };
    while (i < line.length) {
      const c = line[i++]!;
      if (SPACE.test(c)) {
        while (i < line.length && SPACE.test(line[i]!)) i++;
        if (out.buf.length > 0) break;
      } else if (c === '<') {
        i = quoted(line, i, c, '>', out);
      } else if (c === '"') {
        i = quoted(line, i, c, c, out);
      } else if (c === ':') {
        out.buf += c;
        const low = out.buf.toLowerCase();
        if (low === 'to:' || low === 'from:') break;
      } else {
        if (c === '\\') {
          out.buf += c;
          if (i >= line.length) break;
          out.buf += line[i++]!;
          continue;
        }
        out.buf += c;
      }
    }
    if (out.buf.length === 0) return tokens;
    tokens.push({ text: out.buf, error: out.error });
  }
}

/** Postfix collapse_args: the words joined by single spaces. */
export function collapseArgs(args: readonly SmtpdToken[]): string {
  return args.map((t) => t.text).join(' ');
}

/** Replaces each character of `chars` in text by `repl` (Postfix neuter()). */
export function neuter(text: string, chars: string = NEUTER_CHARACTERS, repl = '?'): string {
  let out = '';
  for (const c of text) out += chars.includes(c) ? repl : c;
  return out;
}

export function allDigits(text: string): boolean {
  return text.length > 0 && /^[0-9]+$/.test(text);
}

/** Non-printable characters replaced by '?' (Postfix printable(), UTF-8 kept when asked). */
export function printableText(text: string, utf8: boolean): string {
  let out = '';
  for (const c of text) {
    const code = c.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e) out += c;
    else if (utf8 && code > 0x9f && c !== '\ufffd') out += c;
    else out += '?';
  }
  return out;
}
