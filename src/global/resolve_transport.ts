/*
 * resolve_transport - transport(5) table search for the resolver (Postfix trivial-rewrite/transport.c)
 *
 * What it does: TransportTable wraps a transport_maps-style parameter
 * (transport_maps, address_verify_transport_maps) as Maps and implements
 * transport(5)'s search order for one resolved recipient:
 *   1. the full address user+ext@domain (every table, regexp/pcre too),
 *   2. the address without its recipient_delimiter extension, user@domain
 *      (fixed-key tables only),
 *   3. the domain, then its parents: "a.b.c", ".b.c", ".c" - or, when
 *      parent_domain_matches_subdomains lists transport_maps, "a.b.c",
 *      "b.c", "c" (fixed-key tables only),
 *   4. the "*" wildcard (every table).
 * A result "transport:nexthop" is split at the first ':' and applied as
 * transport(5) says: an empty transport keeps the current one (and the
 * nexthop, unless one is given); a non-empty transport replaces it and
 * the nexthop becomes the given one, else the recipient domain, else for
 * the error transport "Address is undeliverable". "[host]:port" survives
 * because only the first ':' splits.
 *
 * What it does not do: the address classes or relayhost (resolve_addr.ts).
 *
 * DIAGNOSTICS
 * lookup() rejects with the DictError of the first table that fails.
 */
import type { MailConfig } from './mail_conf.js';
import { Maps } from './maps.js';
import { stripAddr } from './mail_addr_find.js';
import { matchParentStyle, VAR_PAR_DOM_MATCH } from './namadr_list.js';

/** The parameter name parent_domain_matches_subdomains knows this feature by. */
export const VAR_TRANSPORT_MAPS = 'transport_maps';
/** The wildcard key (unique to transport tables). */
export const TRANSPORT_WILDCARD = '*';
/** The error transport's name (Postfix MAIL_SERVICE_ERROR). */
export const MAIL_SERVICE_ERROR = 'error';
/** The error transport's nexthop when a table gives none. */
export const TRANSPORT_ERROR_DEFAULT_TEXT = 'Address is undeliverable';

export interface ChannelNexthop {
  channel: string;
  nexthop: string;
}

/** Applies one table result to the current channel and nexthop (Postfix update_entry). */
export function updateEntry(value: string, rcptDomain: string, cur: ChannelNexthop): void {
  const colon = value.indexOf(':');
  const newChannel = colon >= 0 ? value.slice(0, colon) : value;
  const newNexthop = colon >= 0 ? value.slice(colon + 1) : '';
  if (newChannel === '') {
    if (newNexthop !== '') cur.nexthop = newNexthop;
    return;
  }
  cur.channel = newChannel;
  if (newNexthop !== '') cur.nexthop = newNexthop;
  else if (cur.channel !== MAIL_SERVICE_ERROR) cur.nexthop = rcptDomain;
  else cur.nexthop = TRANSPORT_ERROR_DEFAULT_TEXT;
}

export class TransportTable {
  readonly maps: Maps;
  readonly parent: boolean;
  readonly recipientDelimiter: string;

  constructor(config: MailConfig, paramName: string, value: string) {
    this.maps = new Maps(paramName, value, { config });
    this.parent = matchParentStyle(VAR_TRANSPORT_MAPS, config.get(VAR_PAR_DOM_MATCH)) !== 0;
    this.recipientDelimiter = config.get('recipient_delimiter');
  }

  get name(): string {
    return this.maps.title;
  }

  /**
   * Searches for addr (internal form, with a non-empty domain) and applies
   * the entry to cur; true when an entry was found. Rejects with DictError.
   */
  async lookup(addr: string, rcptDomain: string, cur: ChannelNexthop): Promise<boolean> {
    if (addr === '') return false;
    const at = addr.lastIndexOf('@');
    if (at < 0 || at === addr.length - 1) return false;
    const apply = (value: string | null): boolean => {
      if (value === null) return false;
      updateEntry(value, rcptDomain, cur);
      return true;
    };
    if (apply(await this.maps.find(addr))) return true;
    const stripped = stripAddr(addr, this.recipientDelimiter);
    if (stripped && apply(await this.maps.findFixed(stripped.bare))) return true;
    let name = addr.slice(at + 1);
    while (name !== '') {
      if (apply(await this.maps.findFixed(name))) return true;
      const dot = name.indexOf('.', 1);
      if (dot < 0) break;
      name = name.slice(this.parent ? dot + 1 : dot);
    }
    return apply(await this.maps.find(TRANSPORT_WILDCARD));
  }
}
