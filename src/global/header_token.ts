/*
 * header_token - split a message header value into RFC 822 tokens (Postfix header_token)
 *
 * What it does: headerToken() reads a header value (the text after
 * "name:", folded lines included) from a position and returns up to
 * `max` tokens: words (HEADER_TOK.TOKEN), quoted strings with their
 * quotes and backslashes removed and folding undone
 * (HEADER_TOK.QSTRING), and single special or control characters (the
 * character code as type). White space and (nested) comments are
 * skipped. With a terminator (';' for Content-Type parameters) it reads
 * on to just after the terminator, dropping tokens beyond `max`;
 * without one it stops after `max` tokens. The result is null when the
 * input ran out before any token, as Postfix's -1.
 *
 * Text convention: byte strings, one character per byte (see
 * mime_state.ts); 8-bit characters are ordinary word characters.
 *
 * What it does not do: parse addresses (tok822.ts) or decode RFC 2047.
 *
 * DIAGNOSTICS
 * None.
 */

/** Token types that are not a character code. */
export const HEADER_TOK = { TOKEN: -1, QSTRING: -2 } as const;

export interface HeaderToken {
  /** HEADER_TOK.TOKEN, HEADER_TOK.QSTRING, or the code of a special/control character. */
  type: number;
  value: string;
}

/** RFC 822 specials: the default token delimiters. */
export const RFC822_SPECIALS = '()<>@,;:\\".[]';
const isLwsp = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isCntrl = (c: string): boolean => {
  const n = c.charCodeAt(0);
  return n < 0x20 || n === 0x7f;
};

/**
 * Parses tokens from text[pos]; stores at most `max` tokens, stops after
 * `terminator` (when given). Returns the tokens and the new position, or
 * null when the input ran out before any token.
 */
export function headerToken(
  text: string,
  pos: number,
  max: number,
  specials: string = RFC822_SPECIALS,
  terminator = '',
): { tokens: HeaderToken[]; pos: number } | null {
  const tokens: HeaderToken[] = [];
  let p = pos;
  let ch = '';
  for (;;) {
    if (p >= text.length) {
      ch = '';
      break;
    }
    if (terminator === '' && tokens.length >= max) {
      ch = text[p]!;
      break;
    }
    ch = text[p++]!;
    if (isLwsp(ch)) continue;
    if (terminator !== '' && ch === terminator) break;
    if (ch === '(') {
      let level = 1;
      while (p < text.length) {
        const c = text[p++]!;
        if (c === '(') level++;
        else if (c === ')') {
          if (--level === 0) break;
        } else if (c === '\\') {
          if (p >= text.length) break;
          p++;
        }
      }
      continue;
    }
    if (ch === '"') {
      let v = '';
      while (p < text.length) {
        let c = text[p++]!;
        if (c === '"') break;
        if (c === '\n') {
          v = v.replace(/[ \t\n\r]+$/, '');
          continue;
        }
        if (c === '\\') {
          if (p >= text.length) break;
          c = text[p++]!;
        }
        v += c;
      }
      if (tokens.length < max) tokens.push({ type: HEADER_TOK.QSTRING, value: v });
      continue;
    }
    if (specials.includes(ch) || isCntrl(ch)) {
      if (tokens.length < max) tokens.push({ type: ch.charCodeAt(0), value: ch });
      continue;
    }
    let v = ch;
    while (p < text.length && !isLwsp(text[p]!) && !isCntrl(text[p]!) && !specials.includes(text[p]!)) v += text[p++]!;
    if (tokens.length < max) tokens.push({ type: HEADER_TOK.TOKEN, value: v });
  }
  if (tokens.length === 0 && ch === '') return null;
  return { tokens, pos: p };
}
