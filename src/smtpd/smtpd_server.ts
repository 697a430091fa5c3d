/*
 * smtpd_server - what every smtpd session of one process shares
 *
 * What it does: SmtpdServer reads the smtpd parameters once per process
 * (limits, timeouts, the bare-newline and pipelining policies, EHLO
 * keyword discards, XCLIENT/XFORWARD authorization lists, ...), checks
 * them as Postfix does at start-up (line_length_limit >= 512), and holds
 * the process-wide helpers the sessions use: the restriction engine
 * (SmtpdChecks), the resolver for address sanity checks, the DNS client
 * for the client name, the fast flush client for ETRN, and where the
 * cleanup service is. Tests pass fakes for any of these.
 *
 * What it does not do: talk to clients (smtpd_proto.ts does).
 *
 * DIAGNOSTICS
 * msgFatal() for a parameter value Postfix refuses at start-up.
 */
import { msgFatal } from '../util/msg.js';
import type { NamadrList } from '../global/namadr_list.js';
import { namadrListFromConfig, namadrListInit, matchParentStyle, VAR_PAR_DOM_MATCH } from '../global/namadr_list.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { DnsLookup } from '../global/dns_lookup.js';
import type { ResolveClient } from '../global/resolve_clnt.js';
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import { inputTranspCleanup, inputTranspMask } from '../global/input_transp.js';
import { FlushClient } from '../global/flush_clnt.js';
import { Maps } from '../global/maps.js';
import type { SmtpdState } from './smtpd_state.js';

/** Postfix refuses a smaller line_length_limit. */
export const MIN_LINE_LENGTH_LIMIT = 512;

/** The restriction engine's interface (SmtpdChecks from smtpd_check.ts fits). */
export interface SmtpdCheckApi {
  checkClient(state: SmtpdState): Promise<string | null>;
  checkHelo(state: SmtpdState, helo: string): Promise<string | null>;
  checkMail(state: SmtpdState, sender: string): Promise<string | null>;
  checkRcpt(state: SmtpdState, recipient: string): Promise<string | null>;
  checkData(state: SmtpdState): Promise<string | null>;
  checkEod(state: SmtpdState): Promise<string | null>;
  checkEtrn(state: SmtpdState, domain: string): Promise<string | null>;
  checkSize(state: SmtpdState, size: number): string | null;
}

export type BareNewline = 'no' | 'normalize' | 'reject';

export interface SmtpdServerDeps {
  /** Restrictions; null/absent: none (stand-alone mode never restricts). */
  checks?: SmtpdCheckApi | null;
  /** Trivial-rewrite resolver for the address sanity check (Postfix smtpd_check_addr). */
  resolve?: ResolveClient | null;
  /** DNS for the client name when smtpd_peername_lookup = yes. */
  dns?: DnsLookup | null;
  /** The cleanup service (default queue_directory/public/cleanup). */
  cleanupEndpoint?: Endpoint;
  /** The flush service client (default public/flush). */
  flush?: FlushClient;
}

export class SmtpdServer {
  readonly config: MailConfig;
  readonly checks: SmtpdCheckApi | null;
  readonly resolve: ResolveClient | null;
  readonly dns: DnsLookup | null;
  readonly cleanupEndpoint: Endpoint | undefined;
  readonly flush: FlushClient;

  readonly myhostname: string;
  readonly mailName: string;
  readonly banner: string;
  readonly timeoutMs: number;
  readonly deadline: boolean;
  readonly lineLimit: number;
  readonly messageSizeLimit: number;
  readonly rcptLimit: number;
  readonly rcptOverLimit: number;
  readonly softErrorLimit: number;
  readonly hardErrorLimit: number;
  readonly errorSleepMs: number;
  readonly junkLimit: number;
  readonly bareNewline: BareNewline;
  readonly bareNewlineExclusions: NamadrList;
  readonly bareNewlineRejectCode: number;
  readonly forbidUnauthPipelining: boolean;
  readonly ehloDiscardWords: string;
  readonly ehloDiscardMaps: Maps | null;
  readonly disableVrfy: boolean;
  readonly heloRequired: boolean;
  readonly delayReject: boolean;
  readonly strictRfc821: boolean;
  readonly noopCommands: Set<string>;
  readonly xclientHosts: NamadrList;
  readonly xforwardHosts: NamadrList;
  readonly smtputf8Enable: boolean;
  readonly peernameLookup: boolean;
  readonly clientPortLogging: boolean;
  readonly rejectFooter: string;
  readonly softBounce: boolean;
  readonly contentFilter: string;
  readonly delayOpen: boolean;
  readonly queueDir: string;
  /** cleanup_service_name: the public service smtpd hands mail to. */
  readonly cleanupService: string;
  /** Flags sent to cleanup at open (before SMTPUTF8). */
  readonly cleanupFlags: number;
  readonly mynetworks: NamadrList;
  readonly localRewriteClients: string[];

  constructor(config: MailConfig, deps: SmtpdServerDeps = {}) {
    this.config = config;
    this.checks = deps.checks ?? null;
    this.resolve = deps.resolve ?? null;
    this.dns = deps.dns ?? null;
    this.cleanupEndpoint = deps.cleanupEndpoint;
    this.flush = deps.flush ?? new FlushClient(config);

    this.myhostname = config.get('myhostname');
    this.mailName = config.get('mail_name');
    this.banner = config.get('smtpd_banner');
    this.timeoutMs = config.getTime('smtpd_timeout') * 1000;
    this.deadline = config.getBool('smtpd_per_request_deadline');
    this.lineLimit = config.getInt('line_length_limit');
    if (this.lineLimit < MIN_LINE_LENGTH_LIMIT) msgFatal(`invalid line_length_limit parameter value ${this.lineLimit} < ${MIN_LINE_LENGTH_LIMIT}`);
    this.messageSizeLimit = config.getInt('message_size_limit');
    this.rcptLimit = config.getInt('smtpd_recipient_limit');
    this.rcptOverLimit = config.getInt('smtpd_recipient_overshoot_limit');
    this.softErrorLimit = config.getInt('smtpd_soft_error_limit');
    this.hardErrorLimit = config.getInt('smtpd_hard_error_limit');
    this.errorSleepMs = config.getTime('smtpd_error_sleep_time') * 1000;
    this.junkLimit = config.getInt('smtpd_junk_command_limit');
    this.bareNewline = parseBareNewline(config.get('smtpd_forbid_bare_newline'));
    this.bareNewlineExclusions = namadrListFromConfig(config, 'smtpd_forbid_bare_newline_exclusions');
    this.bareNewlineRejectCode = config.getInt('smtpd_forbid_bare_newline_reject_code');
    this.forbidUnauthPipelining = config.getBool('smtpd_forbid_unauth_pipelining');
    this.ehloDiscardWords = config.get('smtpd_discard_ehlo_keywords');
    const dmaps = config.get('smtpd_discard_ehlo_keyword_address_maps');
    this.ehloDiscardMaps = dmaps.trim() ? new Maps('smtpd_discard_ehlo_keyword_address_maps', dmaps, { config }) : null;
    this.disableVrfy = config.getBool('disable_vrfy_command');
    this.heloRequired = config.getBool('smtpd_helo_required');
    this.delayReject = config.getBool('smtpd_delay_reject');
    this.strictRfc821 = config.getBool('strict_rfc821_envelopes');
    this.noopCommands = new Set(config.getList('smtpd_noop_commands').map((w) => w.toLowerCase()));
    const listFlags = (p: string): number => matchParentStyle(p, config.get(VAR_PAR_DOM_MATCH));
    this.xclientHosts = namadrListInit('smtpd_authorized_xclient_hosts', listFlags('smtpd_authorized_xclient_hosts'), config.get('smtpd_authorized_xclient_hosts'));
    this.xforwardHosts = namadrListInit('smtpd_authorized_xforward_hosts', listFlags('smtpd_authorized_xforward_hosts'), config.get('smtpd_authorized_xforward_hosts'));
    this.smtputf8Enable = config.getBool('smtputf8_enable');
    this.peernameLookup = config.getBool('smtpd_peername_lookup');
    this.clientPortLogging = config.getBool('smtpd_client_port_logging');
    this.rejectFooter = config.get('smtpd_reject_footer');
    this.softBounce = config.getBool('soft_bounce');
    this.contentFilter = config.get('content_filter');
    this.delayOpen = config.getBool('smtpd_delay_open_until_valid_rcpt');
    this.queueDir = config.get('queue_directory');
    this.cleanupService = config.get('cleanup_service_name');
    const flags = inputTranspCleanup(CLEANUP_FLAG.MASK_EXTERNAL & ~CLEANUP_FLAG.MILTER, inputTranspMask(config));
    this.cleanupFlags = flags | CLEANUP_FLAG.SMTP_REPLY;
    this.mynetworks = namadrListFromConfig(config, 'mynetworks');
    this.localRewriteClients = config.getList('local_header_rewrite_clients');
  }

  /** Is the client excluded from smtpd_forbid_bare_newline? */
  bareNewlineExcluded(name: string, addr: string): boolean {
    return this.bareNewlineExclusions.match(name, addr);
  }
}

/** smtpd_forbid_bare_newline: no | normalize (yes) | reject. */
export function parseBareNewline(value: string): BareNewline {
  const v = value.trim().toLowerCase();
  if (v === 'no' || v === '') return 'no';
  if (v === 'yes' || v === 'normalize') return 'normalize';
  if (v === 'reject') return 'reject';
  return msgFatal(`invalid smtpd_forbid_bare_newline value: "${value}"`);
}
