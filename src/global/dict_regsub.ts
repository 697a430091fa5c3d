/*
 * dict_regsub - $number substitution for regexp: and pcre: results
 *
 * What it does: parseReplacement() splits a rule's result text the way
 * Postfix's mac_parse() does ($$ is a literal '$'; $name, ${name} and
 * $(name) are references, name being letters, digits and '_'), checks
 * that every reference is a number from 1 up, and returns the parts
 * plus the largest number used. expandReplacement() fills the numbers
 * in from a match (an unmatched group gives the empty string).
 *
 * What it does not do: know which table uses it, or match anything.
 *
 * DIAGNOSTICS
 * parseReplacement() returns { errors } with the warnings Postfix logs:
 * "truncated macro reference", "empty macro name", "non-numeric
 * replacement index", "out-of-range replacement index".
 */

export type ReplacementPart = string | number;

export interface ParsedReplacement {
  parts: ReplacementPart[];
  maxSub: number;
}

/** Parse result text; errors are the warning texts (without the "map X, line N: " prefix where Postfix has none). */
export function parseReplacement(text: string): ParsedReplacement | { errors: Array<{ text: string; located: boolean }> } {
  const parts: ReplacementPart[] = [];
  let lit = '';
  let maxSub = 0;
  const errors: Array<{ text: string; located: boolean }> = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch !== '$') {
      lit += ch;
      i++;
      continue;
    }
    if (text[i + 1] === '$') {
      lit += '$';
      i += 2;
      continue;
    }
    if (lit !== '') {
      parts.push(lit);
      lit = '';
    }
    i++;
    let name: string;
    const open = text[i];
    if (open === '{' || open === '(') {
      const close = open === '{' ? '}' : ')';
      let level = 1;
      let j = i + 1;
      for (; level > 0; j++) {
        if (j >= text.length) {
          errors.push({ text: `truncated macro reference: "${text}"`, located: false });
          return { errors };
        }
        if (text[j] === open) level++;
        if (text[j] === close) level--;
      }
      name = text.slice(i + 1, j - 1);
      i = j;
    } else {
      let j = i;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j]!)) j++;
      name = text.slice(i, j);
      i = j;
    }
    if (name === '') {
      errors.push({ text: `empty macro name: "${text}"`, located: false });
      return { errors };
    }
    if (!/^[0-9]*$/.test(name)) {
      errors.push({ text: `non-numeric replacement index "${name}"`, located: true });
      return { errors };
    }
    const n = Number.parseInt(name, 10);
    if (!(n >= 1)) {
      errors.push({ text: `out-of-range replacement index "${name}"`, located: true });
      return { errors };
    }
    if (n > maxSub) maxSub = n;
    parts.push(n);
  }
  if (lit !== '') parts.push(lit);
  return { parts, maxSub };
}

/** Fill $numbers in from a match. */
export function expandReplacement(parts: readonly ReplacementPart[], match: RegExpExecArray): string {
  let out = '';
  for (const p of parts) out += typeof p === 'string' ? p : (match[p] ?? '');
  return out;
}
