/*
 * cleanup_message - the message content segment (Postfix cleanup_message.c)
 *
 * What it does: CleanupMessage writes the 'M' record, then feeds every
 * content record (N/L, after message_reject/strip_characters) through
 * MimeState (I's mime_state.ts) and handles its callbacks as Postfix:
 *   - each logical header: Received: counts toward hopcount_limit
 *     ("message rejected: hopcount exceeded", CLEANUP_STAT.HOPS);
 *     header_checks / mime_header_checks / nested_header_checks through
 *     cleanup_checks.ts (IGNORE, REPLACE, PREPEND, ...); unknown headers
 *     and non-primary headers go out as they are; a primary header is
 *     remembered in the headers-seen set, Message-Id and
 *     Resent-Message-Id are logged ("QUEUEID: message-id=<...>"),
 *     Resent- headers switch the added headers to their Resent- form,
 *     sender/recipient headers are rewritten in the header rewrite
 *     context (cleanup_rewrite.ts), and message_drop_headers (Bcc,
 *     Resent-Bcc, Return-Path, Content-Length by default) are left out;
 *     Content-Transfer-Encoding: 8bit/binary records encoding=8bit.
 *   - at the end of the primary headers, when there is a header rewrite
 *     context or always_add_missing_headers is set: missing
 *     (Resent-)Message-Id, (Resent-)Date, (Resent-)From and, when no
 *     To/Cc/Resent-To/Resent-Cc was seen, undisclosed_recipients_header;
 *     "message-id=<>" is logged when there is no Message-Id at all.
 *   - body records: body_checks, then the record as it came (long lines
 *     stay split as L+N at line_length_limit).
 *   - 'X': end of content; MIME errors become a 5.6.0 reject; the content
 *     length is recorded and the extracted segment starts.
 *
 * What it does not do: the extracted segment (cleanup_extracted.ts), the
 * address logic of header rewriting (A's cleanup_rewrite.ts), the check
 * tables (I's cleanup_checks.ts).
 *
 * DIAGNOSTICS
 * Postfix's: "QUEUEID: message rejected: hopcount exceeded", "QUEUEID:
 * message rejected: no Received: header", "bad undisclosed_recipients_header
 * header text ...", "message rejected: unexpected record type N in
 * message content".
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { HDR, HDR_OPT, type HeaderOpts } from '../global/header_opts.js';
import { isHeader } from '../global/is_header.js';
import { mailDate } from '../global/mail_date.js';
import { type MimeHeaderKind, MimeState } from '../global/mime_state.js';
import { quote822Local } from '../global/quote_822_local.js';
import { REC_TYPE } from '../global/rec_type.js';
import { LEX_822_SPECIALS, TOK822, Tok822 } from '../global/tok822.js';
import { TOK822_STR, tokExternalize, tokScan } from '../global/tok822_parse.js';
import { clog } from './cleanup_log.js';
import type { CleanupAddrDeps } from './cleanup_addr.js';
import { cleanupAddrFailed } from './cleanup_out_recipient.js';
import type { CleanupChecks } from './cleanup_checks.js';
import { cleanupOut, cleanupOutHeader, cleanupOutText } from './cleanup_out.js';
import { cleanupRewriteHeader } from './cleanup_rewrite.js';
import type { CleanupState } from './cleanup_state.js';

const VISIBLE_RCPT = (1 << HDR.TO) | (1 << HDR.RESENT_TO) | (1 << HDR.CC) | (1 << HDR.RESENT_CC);
const ENC_8BIT = new Set(['8bit', 'binary']);
const ENC_KNOWN = new Set(['7bit', '8bit', 'binary', 'quoted-printable', 'base64']);

export interface CleanupContentDeps {
  addr: CleanupAddrDeps;
  checks: CleanupChecks | null;
}

function utc14(sec: number): string {
  const d = new Date(sec * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export class CleanupMessage {
  readonly #state: CleanupState;
  readonly #deps: CleanupContentDeps;
  readonly #mime: MimeState;

  constructor(state: CleanupState, deps: CleanupContentDeps) {
    this.#state = state;
    this.#deps = deps;
    cleanupOut(state, REC_TYPE.MESG, '');
    state.dataOffset = state.out.offset;
    const p = state.params;
    const opts = deps.checks
      ? deps.checks.mimeOptions(state.flags)
      : { disableMime: p.disableMime, headerSizeLimit: p.headerSizeLimit, nestingLimit: p.mimeNestingLimit, boundaryLengthLimit: p.mimeBoundaryLimit };
    this.#mime = new MimeState(opts, {
      header: (kind, text) => this.#header(kind, text),
      headerEnd: () => this.#headerEnd(),
      body: (type, text, offset) => this.#body(type, text, offset),
      bodyEnd: async () => undefined,
      error: (code, text) => deps.checks?.mimeError(state, code, text),
    });
  }

  /** One content record; 'extracted' after the 'X' record. */
  async record(type: number, data: Buffer): Promise<'message' | 'extracted'> {
    const state = this.#state;
    if (type === REC_TYPE.NORM || type === REC_TYPE.CONT) {
      let text = data.toString('latin1');
      // cleanup_replace_stray_cr_lf: a CR or LF inside a line becomes a space.
      if (state.params.replaceStrayCrLf && /[\r\n]/.test(text)) text = text.replace(/[\r\n]/g, ' ');
      if (this.#deps.checks) {
        const errs = state.errs;
        text = this.#deps.checks.chars(state, text);
        if (state.errs !== errs && (state.errs & (CLEANUP_STAT.CONT | CLEANUP_STAT.DEFER))) return 'message';
      }
      await this.#mime.update(type, text);
      return 'message';
    }
    if (type === REC_TYPE.XTRA) {
      await this.#mime.update(REC_TYPE.XTRA, '');
      this.#deps.checks?.mimeDone(state, this.#mime.errors);
      state.xtraOffset = state.out.offset;
      state.contLength = state.xtraOffset - state.dataOffset;
      return 'extracted';
    }
    clog.warn(`cleanup_message_headerbody: message rejected: unexpected record type ${type} in message content`);
    state.errs |= CLEANUP_STAT.BAD;
    return 'message';
  }

  async #header(kindIn: MimeHeaderKind, textIn: string): Promise<void> {
    const state = this.#state;
    const table = state.params.headerOpts;
    let text = textIn;
    let opts: HeaderOpts | null = table.find(text);
    let kind = kindIn;
    if (opts && opts.flags & HDR_OPT.MIME) kind = 'multipart';
    if (opts && opts.type === HDR.RECEIVED) state.hopCount += 1;

    if (this.#deps.checks) {
      const r = await this.#deps.checks.header(state, kind, text);
      if (r.prepend !== null) cleanupOutHeader(state, r.prepend);
      if (r.drop) return;
      if (r.text !== text) {
        text = r.text;
        opts = table.find(text);
      }
    }
    if (!opts) {
      cleanupOutHeader(state, text);
      return;
    }
    const value = text.slice(text.indexOf(':') + 1).replace(/^[ \t\r\n]+/, '');
    if (state.params.detect8bitHeader && opts.type === HDR.CONTENT_TRANSFER_ENCODING) {
      const v = value.toLowerCase();
      if (ENC_KNOWN.has(v) && ENC_8BIT.has(v)) state.attr.set('encoding', '8bit');
    }
    if (kind !== 'primary') {
      cleanupOutHeader(state, text);
      return;
    }
    state.headersSeen |= 1 << opts.type;
    if (opts.type === HDR.MESSAGE_ID) clog.info(`${state.queueId}: message-id=${value}`);
    if (opts.type === HDR.RESENT_MESSAGE_ID) clog.info(`${state.queueId}: resent-message-id=${value}`);
    if (opts.type === HDR.RECEIVED && state.hopCount >= state.params.hopcountLimit) {
      clog.warn(`${state.queueId}: message rejected: hopcount exceeded`);
      state.errs |= CLEANUP_STAT.HOPS;
    }
    if (!state.outOk()) return;
    if (opts.flags & HDR_OPT.RR) state.resent = 'Resent-';
    const ctx = state.hdrRewriteContext;
    if (ctx !== null && opts.flags & (HDR_OPT.SENDER | HDR_OPT.RECIP)) {
      let out = text;
      try {
        const r = await cleanupRewriteHeader(
          this.#deps.addr,
          { queueId: state.queueId, flags: state.flags, smtputf8: state.smtputf8, headerRewriteContext: ctx },
          text,
          opts,
        );
        out = r.text;
      } catch (err) {
        cleanupAddrFailed(state, err, 'header rewriting');
      }
      if ((opts.flags & HDR_OPT.DROP) === 0) cleanupOutHeader(state, out);
      return;
    }
    if ((opts.flags & HDR_OPT.DROP) === 0) cleanupOutHeader(state, text);
  }

  async #headerEnd(): Promise<void> {
    const state = this.#state;
    const p = state.params;
    if (!state.outOk()) return;
    if (state.hopCount < 1) {
      clog.warn(`${state.queueId}: message rejected: no Received: header`);
      state.errs |= CLEANUP_STAT.BAD;
      return;
    }
    const add = state.hdrRewriteContext !== null || p.alwaysAddHeaders;
    const resent = state.resent !== '';
    const seen = (t: number) => (state.headersSeen & (1 << t)) !== 0;
    if (add && !seen(resent ? HDR.RESENT_MESSAGE_ID : HDR.MESSAGE_ID)) {
      const id = p.longQueueIds ? `${state.queueId}@${p.myhostname}` : `${utc14(state.ctimeSec)}.${state.queueId}@${p.myhostname}`;
      cleanupOutText(state, REC_TYPE.NORM, `${state.resent}Message-Id: <${id}>`);
      clog.info(`${state.queueId}: ${resent ? 'resent-' : ''}message-id=<${id}>`);
      state.headersSeen |= 1 << (resent ? HDR.RESENT_MESSAGE_ID : HDR.MESSAGE_ID);
    }
    if (!seen(HDR.MESSAGE_ID)) clog.info(`${state.queueId}: message-id=<>`);
    if (add && !seen(resent ? HDR.RESENT_DATE : HDR.DATE)) {
      cleanupOutText(state, REC_TYPE.NORM, `${state.resent}Date: ${mailDate(state.arrivalSec)}`);
    }
    if (add && !seen(resent ? HDR.RESENT_FROM : HDR.FROM)) {
      cleanupOut(state, REC_TYPE.NORM, this.#fromHeader());
    }
    if (add && (state.headersSeen & VISIBLE_RCPT) === 0 && p.undisclosedHeader !== '') {
      if (!isHeader(p.undisclosedHeader)) {
        clog.warn(`bad undisclosed_recipients_header header text "${p.undisclosedHeader}" -- need "headername: headervalue"`);
      } else {
        cleanupOut(state, REC_TYPE.NORM, p.undisclosedHeader);
      }
    }
  }

  /** The added (Resent-)From: header, as Postfix builds it. */
  #fromHeader(): string {
    const state = this.#state;
    const sender = state.sender ?? '';
    const addr = quote822Local(sender !== '' ? sender : 'MAILER-DAEMON');
    const full = state.fullname?.replace(/[\r\n]/g, ' ') ?? '';
    if (sender === '' || full === '') return `${state.resent}From: ${addr}`;
    if (state.params.headerFromFormat === 'obsolete') {
      const comment = tokScan(`(${full})`);
      return `${state.resent}From: ${addr} ${tokExternalize(comment, TOK822_STR.NONE)}`;
    }
    let phrase = '';
    const special = [...full].some((c) => '%!'.includes(c) || LEX_822_SPECIALS.includes(c));
    const token = special ? new Tok822(TOK822.QSTRING, full) : tokScan(full);
    if (token) phrase = `${tokExternalize(token, TOK822_STR.NONE)} `;
    return `${state.resent}From: ${phrase}<${addr}>`;
  }

  async #body(type: number, textIn: string, offset: number): Promise<void> {
    const state = this.#state;
    if (!state.outOk()) return;
    let text = textIn;
    if (this.#deps.checks && state.flags & CLEANUP_FLAG.FILTER) {
      const r = await this.#deps.checks.body(state, text, offset);
      if (r.prepend !== null) cleanupOutText(state, REC_TYPE.NORM, r.prepend);
      if (r.drop) return;
      text = r.text;
    }
    cleanupOutText(state, type, text);
  }
}
