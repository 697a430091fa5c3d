/*
 * postalias_parse - one aliases(5) entry from one logical line (Postfix postalias.c)
 *
 * What it does: aliasEntry() turns the text of one logical line of an
 * aliases file ("name: value, value, ...", continuation lines already
 * joined by readLogicalLines) into the key and value postalias stores,
 * the way Postfix's postalias does it: the line is cut into RFC 822
 * tokens (so a quoted name may hold ':', '@' or blanks), the first ':'
 * token separates name and value, the name is printed in internal
 * (unquoted) form and the value in external (quoted) form with Postfix's
 * spacing, so ":include:", "|command" and "/file" values survive as
 * local(8) will re-parse them. A value that ends in a comma gets a space
 * after it ("x," is stored "x, "), as Postfix 3.7's postalias stores it. A line that is not ASCII and not valid
 * UTF-8 is refused when UTF-8 is active (smtputf8_enable, no -u).
 *
 * What it does NOT do: fold the key to lower case (the table does, per
 * -f), read files, or expand anything (local(8) expands aliases at
 * delivery time).
 *
 * DIAGNOSTICS
 * The result says which Postfix warning applies; the caller prints it
 * with the file name and line number: "need name:value pair" (no ':',
 * nothing before or after it, or a ',' in the name), "name must be
 * local" ('@' or '%' in the name), or the non-UTF-8 refusal.
 */
import { isValidUtf8Bytes } from '../global/dict_utf8.js';
import { TOK822_OP, tokCutAfter, tokFindType, tokRfindType, tokUnlink } from '../global/tok822.js';
import { tokExternalize, tokInternalize, tokScan } from '../global/tok822_parse.js';

/** The warnings postalias gives for a line it skips (text after "FILE, line N: "). */
export const ALIAS_LINE_WARNING = {
  NEED_PAIR: 'need name:value pair',
  NOT_LOCAL: 'name must be local',
} as const;

export type AliasEntryResult =
  | { kind: 'entry'; key: string; value: string }
  /** No tokens at all: nothing to store, nothing to say. */
  | { kind: 'empty' }
  | { kind: 'warning'; text: string };

const ASCII_ONLY = /^[\x00-\x7f]*$/;

/** Postfix's test before tokenizing: with UTF-8 active, non-ASCII text must be UTF-8. */
export function aliasLineUtf8Ok(line: string, utf8Active: boolean): boolean {
  return !utf8Active || ASCII_ONLY.test(line) || isValidUtf8Bytes(line);
}

/** The warning for a line refused by aliasLineUtf8Ok(). */
export function aliasNonUtf8Warning(line: string): string {
  return `non-UTF-8 input "${line}" -- ignoring this line`;
}

/** Splits one logical aliases line into the stored key and value. */
export function aliasEntry(line: string): AliasEntryResult {
  const list = tokScan(line);
  if (list === null) return { kind: 'empty' };
  const colon = tokFindType(list, TOK822_OP.COLON);
  if (colon === null || colon.prev === null || colon.next === null || tokRfindType(colon, TOK822_OP.COMMA) !== null) {
    return { kind: 'warning', text: ALIAS_LINE_WARNING.NEED_PAIR };
  }
  if (tokRfindType(colon, TOK822_OP.AT) !== null || tokRfindType(colon, TOK822_OP.PERCENT) !== null) {
    return { kind: 'warning', text: ALIAS_LINE_WARNING.NOT_LOCAL };
  }
  const valueList = tokCutAfter(colon);
  tokUnlink(colon);
  let last = valueList;
  while (last?.next) last = last.next;
  // Postfix 3.7's postalias stores a space after a trailing comma ("x," -> "x, ").
  const trailer = last?.type === TOK822_OP.COMMA ? ' ' : '';
  return { kind: 'entry', key: tokInternalize(list), value: tokExternalize(valueList) + trailer };
}
