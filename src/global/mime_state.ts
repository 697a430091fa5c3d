/*
 * mime_state - one-pass MIME structure tracker for message content (Postfix mime_state)
 *
 * What it does: MimeState takes the content records of one message (N
 * lines and L line pieces, in order) and tells the caller, through async
 * callbacks, what each piece is: a logical message header (folded lines
 * joined by '\n', "name :" normalised to "name:") of the primary header
 * block, of a multipart body part, or of an attached message/rfc822;
 * the end of the primary headers; a body record (with its own record
 * type, so an L piece stays an L piece) and its byte offset in the
 * current body segment. It follows Content-Type (multipart boundaries,
 * message/rfc822, multipart/digest defaults) and
 * Content-Transfer-Encoding (encoding and domain), stores at most
 * mime_boundary_length_limit bytes of a boundary, stops pushing
 * boundaries beyond mime_nesting_limit levels (Postfix 3.7.11 lets one
 * more level open than the limit says; reproduced), and stops adding
 * lines to a header once it holds header_size_limit bytes (cleanup's
 * output cuts it to the limit; see cleanup_out_header). It
 * reports, once per kind and only when asked to, the MIME_ERR_* errors
 * Postfix reports: nesting too deep, header truncated, 8-bit data in a
 * header, 8-bit data in a 7-bit body, and a wrong encoding domain for
 * message/* or multipart/*. It also recognises garbage in a header
 * block (a line that is neither a header nor empty): in the primary
 * headers it emits one empty body line first, as Postfix does.
 *
 * Text convention: every string is a byte string, one character per
 * byte (decode records with Buffer#toString('latin1') and encode output
 * with Buffer.from(text, 'latin1')), so lengths, limits and the 8-bit
 * tests count bytes as Postfix does. A caller that passes decoded UTF-8
 * still gets the same structure; only the byte limits count characters.
 *
 * Header values are tokenised by header_token.ts, header names
 * recognised by is_header.ts.
 *
 * What it does not do: decide what to do with headers or body lines
 * (cleanup_message/cleanup_checks), 8-bit to quoted-printable
 * conversion (MIME_OPT_DOWNGRADE, for the smtp client, not done yet),
 * or decode anything (no base64, no RFC 2047).
 *
 * DIAGNOSTICS
 * None logged here: errors are bits in `errors` (MIME_ERR) and, once
 * per kind, a call of the optional error callback with the offending
 * text. mimeStateDetail() gives Postfix's DSN and text for error bits.
 */
import { HEADER_TOK, RFC822_SPECIALS, headerToken, type HeaderToken } from './header_token.js';
import { isHeader } from './is_header.js';
import { REC_TYPE } from './rec_type.js';

/** Error bits (Postfix mime_state.h). */
export const MIME_ERR = {
  NESTING: 1 << 0,
  TRUNC_HEADER: 1 << 1,
  '8BIT_IN_HEADER': 1 << 2,
  '8BIT_IN_7BIT_BODY': 1 << 3,
  ENCODING_DOMAIN: 1 << 4,
} as const;

/** Where a header is (Postfix MIME_HDR_PRIMARY/MULTIPART/NESTED). */
export type MimeHeaderKind = 'primary' | 'multipart' | 'nested';

/** Error code to (DSN, text); most serious first (Postfix mime_err_detail). */
const MIME_ERR_DETAIL: ReadonlyArray<{ code: number; dsn: string; text: string }> = [
  { code: MIME_ERR.NESTING, dsn: '5.6.0', text: 'MIME nesting exceeds safety limit' },
  { code: MIME_ERR.TRUNC_HEADER, dsn: '5.6.0', text: 'message header length exceeds safety limit' },
  { code: MIME_ERR['8BIT_IN_HEADER'], dsn: '5.6.0', text: 'improper use of 8-bit data in message header' },
  { code: MIME_ERR['8BIT_IN_7BIT_BODY'], dsn: '5.6.0', text: 'improper use of 8-bit data in message body' },
  { code: MIME_ERR.ENCODING_DOMAIN, dsn: '5.6.0', text: 'invalid message/* or multipart/* encoding domain' },
];

/** The most serious error among `code`'s bits (Postfix mime_state_detail); null for 0. */
export function mimeStateDetail(code: number): { code: number; dsn: string; text: string } | null {
  for (const d of MIME_ERR_DETAIL) if ((d.code & code) !== 0) return d;
  return null;
}

/** Text of the most serious error (Postfix mime_state_error). */
export function mimeStateError(code: number): string {
  return mimeStateDetail(code)?.text ?? 'unknown MIME error';
}

/** Header names Postfix flags HDR_OPT_MIME (header_opts.c), lower case. */
const MIME_HEADER_NAMES: ReadonlySet<string> = new Set([
  'content-description',
  'content-disposition',
  'content-id',
  'content-transfer-encoding',
  'content-type',
  'mime-version',
]);

/** The header name of a logical header ("Subject" of "Subject: x"), blanks before ':' trimmed; null if none. */
export function headerName(text: string): string | null {
  const colon = text.indexOf(':');
  if (colon <= 0) return null;
  return text.slice(0, colon).replace(/[ \t]+$/, '');
}

/** True for a header that Postfix treats as a MIME header (mime_header_checks applies). */
export function isMimeHeader(text: string): boolean {
  const name = headerName(text);
  return name !== null && MIME_HEADER_NAMES.has(name.toLowerCase());
}

/** Length of the header name when `text` starts with "name[blanks]:" (Postfix is_header), else 0. */
export function isHeaderText(text: string): number {
  return isHeader(text);
}

export interface MimeStateOptions {
  /** disable_mime_input_processing: no Content-* processing; body after the primary headers. */
  disableMime: boolean;
  /** header_size_limit. */
  headerSizeLimit: number;
  /** mime_nesting_limit. */
  nestingLimit: number;
  /** mime_boundary_length_limit. */
  boundaryLengthLimit: number;
  /** strict_8bitmime: report 8-bit in headers and in 7-bit bodies. */
  strict8bitmime?: boolean;
  /** strict_7bit_headers (MIME_OPT_REPORT_8BIT_IN_HEADER). */
  report8bitInHeader?: boolean;
  /** strict_8bitmime_body (MIME_OPT_REPORT_8BIT_IN_7BIT_BODY). */
  report8bitIn7bitBody?: boolean;
  /** strict_mime_encoding_domain (MIME_OPT_REPORT_ENCODING_DOMAIN). */
  reportEncodingDomain?: boolean;
  /** MIME_OPT_REPORT_NESTING. */
  reportNesting?: boolean;
  /** MIME_OPT_REPORT_TRUNC_HEADER. */
  reportTruncHeader?: boolean;
  /** MIME_OPT_RECURSE_ALL_MESSAGE: look at headers inside every message/* type. */
  recurseAllMessage?: boolean;
}

export interface MimeStateCallbacks {
  /** One logical header; `offset` counts bytes from the start of its header block. */
  header(kind: MimeHeaderKind, text: string, offset: number): Promise<void>;
  /** After the last primary header (before the first body record). */
  headerEnd(kind: MimeHeaderKind): Promise<void>;
  /** One body record: REC_TYPE.NORM (a line) or REC_TYPE.CONT (a piece); `offset` in the current body segment. */
  body(recType: number, text: string, offset: number): Promise<void>;
  /** After the last body record (a non-text record arrived). */
  bodyEnd(): Promise<void>;
  /** Optional: the first occurrence of each reported error, with the offending text. */
  error?(code: number, text: string): void;
}

/* Content types and subtypes that matter. */
const CTYPE = { OTHER: 0, TEXT: 1, MESSAGE: 2, MULTIPART: 3 } as const;
const STYPE = { OTHER: 0, PLAIN: 1, RFC822: 2, PARTIAL: 3, EXTERN_BODY: 4 } as const;
/* Encodings and domains share codes, so "encoding != domain" means a transformation. */
const ENC = { QP: 1, BASE64: 2, '7BIT': 7, '8BIT': 8, BINARY: 9 } as const;
const ENCODINGS: ReadonlyArray<{ name: string; encoding: number; domain: number }> = [
  { name: '7bit', encoding: ENC['7BIT'], domain: ENC['7BIT'] },
  { name: '8bit', encoding: ENC['8BIT'], domain: ENC['8BIT'] },
  { name: 'binary', encoding: ENC.BINARY, domain: ENC.BINARY },
  { name: 'base64', encoding: ENC.BASE64, domain: ENC['7BIT'] },
  { name: 'quoted-printable', encoding: ENC.QP, domain: ENC['7BIT'] },
];
const encName = (e: number): string => ENCODINGS.find((x) => x.encoding === e)?.name ?? 'unknown';

/* Parser states: the three header kinds plus the body. */
type State = MimeHeaderKind | 'body';

interface Boundary {
  defCtype: number;
  defStype: number;
  boundary: string;
}


const MIME_MAX_TOKEN = 3;
/** RFC 2045 tspecials: the Content-Type parameter syntax. */
const RFC2045_TSPECIALS = '()<>@,;:\\"/[]?=';
const tokenIs = (t: HeaderToken | undefined, word: string): boolean =>
  t !== undefined && t.type === HEADER_TOK.TOKEN && t.value.toLowerCase() === word;

export class MimeState {
  private state: State = 'primary';
  private ctype: number = CTYPE.TEXT;
  private stype: number = STYPE.PLAIN;
  private encoding: number = ENC['7BIT'];
  private domain: number = ENC['7BIT'];
  /** The header being collected; null when none. */
  private hbuf: string | null = null;
  private prevRecType = 0;
  private stack: Boundary[] = [];
  private errFlags = 0;
  private headOffset = 0;
  private bodyOffset = 0;
  private readonly opt: Required<Omit<MimeStateOptions, 'strict8bitmime'>>;

  constructor(
    opts: MimeStateOptions,
    private readonly cb: MimeStateCallbacks,
  ) {
    const strict = opts.strict8bitmime === true;
    this.opt = {
      disableMime: opts.disableMime,
      headerSizeLimit: opts.headerSizeLimit,
      nestingLimit: opts.nestingLimit,
      boundaryLengthLimit: opts.boundaryLengthLimit,
      report8bitInHeader: strict || opts.report8bitInHeader === true,
      report8bitIn7bitBody: strict || opts.report8bitIn7bitBody === true,
      reportEncodingDomain: opts.reportEncodingDomain === true,
      reportNesting: opts.reportNesting === true,
      reportTruncHeader: opts.reportTruncHeader === true,
      recurseAllMessage: opts.recurseAllMessage === true,
    };
  }

  /** MIME_ERR bits seen so far (only the kinds that were asked to be reported). */
  get errors(): number {
    return this.errFlags;
  }

  /** Multipart nesting depth right now. */
  get nestingLevel(): number {
    return this.stack.length;
  }

  private report(code: number, text: string): void {
    if ((this.errFlags & code) !== 0) return;
    this.errFlags |= code;
    this.cb.error?.(code, text);
  }

  private setState(state: State, ctype?: number, stype?: number): void {
    this.state = state;
    if (ctype !== undefined && stype !== undefined) {
      this.ctype = ctype;
      this.stype = stype;
      this.encoding = ENC['7BIT'];
      this.domain = ENC['7BIT'];
    }
    if (state === 'body') this.bodyOffset = 0;
    else this.headOffset = 0;
  }

  private async bodyOut(recType: number, text: string): Promise<void> {
    const offset = this.bodyOffset;
    this.bodyOffset += text.length + 1;
    await this.cb.body(recType, text, offset);
  }

  /** Signals the end of content (as a non-text record would); same as update(REC_TYPE.XTRA, ''). */
  async finish(): Promise<void> {
    await this.update(REC_TYPE.XTRA, '');
  }

  /** Feeds one record. Text records are NORM ('N') or CONT ('L'); any other type ends the content. */
  async update(recType: number, text: string): Promise<void> {
    const isText = recType === REC_TYPE.NORM || recType === REC_TYPE.CONT;
    if (!isText && this.prevRecType === REC_TYPE.CONT) await this.update(REC_TYPE.NORM, '');

    if (this.state !== 'body') {
      if (this.hbuf !== null) {
        if (isText) {
          const cont = this.prevRecType === REC_TYPE.CONT;
          if (cont || text[0] === ' ' || text[0] === '\t') {
            if (this.hbuf.length < this.opt.headerSizeLimit) this.hbuf += cont ? text : `\n${text}`;
            else if (this.opt.reportTruncHeader) this.report(MIME_ERR.TRUNC_HEADER, this.hbuf);
            this.prevRecType = recType;
            return;
          }
        }
        await this.flushHeader();
      }
      if (isText) {
        const nameLen = isHeaderText(text);
        if (nameLen > 0) {
          let rest = nameLen;
          while (rest < text.length && (text[rest] === ' ' || text[rest] === '\t')) rest++;
          this.hbuf = text.slice(0, nameLen) + text.slice(rest);
          this.prevRecType = recType;
          return;
        }
      }
      if (this.state === 'primary') await this.cb.headerEnd('primary');
      if (this.opt.reportEncodingDomain) {
        if (this.ctype === CTYPE.MESSAGE) {
          if (this.stype === STYPE.PARTIAL || this.stype === STYPE.EXTERN_BODY) {
            if (this.domain !== ENC['7BIT']) this.report(MIME_ERR.ENCODING_DOMAIN, encName(this.encoding));
          } else if (this.stype === STYPE.RFC822) {
            if (this.encoding !== this.domain) this.report(MIME_ERR.ENCODING_DOMAIN, encName(this.encoding));
          }
        } else if (this.ctype === CTYPE.MULTIPART) {
          if (this.encoding !== this.domain) this.report(MIME_ERR.ENCODING_DOMAIN, encName(this.encoding));
        }
      }
      if (isText) {
        if (text.length === 0) {
          this.bodyOffset = 0;
          if (this.ctype === CTYPE.MESSAGE) {
            if (this.stype === STYPE.RFC822 || this.opt.recurseAllMessage) this.setState('nested', CTYPE.TEXT, STYPE.PLAIN);
            else this.setState('body');
          } else if (this.ctype === CTYPE.MULTIPART) {
            this.setState('body', CTYPE.OTHER, STYPE.OTHER);
          } else {
            this.setState('body');
          }
        } else {
          /* Garbage in a header block: only the primary block gets a separator line. */
          if (this.state === 'primary') await this.bodyOut(REC_TYPE.NORM, '');
          this.setState('body');
        }
      } else {
        this.setState('body');
      }
    }

    /* Body state. */
    if (isText) {
      if (this.opt.report8bitIn7bitBody && this.encoding === ENC['7BIT'] && (this.errFlags & MIME_ERR['8BIT_IN_7BIT_BODY']) === 0) {
        if (/[\x80-\uffff]/.test(text)) this.report(MIME_ERR['8BIT_IN_7BIT_BODY'], text);
      }
      if (this.stack.length > 0 && this.prevRecType !== REC_TYPE.CONT && text.length > 2 && text.startsWith('--')) {
        for (let i = this.stack.length - 1; i >= 0; i--) {
          const sp = this.stack[i]!;
          if (text.length >= 2 + sp.boundary.length && text.startsWith(sp.boundary, 2)) {
            this.stack.length = i + 1;
            if (text.length >= 4 + sp.boundary.length && text.startsWith('--', 2 + sp.boundary.length)) {
              this.stack.pop();
              this.setState('body', CTYPE.OTHER, STYPE.OTHER);
            } else {
              this.setState('multipart', sp.defCtype, sp.defStype);
            }
            break;
          }
        }
      }
      await this.bodyOut(recType, text);
    } else {
      await this.cb.bodyEnd();
    }
    this.prevRecType = recType;
  }

  /** Processes and emits the collected header (Content-* handling, 8-bit check). */
  private async flushHeader(): Promise<void> {
    const hdr = this.hbuf!;
    this.hbuf = null;
    const name = (headerName(hdr) ?? '').toLowerCase();
    if (!this.opt.disableMime) {
      if (name === 'content-type') this.contentType(hdr);
      else if (name === 'content-transfer-encoding') this.contentEncoding(hdr);
    }
    if (this.opt.report8bitInHeader && (this.errFlags & MIME_ERR['8BIT_IN_HEADER']) === 0 && /[\x80-\uffff]/.test(hdr)) {
      this.report(MIME_ERR['8BIT_IN_HEADER'], hdr);
    }
    const kind = this.state as MimeHeaderKind;
    const offset = this.headOffset;
    this.headOffset += hdr.length + 1;
    this.prevRecType = 0;
    await this.cb.header(kind, hdr, offset);
  }

  private contentType(hdr: string): void {
    let pos = hdr.indexOf(':') + 1;
    const first = headerToken(hdr, pos, MIME_MAX_TOKEN, RFC2045_TSPECIALS, ';');
    if (first === null || first.tokens.length === 0) {
      this.ctype = CTYPE.OTHER;
      return;
    }
    const t = first.tokens;
    pos = first.pos;
    const sub = t.length >= 3 && t[1]!.type === '/'.charCodeAt(0) ? t[2] : undefined;
    if (tokenIs(t[0], 'text')) {
      this.ctype = CTYPE.TEXT;
      this.stype = tokenIs(sub, 'plain') ? STYPE.PLAIN : STYPE.OTHER;
      return;
    }
    if (tokenIs(t[0], 'message')) {
      this.ctype = CTYPE.MESSAGE;
      this.stype = STYPE.OTHER;
      if (tokenIs(sub, 'rfc822')) this.stype = STYPE.RFC822;
      else if (tokenIs(sub, 'partial')) this.stype = STYPE.PARTIAL;
      else if (tokenIs(sub, 'external-body')) this.stype = STYPE.EXTERN_BODY;
      return;
    }
    if (tokenIs(t[0], 'multipart')) {
      this.ctype = CTYPE.MULTIPART;
      const digest = tokenIs(sub, 'digest');
      const defCtype = digest ? CTYPE.MESSAGE : CTYPE.TEXT;
      const defStype = digest ? STYPE.RFC822 : STYPE.PLAIN;
      for (;;) {
        const r = headerToken(hdr, pos, MIME_MAX_TOKEN, RFC2045_TSPECIALS, ';');
        if (r === null) break;
        pos = r.pos;
        const p = r.tokens;
        if (p.length >= 3 && tokenIs(p[0], 'boundary') && p[1]!.type === '='.charCodeAt(0)) {
          /*
           * Postfix 3.7.11 reports nesting only once more boundaries are
           * open than mime_nesting_limit + 1 (checked against the real
           * cleanup with limits 1 and 3).
           */
          if (this.stack.length > this.opt.nestingLimit + 1) {
            if (this.opt.reportNesting) this.report(MIME_ERR.NESTING, hdr);
          } else {
            this.stack.push({ defCtype, defStype, boundary: p[2]!.value.slice(0, this.opt.boundaryLengthLimit) });
          }
        }
      }
      return;
    }
    this.ctype = CTYPE.OTHER;
  }

  private contentEncoding(hdr: string): void {
    const r = headerToken(hdr, hdr.indexOf(':') + 1, 1, RFC822_SPECIALS, '');
    if (r === null || r.tokens.length === 0 || r.tokens[0]!.type !== HEADER_TOK.TOKEN) return;
    const v = r.tokens[0]!.value.toLowerCase();
    const e = ENCODINGS.find((x) => x.name === v);
    if (e) {
      this.encoding = e.encoding;
      this.domain = e.domain;
    }
  }
}
