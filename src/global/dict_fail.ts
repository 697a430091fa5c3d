/*
 * dict_fail - the fail: table: every lookup fails (Postfix dict_fail)
 *
 * What it does: "fail:name" opens a table whose every lookup rejects
 * with DictError, as Postfix's dict_fail (used to test error handling,
 * and to force a temporary failure from configuration).
 *
 * What it does not do: log at open time (a fail: table is no error).
 *
 * DIAGNOSTICS
 * lookup() rejects with DictError("fail:NAME: table lookup failed").
 */
import { type Dict, type DictOpenContext, DictError } from './dict_base.js';

export function dictFailOpen(ctx: DictOpenContext): Dict {
  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: true,
    lookup: async () => {
      throw new DictError(ctx.spec, `table ${ctx.spec}: query error`);
    },
    close: async () => {},
  };
}
