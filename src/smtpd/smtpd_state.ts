/*
 * smtpd_state - the per-session state of one SMTP server session
 * (Postfix smtpd.h SMTPD_STATE and smtpd_state.c)
 *
 * What it does: SmtpdState holds everything one session knows: the client
 * identity (name, reverse name, address, port and their lookup status,
 * possibly replaced by XCLIENT), the HELO name and protocol, the current
 * transaction (sender, recipients, queue id, DSN parameters, SIZE),
 * the counters (errors, junk commands, per-command statistics for the
 * "disconnect from" line), XFORWARD attributes, and the fields the
 * restriction engine (smtpd_check*.ts) writes: access-action side effects
 * (HOLD/DISCARD/FILTER/REDIRECT/BCC/PREPEND) that the engine applies
 * when it talks to cleanup. resetTransaction() is Postfix's
 * mail_reset()/rcpt reset; the stats are kept for the whole session.
 *
 * What it does not do: I/O, logging, protocol decisions. The engine
 * (smtpd_proto.ts) owns the socket; earlyInput() asks it whether the
 * client already sent input that was not yet read (improper pipelining).
 *
 * DIAGNOSTICS
 * None: a plain data holder.
 */
import type { MailConfig } from '../global/mail_conf.js';

/** Lookup status of the client name (Postfix SMTPD_PEER_CODE_*). */
export const SMTPD_PEER_CODE = {
  OK: 2,
  TEMP: 4,
  PERM: 5,
  FORGED: 6,
} as const;
export type SmtpdPeerCode = (typeof SMTPD_PEER_CODE)[keyof typeof SMTPD_PEER_CODE];

/** Unknown client name/address placeholders (Postfix CLIENT_NAME_UNKNOWN etc.). */
export const CLIENT_UNKNOWN = {
  NAME: 'unknown',
  ADDR: 'unknown',
  PORT: 'unknown',
} as const;

/** state.where values that are not command names (Postfix SMTPD_AFTER_*). */
export const SMTPD_WHERE = {
  CONNECT: 'CONNECT',
  EOM: 'END-OF-MESSAGE',
  UNKNOWN: 'UNKNOWN',
} as const;

/** XFORWARD attributes as the client announced them (Postfix smtpd_xforward.c). */
export interface XforwardAttrs {
  name: string | null;
  addr: string | null;
  port: string | null;
  namaddr: string | null;
  rfcAddr: string | null;
  heloName: string | null;
  ident: string | null;
  protocol: string | null;
  domain: string | null;
}

export function emptyXforward(): XforwardAttrs {
  return { name: null, addr: null, port: null, namaddr: null, rfcAddr: null, heloName: null, ident: null, protocol: null, domain: null };
}

/** One command's counters for the "disconnect from" statistics. */
export interface CommandCount {
  total: number;
  ok: number;
}

export class SmtpdState {
  readonly config: MailConfig;

  /* Client identity (after XCLIENT, the effective one). */
  name = CLIENT_UNKNOWN.NAME as string;
  reverseName = CLIENT_UNKNOWN.NAME as string;
  addr = CLIENT_UNKNOWN.ADDR as string;
  port = CLIENT_UNKNOWN.PORT as string;
  /** "name[addr]", as in log lines. */
  namaddr = 'unknown[unknown]';
  /** Address as in a Received: header ("IPv6:..." for IPv6). */
  rfcAddr = CLIENT_UNKNOWN.ADDR as string;
  /** 4 or 6; 0 when not an IP client (stand-alone). */
  addrFamily = 0;
  nameStatus: SmtpdPeerCode = SMTPD_PEER_CODE.PERM;
  reverseNameStatus: SmtpdPeerCode = SMTPD_PEER_CODE.PERM;
  /** Forward-confirmed name lookup status when it differs (Postfix forward_name_status). */
  forwardNameStatus: SmtpdPeerCode = SMTPD_PEER_CODE.PERM;
  /** The server address/port the client connected to. */
  destAddr = '';
  destPort = '';
  /** master.cf service name (smtpd_service_name / policy). */
  serviceName = 'smtp';
  /** Stand-alone mode (`smtpd -S`, sendmail -bs): no network peer. */
  standAlone = false;

  /* Session. */
  heloName: string | null = null;
  protocol: 'SMTP' | 'ESMTP' | string = 'SMTP';
  /** The current command or SMTPD_WHERE value, for "lost connection after X". */
  where: string = SMTPD_WHERE.CONNECT;
  errorCount = 0;
  junkCommands = 0;
  /** Total SMTP commands seen (the statistics' commands=). */
  commandCount = 0;
  /** Per-command totals for the disconnect line, in first-seen order. */
  readonly commandStats = new Map<string, CommandCount>();
  /** EHLO keywords discarded (smtpd_discard_ehlo_keywords etc.), lower case. */
  ehloDiscard = new Set<string>();
  saslUsername: string | null = null;
  saslMethod: string | null = null;
  saslSender: string | null = null;
  /** TLS comes later (security issue). */
  tlsActive = false;
  /** Set when the session must end after the current reply (421 etc.). */
  disconnectPending = false;
  /** Session start time (ms). */
  readonly startTime = Date.now();

  /* Transaction. */
  sender: string | null = null;
  recipient: string | null = null;
  rcptCount = 0;
  /** Recipients over the limit (smtpd_recipient_overshoot_limit). */
  rcptOvershoot = 0;
  queueId: string | null = null;
  /** SIZE= from MAIL FROM, 0 when absent. */
  msgSize = 0;
  /** Bytes of content received so far. */
  actSize = 0;
  /** BODY= (7BIT, 8BITMIME, BINARYMIME) or null. */
  encoding: string | null = null;
  smtputf8 = false;
  dsnEnvid: string | null = null;
  /** RET=FULL / HDRS as Postfix's DSN_RET_* bits (1 full, 2 hdrs), 0 unset. */
  dsnRet = 0;
  /** VERP from XVERP (not offered), kept for checks. */
  verpDelims: string | null = null;
  /** Message-level time stamp of MAIL FROM (ms). */
  arrivalTime = 0;

  /* Restriction engine side effects (smtpd_check*.ts writes these). */
  /** CLEANUP_FLAG bits from HOLD/DISCARD/FILTER etc. */
  savedFlags = 0;
  savedFilter: string | null = null;
  savedRedirect: string | null = null;
  savedBcc: string[] = [];
  /** Headers from PREPEND actions, prepended in order. */
  prependHeaders: string[] = [];
  /** A DISCARD action was taken: accept, but tell cleanup to discard. */
  discard = false;
  /** What actions were logged (for tests and policy). */
  actionLog: string[] = [];
  /** Free-form per-session storage for the restriction engine (defer_if_permit etc.). */
  readonly checkData = new Map<string, unknown>();

  /* XCLIENT/XFORWARD. */
  xforward: XforwardAttrs = emptyXforward();
  /** The client sent XFORWARD for this transaction (Postfix xforward.flags != 0). */
  xforwardUsed = false;
  /** "local" or "remote" (local_header_rewrite_clients), sent to cleanup as rewrite_context. */
  rewriteContext = 'local';
  /** XCLIENT was used and changed the identity. */
  xclientUsed = false;
  /** The real peer before XCLIENT (for logging "xclient from"). */
  realName = CLIENT_UNKNOWN.NAME as string;
  realAddr = CLIENT_UNKNOWN.ADDR as string;
  realPort = CLIENT_UNKNOWN.PORT as string;
  /** XCLIENT LOGIN= (sasl username), DESTADDR/DESTPORT. */

  /** Asks the protocol engine whether unread client input is waiting. */
  #earlyInputProbe: () => boolean = () => false;

  constructor(config: MailConfig) {
    this.config = config;
  }

  /** Set by the protocol engine: the early-input probe for earlyInput(). */
  setEarlyInputProbe(probe: () => boolean): void {
    this.#earlyInputProbe = probe;
  }

  /** Did the client send input ahead of our reply (improper pipelining)? */
  earlyInput(): boolean {
    if (this.standAlone) return false;
    return this.#earlyInputProbe();
  }

  /** Sets the client identity and derived namaddr/rfcAddr. */
  setClient(name: string, addr: string, port: string): void {
    this.name = name;
    this.addr = addr;
    this.port = port;
    this.namaddr = `${name}[${addr}]`;
    this.addrFamily = addr.includes(':') ? 6 : /^\d+\.\d+\.\d+\.\d+$/.test(addr) ? 4 : 0;
    this.rfcAddr = this.addrFamily === 6 ? `IPv6:${addr}` : addr;
  }

  /** Counts one command for the disconnect statistics (before it runs). */
  countCommand(name: string, ok = false): void {
    this.commandCount++;
    let c = this.commandStats.get(name);
    if (!c) {
      c = { total: 0, ok: 0 };
      this.commandStats.set(name, c);
    }
    c.total++;
    if (ok) c.ok++;
  }

  /** Marks a counted command as successful. */
  commandOk(name: string): void {
    const c = this.commandStats.get(name);
    if (c) c.ok++;
  }

  /** Forget the current mail transaction (Postfix mail_reset + rcpt_reset). */
  resetTransaction(): void {
    this.sender = null;
    this.recipient = null;
    this.rcptCount = 0;
    this.rcptOvershoot = 0;
    this.queueId = null;
    this.msgSize = 0;
    this.actSize = 0;
    this.encoding = null;
    this.smtputf8 = false;
    this.dsnEnvid = null;
    this.dsnRet = 0;
    this.verpDelims = null;
    this.savedFlags = 0;
    this.savedFilter = null;
    this.savedRedirect = null;
    this.savedBcc = [];
    this.prependHeaders = [];
    this.discard = false;
    this.saslSender = null;
  }
}
