/*
 * dict_socketmap - socketmap: the Sendmail socketmap protocol
 *
 * STUB: being written; refuses to open until then.
 */
import { type Dict, type DictOpenContext, DictOpenError } from './dict_base.js';

export function dictSocketmapOpen(ctx: DictOpenContext): Dict {
  throw new DictOpenError(`unsupported table type: ${ctx.type} (not built yet)`);
}
