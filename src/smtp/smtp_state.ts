/*
 * smtp_state - the per-request and per-session state of smtp(8)/lmtp(8) (Postfix smtp.h SMTP_STATE, SMTP_SESSION)
 *
 * What it does: SmtpState holds one delivery request while the client
 * works through its servers: the recipients still to do, the recipients
 * marked during the current session (KEEP: try the next server; DROP:
 * reported), the aggregate status, the hop status for qmgr, the last
 * error (Postfix's DSN_BUF "why") and whether the current server is the
 * final one, and what the request may do with the session cache.
 * SessionInfo names the server the way Postfix's logs do:
 * namaddr "host[addr]" and namaddrport "host[addr]:port".
 *
 * What it does not do: any I/O.
 *
 * DIAGNOSTICS
 * None: types and small helpers.
 */
import type { DeliverRequest } from '../global/deliver_request.js';
import type { Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import type { DnsLookup } from '../global/dns_lookup.js';
import type { SmtpParams } from './smtp_params.js';
import type { SessionCache } from './smtp_session_cache.js';
import type { SmtpSession } from './smtp_proto.js';
import type { ReportTarget } from './smtp_status.js';

export interface SessionInfo {
  host: string;
  addr: string;
  /** 0 for a UNIX-domain socket. */
  port: number;
  namaddr: string;
  namaddrport: string;
}

export function sessionInfo(host: string, addr: string, port: number): SessionInfo {
  const namaddr = `${host}[${addr}]`;
  return { host, addr, port, namaddr, namaddrport: port ? `${namaddr}:${port}` : namaddr };
}

/** Postfix's DSN_BUF: the last problem seen. */
export interface Why {
  status: string;
  reason: string;
  mtype: string;
  mname: string;
  dtype: string;
  dtext: string;
}

export function whySimple(status: string, reason: string): Why {
  return { status, reason, mtype: '', mname: '', dtype: '', dtext: '' };
}

export function whyToDsn(why: Why, action = ''): Dsn {
  return { status: why.status, action, reason: why.reason, dtype: why.dtype, dtext: why.dtext, mtype: why.mtype, mname: why.mname };
}

export const RCPT_MARK = { KEEP: 'keep', DROP: 'drop' } as const;
export type RcptMark = (typeof RCPT_MARK)[keyof typeof RCPT_MARK];

export interface SmtpState {
  readonly req: DeliverRequest;
  readonly params: SmtpParams;
  readonly report: ReportTarget;
  readonly dns: DnsLookup;
  /** Recipients not yet reported, in request order. */
  left: Recipient[];
  /** Marks made during the current session. */
  marks: Map<Recipient, RcptMark>;
  /** Aggregate of per-recipient results: non-zero means the message stays queued. */
  status: number;
  /** Hop status for qmgr (destination throttling). */
  hop: Dsn | null;
  why: Why | null;
  /** Failures now bounce or defer instead of moving on to the next server. */
  finalServer: boolean;
  session: SessionInfo | null;
  /** The process's idle connections. */
  readonly cache: SessionCache<SmtpSession>;
  /** This request may take sessions from the cache (Postfix SMTP_MISC_FLAG_CONN_LOAD). */
  cacheLoad: boolean;
  /** This request may leave sessions in the cache (SMTP_MISC_FLAG_CONN_STORE). */
  cacheStore: boolean;
  /** Until a good session is found: the next-hop label its endpoint is saved under (Postfix NEXTHOP_STATE). */
  nexthopLabel: string | null;
  /** Endpoints already reached through the cache for this request. */
  readonly cacheUsed: Set<string>;
  /** The current session failed as a whole: do not cache it (Postfix DONT_CACHE_THROTTLED_SESSION). */
  throttled: boolean;
}

export function newSmtpState(req: DeliverRequest, params: SmtpParams, report: ReportTarget, dns: DnsLookup, cache: SessionCache<SmtpSession>): SmtpState {
  return {
    req,
    params,
    report,
    dns,
    left: [...req.recipients],
    marks: new Map(),
    status: 0,
    hop: null,
    why: null,
    finalServer: false,
    session: null,
    cache,
    cacheLoad: false,
    cacheStore: false,
    nexthopLabel: null,
    cacheUsed: new Set(),
    throttled: false,
  };
}

/** Recipients not marked in this session. */
export function unmarked(state: SmtpState): Recipient[] {
  return state.left.filter((r) => !state.marks.has(r));
}

/** End of a session: dropped recipients leave the list, kept ones are unmarked (Postfix smtp_rcpt_cleanup). */
export function rcptCleanup(state: SmtpState): void {
  state.left = state.left.filter((r) => state.marks.get(r) !== RCPT_MARK.DROP);
  state.marks.clear();
}
