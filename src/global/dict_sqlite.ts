/*
 * dict_sqlite - sqlite: sqlite_table(5) through better-sqlite3
 *
 * STUB: being written; refuses to open until then.
 */
import { type Dict, type DictOpenContext, DictOpenError } from './dict_base.js';

export function dictSqliteOpen(ctx: DictOpenContext): Dict {
  throw new DictOpenError(`unsupported table type: ${ctx.type} (not built yet)`);
}
