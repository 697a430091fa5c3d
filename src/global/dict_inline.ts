/*
 * dict_inline - the inline: table: key=value pairs in the spec itself
 *
 * What it does: "inline:{key1=value1, key2=value2}" and the long form
 * "inline:{ key1=value1, { key2 = value with spaces, or commas } }" give
 * an in-memory fixed-key table, parsed as Postfix's dict_inline does: the
 * whole name must be one balanced {...}; items are separated by commas
 * or white space outside braces; an item in braces has them stripped;
 * each item is split at '=' with the white space around name and value
 * removed. A later duplicate replaces an earlier one (no duplicate
 * checks, as in Postfix). Keys are folded when the table folds.
 *
 * What it does not do: expand $names in values.
 *
 * DIAGNOSTICS
 * A syntax error makes the table a surrogate with Postfix's texts:
 * "bad syntax: \"inline:...\"; need \"inline:{name=value...}\"",
 * "missing '=' after attribute name: ...", "empty table: ...".
 */
import { type Dict, type DictOpenContext, DictOpenError, foldKey, mapDict } from './dict_base.js';
import { balancedLength, extractBraced, splitQuotedNameValue, tokenizeBraced } from './dict_syntax.js';

export function dictInlineOpen(ctx: DictOpenContext): Dict {
  const need = `"${ctx.spec}"; need "inline:{name=value...}"`;
  const name = ctx.name;
  const len = balancedLength(name);
  if (len === 0 || len !== name.length || len <= 2) throw new DictOpenError(`bad syntax: ${need}`);
  const entries = new Map<string, string>();
  let err: string | null = null;
  for (const item of tokenizeBraced(name.slice(1, -1))) {
    let text = item;
    if (text.startsWith('{')) {
      const x = extractBraced(text);
      if (typeof x !== 'string') {
        err = x.error;
        break;
      }
      text = x;
    }
    const nv = splitQuotedNameValue(text);
    if ('error' in nv) {
      err = nv.error;
      break;
    }
    entries.set(foldKey(nv.name, ctx.fold, ctx.utf8), nv.value);
  }
  if (err !== null || entries.size === 0) throw new DictOpenError(`${err ?? 'empty table'}: ${need}`);
  return mapDict(ctx, entries);
}
