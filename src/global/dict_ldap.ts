/*
 * dict_ldap - ldap: ldap_table(5)
 *
 * STUB: being written; refuses to open until then.
 */
import { type Dict, type DictOpenContext, DictOpenError } from './dict_base.js';

export function dictLdapOpen(ctx: DictOpenContext): Dict {
  throw new DictOpenError(`unsupported table type: ${ctx.type} (not built yet)`);
}
