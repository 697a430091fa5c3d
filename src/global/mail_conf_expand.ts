/*
 * mail_conf_expand - $name expansion in parameter values (Postfix mac_expand)
 *
 * What it does: expandMacros() expands $name, ${name}, $(name),
 * ${name?value}, ${name:value}, ${name?{value}:{value}}, ${name?{value}},
 * ${name:{value}} and the logical forms ${{a} == {b} ? {x} : {y}} (also
 * != < <= > >= and the compatibility-level forms <level <=level >level
 * >=level), with "$$" for a literal dollar. With recurse, looked-up values
 * are expanded in turn, and a nesting deeper than MACRO_NESTING_LIMIT is
 * reported as Postfix does ("unreasonable macro call nesting"). With scan,
 * nothing is produced but every referenced name is passed to the lookup
 * (postconf uses this to find user-defined parameters).
 *
 * What it does not do: know where values come from (the caller's lookup
 * does), or decide which parameters are raw (mail_params.ts says so).
 *
 * DIAGNOSTICS
 * Syntax errors are returned as warnings (Postfix's wording) with
 * error=true; the caller decides whether that is fatal ("macro processing
 * error" in postconf). An undefined $name expands to nothing and sets
 * undefined=true.
 */

/** Postfix mac_expand's nesting limit. */
export const MACRO_NESTING_LIMIT = 100;

const WHITESPACE = ' \t\r\n';
const OPERATOR_CHARS = '<>!=?+-*/~&|%';
/** Postfix 3.7's list of operators in its diagnostic, quoting included. */
const OPERATOR_LIST_TEXT = '"==" or "!="" or "<"" or "<="" or ">="" or ">"';

export type MacroLookup = (name: string, mode: 'use' | 'test') => string | undefined;

export interface ExpandOptions {
  recurse?: boolean;
  scan?: boolean;
}

export interface ExpandResult {
  value: string;
  error: boolean;
  undefined: boolean;
  warnings: string[];
}

class Expander {
  out = '';
  error = false;
  undef = false;
  level = 0;
  warnings: string[] = [];
  constructor(
    readonly lookup: MacroLookup,
    readonly opts: ExpandOptions,
  ) {}

  fail(text: string): void {
    this.warnings.push(text);
    this.error = true;
  }

  /** mac_parse: split into literals and macro references. */
  parse(value: string): void {
    let lit = '';
    let i = 0;
    while (i < value.length) {
      const c = value[i];
      if (c !== '$') {
        lit += c;
        i++;
        continue;
      }
      if (value[i + 1] === '$') {
        lit += '$';
        i += 2;
        continue;
      }
      if (lit.length > 0) {
        this.literal(lit);
        lit = '';
      }
      i++;
      let name: string;
      const open = value[i];
      if (open === '{' || open === '(') {
        const close = open === '{' ? '}' : ')';
        let level = 1;
        let j = i + 1;
        for (; level > 0; j++) {
          if (j >= value.length) {
            this.fail(`truncated macro reference: "${value}"`);
            return;
          }
          if (value[j] === open) level++;
          if (value[j] === close) level--;
        }
        name = value.slice(i + 1, j - 1);
        i = j;
      } else {
        let j = i;
        while (j < value.length && /[A-Za-z0-9_]/.test(value[j])) j++;
        name = value.slice(i, j);
        i = j;
      }
      if (name.length === 0) {
        this.fail(`empty macro name: "${value}"`);
        return;
      }
      this.reference(name);
      if (this.error) return;
    }
    if (lit.length > 0 && !this.error) this.literal(lit);
  }

  literal(text: string): void {
    if (!this.opts.scan) this.out += text;
  }

  skipWhite(s: string, at: number): number {
    while (at < s.length && WHITESPACE.includes(s[at])) at++;
    return at;
  }

  /** Extracts a balanced {payload} at s[at] == '{'; returns payload and the index after trailing white space. */
  curly(s: string, at: number): { payload: string; next: number } | null {
    let level = 1;
    let j = at + 1;
    for (; ; j++) {
      if (j >= s.length) {
        this.fail(`unbalanced {} in attribute expression: "${s.slice(at)}"`);
        return null;
      }
      if (s[j] === '{') level++;
      else if (s[j] === '}' && --level <= 0) break;
    }
    return { payload: s.slice(at + 1, j), next: this.skipWhite(s, j + 1) };
  }

  subExpand(text: string): string {
    const sub = new Expander(this.lookup, { recurse: this.opts.recurse });
    sub.level = this.level;
    sub.parse(text);
    this.warnings.push(...sub.warnings);
    if (sub.error) this.error = true;
    return sub.out;
  }

  logical(s: string, at: number): { result: string; next: number } | null {
    const left = this.curly(s, at);
    if (!left) return null;
    let cp = left.next;
    let opLen = 0;
    while (cp + opLen < s.length && OPERATOR_CHARS.includes(s[cp + opLen])) opLen++;
    let op = s.slice(cp, cp + opLen);
    if (s.startsWith('level', cp + opLen) && ['<', '<=', '>', '>=', '==', '!='].includes(op)) {
      op += 'level';
      opLen += 'level'.length;
    }
    const known = ['==', '!=', '<', '<=', '>', '>=', '<level', '<=level', '>level', '>=level', '==level', '!=level'];
    if (!known.includes(op)) {
      this.fail(`${OPERATOR_LIST_TEXT} expected at: "...${left.payload}}>>>${s.slice(cp, cp + 20)}"`);
      return null;
    }
    cp = this.skipWhite(s, cp + opLen);
    if (s[cp] !== '{') {
      this.fail(`"{expression}" expected at: "...{${left.payload}} ${op}>>>${s.slice(cp, cp + 20)}"`);
      return null;
    }
    const right = this.curly(s, cp);
    if (!right) return null;
    const a = this.subExpand(left.payload);
    const b = this.subExpand(right.payload);
    if (this.error) return null;
    let truth: boolean;
    if (op.endsWith('level')) {
      const c = compareLevels(a, b);
      truth = relop(op.slice(0, -'level'.length), c);
    } else if (op === '==' || op === '!=') {
      truth = op === '==' ? a === b : a !== b;
    } else {
      const x = Number(a);
      const y = Number(b);
      if (!/^-?\d+$/.test(a.trim()) || !/^-?\d+$/.test(b.trim())) {
        this.fail(`non-integer operand in expression: "${s}"`);
        return null;
      }
      truth = relop(op, x < y ? -1 : x > y ? 1 : 0);
    }
    return { result: truth ? 'true' : '', next: right.next };
  }

  reference(expr: string): void {
    if (this.level++ > MACRO_NESTING_LIMIT) this.fail(`unreasonable macro call nesting: "${expr}"`);
    if (this.error) return;
    let lookup: string | undefined;
    let cp: number;
    let ch: string;
    let at = this.skipWhite(expr, 0);
    if (expr[at] === '{') {
      const r = this.logical(expr, at);
      if (!r) return;
      lookup = r.result;
      cp = r.next;
      ch = expr[cp] ?? '';
      if (ch !== '') {
        if (ch !== '?' && ch !== ':') {
          this.fail(`"?" or ":" expected at: "...}>>>${expr.slice(cp, cp + 20)}"`);
          return;
        }
        cp++;
      }
    } else {
      at = 0;
      for (cp = 0; ; cp++) {
        ch = expr[cp] ?? '';
        if (ch === '' || ch === '?' || ch === ':') break;
        if (!/[A-Za-z0-9_]/.test(ch)) {
          this.fail(`attribute name syntax error at: "...${expr.slice(0, cp)}>>>${expr.slice(cp, cp + 20)}"`);
          return;
        }
      }
      const name = expr.slice(0, cp);
      lookup = this.lookup(name, ch === '' ? 'use' : 'test');
      if (ch !== '') cp++;
    }
    const scan = this.opts.scan === true;
    if (ch === '?') {
      let iftrue: string;
      let rest = '';
      const c = this.skipWhite(expr, cp);
      if (expr[c] === '{') {
        const r = this.curly(expr, c);
        if (!r) return;
        iftrue = r.payload;
        rest = expr.slice(r.next);
      } else {
        iftrue = expr.slice(cp);
      }
      if ((lookup !== undefined && lookup !== '') || scan) this.parse(iftrue);
      if (rest === '') {
        this.level--;
        return;
      }
      if (rest[0] !== ':') {
        this.fail(`":" expected at: "...${iftrue}}>>>${rest.slice(0, 20)}"`);
        return;
      }
      expr = rest;
      cp = 1;
      ch = ':';
    }
    if (ch === ':') {
      let iffalse: string;
      let rest = '';
      const c = this.skipWhite(expr, cp);
      if (expr[c] === '{') {
        const r = this.curly(expr, c);
        if (!r) return;
        iffalse = r.payload;
        rest = expr.slice(r.next);
      } else {
        iffalse = expr.slice(cp);
      }
      if (lookup === undefined || lookup === '' || scan) this.parse(iffalse);
      if (rest !== '') {
        this.fail(`unexpected input at: "...${iffalse}}>>>${rest.slice(0, 20)}"`);
        return;
      }
    } else if (ch === '') {
      if (lookup === undefined) this.undef = true;
      else if (lookup === '' || scan) {
        /* nothing */
      } else if (this.opts.recurse) this.parse(lookup);
      else this.out += lookup;
    }
    this.level--;
  }
}

function relop(op: string, c: number): boolean {
  switch (op) {
    case '<':
      return c < 0;
    case '<=':
      return c <= 0;
    case '>':
      return c > 0;
    case '>=':
      return c >= 0;
    case '==':
      return c === 0;
    default:
      return c !== 0;
  }
}

/** Compares compatibility levels such as "2", "3.6" and "3.6.1" part by part. */
export function compareLevels(a: string, b: string): number {
  const pa = a.trim().split('.').map(Number);
  const pb = b.trim().split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Expands macros in value. See the file header for the forms. */
export function expandMacros(value: string, lookup: MacroLookup, opts: ExpandOptions = {}): ExpandResult {
  const e = new Expander(lookup, opts);
  e.parse(value);
  return { value: e.out, error: e.error, undefined: e.undef, warnings: e.warnings };
}

/** Every $name a value references (names only, from a scan). */
export function referencedNames(value: string): { names: string[]; warnings: string[] } {
  const names: string[] = [];
  const r = expandMacros(
    value,
    (name) => {
      names.push(name);
      return undefined;
    },
    { scan: true },
  );
  return { names, warnings: r.warnings };
}
