/*
 * bounce_post_mail - submit a notification message to cleanup (Postfix post_mail.c, as bounce(8) uses it)
 *
 * What it does: postMailOpen() opens a cleanup session (public/cleanup,
 * or the context's endpoint) with Postfix's flags for internally
 * generated mail (CLEANUP_FLAG_MASK_INTERNAL, plus FILTER|MILTER when
 * internal_mail_filter_classes names "bounce", plus SMTPUTF8 when the
 * original message requested it), and writes the envelope as Postfix's
 * post_mail_init(): arrival time, log_message_origin=local,
 * trace_flags=0, sender, recipient, start of content, and the minimal
 * "Received: by $myhostname ($mail_name) id ID; date" header. The caller then
 * writes content lines (REC_TYPE.NORM, or raw NORM/CONT records copied
 * from the original) and close() ends the message (XTRA, END) and returns
 * cleanup's status.
 *
 * What it does not do: compose headers (cleanup adds Date:, Message-Id:,
 * Received: and qualifies addresses) or log.
 *
 * DIAGNOSTICS
 * postMailOpen() resolves null after a warning when cleanup cannot be
 * reached; close() returns 0 on success, else cleanup's non-zero status
 * (a lost connection is CLEANUP_STAT_WRITE).
 */
import { msgWarn } from '../util/msg.js';
import { CLEANUP_CLNT_BUFFER, type CleanupSession, cleanupOpen } from '../global/cleanup_clnt.js';
import { CLEANUP_FLAG } from '../global/cleanup_user.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { mailDate } from '../global/mail_date.js';
import { REC_TYPE } from '../global/rec_type.js';
import type { BounceContext } from './bounce_service.js';

/** Postfix SMTPUTF8_FLAG_REQUESTED: the original message asked for SMTPUTF8. */
export const SMTPUTF8_FLAG_REQUESTED = 1 << 0;

export class PostMail {
  readonly queueId: string;
  readonly #session: CleanupSession;

  constructor(session: CleanupSession) {
    this.#session = session;
    this.queueId = session.queueId;
  }

  /** One content line. */
  line(text: string | Buffer): void {
    this.#session.record(REC_TYPE.NORM, text);
  }

  /** One raw content record (NORM or CONT). */
  record(type: number, data: Buffer): void {
    this.#session.record(type, data);
  }

  /** Lets the socket take buffered records when enough piled up. */
  async flushSome(): Promise<void> {
    if (this.#session.buffered >= CLEANUP_CLNT_BUFFER) await this.#session.drain();
  }

  /** Ends the message; 0 when cleanup accepted it. */
  async close(): Promise<number> {
    this.#session.record(REC_TYPE.XTRA, '');
    const r = await this.#session.end();
    if (r.status !== 0 && r.reason) msgWarn(`${this.queueId}: cleanup: ${r.reason}`);
    return r.status;
  }

  /** Gives up on the message: cleanup removes its file. */
  abort(): void {
    this.#session.abort();
  }
}

/** Opens a notification message from sender to recipient; null when cleanup is not available. */
export async function postMailOpen(ctx: BounceContext, sender: string, recipient: string, smtputf8: number): Promise<PostMail | null> {
  let flags: number = CLEANUP_FLAG.MASK_INTERNAL;
  if (ctx.filterBounce) flags |= CLEANUP_FLAG.FILTER_ALL;
  if (smtputf8 & SMTPUTF8_FLAG_REQUESTED) flags |= CLEANUP_FLAG.SMTPUTF8;
  const opts: Parameters<typeof cleanupOpen>[0] = { queueDir: ctx.queueDir, flags, timeoutMs: ctx.ipcTimeoutMs, service: ctx.config.get('cleanup_service_name') || 'cleanup' };
  if (ctx.cleanupEndpoint) opts.endpoint = ctx.cleanupEndpoint;
  const r = await cleanupOpen(opts);
  if (!r.ok) {
    msgWarn(`connect to cleanup service: ${r.reason}`);
    return null;
  }
  const s = r.session;
  const nowMs = Date.now();
  s.record(REC_TYPE.TIME, `${Math.floor(nowMs / 1000)} ${(nowMs % 1000) * 1000}`);
  s.attr(MAIL_ATTR.LOG_ORIGIN, MAIL_ATTR.ORG_LOCAL);
  s.attr(MAIL_ATTR.TRACE_FLAGS, '0');
  s.record(REC_TYPE.FROM, sender);
  s.record(REC_TYPE.RCPT, recipient);
  s.record(REC_TYPE.MESG, '');
  const pm = new PostMail(s);
  pm.line(`Received: by ${ctx.myhostname} (${ctx.mailName})`);
  pm.line(`\tid ${s.queueId}; ${mailDate(Math.floor(nowMs / 1000))}`);
  return pm;
}
