/*
 * dict_pgsql - pgsql: pgsql_table(5) through pg
 *
 * STUB: being written; refuses to open until then.
 */
import { type Dict, type DictOpenContext, DictOpenError } from './dict_base.js';

export function dictPgsqlOpen(ctx: DictOpenContext): Dict {
  throw new DictOpenError(`unsupported table type: ${ctx.type} (not built yet)`);
}
