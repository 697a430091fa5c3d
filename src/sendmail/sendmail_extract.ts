/*
 * sendmail_extract - sendmail -t: recipients from the primary message headers
 *
 * What it does: HeaderExtractor sits between sendmail's line reader and
 * the record output, as Postfix's sendmail runs its content through
 * mime_state with MIME processing disabled: it gathers each primary
 * header (a "name:" line plus its continuation lines, CONT records
 * joined without a line break), and when a header is complete writes it
 * again as NORM records (CONT pieces of at most line_length_limit for
 * long lines), after taking the addresses out of To:, Cc:, Bcc: or, once
 * any Resent-To/-Cc/-Bcc: header was seen, only out of those. The first
 * line that is neither a header nor a continuation ends the headers;
 * it and every later line pass through unchanged. A header longer than
 * header_size_limit is an error, as mime_state's truncation report.
 *
 * What it does not do: MIME (multipart, nested headers), header
 * rewriting, or anything with addresses besides internalizing them
 * (cleanup rewrites them later).
 *
 * DIAGNOSTICS
 * update() returns false after the header limit was exceeded; the caller
 * reports "unable to extract recipients: message header length exceeds
 * safety limit" as Postfix does.
 */
import { TOK822 } from '../global/tok822.js';
import { tokGrep } from '../global/tok822.js';
import { tokInternalize, tokParse } from '../global/tok822_parse.js';
import { REC_TYPE } from '../global/rec_type.js';

/** The text Postfix's mime_state_error gives for a truncated header. */
export const MIME_ERR_TRUNC_HEADER_TEXT = 'message header length exceeds safety limit';

/** Headers whose addresses -t takes (Postfix header_opts HDR_OPT_XRECIP), and which are Resent- ones. */
const EXTRACT_HEADERS: ReadonlyMap<string, { resent: boolean }> = new Map([
  ['to', { resent: false }],
  ['cc', { resent: false }],
  ['bcc', { resent: false }],
  ['resent-to', { resent: true }],
  ['resent-cc', { resent: true }],
  ['resent-bcc', { resent: true }],
]);

/** Postfix is_header(): the length of the header name, 0 when the line is no header. */
export function headerNameLength(text: string): number {
  let state: 'init' | 'char' | 'space' = 'init';
  let len = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x3a) return state === 'init' ? 0 : len;
    if (c === 0x20 || c === 0x09) {
      if (state === 'char') state = 'space';
      if (state === 'space') continue;
      return 0;
    }
    if (c === 0 || c > 0x7e || c < 0x20) return 0;
    if (state === 'init') state = 'char';
    if (state === 'char') {
      len++;
      continue;
    }
    return 0;
  }
  return 0;
}

/** The addresses of one address-list header value, internalized (Postfix tok822_grep + tok822_internalize). */
export function extractAddresses(value: string): string[] {
  const tree = tokParse(value);
  if (!tree) return [];
  return tokGrep(tree, TOK822.ADDR).map((t) => tokInternalize(t.head));
}

export type RecordOut = (type: number, data: string) => void;

export class HeaderExtractor {
  readonly recipients: string[] = [];
  readonly resentRecipients: string[] = [];
  resent = false;
  truncated = false;
  #inHeaders = true;
  #buf: string | null = null;
  #prevType = 0;

  constructor(
    private readonly out: RecordOut,
    private readonly lineLimit: number,
    private readonly headerLimit: number,
  ) {}

  /** Chosen recipients: the Resent- ones when any was seen. */
  get extracted(): string[] {
    return this.resent ? this.resentRecipients : this.recipients;
  }

  /** One input record (text as latin1 string). False once the header limit was exceeded. */
  update(type: number, text: string): boolean {
    if (!this.#inHeaders) {
      this.out(type, text);
      return true;
    }
    const prev = this.#prevType;
    this.#prevType = type;
    if (this.#buf !== null && (prev === REC_TYPE.CONT || text.startsWith(' ') || text.startsWith('\t'))) {
      this.#append(prev === REC_TYPE.CONT ? text : `\n${text}`);
      return !this.truncated;
    }
    if (this.#buf !== null) this.#flush();
    if (prev !== REC_TYPE.CONT && headerNameLength(text) > 0) {
      this.#buf = '';
      this.#append(text);
      return !this.truncated;
    }
    this.#inHeaders = false;
    this.out(type, text);
    return true;
  }

  /** End of input: flush a header still buffered. */
  finish(): boolean {
    if (this.#buf !== null) this.#flush();
    this.#inHeaders = false;
    return !this.truncated;
  }

  #append(text: string): void {
    const buf = this.#buf ?? '';
    if (buf.length + text.length > this.headerLimit) {
      this.#buf = buf + text.slice(0, Math.max(0, this.headerLimit - buf.length));
      this.truncated = true;
    } else {
      this.#buf = buf + text;
    }
  }

  #flush(): void {
    const header = this.#buf ?? '';
    this.#buf = null;
    const nameLen = headerNameLength(header);
    const name = header.slice(0, nameLen).toLowerCase();
    const info = EXTRACT_HEADERS.get(name);
    if (info && (!this.resent || info.resent)) {
      const list = info.resent ? this.resentRecipients : this.recipients;
      if (info.resent) this.resent = true;
      list.push(...extractAddresses(header.slice(nameLen + 1)));
    }
    for (const line of header.split('\n')) {
      let rest = line;
      while (rest.length > this.lineLimit) {
        this.out(REC_TYPE.CONT, rest.slice(0, this.lineLimit));
        rest = rest.slice(this.lineLimit);
      }
      this.out(REC_TYPE.NORM, rest);
    }
  }
}
