/*
 * dict_syntax - small parsers shared by the table types
 *
 * What it does: the brace helpers Postfix uses for inline: and similar
 * specs (balancedLength as balpar(), tokenizeBraced as mystrtokq() with
 * comma/space delimiters and {} grouping, extractBraced as extpar() with
 * stripping) and splitNameValue() as split_nameval().
 *
 * What it does not do: read files (dict_file.ts).
 *
 * DIAGNOSTICS
 * extractBraced()/splitNameValue() return { error } with Postfix's texts.
 */

const COMMA_SP = ', \t\r\n';
const SPACE = ' \t\r\n\f\v';

/** Length of the balanced {...} at the start of text, or 0 (Postfix balpar). */
export function balancedLength(text: string, open = '{', close = '}'): number {
  if (text[0] !== open) return 0;
  let level = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === open) level++;
    else if (text[i] === close) {
      level--;
      if (level === 0) return i + 1;
    }
  }
  return 0;
}

/** Split on commas/white space outside {...} groups (Postfix mystrtokq). */
export function tokenizeBraced(text: string, delims = COMMA_SP): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && delims.includes(text[i]!)) i++;
    if (i >= text.length) break;
    const start = i;
    let level = 0;
    for (; i < text.length; i++) {
      const ch = text[i]!;
      if (ch === '{') level++;
      else if (ch === '}') level--;
      else if (level === 0 && delims.includes(ch)) break;
    }
    out.push(text.slice(start, i));
  }
  return out;
}

/** Strip a token's outer {} and the white space inside them (Postfix extpar with STRIP). */
export function extractBraced(text: string): string | { error: string } {
  const len = balancedLength(text);
  if (len === 0) return { error: `missing '}' in "${text}"` };
  if (len !== text.length) return { error: `syntax error after '}' in "${text}"` };
  return text.slice(1, -1).replace(/^[ \t\r\n\f\v]+|[ \t\r\n\f\v]+$/g, '');
}

/** "name = value" with white space trimmed (Postfix split_nameval). */
export function splitNameValue(text: string): { name: string; value: string } | { error: string } {
  let i = 0;
  while (i < text.length && SPACE.includes(text[i]!)) i++;
  if (i >= text.length) return { error: 'missing attribute name' };
  const start = i;
  while (i < text.length && !SPACE.includes(text[i]!) && text[i] !== '=') i++;
  const name = text.slice(start, i);
  while (i < text.length && SPACE.includes(text[i]!)) i++;
  if (text[i] !== '=') return { error: "missing '=' after attribute name" };
  const value = text.slice(i + 1).replace(/^[ \t\r\n\f\v]+|[ \t\r\n\f\v]+$/g, '');
  return { name, value };
}

/** "key = value" where the key may hold "quoted" text and backslash escapes (Postfix split_qnameval). */
export function splitQuotedNameValue(text: string): { name: string; value: string } | { error: string } {
  let i = 0;
  while (i < text.length && SPACE.includes(text[i]!)) i++;
  if (i >= text.length) return { error: 'no key found; expected format: key = value' };
  const start = i;
  let quoted = false;
  for (; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\') {
      if (++i >= text.length) break;
    } else if (SPACE.includes(ch) || ch === '=') {
      if (!quoted) break;
    } else if (ch === '"') quoted = !quoted;
  }
  if (quoted) return { error: `unbalanced '"'` };
  const name = text.slice(start, Math.min(i, text.length));
  while (i < text.length && SPACE.includes(text[i]!)) i++;
  if (text[i] !== '=') return { error: "missing '=' after attribute name" };
  const value = text.slice(i + 1).replace(/^[ \t\r\n\f\v]+|[ \t\r\n\f\v]+$/g, '');
  return { name, value };
}
