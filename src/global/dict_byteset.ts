/*
 * dict_byteset - byte sets as JS character classes, for the regexp translators
 *
 * What it does: helpers shared by dict_regexp_posix.ts and
 * dict_pcre_lex.ts: a byte string holds one character per byte, so a
 * bracket expression is a set of codes 0..255, built here, folded for
 * ASCII case (C locale), complemented, and written out as a JS class
 * with \xHH escapes; cLocaleClass() gives the POSIX [:name:] classes of
 * the C locale.
 *
 * What it does not do: parse any regular expression syntax.
 *
 * DIAGNOSTICS
 * None.
 */

export const BYTE_MAX = 0xff;

export type ByteSet = Set<number>;

export function range(lo: number, hi: number): number[] {
  const r: number[] = [];
  for (let c = lo; c <= hi; c++) r.push(c);
  return r;
}

export const DIGIT = range(48, 57);
export const UPPER = range(65, 90);
export const LOWER = range(97, 122);
export const WORD = [...DIGIT, ...UPPER, ...LOWER, 95];
/** isspace() in the C locale (PCRE2's \s is the same set). */
export const SPACE = [9, 10, 11, 12, 13, 32];

export function complement(list: Iterable<number>): number[] {
  const s = new Set(list);
  return range(0, BYTE_MAX).filter((c) => !s.has(c));
}

/** [:name:] in the C locale; PCRE adds word and ascii. */
export function cLocaleClass(name: string, pcre: boolean): number[] | null {
  const alnum = [...DIGIT, ...UPPER, ...LOWER];
  switch (name) {
    case 'alpha': return [...UPPER, ...LOWER];
    case 'upper': return UPPER;
    case 'lower': return LOWER;
    case 'digit': return DIGIT;
    case 'alnum': return alnum;
    case 'xdigit': return [...DIGIT, ...range(65, 70), ...range(97, 102)];
    case 'space': return SPACE;
    case 'blank': return [9, 32];
    case 'punct': return range(33, 126).filter((c) => !alnum.includes(c));
    case 'print': return range(32, 126);
    case 'graph': return range(33, 126);
    case 'cntrl': return [...range(0, 31), 127];
    case 'word': return pcre ? WORD : null;
    case 'ascii': return pcre ? range(0, 127) : null;
    default: return null;
  }
}

export function hex(c: number): string {
  return c <= BYTE_MAX ? `\\x${c.toString(16).padStart(2, '0')}` : `\\u${c.toString(16).padStart(4, '0')}`;
}

export function otherCase(c: number): number | null {
  if (c >= 65 && c <= 90) return c + 32;
  if (c >= 97 && c <= 122) return c - 32;
  return null;
}

/** A JS character class for a set of codes; (?!) for the empty set. */
export function classSource(set: ByteSet): string {
  const codes = [...set].sort((a, b) => a - b);
  if (codes.length === 0) return '(?!)';
  let out = '[';
  for (let i = 0; i < codes.length; ) {
    let j = i;
    while (j + 1 < codes.length && codes[j + 1] === codes[j]! + 1) j++;
    out += j > i ? `${hex(codes[i]!)}-${hex(codes[j]!)}` : hex(codes[i]!);
    i = j + 1;
  }
  return `${out}]`;
}
