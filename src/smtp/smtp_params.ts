/*
 * smtp_params - the main.cf parameters of smtp(8) and lmtp(8) (Postfix smtp.c, VAR_LMTP_SMTP)
 *
 * What it does: readSmtpParams() reads, once per configuration and mode,
 * every parameter the client uses, under its smtp_* name or, in LMTP mode, the
 * lmtp_* twin (Postfix's VAR_LMTP_SMTP naming: smtp_helo_name becomes
 * lmtp_lhlo_name, smtp_fallback_relay becomes lmtp_fallback_relay, ...).
 * Times come back in milliseconds.
 *
 * What it does not do: validate host names or bind addresses (the
 * connect code reports those), or read TLS/SASL settings (later issues).
 *
 * DIAGNOSTICS
 * A malformed number or time is fatal through MailConfig, naming the
 * parameter, as in Postfix.
 */
import { type DomainList, stringListFromConfig } from '../global/domain_list.js';
import type { MailConfig } from '../global/mail_conf.js';

/** The two protocols one client speaks. */
export const SMTP_MODE = { SMTP: 'smtp', LMTP: 'lmtp' } as const;
export type SmtpMode = (typeof SMTP_MODE)[keyof typeof SMTP_MODE];

/** Default TCP ports when smtp_tcp_port / lmtp_tcp_port name a service. */
export const WELL_KNOWN_PORTS: Readonly<Record<string, number>> = { smtp: 25, lmtp: 24, submission: 587, smtps: 465 };

export interface SmtpParams {
  mode: SmtpMode;
  heloName: string;
  tcpPort: string;
  connectTimeoutMs: number;
  heloTimeoutMs: number;
  mailTimeoutMs: number;
  rcptTimeoutMs: number;
  dataInitTimeoutMs: number;
  dataXferTimeoutMs: number;
  dataDoneTimeoutMs: number;
  rsetTimeoutMs: number;
  quitTimeoutMs: number;
  skip5xxGreeting: boolean;
  skipQuitResponse: boolean;
  neverSendEhlo: boolean;
  alwaysSendEhlo: boolean;
  bindAddress: string;
  bindAddress6: string;
  lineLengthLimit: number;
  /** smtp_host_lookup: "dns", "native" or both, in order. */
  hostLookup: string[];
  fallbackRelay: string[];
  mxAddressLimit: number;
  mxSessionLimit: number;
  randomizeAddresses: boolean;
  addressPreference: string;
  inetProtocols: string[];
  deferIfNoMxAddress: boolean;
  disableDns: boolean;
  disableMimeOutputConversion: boolean;
  smtputf8Enable: boolean;
  softBounce: boolean;
  relayhost: string;
  quoteRfc821Envelope: boolean;
  myhostname: string;
  /** smtp_connection_cache_on_demand: cache when qmgr asks (DEL_REQ_FLAG_CONN_LOAD/STORE). */
  cacheOnDemand: boolean;
  /** smtp_connection_cache_destinations: always cache for these next-hop domains. */
  cacheDestinations: DomainList;
  /** smtp_connection_cache_time_limit: how long an idle connection waits in the cache. */
  cacheTimeLimitMs: number;
  /** smtp_connection_reuse_time_limit: how long after connect a connection may still be reused. */
  reuseTimeLimitMs: number;
  /** smtp_connection_reuse_count_limit: most transactions per connection (0: no limit). */
  reuseCountLimit: number;
  /** smtp_sender_dependent_authentication: caching is off, as in Postfix. */
  senderDependentAuth: boolean;
}

/** The parameter name in the given mode (Postfix VAR_LMTP_SMTP). */
export function modeParam(mode: SmtpMode, smtpName: string): string {
  if (mode === SMTP_MODE.SMTP) return smtpName;
  if (smtpName === 'smtp_helo_name') return 'lmtp_lhlo_name';
  if (smtpName === 'smtp_helo_timeout') return 'lmtp_lhlo_timeout';
  return smtpName.replace(/^smtp_/, 'lmtp_');
}

const ms = (s: number): number => s * 1000;

/** Settings read once per configuration (a MailConfig never changes; a reload makes a new one). */
const paramsCache = new WeakMap<MailConfig, Map<SmtpMode, SmtpParams>>();

export function readSmtpParams(config: MailConfig, mode: SmtpMode): SmtpParams {
  let byMode = paramsCache.get(config);
  if (!byMode) paramsCache.set(config, (byMode = new Map()));
  let params = byMode.get(mode);
  if (!params) byMode.set(mode, (params = readParams(config, mode)));
  return params;
}

function readParams(config: MailConfig, mode: SmtpMode): SmtpParams {
  const p = (n: string): string => modeParam(mode, n);
  const hostLookup = config.getList(p('smtp_host_lookup')).map((w) => w.toLowerCase());
  return {
    mode,
    heloName: config.get(p('smtp_helo_name')),
    tcpPort: config.get(p('smtp_tcp_port')),
    connectTimeoutMs: ms(config.getTime(p('smtp_connect_timeout'))),
    heloTimeoutMs: ms(config.getTime(p('smtp_helo_timeout'))),
    mailTimeoutMs: ms(config.getTime(p('smtp_mail_timeout'))),
    rcptTimeoutMs: ms(config.getTime(p('smtp_rcpt_timeout'))),
    dataInitTimeoutMs: ms(config.getTime(p('smtp_data_init_timeout'))),
    dataXferTimeoutMs: ms(config.getTime(p('smtp_data_xfer_timeout'))),
    dataDoneTimeoutMs: ms(config.getTime(p('smtp_data_done_timeout'))),
    rsetTimeoutMs: ms(config.getTime(p('smtp_rset_timeout'))),
    quitTimeoutMs: ms(config.getTime(p('smtp_quit_timeout'))),
    skip5xxGreeting: config.getBool(p('smtp_skip_5xx_greeting')),
    skipQuitResponse: config.getBool(p('smtp_skip_quit_response')),
    // LMTP always says LHLO: these two exist for SMTP only.
    neverSendEhlo: mode === SMTP_MODE.SMTP && config.getBool('smtp_never_send_ehlo'),
    alwaysSendEhlo: mode === SMTP_MODE.LMTP || config.getBool('smtp_always_send_ehlo'),
    bindAddress: config.get(p('smtp_bind_address')).trim(),
    bindAddress6: config.get(p('smtp_bind_address6')).trim(),
    lineLengthLimit: config.getInt(p('smtp_line_length_limit')),
    hostLookup: hostLookup.length > 0 ? hostLookup : ['dns'],
    fallbackRelay: config.getList(p('smtp_fallback_relay')),
    mxAddressLimit: config.getInt(p('smtp_mx_address_limit')),
    mxSessionLimit: config.getInt(p('smtp_mx_session_limit')),
    randomizeAddresses: config.getBool(p('smtp_randomize_addresses')),
    addressPreference: config.get(p('smtp_address_preference')).trim().toLowerCase(),
    inetProtocols: config.getList('inet_protocols').map((w) => w.toLowerCase()),
    deferIfNoMxAddress: config.getBool(p('smtp_defer_if_no_mx_address_found')),
    disableDns: config.getBool('disable_dns_lookups') || config.get(p('smtp_dns_support_level')).trim() === 'disabled',
    disableMimeOutputConversion: config.getBool('disable_mime_output_conversion'),
    smtputf8Enable: config.getBool('smtputf8_enable'),
    softBounce: config.getBool('soft_bounce'),
    relayhost: config.get('relayhost').trim(),
    quoteRfc821Envelope: config.getBool(p('smtp_quote_rfc821_envelope')),
    myhostname: config.get('myhostname'),
    cacheOnDemand: config.getBool(p('smtp_connection_cache_on_demand')),
    cacheDestinations: stringListFromConfig(config, p('smtp_connection_cache_destinations')),
    cacheTimeLimitMs: ms(config.getTime(p('smtp_connection_cache_time_limit'))),
    reuseTimeLimitMs: ms(config.getTime(p('smtp_connection_reuse_time_limit'))),
    reuseCountLimit: config.getInt(p('smtp_connection_reuse_count_limit')),
    senderDependentAuth: config.getBool(p('smtp_sender_dependent_authentication')),
  };
}
