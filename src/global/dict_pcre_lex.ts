/*
 * dict_pcre_lex - the lexical half of the PCRE-to-JS translator
 *
 * What it does: PcreLexer holds the pattern and position and reads the
 * pieces whose meaning does not depend on the structure around them:
 * literal characters (folded for ASCII case when caseless), character
 * escapes (\n \t \e \a \cX \xHH \x{H..} \o{..} octal), the type
 * escapes \d \D \w \W \s \S \h \H \v \V as byte sets (C locale,
 * no UTF), and bracket classes with POSIX [:name:] / [:^name:] classes,
 * ranges and escapes. dict_pcre_js.ts builds the structure on top.
 *
 * What it does not do: groups, quantifiers, anchors (dict_pcre_js.ts).
 *
 * DIAGNOSTICS
 * fail() throws PcreError (a pattern PCRE2 refuses too); refuse()
 * throws Untranslatable (valid PCRE that JS cannot express).
 */
import { BYTE_MAX, type ByteSet, DIGIT, SPACE, WORD, classSource, cLocaleClass, complement, hex, otherCase, range } from './dict_byteset.js';

export class PcreError extends Error {}
export class Untranslatable extends Error {}

const HSPACE = [9, 32, 0xa0];
const VSPACE = [10, 11, 12, 13, 0x85];

/** Option state while translating (inline settings change it). */
export interface State {
  i: boolean;
  s: boolean;
  m: boolean;
  x: boolean;
  U: boolean;
}

export class PcreLexer {
  pos = 0;
  nsub = 0;
  /** Caseless back reference seen / case-sensitive letter seen. */
  caselessBackref = false;
  sensitiveLetter = false;
  constructor(readonly src: string) {}

  fail(text: string): never {
    throw new PcreError(text);
  }

  refuse(what: string): never {
    throw new Untranslatable(what);
  }

  literal(st: State, c: number): string {
    const o = st.i ? otherCase(c) : null;
    if (o !== null) return classSource(new Set([c, o]));
    if (otherCase(c) !== null) this.sensitiveLetter = true;
    const ch = String.fromCharCode(c);
    if (/[A-Za-z0-9_ ]/.test(ch)) return ch;
    return hex(c);
  }

  setSource(st: State, list: Iterable<number>, negate: boolean): string {
    const set = new Set<number>(list);
    if (st.i) for (const c of [...set]) { const o = otherCase(c); if (o !== null) set.add(o); }
    else for (const c of set) if (otherCase(c) !== null) this.sensitiveLetter = true;
    if (!negate) return classSource(set);
    return classSource(new Set(range(0, BYTE_MAX).filter((c) => !set.has(c))));
  }

  /** One atom; null when it produced nothing (option setting, comment). */

  typeEscape(c: string): number[] | null {
    switch (c) {
      case 'd': return DIGIT;
      case 'D': return complement(DIGIT);
      case 'w': return WORD;
      case 'W': return complement(WORD);
      case 's': return SPACE;
      case 'S': return complement(SPACE);
      case 'h': return HSPACE;
      case 'H': return complement(HSPACE);
      case 'v': return VSPACE;
      case 'V': return complement(VSPACE);
      default: return null;
    }
  }

  /** Escapes for one character (pos is after the letter); null when c is no such escape. */
  charEscape(c: string): number | null {
    const s = this.src;
    switch (c) {
      case 'n': return 10;
      case 'r': return 13;
      case 't': return 9;
      case 'f': return 12;
      case 'e': return 27;
      case 'a': return 7;
      case 'c': {
        const x = s[this.pos];
        if (x === undefined) this.fail('\\c at end of pattern');
        this.pos++;
        return x.toUpperCase().charCodeAt(0) ^ 0x40;
      }
      case 'x': {
        if (s[this.pos] === '{') {
          const end = s.indexOf('}', this.pos);
          const h = end < 0 ? '' : s.slice(this.pos + 1, end);
          if (!/^[0-9A-Fa-f]+$/.test(h)) this.fail('non-hex character in \\x{}');
          this.pos = end + 1;
          const v = parseInt(h, 16);
          if (v > BYTE_MAX) this.fail('character code point value in \\x{} or \\o{} is too large');
          return v;
        }
        const h = /^[0-9A-Fa-f]{0,2}/.exec(s.slice(this.pos))![0];
        this.pos += h.length;
        return h === '' ? 0 : parseInt(h, 16);
      }
      case 'o': {
        const m = /^\{([0-7]+)\}/.exec(s.slice(this.pos));
        if (!m) this.fail('missing opening brace after \\o');
        this.pos += m[0].length;
        const v = parseInt(m[1]!, 8);
        if (v > BYTE_MAX) this.fail('character code point value in \\x{} or \\o{} is too large');
        return v;
      }
      case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
        const m = /^[0-7]{0,2}/.exec(s.slice(this.pos))![0];
        this.pos += m.length;
        return parseInt(c + m, 8) & BYTE_MAX;
      }
      case '8': case '9':
        return null;
      default:
        return null;
    }
  }

  charClass(st: State): string {
    const s = this.src;
    let negate = false;
    if (s[this.pos] === '^') { negate = true; this.pos++; }
    const set = new Set<number>();
    let first = true;
    for (;;) {
      if (this.pos >= s.length) this.fail('missing terminating ] for character class');
      const ch = s[this.pos]!;
      if (ch === ']' && !first) { this.pos++; break; }
      first = false;
      if (ch === '[' && (s[this.pos + 1] === ':' || s[this.pos + 1] === '.' || s[this.pos + 1] === '=')) {
        const kind = s[this.pos + 1]!;
        const end = s.indexOf(`${kind}]`, this.pos + 2);
        if (end >= 0 && kind === ':') {
          let name = s.slice(this.pos + 2, end);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const list = cLocaleClass(name, true);
          if (!list) this.fail('unknown POSIX class name');
          for (const c of neg ? complement(list) : list) set.add(c);
          this.pos = end + 2;
          continue;
        }
        if (end >= 0) this.fail('POSIX collating elements are not supported');
      }
      const lo = this.classAtom(set);
      if (lo === null) continue;
      if (s[this.pos] === '-' && s[this.pos + 1] !== ']' && this.pos + 1 < s.length) {
        const save = this.pos;
        this.pos++;
        const probe = new Set<number>();
        const hi = this.classAtom(probe);
        if (hi === null) {
          // "a-\d": the hyphen is literal.
          set.add(lo);
          set.add(45);
          for (const c of probe) set.add(c);
          continue;
        }
        if (hi < lo) { this.pos = save; this.fail('range out of order in character class'); }
        for (let c = lo; c <= hi; c++) set.add(c);
      } else set.add(lo);
    }
    return this.setSource(st, set, negate);
  }

  /** One class member: a character code, or null after adding a \d-like set. */
  classAtom(set: ByteSet): number | null {
    const s = this.src;
    const ch = s[this.pos]!;
    if (ch !== '\\') { this.pos++; return ch.charCodeAt(0); }
    const c = s[this.pos + 1];
    if (c === undefined) this.fail('\\ at end of pattern');
    this.pos += 2;
    if (c === 'b') return 8;
    if (c === 'Q' || c === 'E') this.refuse('\\Q...\\E inside a character class');
    const list = this.typeEscape(c);
    if (list) { for (const x of list) set.add(x); return null; }
    if (c === 'p' || c === 'P' || c === 'X' || c === 'R' || c === 'N') this.fail(`escape sequence is invalid in character class`);
    if (c >= '1' && c <= '9') {
      const m = /^[0-7]{0,2}/.exec(s.slice(this.pos - 1))![0];
      if (c <= '7') { this.pos += m.length - 1; return parseInt(m, 8); }
      return c.charCodeAt(0);
    }
    const code = this.charEscape(c);
    if (code !== null) return code;
    if (/[A-Za-z0-9]/.test(c)) this.fail('unrecognized character follows \\');
    return c.charCodeAt(0);
  }

}
