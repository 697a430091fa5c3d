/*
 * flush_clnt - client of the fast flush service (Postfix flush_clnt.c)
 *
 * What it does: FLUSH_PROTOCOL declares the flush(8) request layouts
 * (add, send_site, send_file, refresh, purge; each answered with a
 * status). flushSendSite() is what smtpd's ETRN and "sendmail -qR" use:
 * it first applies Postfix's policy (the site must match
 * fast_flush_domains, else FLUSH_STAT.DENY without asking the server),
 * then asks the flush service over public/$flush_service_name to deliver
 * the site's deferred mail. flushAdd()/flushSendFile()/flushRefresh()/
 * flushPurge() speak the other requests the same way.
 *
 * What it does not do: keep per-site logs (the flush server does), log,
 * or retry: an unreachable service is FLUSH_STAT.FAIL with the reason.
 *
 * DIAGNOSTICS
 * Never throws; the result carries a FLUSH_STAT value and, for FAIL, why.
 */
import { attr } from '../util/attr0_scan.js';
import { MATCH_FLAG, matchListInit, type MatchList } from '../util/match_list.js';
import { matchHostname } from '../util/match_ops.js';
import { AttrClient, type Endpoint, labelledUnixEndpoint } from './ipc/attr_clnt.js';
import { callRequest, defineRequestProtocol } from './ipc/protocol_requests.js';
import type { MailConfig } from './mail_conf.js';
import { FLUSH_REQ, FLUSH_STAT, MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_CLASS, mailPathname } from './mail_proto.js';
import { matchParentStyle, VAR_PAR_DOM_MATCH } from './namadr_list.js';
import './match_table.js';  // tables (any type) in this program's pattern lists

/** Bound on one exchange with the flush service (Postfix uses ipc_timeout; ETRN must not hang that long). */
export const FLUSH_CLNT_TIMEOUT_MS = 60_000;

const STATUS = { [MAIL_ATTR.STATUS]: attr.int() };

/** The flush(8) protocol, as Postfix's flush server and postqueue speak it. */
export const FLUSH_PROTOCOL = defineRequestProtocol({
  name: MAIL_ATTR_PROTO.FLUSH,
  requests: {
    [FLUSH_REQ.ADD]: { request: { [MAIL_ATTR.SITE]: attr.str(), [MAIL_ATTR.QUEUEID]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.SEND_SITE]: { request: { [MAIL_ATTR.SITE]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.SEND_FILE]: { request: { [MAIL_ATTR.QUEUEID]: attr.str() }, reply: STATUS },
    [FLUSH_REQ.REFRESH]: { request: {}, reply: STATUS },
    [FLUSH_REQ.PURGE]: { request: {}, reply: STATUS },
  },
});

export type FlushStat = (typeof FLUSH_STAT)[keyof typeof FLUSH_STAT];

export interface FlushResult {
  status: number;
  /** Why the service could not be asked (status FLUSH_STAT.FAIL). */
  why?: string;
}

export interface FlushClientOptions {
  /** Overrides public/$flush_service_name (tests). */
  endpoint?: Endpoint;
  timeoutMs?: number;
}


/** fast_flush_domains as a match list (the flush server applies the same policy). */
export function flushDomainList(config: MailConfig): MatchList {
  const value = config.get('fast_flush_domains');
  const flags = matchParentStyle('fast_flush_domains', config.get(VAR_PAR_DOM_MATCH));
  return matchListInit('fast_flush_domains', flags, value, [matchHostname]);
}

/** Fast flush client for one configuration. */
export class FlushClient {
  readonly #config: MailConfig;
  readonly #client: AttrClient<typeof FLUSH_PROTOCOL>;
  #domains: MatchList | null = null;

  constructor(config: MailConfig, opts: FlushClientOptions = {}) {
    this.#config = config;
    const service = config.get('flush_service_name') || 'flush';
    const endpoint = opts.endpoint ?? labelledUnixEndpoint(mailPathname(config.get('queue_directory'), MAIL_CLASS.PUBLIC, service), `${MAIL_CLASS.PUBLIC}/${service}`, opts.timeoutMs ?? FLUSH_CLNT_TIMEOUT_MS);
    this.#client = new AttrClient(FLUSH_PROTOCOL, { endpoint, timeoutMs: opts.timeoutMs ?? FLUSH_CLNT_TIMEOUT_MS });
  }

  /** Postfix flush_policy_ok(): does the site match fast_flush_domains? */
  policyOk(site: string): boolean {
    this.#domains ??= flushDomainList(this.#config);
    return this.#domains.match(site.toLowerCase());
  }

  /** Deliver the deferred mail for a site (ETRN, sendmail -qR). */
  async sendSite(site: string): Promise<FlushResult> {
    if (!this.policyOk(site)) return { status: FLUSH_STAT.DENY };
    return this.#result(await callRequest(this.#client, FLUSH_REQ.SEND_SITE, { [MAIL_ATTR.SITE]: site }));
  }

  /** Remember that a queue file has mail for a site. */
  async add(site: string, queueId: string): Promise<FlushResult> {
    if (!this.policyOk(site)) return { status: FLUSH_STAT.DENY };
    return this.#result(await callRequest(this.#client, FLUSH_REQ.ADD, { [MAIL_ATTR.SITE]: site, [MAIL_ATTR.QUEUEID]: queueId }));
  }

  /** Deliver one queue file (sendmail -qI). */
  async sendFile(queueId: string): Promise<FlushResult> {
    return this.#result(await callRequest(this.#client, FLUSH_REQ.SEND_FILE, { [MAIL_ATTR.QUEUEID]: queueId }));
  }

  async refresh(): Promise<FlushResult> {
    return this.#result(await callRequest(this.#client, FLUSH_REQ.REFRESH, {}));
  }

  async purge(): Promise<FlushResult> {
    return this.#result(await callRequest(this.#client, FLUSH_REQ.PURGE, {}));
  }

  close(): void {
    this.#client.close();
  }

  #result(r: { ok: true; reply: { [MAIL_ATTR.STATUS]: number } } | { ok: false; message: string }): FlushResult {
    if (!r.ok) return { status: FLUSH_STAT.FAIL, why: r.message };
    return { status: r.reply[MAIL_ATTR.STATUS] };
  }
}
