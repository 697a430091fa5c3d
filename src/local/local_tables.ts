/*
 * local_tables - the lookup tables of local(8) (alias_maps and the *_maps parameters)
 *
 * What it does: opens alias_maps (with Postfix's DICT_FLAG_NO_REGSUB: $1
 * substitution is refused, see local(8) SECURITY), mailbox_command_maps,
 * mailbox_transport_maps and fallback_transport_maps once per process,
 * and finds the owner of each alias table the way Postfix's dict owner
 * attribute does: tables without a file (inline:, static:) and files owned
 * by root are "trusted" (uid 0: /file and |command run with default_privs);
 * a file owned by another user gives that user's rights.
 * aliasLookup() asks the alias tables in order for a local part and
 * returns the value with the owner uid of the table that answered.
 *
 * What it does not do: interpret alias values (local_token.ts).
 *
 * DIAGNOSTICS
 * Lookup errors reject with the DictError of the failing table (the
 * caller defers with "alias database unavailable" / "table lookup
 * failure"); Maps logs Postfix's warning.
 */
import { statSync } from 'node:fs';
import type { MailConfig } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import type { Dict } from '../global/dict_base.js';
import type { LocalParams } from './local_params.js';

export interface LocalTables {
  alias: Maps;
  mailboxCommand: Maps;
  mailboxTransport: Maps;
  fallbackTransport: Maps;
  aliasLookup(name: string): Promise<{ value: string; ownerUid: number; spec: string } | null>;
}

/** The uid owning a table's file; 0 for tables without one (trusted). */
export function dictOwnerUid(dict: Dict): number {
  const colon = dict.spec.indexOf(':');
  const name = colon >= 0 ? dict.spec.slice(colon + 1) : dict.spec;
  if (!name.startsWith('/')) return 0;
  for (const candidate of [name, `${name}.db`, `${name}.lmdb`, `${name}.cdb`]) {
    try {
      return statSync(candidate).uid;
    } catch {
      /* try the next suffix */
    }
  }
  return 0;
}

export function openLocalTables(config: MailConfig, params: LocalParams): LocalTables {
  const alias = new Maps('alias_maps', params.aliasMaps, { config, noRegsub: true });
  const owners = new Map<Dict, number>();
  for (const d of alias.dicts) owners.set(d, dictOwnerUid(d));
  return {
    alias,
    mailboxCommand: new Maps('mailbox_command_maps', params.mailboxCommandMaps, { config }),
    mailboxTransport: new Maps('mailbox_transport_maps', params.mailboxTransportMaps, { config, noRegsub: true }),
    fallbackTransport: new Maps('fallback_transport_maps', params.fallbackTransportMaps, { config, noRegsub: true }),
    async aliasLookup(name: string) {
      if (name === '') return null;
      for (const dict of alias.dicts) {
        const v = await dict.lookup(name.toLowerCase());
        if (v !== null) return { value: v, ownerUid: owners.get(dict) ?? 0, spec: dict.spec };
      }
      return null;
    },
  };
}
