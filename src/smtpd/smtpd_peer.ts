/*
 * smtpd_peer - who the client is (Postfix smtpd_peer.c)
 *
 * What it does: smtpdPeerInit() fills the client identity of a new
 * session: the address and port from the socket (an IPv4-mapped IPv6
 * address is shown as plain IPv4, as Postfix does), the server address
 * and port, and the client name. With smtpd_peername_lookup = yes the
 * name comes from dns_lookup.ts peerName() (reverse lookup confirmed by
 * a forward lookup; "unknown" with status 4/5/6 otherwise); with "no" it
 * is "unknown" (status 5) without DNS. A session that is not on a
 * network socket (stand-alone mode, sendmail -bs) is "localhost"
 * [127.0.0.1], as Postfix's smtpd_peer_not_inet(). namaddr gets the
 * port appended when smtpd_client_port_logging = yes.
 *
 * What it does not do: XCLIENT overrides (smtpd_xclient.ts) or access
 * decisions.
 *
 * DIAGNOSTICS
 * None beyond peerName()'s own warnings (forged names).
 */
import { isIP } from 'node:net';
import { peerName } from '../global/dns_lookup.js';
import { CLIENT_UNKNOWN, SMTPD_PEER_CODE, type SmtpdState } from './smtpd_state.js';
import type { SmtpdServer } from './smtpd_server.js';

export interface PeerEndpoints {
  remoteAddress?: string | undefined;
  remotePort?: number | undefined;
  localAddress?: string | undefined;
  localPort?: number | undefined;
}

/** "::ffff:1.2.3.4" -> "1.2.3.4"; IPv6 in lower case. */
export function normalizeAddr(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (m) return m[1]!;
  return addr.toLowerCase();
}

/** "name[addr]" or, with smtpd_client_port_logging, "name[addr]:port". */
export function buildNamaddr(server: SmtpdServer, name: string, addr: string, port: string): string {
  return server.clientPortLogging && port !== CLIENT_UNKNOWN.PORT ? `${name}[${addr}]:${port}` : `${name}[${addr}]`;
}

/** Sets state.namaddr from the current name/address/port. */
export function updateNamaddr(state: SmtpdState, server: SmtpdServer): void {
  state.namaddr = buildNamaddr(server, state.name, state.addr, state.port);
}

/** Fills the client identity; see the header. */
export async function smtpdPeerInit(state: SmtpdState, server: SmtpdServer, peer: PeerEndpoints | null): Promise<void> {
  if (!peer || !peer.remoteAddress || isIP(normalizeAddr(peer.remoteAddress)) === 0) {
    state.standAlone = true;
    state.setClient('localhost', '127.0.0.1', '0');
    state.addrFamily = 0;
    state.reverseName = 'localhost';
    state.nameStatus = SMTPD_PEER_CODE.OK;
    state.reverseNameStatus = SMTPD_PEER_CODE.OK;
    state.forwardNameStatus = SMTPD_PEER_CODE.OK;
    updateNamaddr(state, server);
    state.realName = state.name;
    state.realAddr = state.addr;
    state.realPort = state.port;
    return;
  }
  const addr = normalizeAddr(peer.remoteAddress);
  const port = peer.remotePort !== undefined ? String(peer.remotePort) : CLIENT_UNKNOWN.PORT;
  state.destAddr = peer.localAddress ? normalizeAddr(peer.localAddress) : '';
  state.destPort = peer.localPort !== undefined ? String(peer.localPort) : '';
  let name: string = CLIENT_UNKNOWN.NAME;
  if (server.peernameLookup) {
    const r = await peerName(addr, server.dns ?? undefined);
    name = r.name;
    state.nameStatus = r.status;
    state.reverseName = r.reverseName;
    state.reverseNameStatus = r.reverseStatus;
    state.forwardNameStatus = r.status;
  } else {
    state.nameStatus = SMTPD_PEER_CODE.PERM;
    state.reverseName = CLIENT_UNKNOWN.NAME;
    state.reverseNameStatus = SMTPD_PEER_CODE.PERM;
    state.forwardNameStatus = SMTPD_PEER_CODE.PERM;
  }
  state.setClient(name, addr, port);
  updateNamaddr(state, server);
  state.realName = state.name;
  state.realAddr = state.addr;
  state.realPort = state.port;
}
