/*
 * dict_regexp - the regexp: table (Postfix regexp_table(5))
 *
 * What it does: reads a file of rules "/pattern/flags result" (any
 * delimiter; "/pat1/!/pat2/ result" and "!/pat/ result" forms) and
 * "if /pattern/flags" ... "endif" blocks (nested, case-insensitive
 * keywords), and answers a lookup with the result of the first rule
 * that matches, $1..$9 / ${n} / $(n) replaced by the captured text and
 * $$ by '$'. Patterns are POSIX regular expressions (extended by
 * default; flags toggle: i case-sensitivity (default insensitive), x
 * extended syntax, m REG_NEWLINE), translated by dict_regexp_posix.ts.
 * As Postfix does, a bad rule is reported (file, line) and skipped; the
 * rest of the table works. An IF without ENDIF ends the search when it
 * does not match.
 *
 * What it does not do: fold keys (case is the pattern's business), or
 * follow POSIX's subexpression rules where they would pick other group
 * text than JS's backtracking order (the overall match is made the
 * longest at the leftmost position, as regexec() does, whenever the
 * result uses $n; see longestMatch()).
 *
 * DIAGNOSTICS
 * Warnings with Postfix's texts: "regexp map FILE, line N: ..." (no
 * closing delimiter, unknown option, glibc error text, out of range
 * replacement index, ignoring ENDIF without matching IF, IF has no
 * matching ENDIF, ...). An unreadable file makes a surrogate table.
 */
import { msgWarn } from '../util/msg.js';
import { type Dict, type DictOpenContext, DictOpenError, syncDict } from './dict_base.js';
import { readTableLines, type TableLine } from './dict_file.js';
import { posixRegex } from './dict_regexp_posix.js';
import { expandReplacement, parseReplacement, type ReplacementPart } from './dict_regsub.js';

/** One pattern of a rule, with its negation. */
export interface RulePattern {
  regex: RegExp;
  match: boolean;
  /** POSIX: the match must be the longest at its start (leftmost-longest). */
  longest?: boolean;
}

/** Beyond this key length the longest-match search is skipped (JS's match is used). */
export const LONGEST_MATCH_MAX_KEY = 4096;

/**
 * POSIX regexec() picks, among the matches at the leftmost position, the
 * longest one; JS picks the first by backtracking order. Only the text
 * captured for $n can differ, so this runs only then: try ends from the
 * longest down to JS's own end, forcing each with a lookahead.
 */
function longestMatch(re: RegExp, key: string, m: RegExpExecArray): RegExpExecArray {
  const end = m.index + m[0].length;
  if (end === key.length || key.length > LONGEST_MATCH_MAX_KEY) return m;
  const flags = re.flags.includes('y') ? re.flags : `${re.flags}y`;
  for (let rest = 0; rest < key.length - end; rest++) {
    const forced = new RegExp(`(?:${re.source})(?=[\\s\\S]{${rest}}(?![\\s\\S]))`, flags);
    forced.lastIndex = m.index;
    const f = forced.exec(key);
    if (f) return f;
  }
  return m;
}

/** The rule list that regexp: and pcre: share. */
export type PatternRule =
  | { op: 'match'; line: number; first: RulePattern; second: RulePattern | null; parts: ReplacementPart[] }
  | { op: 'if'; line: number; pattern: RulePattern; endif: number | null }
  | { op: 'endif'; line: number };

const SPACE = ' \t\r\n\f\v';
const isSpace = (ch: string | undefined) => ch !== undefined && SPACE.includes(ch);
const isAlnum = (ch: string | undefined) => ch !== undefined && /[A-Za-z0-9]/.test(ch);

/** A raw pattern as written: text between delimiters, option letters, negation. */
export interface RawPattern {
  text: string;
  options: string;
  match: boolean;
  /** Where parsing stopped. */
  end: number;
}

/** Postfix's *_get_pat(): negations, delimited text (backslash escapes kept), options. */
export function getRawPattern(line: string, start: number, warn: (text: string) => void, syntax: PatternSyntax = REGEXP_SYNTAX): RawPattern | null {
  let p = start;
  let match = true;
  for (;;) {
    if (line[p] === '!') match = !match;
    else if (!isSpace(line[p])) break;
    p++;
  }
  if (p >= line.length) {
    warn('no regexp: skipping this rule');
    return null;
  }
  const delim = line[p++]!;
  const begin = p;
  while (p < line.length) {
    if (line[p] === '\\') {
      if (p + 1 < line.length) p++;
      else if (syntax.backslashAtEndCloses) break;
      else {
        p++;
        break;
      }
    } else if (line[p] === delim) break;
    p++;
  }
  if (p >= line.length) {
    warn(`no closing regexp delimiter "${delim}": ${syntax.noCloseAction}`);
    return null;
  }
  const text = line.slice(begin, p);
  p++;
  const optStart = p;
  while (p < line.length && !isSpace(line[p]) && (line[p] !== '!' || !syntax.secondPattern)) p++;
  return { text, options: line.slice(optStart, p), match, end: p };
}

/** Where the pcre: syntax differs from the regexp: one. */
export interface PatternSyntax {
  /** "/pat1/!/pat2/" allowed (regexp:); pcre: reads '!' as an option letter. */
  secondPattern: boolean;
  noCloseAction: string;
  /** regexp: a backslash ending the line acts as the closing delimiter (Postfix's scan stops on it). */
  backslashAtEndCloses: boolean;
  /** Warning for $0. */
  zeroIndex: string;
  /** POSIX matching: the longest match at the leftmost position. */
  leftmostLongest: boolean;
}

export const REGEXP_SYNTAX: PatternSyntax = {
  secondPattern: true,
  noCloseAction: 'skipping this rule',
  backslashAtEndCloses: true,
  zeroIndex: 'out-of-range replacement index',
  leftmostLongest: true,
};

/** How a table type turns a raw pattern into a RegExp (or warns and returns null). */
export interface PatternCompiler {
  syntax: PatternSyntax;
  /** Check option letters; warn and return false for an unknown one. */
  options(raw: RawPattern, warn: (text: string) => void): boolean;
  compile(raw: RawPattern, warn: (text: string) => void): { regex: RegExp; nsub: number } | null;
}

/** Parse the rules of a regexp:/pcre: file (Postfix dict_*_parseline + open loop). */
export function parsePatternRules(kind: string, file: string, lines: readonly TableLine[], comp: PatternCompiler, noRegsub = false): PatternRule[] {
  const rules: PatternRule[] = [];
  const stack: number[] = [];
  for (const { text: line, line: lineno } of lines) {
    const warn = (t: string) => msgWarn(`${kind} map ${file}, line ${lineno}: ${t}`);
    let rule: PatternRule | null;
    try {
      rule = parseRule(line, lineno, stack.length, warn, comp, noRegsub);
    } catch (err) {
      if (err instanceof DictOpenError) throw new DictOpenError(`${kind} map ${file}, line ${lineno}: ${err.message}`);
      throw err;
    }
    if (!rule) continue;
    if (rule.op === 'if') stack.push(rules.length);
    else if (rule.op === 'endif') {
      const ifIndex = stack.pop()!;
      (rules[ifIndex] as { endif: number | null }).endif = rules.length;
    }
    rules.push(rule);
  }
  while (stack.length > 0) {
    const r = rules[stack.pop()!]!;
    msgWarn(`${kind} map ${file}, line ${r.line}: IF has no matching ENDIF`);
  }
  return rules;
}

function parseRule(line: string, lineno: number, nesting: number, warn: (t: string) => void, comp: PatternCompiler, noRegsub: boolean): PatternRule | null {
  if (!isAlnum(line[0])) {
    const first = getRawPattern(line, 0, warn, comp.syntax);
    if (!first || !comp.options(first, warn)) return null;
    let second: RawPattern | null = null;
    let p = first.end;
    if (line[p] === '!' && comp.syntax.secondPattern) {
      second = getRawPattern(line, p, warn, comp.syntax);
      if (!second || !comp.options(second, warn)) return null;
      p = second.end;
    }
    while (isSpace(line[p])) p++;
    const result = line.slice(p);
    if (result === '') warn('no replacement text: using empty string');
    const parsed = parseReplacement(result);
    if ('errors' in parsed) {
      for (const e of parsed.errors) {
        if (e.located) warn(e.text.replace('out-of-range replacement index', comp.syntax.zeroIndex));
        else msgWarn(e.text);
      }
      warn('bad replacement syntax: skipping this rule');
      return null;
    }
    if (parsed.maxSub > 0 && !first.match) {
      warn('$number found in negative match replacement text: skipping this rule');
      return null;
    }
    if (parsed.maxSub > 0 && noRegsub) {
      warn('regular expression substitution is not allowed: skipping this rule');
      return null;
    }
    const c1 = comp.compile(first, warn);
    if (!c1) return null;
    if (parsed.maxSub > c1.nsub) {
      warn(`out of range replacement index "${parsed.maxSub}": skipping this rule`);
      return null;
    }
    let p2: RulePattern | null = null;
    if (second) {
      const c2 = comp.compile(second, warn);
      if (!c2) return null;
      p2 = { regex: c2.regex, match: second.match };
    }
    const first1: RulePattern = { regex: c1.regex, match: first.match, longest: comp.syntax.leftmostLongest };
    return { op: 'match', line: lineno, first: first1, second: p2, parts: parsed.parts };
  }
  if (/^if/i.test(line) && !isAlnum(line[2])) {
    let p = 2;
    while (isSpace(line[p])) p++;
    const raw = getRawPattern(line, p, warn, comp.syntax);
    if (!raw || !comp.options(raw, warn)) return null;
    p = raw.end;
    while (isSpace(line[p])) p++;
    if (p < line.length) {
      warn(`ignoring extra text after IF statement: "${line.slice(p)}"`);
      warn('do not prepend whitespace to statements between IF and ENDIF');
    }
    const c = comp.compile(raw, warn);
    if (!c) return null;
    return { op: 'if', line: lineno, pattern: { regex: c.regex, match: raw.match }, endif: null };
  }
  if (/^endif/i.test(line) && !isAlnum(line[5])) {
    if (nesting === 0) {
      warn('ignoring ENDIF without matching IF');
      return null;
    }
    if (line.slice(5).trim() !== '') warn('ignoring extra text after ENDIF');
    return { op: 'endif', line: lineno };
  }
  warn('ignoring unrecognized request');
  return null;
}

/** Run a key through the rules (Postfix dict_*_lookup). */
export function lookupPatternRules(rules: readonly PatternRule[], key: string): string | null {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i]!;
    if (rule.op === 'match') {
      rule.first.regex.lastIndex = 0;
      if (rule.second) rule.second.regex.lastIndex = 0;
      const m = rule.first.regex.exec(key);
      if ((m !== null) !== rule.first.match) continue;
      if (rule.second && rule.second.regex.test(key) !== rule.second.match) continue;
      if (!m) return expandReplacement(rule.parts, [] as unknown as RegExpExecArray);
      const wantsGroups = rule.parts.some((p) => typeof p === 'number');
      return expandReplacement(rule.parts, rule.first.longest && wantsGroups ? longestMatch(rule.first.regex, key, m) : m);
    }
    if (rule.op === 'if') {
      rule.pattern.regex.lastIndex = 0;
      if (rule.pattern.regex.test(key) === rule.pattern.match) continue;
      if (rule.endif === null) return null;
      i = rule.endif;
    }
  }
  return null;
}

/** regexp: options i, m, x toggle REG_ICASE, REG_NEWLINE, REG_EXTENDED. */
const REGEXP_COMPILER: PatternCompiler = {
  syntax: REGEXP_SYNTAX,
  options(raw, warn) {
    for (const ch of raw.options) {
      if (!'imx'.includes(ch)) {
        warn(`unknown regexp option "${ch}": skipping this rule`);
        return false;
      }
    }
    return true;
  },
  compile(raw, warn) {
    let icase = true;
    let newline = false;
    let extended = true;
    for (const ch of raw.options) {
      if (ch === 'i') icase = !icase;
      else if (ch === 'm') newline = !newline;
      else if (ch === 'x') extended = !extended;
    }
    const r = posixRegex(raw.text, { icase, newline, extended });
    if ('error' in r) {
      warn(r.error);
      return null;
    }
    return r;
  },
};

export function dictRegexpOpen(ctx: DictOpenContext): Dict {
  const rules = parsePatternRules('regexp', ctx.name, readTableLines(ctx.name, ctx.spec), REGEXP_COMPILER, ctx.noRegsub);
  return syncDict(ctx, true, (key) => lookupPatternRules(rules, key));
}
