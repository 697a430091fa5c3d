/*
 * dict_pcre_js - translate a PCRE2 pattern (byte mode) to a JS RegExp
 *
 * What it does: pcreRegex() reads a pcre: table pattern with the
 * option letters of pcre_table(5) (i caseless, default on; s dotall,
 * default on; m multiline; x extended; A anchored; E dollar-end-only; U
 * ungreedy) and inline settings (?imsxU-imsxU) / (?i:...), and emits a
 * JavaScript RegExp with the same meaning over byte strings (one
 * character per byte, as PCRE2 without UTF): case folding of ASCII
 * letters only, '.' excluding only \n, PCRE's ^ $ \A \Z \z \G, \Q..\E,
 * \x{..} \o{..} \0 octal \cX \e \a \h \H \v \V \R \N, POSIX [:classes:],
 * backslashes inside [...], "{" that is no quantifier (incl. "{,n}",
 * literal in PCRE2 10.42) as a literal, lazy and U-flag quantifiers,
 * named groups, lookahead and lookbehind.
 *
 * What it does not do: features JS cannot express: atomic groups,
 * possessive quantifiers, recursion and subroutine calls, conditionals,
 * branch reset, backtracking verbs, \K, \X, \C, \p{..}, callouts, and
 * case-insensitive back references mixed with case-sensitive parts.
 * For those it returns { untranslatable } (the table is then refused as
 * a whole, since skipping the rule would change what the table does).
 *
 * DIAGNOSTICS
 * { error, offset } for a pattern PCRE2 would refuse too (the rule is
 * skipped, as Postfix does); { untranslatable } as above.
 */

import { type State, PcreError, PcreLexer, Untranslatable } from './dict_pcre_lex.js';

export interface PcreFlags {
  caseless: boolean;
  dotall: boolean;
  multiline: boolean;
  extended: boolean;
  anchored: boolean;
  dollarEndOnly: boolean;
  ungreedy: boolean;
}

export type PcreResult =
  | { regex: RegExp; nsub: number; anchored: boolean }
  | { error: string }
  | { untranslatable: string };


const START = '(?<![\\s\\S])';
const END = '(?![\\s\\S])';

class Translator extends PcreLexer {
  constructor(src: string, readonly flags: PcreFlags) {
    super(src);
  }

  run(): string {
    const st: State = { i: this.flags.caseless, s: this.flags.dotall, m: this.flags.multiline, x: this.flags.extended, U: this.flags.ungreedy };
    const out = this.alternation(st, 0);
    if (this.pos < this.src.length) this.fail('unmatched closing parenthesis');
    return out;
  }

  alternation(st: State, depth: number): string {
    let out = '';
    for (;;) {
      out += this.sequence(st);
      if (this.pos >= this.src.length) {
        if (depth > 0) this.fail('missing closing parenthesis');
        return out;
      }
      const ch = this.src[this.pos];
      if (ch === '|') {
        this.pos++;
        out += '|';
        continue;
      }
      if (ch === ')') {
        if (depth === 0) this.fail('unmatched closing parenthesis');
        return out;
      }
    }
  }

  skipExtended(st: State): void {
    if (!st.x) return;
    const s = this.src;
    for (;;) {
      while (this.pos < s.length && ' \t\n\v\f\r'.includes(s[this.pos]!)) this.pos++;
      if (s[this.pos] === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
        continue;
      }
      return;
    }
  }

  sequence(st: State): string {
    let out = '';
    for (;;) {
      this.skipExtended(st);
      if (this.pos >= this.src.length) return out;
      const ch = this.src[this.pos]!;
      if (ch === '|' || ch === ')') return out;
      const atom = this.atom(st);
      if (atom === null) continue;
      out += this.quantifier(st, atom.source, atom.repeatable);
    }
  }

  atom(st: State): { source: string; repeatable: boolean | 'assertion' } | null {
    const s = this.src;
    const ch = s[this.pos]!;
    switch (ch) {
      case '^':
        this.pos++;
        return { source: st.m ? `(?:${START}|(?<=\\n)(?=[\\s\\S]))` : START, repeatable: false };
      case '$':
        this.pos++;
        if (st.m) return { source: `(?=\\n|${END})`, repeatable: false };
        return { source: this.flags.dollarEndOnly ? END : `(?=\\n?${END})`, repeatable: false };
      case '.':
        this.pos++;
        return { source: st.s ? '[\\s\\S]' : '[^\\n]', repeatable: true };
      case '[':
        this.pos++;
        return { source: this.charClass(st), repeatable: true };
      case '(':
        return this.group(st);
      case '\\':
        return this.escape(st);
      case '*': case '+': case '?':
        this.fail('quantifier does not follow a repeatable item');
      // falls through (fail never returns)
      default:
        this.pos++;
        return { source: this.literal(st, ch.charCodeAt(0)), repeatable: true };
    }
  }

  group(st: State): { source: string; repeatable: boolean | 'assertion' } | null {
    const s = this.src;
    this.pos++;
    if (s[this.pos] === '*') this.refuse('backtracking control verbs (*...)');
    if (s[this.pos] !== '?') {
      this.nsub++;
      return { source: `(${this.inner(st)})`, repeatable: true };
    }
    this.pos++;
    const c = s[this.pos];
    if (c === '#') {
      const end = s.indexOf(')', this.pos);
      if (end < 0) this.fail('missing ) at end of (?# comment');
      this.pos = end + 1;
      return null;
    }
    if (c === ':') { this.pos++; return { source: `(?:${this.inner(st)})`, repeatable: true }; }
    if (c === '=' || c === '!') { this.pos++; return { source: `(?${c}${this.inner(st)})`, repeatable: 'assertion' }; }
    if (c === '<' && (s[this.pos + 1] === '=' || s[this.pos + 1] === '!')) {
      const k = s[this.pos + 1];
      this.pos += 2;
      return { source: `(?<${k}${this.inner(st)})`, repeatable: 'assertion' };
    }
    const named = /^(?:<([A-Za-z_][A-Za-z0-9_]*)>|'([A-Za-z_][A-Za-z0-9_]*)'|P<([A-Za-z_][A-Za-z0-9_]*)>)/.exec(s.slice(this.pos));
    if (named) {
      this.pos += named[0].length;
      this.nsub++;
      return { source: `(?<${named[1] ?? named[2] ?? named[3]}>${this.inner(st)})`, repeatable: true };
    }
    if (c === '>') this.refuse('atomic groups (?>...)');
    if (c === '|') this.refuse('branch reset groups (?|...)');
    if (c === '(') this.refuse('conditional groups (?(...)...)');
    const after = s[this.pos + 1] ?? '';
    const call =
      c === 'R' || c === '&' || /^[0-9]$/.test(c ?? '') ||
      ((c === '+' || c === '-') && /^[0-9]$/.test(after)) ||
      (c === 'P' && (after === '>' || after === '='));
    if (call) this.refuse('recursion and subroutine calls');
    if (c === 'C') this.refuse('callouts (?C...)');
    // Option setting: (?imsxU-imsxU) or (?imsxU-imsxU: ... ) or (?^...).
    const opt = /^(\^?)([A-Za-z]*)(?:-([A-Za-z]*))?([:)])/.exec(s.slice(this.pos));
    if (!opt) this.fail('unrecognized character after (? or (?-');
    const next: State = { ...st };
    if (opt[1] === '^') { next.i = false; next.m = false; next.s = false; next.x = false; next.U = false; }
    const apply = (letters: string, on: boolean) => {
      for (const l of letters) {
        if (l === 'i') next.i = on;
        else if (l === 'm') next.m = on;
        else if (l === 's') next.s = on;
        else if (l === 'x') next.x = on;
        else if (l === 'U') next.U = on;
        else if (l === 'J' || l === 'n') this.refuse(`the (?${l}) option`);
        else this.fail('unrecognized character after (? or (?-');
      }
    };
    apply(opt[2]!, true);
    apply(opt[3] ?? '', false);
    this.pos += opt[0].length;
    if (opt[4] === ')') {
      Object.assign(st, next);
      return null;
    }
    return { source: `(?:${this.inner(next)})`, repeatable: true };
  }

  /** Group body up to and including ')'; settings inside stay inside. */
  inner(st: State): string {
    const local = { ...st };
    const out = this.alternation(local, 1);
    this.pos++;
    return out;
  }

  escape(st: State): { source: string; repeatable: boolean | 'assertion' } | null {
    const s = this.src;
    const c = s[this.pos + 1];
    if (c === undefined) this.fail('\\ at end of pattern');
    this.pos += 2;
    switch (c) {
      case 'A': case 'G': return { source: START, repeatable: false };
      case 'z': return { source: END, repeatable: false };
      case 'Z': return { source: `(?=\\n?${END})`, repeatable: false };
      case 'b': return { source: '\\b', repeatable: false };
      case 'B': return { source: '\\B', repeatable: false };
      case 'R': return { source: '(?:\\r\\n|[\\n\\v\\f\\r\\x85])', repeatable: true };
      case 'N': return { source: '[^\\n]', repeatable: true };
      case 'Q': {
        const end = s.indexOf('\\E', this.pos);
        const text = end < 0 ? s.slice(this.pos) : s.slice(this.pos, end);
        this.pos = end < 0 ? s.length : end + 2;
        if (text === '') return null;
        let out = '';
        for (let k = 0; k < text.length - 1; k++) out += this.literal(st, text.charCodeAt(k));
        // Only the last character takes a following quantifier.
        return { source: out + this.literal(st, text.charCodeAt(text.length - 1)), repeatable: true };
      }
      case 'E': return null;
      case 'K': this.refuse('\\K');
      // falls through
      case 'X': case 'C': case 'p': case 'P': this.refuse(`\\${c}`);
      // falls through
      case 'k': case 'g': {
        const m = /^(?:\{(-?[0-9]+)\}|([0-9]+)|<([A-Za-z_][A-Za-z0-9_]*)>|\{([A-Za-z_][A-Za-z0-9_]*)\}|'([A-Za-z_][A-Za-z0-9_]*)')/.exec(s.slice(this.pos));
        if (!m || (c === 'k' && (m[1] !== undefined || m[2] !== undefined))) this.fail(`a numbered reference must not be zero`);
        this.pos += m[0].length;
        let ref: string;
        if (m[1] !== undefined || m[2] !== undefined) {
          let n = Number(m[1] ?? m[2]);
          if (n < 0) n = this.nsub + 1 + n;
          if (n <= 0) this.fail('a numbered reference must not be zero');
          ref = `\\${n}`;
        } else ref = `\\k<${m[3] ?? m[4] ?? m[5]}>`;
        if (st.i) this.caselessBackref = true;
        return { source: `(?:${ref})`, repeatable: true };
      }
      default:
        break;
    }
    if (c >= '1' && c <= '9') {
      const m = /^[0-9]*/.exec(s.slice(this.pos))![0];
      const n = Number(c + m);
      if (n < 10 || n <= this.nsub) {
        this.pos += m.length;
        if (st.i) this.caselessBackref = true;
        return { source: `(?:\\${n})`, repeatable: true };
      }
      // Octal escape as PCRE2 reads it when no such group exists yet.
      this.pos -= 1;
    }
    const code = this.charEscape(c);
    if (code !== null) return { source: this.literal(st, code), repeatable: true };
    const list = this.typeEscape(c);
    if (list) return { source: this.setSource({ ...st, i: false }, list, false), repeatable: true };
    if (/[A-Za-z0-9]/.test(c)) this.fail('unrecognized character follows \\');
    return { source: this.literal(st, c.charCodeAt(0)), repeatable: true };
  }

  /** \d \D \w \W \s \S \h \H \v \V as byte lists, else null. */

  quantifier(st: State, atom: string, repeatable: boolean | 'assertion'): string {
    const s = this.src;
    this.skipExtended(st);
    let q: string | null = null;
    const ch = s[this.pos];
    if (ch === '*' || ch === '+' || ch === '?') {
      q = ch;
      this.pos++;
    } else if (ch === '{') {
      const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(s.slice(this.pos));
      if (m) {
        const lo = Number(m[1]);
        const hi = m[2] === undefined ? lo : m[3] === '' ? Infinity : Number(m[3]);
        if (hi < lo) this.fail('numbers out of order in {} quantifier');
        if (lo > 65535 || (hi !== Infinity && hi > 65535)) this.fail('number too big in {} quantifier');
        q = m[0];
        this.pos += m[0].length;
      }
    }
    if (q === null) return atom;
    if (repeatable === 'assertion') {
      // PCRE2: a quantified lookaround with minimum 0 may be skipped, so it
      // never matters; otherwise it is obeyed once.
      if (s[this.pos] === '?' || s[this.pos] === '+') this.pos++;
      return q === '*' || q === '?' || /^\{0[,}]/.test(q) ? '(?:)' : atom;
    }
    if (!repeatable) this.fail('quantifier does not follow a repeatable item');
    let lazy = st.U;
    if (s[this.pos] === '+') this.refuse('possessive quantifiers');
    if (s[this.pos] === '?') {
      lazy = !lazy;
      this.pos++;
    }
    if (s[this.pos] === '*' || s[this.pos] === '+' || (s[this.pos] === '?' && false)) {
      this.fail('quantifier does not follow a repeatable item');
    }
    return `${atom}${q}${lazy ? '?' : ''}`;
  }
}

/** Compile a pcre: pattern; see the header for the three outcomes. */
export function pcreRegex(src: string, flags: PcreFlags): PcreResult {
  const t = new Translator(src, flags);
  let source: string;
  try {
    source = t.run();
  } catch (err) {
    if (err instanceof PcreError) return { error: err.message };
    if (err instanceof Untranslatable) return { untranslatable: `${err.message} cannot be translated to a JavaScript regular expression` };
    throw err;
  }
  let jsFlags = '';
  if (t.caselessBackref) {
    if (t.sensitiveLetter) return { untranslatable: 'a case-insensitive back reference in a pattern with case-sensitive parts cannot be translated' };
    jsFlags += 'i';
  }
  if (flags.anchored) jsFlags += 'y';
  try {
    return { regex: new RegExp(source, jsFlags), nsub: t.nsub, anchored: flags.anchored };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
