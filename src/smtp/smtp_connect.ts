/*
 * smtp_connect - find the servers of a destination and work through them (Postfix smtp_connect.c)
 *
 * What it does: smtpConnect() delivers one request. The next-hop (a list
 * is allowed, as Postfix's relayhost) is followed by smtp_fallback_relay;
 * each destination is parsed (smtp_nexthop.ts), resolved (MX and
 * addresses for SMTP domains, addresses only for [host], LMTP and
 * disable_dns_lookups) and its addresses tried in order: a failed
 * connect logs "connect to host[addr]:port: Connection refused" and
 * moves on; a session that fails temporarily keeps its recipients for
 * the next server; the last address of the last destination is the
 * "final server" whose failures bounce or defer (smtp_trouble.ts).
 * smtp_mx_address_limit and smtp_mx_session_limit bound the tries. LMTP
 * "unix:/path" destinations connect to a UNIX-domain socket, logged as
 * myhostname[/path]. Whatever is left at the end is deferred (or bounced
 * after a permanent lookup error) with the hop status set, and a
 * permanent error with a relayhost or fallback relay becomes 4.3.5
 * "configuration problem" as in Postfix.
 *
 * What it does not do: connection caching (scache), SRV lookups, TLS,
 * best_mx_transport, or the i-am-MX check.
 *
 * DIAGNOSTICS
 * Logs "connect to ...: reason" (info) for each failed connection,
 * "QUEUEID: reason" for skipped servers, and "relayhost configuration
 * problem" / "smtp_fallback_relay configuration problem" warnings.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { msgInfo, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { domainAddr, hostAddr, type SmtpAddr } from './smtp_addr.js';
import { SmtpChat } from './smtp_chat.js';
import type { ContentRecord } from './smtp_content.js';
import { parseDestination, splitSites } from './smtp_nexthop.js';
import { modeParam, SMTP_MODE } from './smtp_params.js';
import { smtpHelo, smtpQuit, smtpXfer } from './smtp_proto.js';
import { type SessionInfo, type SmtpState, rcptCleanup, sessionInfo, whySimple } from './smtp_state.js';
import { sessFail } from './smtp_trouble.js';

export interface ContentLimits {
  nestingLimit: number;
  headerLimit: number;
}

type ConnectResult = { ok: true; sock: Socket } | { ok: false; error: string };

/** One TCP or UNIX-domain connection attempt within smtp_connect_timeout (0: the system's). */
function openSocket(opts: { path: string } | { host: string; port: number; localAddress?: string }, timeoutMs: number): Promise<ConnectResult> {
  return new Promise((resolve) => {
    const sock = 'path' in opts ? netConnect({ path: opts.path }) : netConnect({ host: opts.host, port: opts.port, localAddress: opts.localAddress });
    let done = false;
    const timer = timeoutMs > 0 ? setTimeout(() => finish({ ok: false, error: 'Connection timed out' }), timeoutMs) : null;
    const finish = (r: ConnectResult): void => {
      if (done) return;
      done = true;
      if (timer) clearTimeout(timer);
      sock.off('error', onError);
      sock.off('connect', onConnect);
      if (!r.ok) sock.destroy();
      resolve(r);
    };
    const onError = (err: Error): void => finish({ ok: false, error: strerror(err) });
    const onConnect = (): void => finish({ ok: true, sock });
    sock.once('error', onError);
    sock.once('connect', onConnect);
  });
}

/** The bind address for an address family (smtp_bind_address / smtp_bind_address6). */
function bindFor(state: SmtpState, addr: string): string | undefined {
  const b = isIP(addr) === 6 ? state.params.bindAddress6 : state.params.bindAddress;
  return b === '' ? undefined : b;
}

/** A session on an open socket: handshake, transaction, QUIT, cleanup. */
async function runSession(state: SmtpState, sock: Socket, info: SessionInfo, content: ContentRecord[], limits: ContentLimits, finalIfDelivering: () => void): Promise<boolean> {
  const chat = new SmtpChat(sock, info.namaddrport);
  state.session = info;
  let handshake = false;
  try {
    const features = await smtpHelo(state, chat, info);
    if (features) {
      handshake = true;
      finalIfDelivering();
      if (state.req.msgStats.connSetupDone === 0) state.req.msgStats.connSetupDone = Date.now();
      await smtpXfer(state, { info, chat, features }, content, limits);
    }
    await smtpQuit(state, chat);
  } finally {
    chat.close();
    state.session = null;
    rcptCleanup(state);
    state.req.msgStats.connSetupDone = 0;
    state.req.msgStats.deliverDone = 0;
  }
  return handshake;
}

async function connectLocal(state: SmtpState, path: string, content: ContentRecord[], limits: ContentLimits): Promise<void> {
  if (state.params.fallbackRelay.length > 0) msgWarn(`ignoring "${modeParam(state.params.mode, 'smtp_fallback_relay')} = ${state.params.fallbackRelay.join(' ')}" setting for non-TCP connections`);
  const info = sessionInfo(state.params.myhostname, path, 0);
  const r = await openSocket({ path }, state.params.connectTimeoutMs);
  if (!r.ok) {
    state.why = whySimple('4.4.1', `connect to ${info.namaddr}: ${r.error}`);
    return;
  }
  state.finalServer = true;
  await runSession(state, r.sock, info, content, limits, () => undefined);
}

export async function smtpConnect(state: SmtpState, queueDir: string, content: ContentRecord[], limits: ContentLimits): Promise<void> {
  const p = state.params;
  const lmtp = p.mode === SMTP_MODE.LMTP;
  let nexthop = state.req.nexthop;
  if (lmtp && nexthop.startsWith('unix:')) {
    const d = parseDestination(nexthop, p.tcpPort, { lmtp, queueDir });
    if (d.ok && d.dest.kind === 'unix') await connectLocal(state, d.dest.path, content, limits);
  } else {
    if (lmtp && nexthop.startsWith('inet:')) nexthop = nexthop.slice(5);
    const sites = splitSites(nexthop);
    const nonFallback = sites.length;
    sites.push(...p.fallbackRelay);
    let i = 0;
    for (; i < sites.length && state.left.length > 0; i++) {
      const finalNexthop = i === sites.length - 1;
      const d = parseDestination(sites[i]!, p.tcpPort, { lmtp: false, queueDir });
      if (!d.ok || d.dest.kind !== 'inet') {
        state.why = whySimple('4.3.5', d.ok ? `bad destination: ${sites[i]}` : d.error);
        msgWarn(state.why.reason);
        continue;
      }
      const dest = d.dest;
      const lookupMx = !lmtp && !dest.literal && !p.disableDns;
      const found = lookupMx ? await domainAddr(state.dns, dest.host, p) : await hostAddr(state.dns, dest.host, p);
      if (!found.ok) {
        state.why = whySimple(found.status, found.reason);
        if (finalNexthop) break;
        continue;
      }
      const addrs: SmtpAddr[] = p.mxAddressLimit > 0 ? found.addrs.slice(0, p.mxAddressLimit) : found.addrs;
      let sessions = 0;
      for (let j = 0; j < addrs.length && state.left.length > 0; j++) {
        const a = addrs[j]!;
        let last = j === addrs.length - 1;
        const info = sessionInfo(a.host, a.addr, dest.port);
        if (finalNexthop && last) state.finalServer = true;
        const r = await openSocket({ host: a.addr, port: dest.port, localAddress: bindFor(state, a.addr) }, p.connectTimeoutMs);
        if (!r.ok) {
          state.why = whySimple('4.4.1', `connect to ${info.namaddrport}: ${r.error}`);
          msgInfo(state.why.reason);
          continue;
        }
        const handshake = await runSession(state, r.sock, info, content, limits, () => {
          // A completed handshake counts towards smtp_mx_session_limit.
          if (p.mxSessionLimit > 0 && sessions + 1 >= p.mxSessionLimit) last = true;
          if (finalNexthop && last) state.finalServer = true;
        });
        if (handshake) sessions++;
        if (p.mxSessionLimit > 0 && sessions >= p.mxSessionLimit) break;
      }
      if (finalNexthop) break;
    }
    if (state.left.length > 0 && state.why && state.why.status[0] !== '4') {
      const failedAt = Math.min(i, sites.length - 1);
      if (failedAt >= nonFallback) {
        msgWarn(`${modeParam(p.mode, 'smtp_fallback_relay')} configuration problem`);
        state.why = { ...state.why, status: '4.3.5' };
      } else if (!lmtp && sites[0] === p.relayhost) {
        msgWarn('relayhost configuration problem');
        state.why = { ...state.why, status: '4.3.5' };
      }
    }
  }
  if (state.left.length > 0) {
    const why = state.why ?? whySimple('4.3.0', 'server unavailable or unable to receive mail');
    state.finalServer = true;
    await sessFail(state, why);
    rcptCleanup(state);
  }
}
