/*
 * dict_proxy - proxy:TYPE:NAME: lookups through the proxymap(8) service
 *
 * STUB: being written; refuses to open until then.
 */
import { type Dict, type DictOpenContext, DictOpenError } from './dict_base.js';

export function dictProxyOpen(ctx: DictOpenContext): Dict {
  throw new DictOpenError(`unsupported table type: ${ctx.type} (not built yet)`);
}
