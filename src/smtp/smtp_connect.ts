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
 *
 * Connection caching (Postfix smtp_cache_policy, smtp_reuse_session,
 * smtp_cleanup_session): when smtp_connection_cache_destinations names
 * the next-hop, or qmgr asks for it (smtp_connection_cache_on_demand
 * with DEL_REQ_FLAG_CONN_LOAD/STORE), a request first delivers over an
 * idle session cached under the next-hop name, then over those of its
 * primary MX addresses, and only then connects; a reused session skips
 * the greeting and EHLO and is logged with conn_use=N. After a
 * transaction a session goes back to the cache instead of saying QUIT,
 * unless it failed, its server was throttled, or it has been in use
 * longer than smtp_connection_reuse_time_limit or for
 * smtp_connection_reuse_count_limit reuses; a transaction that did not
 * finish is ended with RSET first. The first good session of a request
 * is also cached under the next-hop name.
 *
 * What it does not do: SRV lookups, TLS, best_mx_transport, or the
 * i-am-MX check.
 *
 * DIAGNOSTICS
 * Logs "connect to ...: reason" (info) for each failed connection,
 * "QUEUEID: reason" for skipped servers, and "relayhost configuration
 * problem" / "smtp_fallback_relay configuration problem" warnings.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { DEL_REQ_FLAG } from '../global/deliver_request.js';
import { msgInfo, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { domainAddr, hostAddr, type SmtpAddr } from './smtp_addr.js';
import { SmtpChat } from './smtp_chat.js';
import type { ContentRecord } from './smtp_content.js';
import { parseDestination, splitSites } from './smtp_nexthop.js';
import { modeParam, SMTP_MODE } from './smtp_params.js';
import { smtpHelo, smtpQuit, smtpRset, smtpXfer, type SmtpSession } from './smtp_proto.js';
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

/** A new connection, not yet greeted. */
interface Fresh {
  fromCache: false;
  sock: Socket;
  info: SessionInfo;
  /** Connect time, ms (the reuse time limit counts from here). */
  start: number;
}

/** A session taken from the cache: no greeting, no EHLO. */
interface Reused {
  fromCache: true;
  session: SmtpSession;
}

/** Endpoint label of a server (Postfix's endpoint cache key): address and port, or the socket path. */
function endpLabel(addr: string, port: number): string {
  return port ? `${addr}:${port}` : addr;
}

/** Next-hop label (Postfix's destination cache key): how the servers were found, the name, the port. */
function destLabel(lookupMx: boolean, host: string, port: number): string {
  return `${lookupMx ? 'mx' : 'host'}:${host.toLowerCase()}:${port}`;
}

/** Postfix smtp_cache_policy: may this request take sessions from the cache, and leave them there? */
async function cachePolicy(state: SmtpState, dest: string): Promise<void> {
  const p = state.params;
  state.cacheLoad = state.cacheStore = false;
  // A session authenticated for one sender must not carry another sender's mail.
  if (p.senderDependentAuth) return;
  const listed = p.cacheDestinations.entries.length > 0 && (await p.cacheDestinations.match(dest).catch(() => false));
  if (listed) {
    state.cacheLoad = state.cacheStore = true;
  } else if (p.cacheOnDemand) {
    state.cacheLoad = (state.req.flags & DEL_REQ_FLAG.CONN_LOAD) !== 0;
    state.cacheStore = (state.req.flags & DEL_REQ_FLAG.CONN_STORE) !== 0;
  }
}

/** Takes a cached session for an endpoint and counts its reuse; null when none waits. */
function reuseEndp(state: SmtpState, endp: string): Reused | null {
  const session = state.cache.findEndp(endp);
  return session ? reused(state, endp, session) : null;
}

function reused(state: SmtpState, endp: string, session: SmtpSession): Reused {
  state.cacheUsed.add(endp);
  session.reuseCount++;
  return { fromCache: true, session };
}

/** May the session be cached again: it was meant to be, and is not used up (Postfix THIS_SESSION_IS_EXPIRED)? */
function reusable(state: SmtpState, session: SmtpSession): boolean {
  const limit = state.params.reuseCountLimit;
  return session.expireAt > 0 && Date.now() <= session.expireAt && !(limit > 0 && session.reuseCount >= limit);
}

/**
 * One session: the handshake (a new connection), the transaction, then
 * the session goes back to the cache or says QUIT (Postfix smtp_helo,
 * smtp_xfer, smtp_cleanup_session). Returns whether the handshake
 * succeeded (a cached session's did).
 */
async function runSession(state: SmtpState, conn: Fresh | Reused, endp: string, content: ContentRecord[], limits: ContentLimits, finalIfDelivering: () => void): Promise<boolean> {
  const info = conn.fromCache ? conn.session.info : conn.info;
  const chat = conn.fromCache ? conn.session.chat : new SmtpChat(conn.sock, info.namaddrport);
  const stats = state.req.msgStats;
  state.session = info;
  state.throttled = false;
  let session: SmtpSession | null = conn.fromCache ? conn.session : null;
  let keep = false;
  try {
    if (!conn.fromCache) {
      const features = await smtpHelo(state, chat, info);
      if (features) session = { info, chat, features, expireAt: state.cacheStore ? conn.start + state.params.reuseTimeLimitMs : 0, reuseCount: 0 };
    }
    if (session) {
      finalIfDelivering();
      if (stats.connSetupDone === 0) stats.connSetupDone = Date.now();
      stats.reuseCount = session.reuseCount;
      const end = await smtpXfer(state, session, content, limits);
      keep = end !== 'dead' && reusable(state, session);
      if (keep && end === 'open') keep = await smtpRset(state, chat);
      if (state.throttled) keep = false;
    }
    if (session && keep && state.cache.saveEndp(endp, session, state.params.cacheTimeLimitMs)) {
      if (state.nexthopLabel !== null) state.cache.saveDest(state.nexthopLabel, endp, state.params.cacheTimeLimitMs);
    } else {
      await smtpQuit(state, chat);
      chat.close();
    }
  } catch (err) {
    chat.close();
    throw err;
  } finally {
    // After a good session, alternate servers are not cached under the next-hop name.
    if (!state.throttled) state.nexthopLabel = null;
    state.session = null;
    rcptCleanup(state);
    stats.connSetupDone = 0;
    stats.deliverDone = 0;
    stats.reuseCount = 0;
  }
  return session !== null;
}

async function connectLocal(state: SmtpState, path: string, content: ContentRecord[], limits: ContentLimits): Promise<void> {
  if (state.params.fallbackRelay.length > 0) msgWarn(`ignoring "${modeParam(state.params.mode, 'smtp_fallback_relay')} = ${state.params.fallbackRelay.join(' ')}" setting for non-TCP connections`);
  await cachePolicy(state, path);
  const info = sessionInfo(state.params.myhostname, path, 0);
  let conn: Fresh | Reused | null = state.cacheLoad ? reuseEndp(state, path) : null;
  if (!conn) {
    const start = Date.now();
    const r = await openSocket({ path }, state.params.connectTimeoutMs);
    if (!r.ok) {
      state.why = whySimple('4.4.1', `connect to ${info.namaddr}: ${r.error}`);
      return;
    }
    conn = { fromCache: false, sock: r.sock, info, start };
  }
  state.finalServer = true;
  await runSession(state, conn, path, content, limits, () => undefined);
}

/**
 * Postfix smtp_reuse_session: before making new connections, deliver over
 * cached sessions: first the one cached under the next-hop name, then
 * those of the primary MX addresses. Returns the addresses still to try
 * (without those already used through the cache for this request, and
 * none once a limit is reached).
 */
async function reuseSessions(
  state: SmtpState,
  dest: { lookupMx: boolean; host: string; port: number; finalNexthop: boolean },
  addrList: SmtpAddr[],
  count: { sessions: number; addrs: number },
  limitReached: () => boolean,
  content: ContentRecord[],
  limits: ContentLimits,
): Promise<SmtpAddr[]> {
  let addrs = addrList.filter((a) => !state.cacheUsed.has(endpLabel(a.addr, dest.port)));
  const deliver = async (conn: Reused, endp: string): Promise<void> => {
    count.sessions++;
    count.addrs++;
    const at = addrs.findIndex((a) => endpLabel(a.addr, dest.port) === endp);
    const wasLast = at === addrs.length - 1;
    if (at >= 0) addrs.splice(at, 1);
    if (limitReached()) addrs = [];
    if (dest.finalNexthop && (wasLast || addrs.length === 0)) state.finalServer = true;
    await runSession(state, conn, endp, content, limits, () => undefined);
  };
  if (addrs.length > 0 && state.left.length > 0) {
    const hit = state.cache.findDest(destLabel(dest.lookupMx, dest.host, dest.port));
    if (hit) await deliver(reused(state, hit.endp, hit.session), hit.endp);
  }
  const bestPref = addrs[0]?.pref;
  for (const a of addrs.filter((x) => x.pref === bestPref)) {
    if (state.left.length === 0 || !addrs.includes(a)) break;
    const endp = endpLabel(a.addr, dest.port);
    const conn = reuseEndp(state, endp);
    if (conn) await deliver(conn, endp);
  }
  return addrs;
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
      let addrs: SmtpAddr[] = p.mxAddressLimit > 0 ? found.addrs.slice(0, p.mxAddressLimit) : found.addrs;
      const port = dest.port;
      if (i === 0) {
        // The first good session of this request is cached under the next-hop name too.
        await cachePolicy(state, dest.host);
        if (state.cacheStore) state.nexthopLabel = destLabel(lookupMx, dest.host, port);
      }
      // Sessions that completed a handshake (smtp_mx_session_limit) and addresses used (smtp_mx_address_limit).
      const count = { sessions: 0, addrs: 0 };
      const limitReached = (): boolean => (p.mxSessionLimit > 0 && count.sessions >= p.mxSessionLimit) || (p.mxAddressLimit > 0 && count.addrs >= p.mxAddressLimit);
      if (state.cacheLoad) addrs = await reuseSessions(state, { lookupMx, host: dest.host, port, finalNexthop }, addrs, count, limitReached, content, limits);
      const bestPref = found.addrs[0]?.pref;
      for (let j = 0; j < addrs.length && state.left.length > 0; j++) {
        const a = addrs[j]!;
        count.addrs++;
        let last = j === addrs.length - 1 || limitReached();
        if (finalNexthop && last) state.finalServer = true;
        const endp = endpLabel(a.addr, port);
        // Primary MX hosts were looked up in the cache above.
        let conn: Fresh | Reused | null = state.cacheLoad && a.pref !== bestPref ? reuseEndp(state, endp) : null;
        if (!conn) {
          const info = sessionInfo(a.host, a.addr, port);
          const start = Date.now();
          const r = await openSocket({ host: a.addr, port, localAddress: bindFor(state, a.addr) }, p.connectTimeoutMs);
          if (!r.ok) {
            state.why = whySimple('4.4.1', `connect to ${info.namaddrport}: ${r.error}`);
            msgInfo(state.why.reason);
            if (last) break;
            continue;
          }
          conn = { fromCache: false, sock: r.sock, info, start };
        }
        const handshake = await runSession(state, conn, endp, content, limits, () => {
          // A completed handshake counts towards smtp_mx_session_limit.
          if (p.mxSessionLimit > 0 && count.sessions + 1 >= p.mxSessionLimit) last = true;
          if (finalNexthop && last) state.finalServer = true;
        });
        if (handshake) count.sessions++;
        if (last || limitReached()) break;
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
