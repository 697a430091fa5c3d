/*
 * dict_static - the static: table: every key finds the same value
 *
 * What it does: "static:text" answers text for every key, and
 * "static:{text with spaces}" answers the text between the braces with
 * the white space around it removed, as Postfix's dict_static does.
 *
 * What it does not do: expand anything in the value.
 *
 * DIAGNOSTICS
 * "static:{text" without the closing brace fails to open (surrogate)
 * with Postfix's text "bad syntax: ...; need \"static:{value}\"".
 */
import { type Dict, type DictOpenContext, DictOpenError, syncDict } from './dict_base.js';

/** Postfix's advice after a static: syntax error. */
const STATIC_NEED = 'need "static:{value}"';

export function dictStaticOpen(ctx: DictOpenContext): Dict {
  let value = ctx.name;
  if (value.startsWith('{')) {
    if (!value.endsWith('}')) throw new DictOpenError(`bad syntax: "${ctx.spec}"; ${STATIC_NEED}`);
    value = value.slice(1, -1).trim();
  }
  return syncDict(ctx, true, () => value);
}
