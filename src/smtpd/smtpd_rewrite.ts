/*
 * smtpd_rewrite - local or remote header rewriting context (Postfix smtpd_check_rewrite)
 *
 * What it does: smtpdRewriteContext() walks local_header_rewrite_clients
 * for the client of a new mail transaction: permit_inet_interfaces (the
 * client address is one this host listens on), permit_mynetworks,
 * permit_sasl_authenticated, and type:table access lookups of the
 * client address (any answer other than DUNNO/REJECT counts as a match,
 * as Postfix's check_address_map does). The first match makes the
 * context "local" (cleanup may rewrite headers as for local mail),
 * otherwise it is "remote" (remote_header_rewrite_domain applies).
 *
 * What it does not do: the rewriting itself (cleanup does).
 *
 * DIAGNOSTICS
 * Warns about words it does not know, as Postfix does; a table lookup
 * error counts as no match.
 */
import { msgWarn } from '../util/msg.js';
import { Maps } from '../global/maps.js';
import { ownInetAddr } from '../global/own_inet_addr.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import type { SmtpdSession } from './smtpd_session.js';

const tables = new Map<string, Maps>();

/** "local" or "remote" for the session's client; see the header. */
export async function smtpdRewriteContext(s: SmtpdSession): Promise<string> {
  const st = s.state;
  for (const word of s.server.localRewriteClients) {
    const w = word.toLowerCase();
    let hit = false;
    if (w === 'permit_inet_interfaces') {
      hit = st.addr !== 'unknown' && ownInetAddr(s.server.config, st.addr);
    } else if (w === 'permit_mynetworks') {
      hit = s.server.mynetworks.match(st.name, st.addr);
    } else if (w === 'permit_sasl_authenticated') {
      hit = st.saslUsername !== null;
    } else if (word.includes(':')) {
      const spec = w.startsWith('check_address_map') ? word.split(/\s+/)[1] ?? '' : word;
      let m = tables.get(spec);
      if (!m) {
        m = new Maps('local_header_rewrite_clients', spec, { config: s.server.config });
        tables.set(spec, m);
      }
      try {
        const r = await m.find(st.addr);
        hit = r !== null && !/^(dunno|reject)\b/i.test(r.trim());
      } catch {
        hit = false;
      }
    } else if (w === 'check_address_map') {
      continue;
    } else {
      msgWarn(`parameter local_header_rewrite_clients: invalid request: ${word}`);
      continue;
    }
    if (hit) return MAIL_ATTR.RWR_LOCAL;
  }
  return MAIL_ATTR.RWR_REMOTE;
}
