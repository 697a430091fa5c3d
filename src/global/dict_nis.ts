/*
 * dict_nis - the nis: table on a host without NIS (Postfix dict_nis)
 *
 * What it does: Postfix's default alias_maps names nis:mail.aliases;
 * on a host where no NIS domain is set, Postfix warns once
 * ("dict_nis_init: NIS domain name not set - NIS lookups disabled") and
 * every lookup finds nothing. This table does exactly that.
 *
 * What it does not do: talk to NIS servers.
 *
 * DIAGNOSTICS
 * The warning above, once per process.
 */
import { msgWarn } from '../util/msg.js';
import { type Dict, type DictOpenContext, syncDict } from './dict_base.js';

let warned = false;

export function dictNisOpen(ctx: DictOpenContext): Dict {
  if (!warned) {
    msgWarn('dict_nis_init: NIS domain name not set - NIS lookups disabled');
    warned = true;
  }
  return syncDict(ctx, false, () => null);
}
