/*
 * dict_static - the static: table: every key finds the same value
 *
 * What it does: "static:text" answers text for every key, and
 * "static:{ text with spaces }" the text between the braces with the
 * white space around it removed, as Postfix's dict_static does. Like
 * Postfix it is a fixed-key table (DICT_FLAG_FIXED), so mail_addr_find
 * also asks it partial keys (it answers them all the same).
 *
 * What it does not do: expand anything in the value.
 *
 * DIAGNOSTICS
 * Unbalanced braces make a surrogate with Postfix's text: "bad
 * static:name syntax: missing '}' in ..." or "... syntax error after
 * '}' in ...".
 */
import { type Dict, type DictOpenContext, DictOpenError, syncDict } from './dict_base.js';
import { extractBraced } from './dict_syntax.js';

export function dictStaticOpen(ctx: DictOpenContext): Dict {
  let value = ctx.name;
  if (value.startsWith('{')) {
    const x = extractBraced(value);
    if (typeof x !== 'string') throw new DictOpenError(`bad static:name syntax: ${x.error}`);
    value = x;
  }
  return syncDict(ctx, false, () => value);
}
