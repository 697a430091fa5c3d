/*
 * dict_cidr - the cidr: table (Postfix cidr_table(5))
 *
 * What it does: reads a file of "pattern result" lines, where a pattern
 * is an IPv4 or IPv6 address or network (a.b.c.d, a.b.c.d/len, ipv6,
 * ipv6/len, [ipv6], [ipv6]/len, with '!' negation) parsed by
 * src/util/cidr_match.ts, plus "if pattern" ... "endif" blocks (nested,
 * keywords in any case), and answers a lookup of an address with the
 * result of the first rule that matches. As Postfix: a pattern with
 * host bits set beyond its length is refused with Postfix's text
 * ("non-null host address bits in ..., perhaps you should use ...
 * instead") and skipped; a key that is no address finds nothing; an IF
 * that does not match and has no ENDIF ends the search.
 *
 * What it does not do: fold keys, or accept [brackets] or zone ids in
 * the looked-up address.
 *
 * DIAGNOSTICS
 * "cidr map FILE, line N: REASON: skipping this rule" (no lookup
 * result, no address pattern, bad address pattern, non-null host
 * address bits, ENDIF without IF), "cidr map FILE, line N: IF has no
 * matching ENDIF". An unreadable file makes a surrogate table.
 */
import { msgWarn } from '../util/msg.js';
import { type CidrMatch, CidrMatchError, cidrMatchExecute, cidrMatchParse } from '../util/cidr_match.js';
import { type Dict, type DictOpenContext, syncDict } from './dict_base.js';
import { readTableLines } from './dict_file.js';

type CidrRule =
  | { op: 'match'; line: number; cidr: CidrMatch; value: string }
  | { op: 'if'; line: number; cidr: CidrMatch; endif: number | null }
  | { op: 'endif'; line: number };

const SPACE = /[ \t\r\n\f\v]/;

function parseCidrRule(text: string, line: number, nesting: number): CidrRule | string {
  const lead = text.replace(/^[ \t\r\n\f\v]+/, '');
  const keyword = (word: string) =>
    lead.slice(0, word.length).toLowerCase() === word && (lead.length === word.length || !/[A-Za-z0-9]/.test(lead[word.length]!));
  if (keyword('if')) {
    const pattern = lead.slice(2).trim();
    if (pattern === '') return 'no address pattern';
    try {
      return { op: 'if', line, cidr: cidrMatchParse(pattern), endif: null };
    } catch (err) {
      if (err instanceof CidrMatchError) return err.message;
      throw err;
    }
  }
  if (keyword('endif')) {
    if (nesting === 0) return 'ENDIF without IF';
    return { op: 'endif', line };
  }
  let i = 0;
  while (i < lead.length && !SPACE.test(lead[i]!)) i++;
  const pattern = lead.slice(0, i);
  const value = lead.slice(i).trim();
  if (pattern === '') return 'no address pattern';
  if (value === '') return 'no lookup result';
  try {
    return { op: 'match', line, cidr: cidrMatchParse(pattern), value };
  } catch (err) {
    if (err instanceof CidrMatchError) return err.message;
    throw err;
  }
}

export function dictCidrOpen(ctx: DictOpenContext): Dict {
  const rules: CidrRule[] = [];
  const stack: number[] = [];
  for (const { text, line } of readTableLines(ctx.name, ctx.spec)) {
    const rule = parseCidrRule(text, line, stack.length);
    if (typeof rule === 'string') {
      msgWarn(`cidr map ${ctx.name}, line ${line}: ${rule}: skipping this rule`);
      continue;
    }
    if (rule.op === 'if') stack.push(rules.length);
    else if (rule.op === 'endif') (rules[stack.pop()!] as { endif: number | null }).endif = rules.length;
    rules.push(rule);
  }
  while (stack.length > 0) {
    msgWarn(`cidr map ${ctx.name}, line ${rules[stack.pop()!]!.line}: IF has no matching ENDIF`);
  }
  return syncDict(ctx, true, (key) => {
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i]!;
      if (rule.op === 'match') {
        if (cidrMatchExecute(rule.cidr, key)) return rule.value;
      } else if (rule.op === 'if') {
        if (cidrMatchExecute(rule.cidr, key)) continue;
        if (rule.endif === null) return null;
        i = rule.endif;
      }
    }
    return null;
  });
}
