/*
 * dict_pcre - the pcre: table (Postfix pcre_table(5))
 *
 * What it does: reads a file of "/pattern/flags result" rules and
 * "if /pattern/flags" ... "endif" blocks, with Postfix's pcre: syntax
 * (no "/a/!/b/" form; option letters i m s x A E U, X obsolete and
 * ignored with a warning as Postfix built with PCRE2 does; caseless and
 * dotall on by default), and answers with the first matching rule's
 * result after $number substitution. Patterns are translated to JS by
 * dict_pcre_js.ts. A rule PCRE2 itself would refuse is reported and
 * skipped, as Postfix does. A rule that is valid PCRE but cannot be
 * expressed in JS makes the whole table unavailable (a surrogate whose
 * lookups fail), with an error naming file and line: skipping it would
 * silently change what the table answers.
 *
 * What it does not do: PCRE features listed in dict_pcre_js.ts; the
 * warning texts of PCRE2's own compile errors differ from libpcre2's.
 *
 * DIAGNOSTICS
 * "pcre map FILE, line N: ..." warnings as Postfix; the untranslatable
 * case: "pcre map FILE, line N: ... cannot be translated ..." and the
 * table becomes a surrogate.
 */
import { type Dict, type DictOpenContext, DictOpenError, syncDict } from './dict_base.js';
import { readTableLines } from './dict_file.js';
import { lookupPatternRules, parsePatternRules, type PatternCompiler, type PatternSyntax } from './dict_regexp.js';
import { pcreRegex } from './dict_pcre_js.js';

const PCRE_SYNTAX: PatternSyntax = {
  secondPattern: false,
  noCloseAction: 'ignoring this rule',
  backslashAtEndCloses: false,
  zeroIndex: 'out of range replacement index',
  leftmostLongest: false,
};

const PCRE_OPTIONS = 'imsxAEUX';

function pcreCompiler(file: string): PatternCompiler {
  return {
    syntax: PCRE_SYNTAX,
    options(raw, warn) {
      for (const ch of raw.options) {
        if (!PCRE_OPTIONS.includes(ch)) {
          warn(`unknown regexp option "${ch}": skipping this rule`);
          return false;
        }
        if (ch === 'X') warn(`ignoring obsolete regexp option "${ch}"`);
      }
      return true;
    },
    compile(raw, warn) {
      const f = { caseless: true, dotall: true, multiline: false, extended: false, anchored: false, dollarEndOnly: false, ungreedy: false };
      for (const ch of raw.options) {
        if (ch === 'i') f.caseless = !f.caseless;
        else if (ch === 'm') f.multiline = !f.multiline;
        else if (ch === 's') f.dotall = !f.dotall;
        else if (ch === 'x') f.extended = !f.extended;
        else if (ch === 'A') f.anchored = !f.anchored;
        else if (ch === 'E') f.dollarEndOnly = !f.dollarEndOnly;
        else if (ch === 'U') f.ungreedy = !f.ungreedy;
      }
      const r = pcreRegex(raw.text, f);
      if ('untranslatable' in r) {
        throw new DictOpenError(`${r.untranslatable}; table ${file} refused`);
      }
      if ('error' in r) {
        warn(`error in regex: ${r.error}`);
        return null;
      }
      return r;
    },
  };
}

export function dictPcreOpen(ctx: DictOpenContext): Dict {
  const rules = parsePatternRules('pcre', ctx.name, readTableLines(ctx.name, ctx.spec), pcreCompiler(ctx.name), ctx.noRegsub);
  return syncDict(ctx, true, (key) => lookupPatternRules(rules, key));
}
