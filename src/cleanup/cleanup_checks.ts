/*
 * cleanup_checks - cleanup(8)'s built-in content inspection (Postfix cleanup_message.c: cleanup_act and friends)
 *
 * What it does: CleanupChecks is built once per process from main.cf
 * (header_checks, mime_header_checks, nested_header_checks,
 * body_checks, body_checks_size_limit, the strict_* MIME options,
 * disable_mime_input_processing, message_reject_characters,
 * message_strip_characters, info_log_address_format). For each message
 * cleanup_message.ts asks it:
 *   - mimeOptions(flags): the MimeState options Postfix's
 *     cleanup_message() would use for a client with these flags;
 *   - header(state, kind, text): run header checks on one logical
 *     header (only while CLEANUP_FLAG_FILTER is set) and apply the
 *     action to the state; the result says whether to drop the header,
 *     the text to go on with (REPLACE), and a line to write before it
 *     (PREPEND);
 *   - body(state, text, offset): the same for one body record;
 *   - chars(state, text): message_reject_characters (REJECT) and
 *     message_strip_characters on one content record;
 *   - mimeError(state, code, text) / mimeDone(state, errors): the
 *     "reject: mime-error" log line and, at the end of content, the
 *     5.6.0 reject for MIME errors (header truncation excepted).
 * Applying an action means, as cleanup_act(): REJECT sets the reason
 * and CLEANUP_STAT_CONT (or _DEFER for a 4.x.x code) and turns off
 * further inspection; DISCARD and PASS turn it off too (DISCARD also
 * sets CLEANUP_FLAG_DISCARD); HOLD sets CLEANUP_FLAG_HOLD once; FILTER
 * and REDIRECT replace state.filter / state.redirect; BCC appends to
 * state.hbcRcpt; WARN, INFO, STRIP and the rest log. Every logged
 * action uses Postfix's line (hbcLogText in header_body_checks.ts).
 *
 * What cleanup's state must offer (C's CleanupState satisfies
 * CleanupChecksState below): queueId, flags, errs, reason, sender,
 * recip, attr (named attributes: log_message_origin,
 * log_protocol_name, log_helo_name), filter, redirect, hbcRcpt.
 *
 * What it does not do: write records (the caller writes the header or
 * body line, and the PREPEND line before it), parse MIME
 * (mime_state.ts), or count Received: headers.
 *
 * DIAGNOSTICS
 * msgInfo for each action, as Postfix logs it; msgWarn for an unusable
 * action ("unknown command in header_checks map: ...") and for a table
 * that fails ("QUEUEID: header_checks map lookup problem -- message not
 * accepted, try again later", which also sets CLEANUP_STAT_WRITE).
 */
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { type HbcLogContext, type HbcMatch, type HbcMaps, type HbcWhere, HeaderBodyChecks, hbcLogText, hbcParseAction } from '../global/header_body_checks.js';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_ATTR } from '../global/mail_proto.js';
import { MIME_ERR, type MimeHeaderKind, type MimeStateOptions, mimeStateDetail, mimeStateError } from '../global/mime_state.js';
import { quote822Local } from '../global/quote_822_local.js';
import { clog } from './cleanup_log.js';
import { printableBytes } from '../util/printable.js';

/** The part of cleanup's per-message state that content inspection reads and writes. */
export interface CleanupChecksState {
  readonly queueId: string;
  /** CLEANUP_FLAG bits; FILTER, MILTER are cleared, HOLD and DISCARD set here. */
  flags: number;
  /** CLEANUP_STAT bits; CONT, DEFER, WRITE are set here. */
  errs: number;
  /** The reject reason ("5.7.1 text"), or null. */
  reason: string | null;
  /** Envelope sender, internal form ('' for <>); null before the sender record. */
  readonly sender: string | null;
  /** The recipient log lines name (Postfix state->recip: the LAST envelope recipient so far), or null. */
  readonly recip: string | null;
  /** Named attributes received from the client (log_message_origin, ...). */
  readonly attr: { get(name: string): string | undefined };
  /** FILTER action: transport:destination. */
  filter: string | null;
  /** REDIRECT action: the address. */
  redirect: string | null;
  /** BCC action: addresses to add (as NOTIFY=NONE recipients). */
  hbcRcpt: string[];
}

/** What header() and body() tell the caller to write. */
export interface CleanupCheckResult {
  /** IGNORE / STRIP: leave the line out. */
  drop: boolean;
  /** The line to go on with (the input, or REPLACE's text). */
  text: string;
  /** PREPEND: one line to write right before `text` (even when dropped: never both). */
  prepend: string | null;
}

/** Optional settings that main.cf does not give (tests). */
export interface CleanupChecksOptions {
  hbc?: HeaderBodyChecks;
  openMaps?: (param: string, value: string) => HbcMaps;
}

/** Expands C-style escapes of message_reject/strip_characters (Postfix unescape()). */
export function unescapeChars(text: string): string {
  const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v' };
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '\\' || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const n = text[++i]!;
    if (simple[n] !== undefined) out += simple[n];
    else if (n >= '0' && n <= '7') {
      let v = 0;
      let k = 0;
      i--;
      while (k < 3 && i + 1 < text.length && text[i + 1]! >= '0' && text[i + 1]! <= '7') {
        v = v * 8 + Number(text[++i]);
        k++;
      }
      out += String.fromCharCode(v & 0xff);
    } else out += n;
  }
  return out;
}

/**
 * A log line from byte-string text: bytes that are not printable ASCII
 * or valid UTF-8 become '?' (Postfix printable() with SMTPUTF8), valid
 * UTF-8 becomes the characters it encodes, so the log sinks write the
 * same bytes Postfix writes.
 */
export function logText(text: string): string {
  if (!/[^\x20-\x7e]/.test(text)) return text;
  return printableBytes(Buffer.from(text, 'latin1'), true).toString('utf8');
}

export class CleanupChecks {
  readonly hbc: HeaderBodyChecks;
  private readonly disableMime: boolean;
  private readonly strict8bitmime: boolean;
  private readonly strict7bitHeaders: boolean;
  private readonly strict8bitBody: boolean;
  private readonly strictEncoding: boolean;
  private readonly headerSizeLimit: number;
  private readonly nestingLimit: number;
  private readonly boundaryLengthLimit: number;
  private readonly rejectChars: string;
  private readonly stripChars: string;
  private readonly externalAddrForm: boolean;

  constructor(config: MailConfig, opts: CleanupChecksOptions = {}) {
    this.hbc = opts.hbc ?? HeaderBodyChecks.fromConfig(config, { openMaps: opts.openMaps });
    this.disableMime = config.getBool('disable_mime_input_processing');
    this.strict8bitmime = config.getBool('strict_8bitmime');
    this.strict7bitHeaders = config.getBool('strict_7bit_headers');
    this.strict8bitBody = config.getBool('strict_8bitmime_body');
    this.strictEncoding = config.getBool('strict_mime_encoding_domain');
    this.headerSizeLimit = config.getInt('header_size_limit');
    this.nestingLimit = config.getInt('mime_nesting_limit');
    this.boundaryLengthLimit = config.getInt('mime_boundary_length_limit');
    this.rejectChars = unescapeChars(config.get('message_reject_characters'));
    this.stripChars = unescapeChars(config.get('message_strip_characters'));
    this.externalAddrForm = config.get('info_log_address_format').trim() === 'external';
  }

  /** MimeState options for a message from a client with these CLEANUP_FLAG bits (Postfix cleanup_message()). */
  mimeOptions(flags: number): MimeStateOptions {
    const o: MimeStateOptions = {
      disableMime: this.disableMime,
      headerSizeLimit: this.headerSizeLimit,
      nestingLimit: this.nestingLimit,
      boundaryLengthLimit: this.boundaryLengthLimit,
    };
    if (this.disableMime || (flags & CLEANUP_FLAG.FILTER) === 0) return o;
    o.report8bitInHeader = this.strict8bitmime || this.strict7bitHeaders;
    o.report8bitIn7bitBody = this.strict8bitmime || this.strict8bitBody;
    o.reportEncodingDomain = this.strictEncoding;
    o.reportNesting =
      this.strict8bitmime || this.strict7bitHeaders || this.strict8bitBody || this.strictEncoding || this.hbc.hasHeaderChecks;
    return o;
  }

  private addr(a: string): string {
    return this.externalAddrForm && a !== '' ? quote822Local(a) : a;
  }

  /** The log context of a message (queue id, origin, sender, recipient, proto, helo). */
  logContext(state: CleanupChecksState): HbcLogContext {
    return {
      queueId: state.queueId,
      origin: state.attr.get(MAIL_ATTR.LOG_ORIGIN) ?? MAIL_ATTR.ORG_NONE,
      sender: state.sender === null ? null : this.addr(state.sender),
      recipient: state.recip === null ? null : this.addr(state.recip),
      proto: state.attr.get(MAIL_ATTR.LOG_PROTO_NAME) ?? null,
      helo: state.attr.get(MAIL_ATTR.LOG_HELO_NAME) ?? null,
    };
  }

  private log(state: CleanupChecksState, action: string, where: HbcWhere, line: string, text: string): void {
    clog.info(logText(hbcLogText(this.logContext(state), action, where, line, text)));
  }

  /**
   * Applies one match to the state (Postfix cleanup_act) and says what to
   * write. Exported for the character checks and for other callers.
   */
  act(state: CleanupChecksState, m: HbcMatch): CleanupCheckResult {
    const keep: CleanupCheckResult = { drop: false, text: m.line, prepend: null };
    const e = m.effect;
    switch (e.kind) {
      case 'lookup-error':
        clog.warn(`${state.queueId}: ${m.mapClass} map lookup problem -- message not accepted, try again later`);
        state.errs |= CLEANUP_STAT.WRITE;
        return keep;
      case 'invalid':
        clog.warn(logText(e.warning));
        return keep;
      case 'reject':
        if (e.warning) clog.warn(logText(e.warning));
        state.reason = e.reason;
        state.errs |= e.defer ? CLEANUP_STAT.DEFER : CLEANUP_STAT.CONT;
        state.flags &= ~CLEANUP_FLAG.FILTER_ALL;
        this.log(state, 'reject', m.where, m.line, e.reason);
        return keep;
      case 'warn':
        this.log(state, 'warning', m.where, m.line, e.text);
        return keep;
      case 'info':
        this.log(state, 'info', m.where, m.line, e.text);
        return keep;
      case 'filter':
        state.filter = e.nexthop;
        this.log(state, 'filter', m.where, m.line, e.nexthop);
        return keep;
      case 'pass':
        this.log(state, 'pass', m.where, m.line, e.text);
        state.flags &= ~CLEANUP_FLAG.FILTER_ALL;
        return keep;
      case 'discard':
        this.log(state, 'discard', m.where, m.line, e.text);
        state.flags |= CLEANUP_FLAG.DISCARD;
        state.flags &= ~CLEANUP_FLAG.FILTER_ALL;
        return keep;
      case 'hold':
        if ((state.flags & (CLEANUP_FLAG.HOLD | CLEANUP_FLAG.DISCARD)) === 0) {
          this.log(state, 'hold', m.where, m.line, e.text);
          state.flags |= CLEANUP_FLAG.HOLD;
        }
        return keep;
      case 'prepend':
        this.log(state, 'prepend', m.where, m.line, e.text);
        return { drop: false, text: m.line, prepend: e.text };
      case 'replace':
        this.log(state, 'replace', m.where, m.line, e.text);
        return { drop: false, text: e.text, prepend: null };
      case 'redirect':
        state.redirect = e.address;
        this.log(state, 'redirect', m.where, m.line, e.address);
        state.flags &= ~CLEANUP_FLAG.FILTER_ALL;
        return keep;
      case 'bcc':
        state.hbcRcpt.push(e.address);
        this.log(state, 'bcc', m.where, m.line, e.address);
        return keep;
      case 'strip':
        this.log(state, 'strip', m.where, m.line, e.text);
        return { drop: true, text: m.line, prepend: null };
      case 'ignore':
        return { drop: true, text: m.line, prepend: null };
      case 'dunno':
        return keep;
    }
  }

  /** Header checks for one logical header (folded lines joined by '\n'). */
  async header(state: CleanupChecksState, kind: MimeHeaderKind, text: string): Promise<CleanupCheckResult> {
    if ((state.flags & CLEANUP_FLAG.FILTER) === 0) return { drop: false, text, prepend: null };
    const m = await this.hbc.checkHeader(kind, text);
    return m === null ? { drop: false, text, prepend: null } : this.act(state, m);
  }

  /** Body checks for one body record starting `offset` bytes into its body segment. */
  async body(state: CleanupChecksState, text: string, offset: number): Promise<CleanupCheckResult> {
    if ((state.flags & CLEANUP_FLAG.FILTER) === 0) return { drop: false, text, prepend: null };
    const m = await this.hbc.checkBody(text, offset);
    return m === null ? { drop: false, text, prepend: null } : this.act(state, m);
  }

  /**
   * message_reject_characters / message_strip_characters on one content
   * record, before MIME processing: returns the record with the strip
   * characters removed (a reject is applied to the state).
   */
  chars(state: CleanupChecksState, text: string): string {
    if ((state.flags & CLEANUP_FLAG.FILTER) === 0) return text;
    if (this.rejectChars !== '') {
      for (const c of text) {
        if (this.rejectChars.includes(c)) {
          const value = 'REJECT disallowed character';
          this.act(state, { where: 'content', line: text, mapClass: 'character reject', value, effect: hbcParseAction(value, 'content', 'character reject') });
          return text;
        }
      }
    }
    if (this.stripChars !== '') {
      let out = '';
      for (const c of text) if (!this.stripChars.includes(c)) out += c;
      return out;
    }
    return text;
  }

  /** MimeState error callback: logs "reject: mime-error" for all but header truncation (Postfix cleanup_mime_error_callback). */
  mimeError(state: CleanupChecksState, code: number, text: string): void {
    if ((code & ~MIME_ERR.TRUNC_HEADER) === 0) return;
    const ctx = this.logContext(state);
    clog.info(logText(
      `${state.queueId}: reject: mime-error ${mimeStateError(code)}: ${text.slice(0, 100)} from ${ctx.origin}; ` +
        `from=<${ctx.sender ?? ''}> to=<${ctx.recipient ?? 'unknown'}>`,
    ));
  }

  /** At the end of content: MIME errors other than header truncation reject the message unless a reason is set. */
  mimeDone(state: CleanupChecksState, errors: number): void {
    const errs = errors & ~MIME_ERR.TRUNC_HEADER;
    if (errs === 0 || state.reason !== null) return;
    const d = mimeStateDetail(errs)!;
    state.errs |= CLEANUP_STAT.CONT;
    state.reason = `${d.dsn} ${d.text}`;
  }
}
