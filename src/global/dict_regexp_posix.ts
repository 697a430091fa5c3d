/*
 * dict_regexp_posix - translate a POSIX (glibc) regular expression to a JS RegExp
 *
 * What it does: posixRegex() compiles the pattern of a regexp: table
 * rule the way glibc's regcomp() reads it, and emits an equivalent
 * JavaScript RegExp over byte strings (one character per byte):
 * extended syntax (REG_EXTENDED, the default) or basic syntax (the x
 * flag), case-insensitive matching (REG_ICASE, ASCII letters only as in
 * the C locale), and REG_NEWLINE (the m flag: '.' and [^...] do not
 * match a newline, ^ and $ match at line boundaries). It follows glibc
 * where JS differs: a backslash is literal inside [...]; an unknown
 * escape such as \d is the plain letter (and, a glibc quirk, matches
 * nothing at all in case-insensitive mode); \< \> \` \' and the GNU \w \W
 * \s \S \b \B work; repeated quantifiers stack ("a+?" is "(a+)?", not a
 * lazy match); "{,n}" is an interval; "\{" is a literal brace in ERE;
 * and glibc's compile errors are reported with glibc's texts.
 *
 * What it does not do: choose the match (dict_regexp.ts makes it the
 * longest at the leftmost position, as regexec() does; which text the
 * groups capture then follows JS's backtracking order, which agreed
 * with glibc in every case the oracle test tried). Case-insensitive
 * back references compare case-sensitively. Multi-character collating
 * elements are refused.
 *
 * DIAGNOSTICS
 * Returns { error } with glibc's regerror() text.
 */

import { BYTE_MAX, classSource, cLocaleClass, hex, otherCase } from './dict_byteset.js';

export interface PosixRegexOptions {
  extended: boolean;
  icase: boolean;
  newline: boolean;
}

export type PosixRegexResult = { regex: RegExp; nsub: number } | { error: string };

/** glibc's regerror() texts. */
export const REG_ERR = {
  ECOLLATE: 'Invalid collation character',
  ECTYPE: 'Invalid character class name',
  EESCAPE: 'Trailing backslash',
  ESUBREG: 'Invalid back reference',
  EBRACK: 'Unmatched [, [^, [:, [., or [=',
  EPAREN: 'Unmatched ( or \\(',
  EBRACE: 'Unmatched \\{',
  BADBR: 'Invalid content of \\{\\}',
  ERANGE: 'Invalid range end',
  BADRPT: 'Invalid preceding regular expression',
  ESIZE: 'Regular expression too big',
  ERPAREN: 'Unmatched ) or \\)',
} as const;

/** glibc's RE_DUP_MAX. */
const RE_DUP_MAX = 0x7fff;
const NEWLINE = 10;

class RegError extends Error {}

const WORD_CHARS = 'A-Za-z0-9_';

/** JS source for one literal character. */
function literalSource(ch: string, icase: boolean): string {
  const c = ch.charCodeAt(0);
  const o = icase ? otherCase(c) : null;
  if (o !== null) return `[${ch}${String.fromCharCode(o)}]`;
  if (/[\\^$.*+?()[\]{}|/-]/.test(ch)) return `\\${ch}`;
  if (c < 0x20 || c > 0x7e) return hex(c);
  return ch;
}

class Translator {
  i = 0;
  nsub = 0;
  closed = 0;
  constructor(readonly src: string, readonly opts: PosixRegexOptions) {}

  get ere(): boolean {
    return this.opts.extended;
  }

  /** At the start of a branch or group: where BRE '*' is literal and '^' an anchor. */
  run(): string {
    const out = this.alternation(0);
    if (this.i < this.src.length) throw new RegError(REG_ERR.ERPAREN);
    return out;
  }

  alternation(depth: number): string {
    const branches = [this.branch(depth)];
    while (this.i < this.src.length && this.isAlt()) {
      this.i += this.ere ? 1 : 2;
      branches.push(this.branch(depth));
    }
    return branches.join('|');
  }

  isAlt(): boolean {
    const s = this.src;
    return this.ere ? s[this.i] === '|' : s[this.i] === '\\' && s[this.i + 1] === '|';
  }

  isClose(): boolean {
    const s = this.src;
    return this.ere ? s[this.i] === ')' : s[this.i] === '\\' && s[this.i + 1] === ')';
  }

  branch(depth: number): string {
    let out = '';
    const start = this.i;
    while (this.i < this.src.length && !this.isAlt()) {
      if (this.isClose()) {
        if (depth > 0) break;
        // glibc: an unmatched ')' is an ordinary character in ERE.
        if (this.ere) {
          this.i++;
          out += this.quantifiers(literalSource(')', false), true);
          continue;
        }
        throw new RegError(REG_ERR.ERPAREN);
      }
      out += this.piece(this.i === start);
    }
    return out;
  }

  /** One atom with its quantifiers. */
  piece(atStart: boolean): string {
    const s = this.src;
    const ch = s[this.i]!;
    let atom: string;
    let quantifiable = true;
    if (this.ere && (ch === '*' || ch === '+' || ch === '?' || ch === '{')) {
      throw new RegError(REG_ERR.BADRPT);
    }
    if (!this.ere && ch === '*' && atStart) {
      this.i++;
      atom = literalSource('*', false);
    } else if (ch === '^' && (this.ere || atStart)) {
      this.i++;
      atom = '^';
      quantifiable = false;
      if (!this.ere && s[this.i] === '*') {
        // BRE: '*' right after a leading '^' is literal.
        this.i++;
        atom += literalSource('*', false);
        quantifiable = true;
      }
    } else if (ch === '$' && (this.ere || this.atBreEnd(this.i + 1))) {
      this.i++;
      atom = '$';
      quantifiable = false;
    } else if (ch === '.') {
      this.i++;
      atom = this.opts.newline ? '[^\\n]' : '[\\s\\S]';
    } else if (ch === '[') {
      this.i++;
      atom = this.bracket();
    } else if (this.ere && ch === '(') {
      this.i++;
      atom = this.group();
    } else if (ch === '\\') {
      const next = s[this.i + 1];
      if (next === undefined) throw new RegError(REG_ERR.EESCAPE);
      if (!this.ere && next === '(') {
        this.i += 2;
        atom = this.group();
      } else if (!this.ere && next === '{') {
        throw new RegError(REG_ERR.BADRPT);
      } else if (!this.ere && (next === '+' || next === '?')) {
        if (atStart) {
          this.i += 2;
          atom = literalSource(next, false);
        } else throw new RegError(REG_ERR.BADRPT);
      } else {
        this.i += 2;
        const e = this.escape(next);
        atom = e.source;
        quantifiable = e.quantifiable;
      }
    } else {
      this.i++;
      atom = literalSource(ch, this.opts.icase);
    }
    return this.quantifiers(atom, quantifiable);
  }

  atBreEnd(pos: number): boolean {
    const s = this.src;
    return pos >= s.length || (s[pos] === '\\' && (s[pos + 1] === ')' || s[pos + 1] === '|'));
  }

  group(): string {
    this.nsub++;
    const inner = this.alternation(1);
    if (!this.isClose()) throw new RegError(REG_ERR.EPAREN);
    this.i += this.ere ? 1 : 2;
    this.closed++;
    return `(${inner})`;
  }

  escape(ch: string): { source: string; quantifiable: boolean } {
    if (ch >= '1' && ch <= '9') {
      const n = ch.charCodeAt(0) - 48;
      if (n > this.closed) throw new RegError(REG_ERR.ESUBREG);
      return { source: `\\${n}`, quantifiable: true };
    }
    switch (ch) {
      case 'w': return { source: `[${WORD_CHARS}]`, quantifiable: true };
      case 'W': return { source: `[^${WORD_CHARS}]`, quantifiable: true };
      case 's': return { source: '[ \\t\\n\\v\\f\\r]', quantifiable: true };
      case 'S': return { source: '[^ \\t\\n\\v\\f\\r]', quantifiable: true };
      case 'b': return { source: '\\b', quantifiable: false };
      case 'B': return { source: '\\B', quantifiable: false };
      case '<': return { source: `\\b(?=[${WORD_CHARS}])`, quantifiable: false };
      case '>': return { source: `\\b(?<=[${WORD_CHARS}])`, quantifiable: false };
      case '`': return { source: '(?<![\\s\\S])', quantifiable: false };
      case "'": return { source: '(?![\\s\\S])', quantifiable: false };
      default:
        // glibc quirk (checked with postmap): under REG_ICASE an escaped
        // lower-case letter such as \d matches nothing at all.
        if (this.opts.icase && ch >= 'a' && ch <= 'z') return { source: '(?!)', quantifiable: true };
        return { source: literalSource(ch, this.opts.icase), quantifiable: true };
    }
  }

  quantifiers(atom: string, quantifiable: boolean): string {
    let out = atom;
    let count = 0;
    for (;;) {
      const s = this.src;
      let q: string | null = null;
      if (s[this.i] === '*') {
        q = '*';
        this.i++;
      } else if (this.ere && (s[this.i] === '+' || s[this.i] === '?')) {
        q = s[this.i]!;
        this.i++;
      } else if (!this.ere && s[this.i] === '\\' && (s[this.i + 1] === '+' || s[this.i + 1] === '?')) {
        q = s[this.i + 1]!;
        this.i += 2;
      } else if (this.ere && s[this.i] === '{') {
        this.i++;
        q = this.interval();
      } else if (!this.ere && s[this.i] === '\\' && s[this.i + 1] === '{') {
        this.i += 2;
        q = this.interval();
      }
      if (q === null) return out;
      if (!quantifiable) throw new RegError(REG_ERR.BADRPT);
      out = count === 0 ? `${out}${q}` : `(?:${out})${q}`;
      count++;
    }
  }

  /** After '{' (or '\{'): m, m,, m,n or ,n then '}' (or '\}'). */
  interval(): string {
    const s = this.src;
    const m = /^([0-9]*)(,([0-9]*))?/.exec(s.slice(this.i))!;
    this.i += m[0].length;
    const closeLen = this.ere ? 1 : 2;
    const closes = this.ere ? s[this.i] === '}' : s[this.i] === '\\' && s[this.i + 1] === '}';
    if (!closes) {
      throw new RegError(REG_ERR.EBRACE);
    }
    this.i += closeLen;
    if (m[1] === '' && m[2] === undefined) throw new RegError(REG_ERR.BADBR);
    const lo = m[1] === '' ? 0 : Number(m[1]);
    const hi = m[2] === undefined ? lo : m[3] === '' ? Infinity : Number(m[3]);
    if (lo > RE_DUP_MAX || (hi !== Infinity && hi > RE_DUP_MAX)) throw new RegError(REG_ERR.ESIZE);
    if (hi < lo) throw new RegError(REG_ERR.BADBR);
    if (m[2] === undefined) return `{${lo}}`;
    return hi === Infinity ? `{${lo},}` : `{${lo},${hi}}`;
  }

  /** After '[': a bracket expression, as a set of byte codes. */
  bracket(): string {
    const s = this.src;
    const set = new Set<number>();
    let negate = false;
    if (s[this.i] === '^') {
      negate = true;
      this.i++;
    }
    let first = true;
    for (;;) {
      if (this.i >= s.length) throw new RegError(REG_ERR.EBRACK);
      const ch = s[this.i]!;
      if (ch === ']' && !first) {
        this.i++;
        break;
      }
      first = false;
      if (ch === '[' && s[this.i + 1] === ':') {
        const end = s.indexOf(':]', this.i + 2);
        if (end < 0) throw new RegError(REG_ERR.EBRACK);
        const bytes = cLocaleClass(s.slice(this.i + 2, end), false);
        if (!bytes) throw new RegError(REG_ERR.ECTYPE);
        for (const b of bytes) set.add(b);
        this.i = end + 2;
        continue;
      }
      const lo = this.bracketChar();
      if (s[this.i] === '-' && s[this.i + 1] !== ']' && this.i + 1 < s.length) {
        this.i++;
        const hi = this.bracketChar();
        if (hi < lo) throw new RegError(REG_ERR.ERANGE);
        for (let c = lo; c <= hi; c++) set.add(c);
      } else {
        set.add(lo);
      }
    }
    if (this.opts.icase) {
      for (const c of [...set]) {
        const o = otherCase(c);
        if (o !== null) set.add(o);
      }
    }
    if (negate) {
      const neg = new Set<number>();
      for (let c = 0; c <= BYTE_MAX; c++) if (!set.has(c)) neg.add(c);
      if (this.opts.newline) neg.delete(NEWLINE);
      return classSource(neg);
    }
    return classSource(set);
  }

  /** One bracket element: a character, [.c.] or [=c=]. */
  bracketChar(): number {
    const s = this.src;
    if (s[this.i] === '[' && (s[this.i + 1] === '.' || s[this.i + 1] === '=')) {
      const kind = s[this.i + 1]!;
      const end = s.indexOf(`${kind}]`, this.i + 2);
      if (end < 0) throw new RegError(REG_ERR.EBRACK);
      const name = s.slice(this.i + 2, end);
      if (name.length !== 1) throw new RegError(REG_ERR.ECOLLATE);
      this.i = end + 2;
      return name.charCodeAt(0);
    }
    if (s[this.i] === '[' && s[this.i + 1] === ':') throw new RegError(REG_ERR.ERANGE);
    return s.charCodeAt(this.i++);
  }
}

/** Compile a POSIX regular expression into a JS RegExp, or return glibc's error. */
export function posixRegex(src: string, opts: PosixRegexOptions): PosixRegexResult {
  const t = new Translator(src, opts);
  let source: string;
  try {
    source = t.run();
  } catch (err) {
    if (err instanceof RegError) return { error: err.message };
    throw err;
  }
  try {
    return { regex: new RegExp(source, opts.newline ? 'm' : ''), nsub: t.nsub };
  } catch (err) {
    return { error: `cannot translate to a JavaScript regular expression: ${(err as Error).message}` };
  }
}
