/*
 * smtp_mime - 8-bit to quoted-printable downgrade of message content (Postfix mime_state.c MIME_OPT_DOWNGRADE)
 *
 * What it does: MimeDowngrade takes the content records of a message
 * (normal lines and continued line pieces) and passes them on, converting
 * every MIME entity that claims 8-bit (or binary) content into
 * quoted-printable as Postfix's SMTP client does when the server does not
 * announce 8BITMIME: it follows Content-Type (multipart boundaries,
 * message/rfc822 nesting) and Content-Transfer-Encoding, holds back an
 * 8bit/binary Content-Transfer-Encoding header and emits
 * "Content-Transfer-Encoding: quoted-printable" (leaf entities) or "7bit"
 * (multipart and message entities) at the end of that header block, and
 * encodes body lines: bytes outside 32..126 (except TAB) and '=' as =XX,
 * a soft line break "=" once an output line passes 72 characters, and a
 * trailing space or TAB encoded. Header text is not changed otherwise
 * ("name : value" becomes "name: value", as Postfix normalises).
 *
 * Text convention: latin1 strings, one character per byte.
 *
 * What it does not do: base64, RFC 2047 header encoding, or any check
 * or report of MIME errors (cleanup did that when the mail came in).
 *
 * DIAGNOSTICS
 * None; malformed MIME is passed on as Postfix would.
 */

export const MIME_REC = { NORM: 'N', CONT: 'L' } as const;
export type MimeRec = (typeof MIME_REC)[keyof typeof MIME_REC];

/** Output line length after which a soft line break is inserted (Postfix: 72). */
export const QP_LINE_CRITICAL = 72;
/** mime_nesting_limit default; the caller passes the configured value. */
export const MIME_NESTING_DEFAULT = 100;
/** Longest header kept (header_size_limit default). */
export const MIME_HEADER_LIMIT_DEFAULT = 102400;

const CTYPE = { OTHER: 0, TEXT: 1, MESSAGE: 2, MULTIPART: 3 } as const;
const STYPE = { OTHER: 0, RFC822: 1 } as const;
const DOMAIN_7BIT = '7bit';

type State = 'primary' | 'multipart' | 'nested' | 'body';

interface Boundary {
  defCtype: number;
  defStype: number;
  boundary: string;
}

const HEADER_RE = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:/;
const HEX = '0123456789ABCDEF';

export type MimeEmit = (rec: MimeRec, text: string) => void;

export class MimeDowngrade {
  #state: State = 'primary';
  #ctype: number = CTYPE.TEXT;
  #stype: number = STYPE.OTHER;
  /** Encoding domain of the current entity: 7bit, 8bit or binary. */
  #domain = DOMAIN_7BIT;
  #header: string | null = null;
  #prev: MimeRec | null = null;
  #stack: Boundary[] = [];
  #qp = '';

  constructor(
    private readonly emit: MimeEmit,
    private readonly opts: { nestingLimit: number; headerLimit: number } = { nestingLimit: MIME_NESTING_DEFAULT, headerLimit: MIME_HEADER_LIMIT_DEFAULT },
  ) {}

  #set(state: State, ctype: number, stype: number): void {
    this.#state = state;
    this.#ctype = ctype;
    this.#stype = stype;
    this.#domain = DOMAIN_7BIT;
  }

  #contentType(value: string): void {
    const v = value.replace(/\([^()]*\)/g, ' ');
    const m = /^\s*([^\s/;]+)\s*\/\s*([^\s;]+)/.exec(v);
    const type = (m?.[1] ?? /^\s*([^\s/;]+)/.exec(v)?.[1] ?? '').toLowerCase();
    const sub = (m?.[2] ?? '').toLowerCase();
    if (type === 'message') {
      this.#ctype = CTYPE.MESSAGE;
      this.#stype = sub === 'rfc822' ? STYPE.RFC822 : STYPE.OTHER;
    } else if (type === 'multipart') {
      this.#ctype = CTYPE.MULTIPART;
      this.#stype = STYPE.OTHER;
      const b = /(?:^|;)\s*boundary\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))/i.exec(value);
      if (b && this.#stack.length < this.opts.nestingLimit) {
        const boundary = b[1] !== undefined ? b[1].replace(/\\(.)/g, '$1') : b[2]!;
        const digest = sub === 'digest';
        this.#stack.unshift({ defCtype: digest ? CTYPE.MESSAGE : CTYPE.TEXT, defStype: digest ? STYPE.RFC822 : STYPE.OTHER, boundary });
      }
    } else {
      this.#ctype = type === 'text' ? CTYPE.TEXT : CTYPE.OTHER;
      this.#stype = STYPE.OTHER;
    }
  }

  #encoding(value: string): void {
    const tok = /^\s*([^\s;(]+)/.exec(value)?.[1]?.toLowerCase() ?? '';
    if (tok === '8bit' || tok === 'binary') this.#domain = tok;
    else if (tok === '7bit' || tok === 'base64' || tok === 'quoted-printable') this.#domain = DOMAIN_7BIT;
  }

  #headerOut(text: string): void {
    for (const line of text.split('\n')) this.emit(MIME_REC.NORM, line);
  }

  /** Finishes the saved header: track Content-*, then emit it unless it is a CTE header being replaced. */
  #flushHeader(): void {
    const h = this.#header;
    if (h === null) return;
    this.#header = null;
    const m = HEADER_RE.exec(h);
    const name = m ? m[1]!.toLowerCase() : '';
    const value = m ? h.slice(m[0].length) : '';
    if (name === 'content-type') this.#contentType(value);
    let isCte = false;
    if (name === 'content-transfer-encoding') {
      this.#encoding(value);
      isCte = true;
    }
    if (!isCte || this.#domain === DOMAIN_7BIT) this.#headerOut(h);
  }

  /** One content record. */
  update(rec: MimeRec, text: string): void {
    if (this.#state !== 'body') {
      if (this.#header !== null) {
        if (this.#prev === MIME_REC.CONT) {
          if (this.#header.length < this.opts.headerLimit) this.#header += text;
          this.#prev = rec;
          return;
        }
        if (text.startsWith(' ') || text.startsWith('\t')) {
          if (this.#header.length < this.opts.headerLimit) this.#header += `\n${text}`;
          this.#prev = rec;
          return;
        }
        this.#flushHeader();
      }
      const m = HEADER_RE.exec(text);
      if (m) {
        this.#header = m[1]! + text.slice(m[0].length - 1);
        this.#prev = rec;
        return;
      }
      // The end of a header block.
      if (this.#domain !== DOMAIN_7BIT) {
        const enc = this.#ctype === CTYPE.MESSAGE || this.#ctype === CTYPE.MULTIPART ? '7bit' : 'quoted-printable';
        this.emit(MIME_REC.NORM, `Content-Transfer-Encoding: ${enc}`);
      }
      if (text.length === 0) {
        if (this.#ctype === CTYPE.MESSAGE && this.#stype === STYPE.RFC822) this.#set('nested', CTYPE.TEXT, STYPE.OTHER);
        else if (this.#ctype === CTYPE.MULTIPART) this.#set('body', CTYPE.OTHER, STYPE.OTHER);
        else this.#state = 'body';
        // A message/rfc822 part: the empty line is body output of the outer entity.
        this.emit(MIME_REC.NORM, '');
        this.#prev = rec;
        return;
      }
      if (this.#state === 'primary') this.emit(MIME_REC.NORM, '');
      this.#state = 'body';
    }
    this.#body(rec, text);
    this.#prev = rec;
  }

  #body(rec: MimeRec, text: string): void {
    if (this.#stack.length > 0 && this.#prev !== MIME_REC.CONT && text.length > 2 && text.startsWith('--')) {
      for (let i = 0; i < this.#stack.length; i++) {
        const sp = this.#stack[i]!;
        if (text.startsWith(sp.boundary, 2)) {
          this.#stack.splice(0, i);
          if (text.startsWith('--', 2 + sp.boundary.length)) {
            this.#stack.shift();
            this.#set('body', CTYPE.OTHER, STYPE.OTHER);
          } else {
            this.#set('multipart', sp.defCtype, sp.defStype);
          }
          this.emit(rec, text);
          return;
        }
      }
    }
    if (this.#domain !== DOMAIN_7BIT) this.#downgrade(rec, text);
    else this.emit(rec, text);
  }

  #downgrade(rec: MimeRec, text: string): void {
    for (let i = 0; i < text.length; i++) {
      if (this.#qp.length > QP_LINE_CRITICAL) {
        this.emit(MIME_REC.NORM, `${this.#qp}=`);
        this.#qp = '';
      }
      const ch = text.charCodeAt(i);
      if ((ch < 32 && ch !== 9) || ch === 0x3d || ch > 126) this.#qp += `=${HEX[(ch >> 4) & 0xf]}${HEX[ch & 0xf]}`;
      else this.#qp += text[i];
    }
    if (rec === MIME_REC.NORM) {
      const last = this.#qp.charCodeAt(this.#qp.length - 1);
      if (this.#qp.length > 0 && (last === 0x20 || last === 0x09)) {
        this.#qp = `${this.#qp.slice(0, -1)}=${HEX[last >> 4]}${HEX[last & 0xf]}`;
      }
      this.emit(MIME_REC.NORM, this.#qp);
      this.#qp = '';
    }
  }

  /** End of content: flush a pending header or a partial QP line. */
  end(): void {
    if (this.#prev === MIME_REC.CONT) this.update(MIME_REC.NORM, '');
    if (this.#state !== 'body' && this.#header !== null) this.#flushHeader();
  }
}
