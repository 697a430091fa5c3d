/*
 * qmqpd_peer - who is the QMQP client (Postfix qmqpd_peer.c)
 *
 * What it does: qmqpdPeer() takes the socket's remote address and port,
 * turns an IPv4-mapped IPv6 address into plain IPv4, and finds the
 * client name as Postfix's qmqpd does with the system resolver
 * (getnameinfo, then a forward lookup that must list the address again;
 * /etc/hosts counts): the verified name, or "unknown". It builds the
 * forms qmqpd logs and records: name, addr, rfcAddr ("IPv6:..." for
 * IPv6, for the Received: header), port, addrFamily (2 or 10) and
 * namaddr "name[addr]" (with ":port" under qmqpd_client_port_logging).
 *
 * What it does not do: use Postern's DNS contract (dns_lookup.ts):
 * Postfix's qmqpd goes through the system resolver, so this does too.
 * A socket without a peer address (in-process tests) gives "unknown".
 *
 * DIAGNOSTICS
 * Postfix's warnings: "ADDR: hostname NAME verification failed: TEXT",
 * "ADDR: address not listed for hostname NAME".
 */
import { lookup, lookupService } from 'node:dns/promises';
import { isIP } from 'node:net';
import { msgWarn } from '../util/msg.js';

export interface QmqpdPeer {
  name: string;
  addr: string;
  rfcAddr: string;
  port: string;
  addrFamily: number;
  namaddr: string;
}

/** Postfix AF_INET / AF_INET6 values on Linux, as qmqpd records client_address_type. */
export const PEER_AF = { INET: 2, INET6: 10 } as const;
/** Bound on each name lookup. */
export const PEER_LOOKUP_TIMEOUT_MS = 10_000;

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('lookup timeout')), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}

/** Postfix valid_hostname() in short: labels of letters, digits, '-' and '_', at most 255 bytes. */
function validHostname(name: string): boolean {
  if (name.length === 0 || name.length > 255) return false;
  if (isIP(name)) return false;
  return name.split('.').every((l) => l.length > 0 && l.length <= 63 && /^[A-Za-z0-9_-]+$/.test(l) && !l.startsWith('-') && !l.endsWith('-'));
}

export async function qmqpdPeer(remoteAddress: string | undefined, remotePort: number | undefined, portLogging: boolean): Promise<QmqpdPeer> {
  let addr = remoteAddress ?? '';
  if (addr.toLowerCase().startsWith('::ffff:') && isIP(addr.slice(7)) === 4) addr = addr.slice(7);
  const family = isIP(addr);
  const port = remotePort !== undefined ? String(remotePort) : '0';
  let name = 'unknown';
  if (family !== 0) {
    try {
      const r = await withTimeout(lookupService(addr, remotePort ?? 0), PEER_LOOKUP_TIMEOUT_MS);
      if (validHostname(r.hostname)) {
        try {
          const all = await withTimeout(lookup(r.hostname, { all: true }), PEER_LOOKUP_TIMEOUT_MS);
          if (all.some((a) => a.address === addr)) name = r.hostname;
          else msgWarn(`${addr}: address not listed for hostname ${r.hostname}`);
        } catch (err) {
          msgWarn(`${addr}: hostname ${r.hostname} verification failed: ${(err as Error).message}`);
        }
      }
    } catch {
      name = 'unknown';
    }
  }
  const shownAddr = family === 0 ? 'unknown' : addr;
  const namaddr = `${name}[${shownAddr}]${portLogging ? `:${port}` : ''}`;
  return {
    name,
    addr: shownAddr,
    rfcAddr: family === 6 ? `IPv6:${addr}` : shownAddr,
    port,
    addrFamily: family === 6 ? PEER_AF.INET6 : PEER_AF.INET,
    namaddr,
  };
}
