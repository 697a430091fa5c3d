/*
 * dict_environ - the environ: table: look keys up in the process environment
 *
 * What it does: "environ:name" answers the value of the environment
 * variable named by the key, or not found; like Postfix's dict_env the
 * key is lowercased first when the table folds fixed keys.
 *
 * What it does not do: change the environment.
 *
 * DIAGNOSTICS
 * None.
 */
import { type Dict, type DictOpenContext, foldKey, syncDict } from './dict_base.js';

export function dictEnvironOpen(ctx: DictOpenContext): Dict {
  return syncDict(ctx, false, (key) => process.env[foldKey(key, ctx.fold, ctx.utf8)] ?? null);
}
