/*
 * smtpd_session - one SMTP session's working set, shared by the command modules
 *
 * What it does: SmtpdSession bundles the state (smtpd_state.ts), the
 * chat (replies and command input), the line reader, the per-process
 * server settings, and the session's own bookkeeping that Postfix keeps
 * in SMTPD_STATE too: the open cleanup stream and its error status, the
 * BDAT state, the improper-pipelining flag, the end reason, an early
 * access denial, and whether XCLIENT/XFORWARD are allowed. It provides
 * the resets Postfix's commands share (helo_reset, mail_reset,
 * rcpt_reset) and the "from=<> to=<> proto= helo=<>" summary
 * (smtpd_whatsup) for log lines.
 *
 * What it does not do: run the command loop (smtpd_proto.ts) or
 * implement commands (smtpd_helo/mail/data/bdat/cmds/xclient/xforward.ts).
 *
 * DIAGNOSTICS
 * None.
 */
import type { Duplex } from 'node:stream';
import type { CleanupSession } from '../global/cleanup_clnt.js';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import type { LineReader } from '../util/line_reader.js';
import type { SmtpdChat } from './smtpd_chat.js';
import type { SmtpdServer } from './smtpd_server.js';
import { emptyXforward, type SmtpdState } from './smtpd_state.js';

/** Why a session ended early (Postfix REASON_*). */
export const SMTPD_REASON = {
  TIMEOUT: 'timeout',
  LOST_CONNECTION: 'lost connection',
  ERROR_LIMIT: 'too many errors',
} as const;

/** state.where while message content is read (Postfix SMTPD_AFTER_DATA and its BDAT twin). */
export const WHERE_DATA_CONTENT = 'DATA content';
export const WHERE_BDAT_CONTENT = 'BDAT content';

export type BdatPhase = 'none' | 'ok' | 'error';

export class SmtpdSession {
  readonly server: SmtpdServer;
  readonly state: SmtpdState;
  readonly chat: SmtpdChat;
  readonly reader: LineReader;
  readonly stream: Duplex;
  /** The open cleanup stream (Postfix state->cleanup). */
  cleanup: CleanupSession | null = null;
  /** CLEANUP_STAT bits for the message being received (Postfix state->err). */
  err: number = CLEANUP_STAT.OK;
  bdat: BdatPhase = 'none';
  /** Bytes of BDAT content so far, and a line cut by a chunk boundary. */
  bdatTotal = 0;
  bdatCarry: Buffer | null = null;
  /** The client's EHLO keywords we withhold (lower case). */
  ehloDiscard = new Set<string>();
  illPipelining = false;
  reason: string | null = null;
  accessDenied: string | null = null;
  xclientAllowed = false;
  xforwardAllowed = false;
  /** Bare newline checks apply to this client (not excluded). */
  bareNewlineChecks = false;
  /** Arrival time of the current message (MAIL FROM). */
  arrival = { sec: 0, usec: 0 };

  constructor(server: SmtpdServer, state: SmtpdState, chat: SmtpdChat, reader: LineReader, stream: Duplex) {
    this.server = server;
    this.state = state;
    this.chat = chat;
    this.reader = reader;
    this.stream = stream;
  }

  reply(text: string): Promise<void> {
    return this.chat.reply(text);
  }

  /** Postfix helo_reset(). */
  heloReset(): void {
    this.state.heloName = null;
  }

  /** Postfix mail_reset(): forget the sender and drop the cleanup stream (cleanup removes its file). */
  mailReset(): void {
    if (this.cleanup) {
      this.cleanup.abort();
      this.cleanup = null;
    }
    this.err = CLEANUP_STAT.OK;
    this.bdat = 'none';
    this.bdatTotal = 0;
    this.bdatCarry = null;
    const st = this.state;
    const keepRcpt = { recipient: st.recipient, rcptCount: st.rcptCount, rcptOvershoot: st.rcptOvershoot };
    st.resetTransaction();
    st.recipient = keepRcpt.recipient;
    st.rcptCount = keepRcpt.rcptCount;
    st.rcptOvershoot = keepRcpt.rcptOvershoot;
    st.xforward = emptyXforward();
    st.xforwardUsed = false;
  }

  /** Postfix rcpt_reset(). */
  rcptReset(): void {
    this.state.recipient = null;
    this.state.rcptCount = 0;
    this.state.rcptOvershoot = 0;
  }

  /** Postfix smtpd_whatsup(): " from=<s> to=<r> proto=P helo=<h>" parts that are known. */
  whatsup(): string {
    const st = this.state;
    let out = '';
    if (st.sender !== null) out += ` from=<${st.sender}>`;
    if (st.recipient !== null) out += ` to=<${st.recipient}>`;
    if (st.protocol) out += ` proto=${st.protocol}`;
    if (st.heloName !== null) out += ` helo=<${st.heloName}>`;
    return out;
  }

  /** The queue id for log lines, or NOQUEUE. */
  get logId(): string {
    return this.state.queueId ?? 'NOQUEUE';
  }
}
