/*
 * smtp_nexthop - parse a next-hop destination (Postfix smtp_connect.c smtp_parse_destination, host_port)
 *
 * What it does: parseDestination() splits one destination as the queue
 * manager hands it over (or as smtp_fallback_relay lists it) into the
 * host or domain, the port and whether MX lookup is suppressed:
 * "domain", "domain:port", "[host]", "[host]:port", "[ipv6:2001:db8::1]",
 * and for lmtp(8) "unix:/path" (a UNIX-domain socket, relative paths
 * relative to queue_directory as Postfix's chdir makes them) and
 * "inet:host:port". splitSites() splits a list on commas and white space.
 *
 * What it does not do: look anything up (smtp_addr.ts) or connect.
 *
 * DIAGNOSTICS
 * Returns { ok: false, error } with Postfix's wording for a bad port or
 * an unknown service name; the caller defers the mail (Postfix would
 * end the process with a fatal error, which qmgr treats the same way).
 */
import { isAbsolute, join } from 'node:path';
import { WELL_KNOWN_PORTS } from './smtp_params.js';

export interface InetDestination {
  kind: 'inet';
  /** The destination text as given, e.g. "[mx.example.com]:2525". */
  dest: string;
  /** Host or domain without brackets and port. */
  host: string;
  port: number;
  /** [host]: no MX lookup. */
  literal: boolean;
}

export interface UnixDestination {
  kind: 'unix';
  dest: string;
  path: string;
}

export type Destination = InetDestination | UnixDestination;

export type ParseResult = { ok: true; dest: Destination } | { ok: false; error: string };

/** Longest destination accepted (a DNS name plus brackets and port, with room to spare). */
export const DESTINATION_MAX = 1024;

export function splitSites(list: string): string[] {
  return list.split(/[\s,]+/).filter((w) => w !== '');
}

/** Port for a service name or number, as smtp_parse_destination converts it. */
export function servicePort(service: string, destination: string): { ok: true; port: number } | { ok: false; error: string } {
  if (/^\d+$/.test(service)) {
    const port = Number(service);
    if (port === 0 || port >= 65536) return { ok: false, error: `bad network port: ${service} for destination: ${destination}` };
    return { ok: true, port };
  }
  const port = WELL_KNOWN_PORTS[service.toLowerCase()];
  if (port === undefined) return { ok: false, error: `unknown service: ${service}/tcp` };
  return { ok: true, port };
}

/**
 * One destination. defService is smtp_tcp_port / lmtp_tcp_port; lmtp
 * allows the unix:/inet: prefixes; queueDir anchors relative socket paths.
 */
export function parseDestination(text: string, defService: string, opts: { lmtp: boolean; queueDir: string }): ParseResult {
  if (text.length === 0 || text.length > DESTINATION_MAX) return { ok: false, error: `bad destination length: ${text.length}` };
  let rest = text;
  if (opts.lmtp) {
    if (rest.startsWith('unix:')) {
      const path = rest.slice(5);
      if (path === '') return { ok: false, error: `missing socket path in server description: ${text}` };
      return { ok: true, dest: { kind: 'unix', dest: text, path: isAbsolute(path) ? path : join(opts.queueDir, path) } };
    }
    if (rest.startsWith('inet:')) rest = rest.slice(5);
  }
  let host: string;
  let service = defService;
  let literal = false;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return { ok: false, error: `missing "]" in server description: ${text}` };
    host = rest.slice(1, close);
    literal = true;
    const after = rest.slice(close + 1);
    if (after.startsWith(':') && after.length > 1) service = after.slice(1);
    else if (after !== '' && after !== ':') return { ok: false, error: `garbage after "]" in server description: ${text}` };
    if (/^ipv6:/i.test(host)) host = host.slice(5);
  } else {
    const colon = rest.lastIndexOf(':');
    // A bare IPv6 address has several colons and no port.
    if (colon >= 0 && rest.indexOf(':') === colon) {
      host = rest.slice(0, colon);
      if (colon + 1 < rest.length) service = rest.slice(colon + 1);
    } else {
      host = rest;
    }
  }
  if (host === '') return { ok: false, error: `missing host name in server description: ${text}` };
  const port = servicePort(service, text);
  if (!port.ok) return port;
  return { ok: true, dest: { kind: 'inet', dest: text, host, port: port.port, literal } };
}
