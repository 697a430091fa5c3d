/*
 * smtp_chat - the SMTP/LMTP client's side of one connection (Postfix smtp_chat.c, smtp_stream.c)
 *
 * What it does: SmtpChat wraps a connected socket. send() queues
 * command text (CRLF added) or raw content bytes; flush() writes them
 * out; reply() reads one (multi-line) server reply within a deadline and
 * returns it as Postfix's smtp_chat_resp() does: the code, the RFC 3463
 * detail taken from the text when its class matches the code (else
 * "X.0.0", and "5.5.0" for garbage), and the lines joined with newlines,
 * non-printable bytes shown as '?'. Every line is bounded (line_limit);
 * the stored multi-line text is bounded too. A timeout, a lost
 * connection or a write error raises SmtpStreamError, which
 * smtp_trouble.ts turns into "conversation with X timed out while ..." /
 * "lost connection with X while ...".
 *
 * What it does not do: decide what a reply means (smtp_proto.ts), open
 * connections (smtp_connect.ts) or TLS.
 *
 * DIAGNOSTICS
 * Warns "X: response longer than N: ..." for an over-long reply line, as
 * Postfix. Everything else is an exception for the caller.
 */
import type { Socket } from 'node:net';
import { msgWarn } from '../util/msg.js';

/** Postfix's line_limit: longest reply line kept, and most multi-line reply text stored. */
export const SMTP_REPLY_LINE_LIMIT = 2048;
/** Most lines read for one reply before the server counts as broken. */
export const SMTP_REPLY_MAX_LINES = 1000;
/** How long a closed connection may take to finish sending before it is cut. */
export const CLOSE_GRACE_MS = 1000;
/** Bytes buffered unread from the server before it counts as broken. */
const READ_BUFFER_LIMIT = 1 << 20;

export const SMTP_ERR = { EOF: 'eof', TIME: 'time', DATA: 'data' } as const;
export type SmtpErrKind = (typeof SMTP_ERR)[keyof typeof SMTP_ERR];

export class SmtpStreamError extends Error {
  constructor(
    readonly kind: SmtpErrKind,
    message: string,
  ) {
    super(message);
  }
}

export interface SmtpResp {
  /** Reply code, 0 for a reply without three digits. */
  code: number;
  /** RFC 3463 status. */
  dsn: string;
  /** Every line of the reply, joined with "\n". */
  str: string;
  /** The text lines without the code and separator (for EHLO keywords). */
  lines: string[];
}

/** Postfix dsn_valid(): the length of a "D.DDD.DDD" detail at the start of text, or 0. */
export function dsnValid(text: string): number {
  const m = /^([245])\.(\d{1,3})\.(\d{1,3})(?=$|[\s])/.exec(text);
  return m ? m[0].length : 0;
}

/** Parses collected reply lines (without line ends) as smtp_chat_resp(). */
export function parseReply(lines: string[]): SmtpResp {
  const last = lines[lines.length - 1] ?? '';
  const threeDigits = /^\d{3}(?=$|[ -])/.test(last);
  let str = '';
  for (const l of lines) {
    if (str.length >= SMTP_REPLY_LINE_LIMIT) break;
    str += (str.length > 0 ? '\n' : '') + l;
  }
  let code = 0;
  let dsn = '5.5.0';
  if (threeDigits) {
    code = Number(last.slice(0, 3));
    if ('245'.includes(last[0]!)) {
      const text = last.slice(4).replace(/^ +/, '');
      const len = dsnValid(text);
      dsn = len > 0 && text[0] === last[0] ? text.slice(0, len) : `${last[0]}.0.0`;
    }
  }
  return { code, dsn, str, lines: lines.map((l) => l.slice(4)) };
}

/** Non-printable bytes become '?', as Postfix's printable(). */
function printable(line: string): string {
  return line.replace(/[^\x20-\x7e\t]/g, '?');
}

export class SmtpChat {
  readonly #sock: Socket;
  readonly #label: string;
  #buf: Buffer = Buffer.alloc(0);
  #closed = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #idle: (() => void) | null = null;
  #out: Buffer[] = [];
  /** The conversation, for verbose logging and postmaster notices. */
  readonly history: string[] = [];

  /** label: "host[addr]:port" for warnings. */
  constructor(sock: Socket, label: string) {
    this.#sock = sock;
    this.#label = label;
    // Output is already gathered into one write per flush(); Nagle would hold the
    // small write after a bigger one (".", QUIT) until the peer's delayed ACK (~40 ms).
    if (typeof sock.setNoDelay === 'function') sock.setNoDelay(true);
    sock.on('data', (b: Buffer) => {
      this.#buf = this.#buf.length === 0 ? b : Buffer.concat([this.#buf, b]);
      if (this.#buf.length > READ_BUFFER_LIMIT) {
        this.#error = new Error('server sent too much unread data');
        sock.destroy();
      }
      this.#poke();
    });
    sock.on('end', () => {
      this.#closed = true;
      this.#poke();
    });
    sock.on('close', () => {
      this.#closed = true;
      this.#poke();
    });
    sock.on('error', (err) => {
      this.#error = err;
      this.#closed = true;
      this.#poke();
    });
  }

  get socket(): Socket {
    return this.#sock;
  }

  #poke(): void {
    this.#idle?.();
    const w = this.#wake;
    this.#wake = null;
    w?.();
  }

  /** Queues a command line (UTF-8, for SMTPUTF8 addresses); CRLF is appended. */
  command(text: string): void {
    this.history.push(`Out: ${text}`);
    this.#out.push(Buffer.from(`${text}\r\n`, 'utf8'));
  }

  /** Queues raw bytes (message content). */
  raw(data: Buffer): void {
    this.#out.push(data);
  }

  /** Writes what is queued; waits for the kernel to take it when the socket buffer is full. */
  async flush(timeoutMs: number, while_: string): Promise<void> {
    if (this.#out.length === 0) return;
    const data = this.#out.length === 1 ? this.#out[0]! : Buffer.concat(this.#out);
    this.#out = [];
    if (this.#closed || this.#sock.destroyed) throw new SmtpStreamError(SMTP_ERR.EOF, while_);
    const ok = this.#sock.write(data);
    if (ok) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new SmtpStreamError(SMTP_ERR.TIME, while_));
      }, timeoutMs);
      const onDrain = (): void => {
        cleanup();
        resolve();
      };
      const onClose = (): void => {
        cleanup();
        reject(new SmtpStreamError(SMTP_ERR.EOF, while_));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#sock.off('drain', onDrain);
        this.#sock.off('close', onClose);
      };
      this.#sock.on('drain', onDrain);
      this.#sock.on('close', onClose);
    });
  }

  /** One line (without CR LF), at most the line limit kept; null at EOF. */
  async #line(deadline: number, while_: string): Promise<string> {
    for (;;) {
      const nl = this.#buf.indexOf(0x0a);
      if (nl >= 0 || this.#buf.length > SMTP_REPLY_LINE_LIMIT) {
        const end = nl >= 0 ? nl : SMTP_REPLY_LINE_LIMIT;
        let line = this.#buf.subarray(0, end).toString('latin1');
        this.#buf = this.#buf.subarray(nl >= 0 ? nl + 1 : end);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (nl < 0) msgWarn(`${this.#label}: response longer than ${SMTP_REPLY_LINE_LIMIT}: ${line.slice(0, 30)}...`);
        return printable(line);
      }
      if (this.#closed || this.#error) throw new SmtpStreamError(SMTP_ERR.EOF, while_);
      const left = deadline - Date.now();
      if (left <= 0) throw new SmtpStreamError(SMTP_ERR.TIME, while_);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = null;
          resolve();
        }, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Reads one server reply within timeoutMs (flushing queued output first). */
  async reply(timeoutMs: number, while_: string): Promise<SmtpResp> {
    await this.flush(timeoutMs, while_);
    const deadline = Date.now() + timeoutMs;
    const lines: string[] = [];
    for (;;) {
      const line = await this.#line(deadline, while_);
      this.history.push(`In:  ${line}`);
      lines.push(line);
      const m = /^\d{3}(.?)/.exec(line);
      if (m && m[1] === '-' && lines.length < SMTP_REPLY_MAX_LINES) continue;
      if (m && (m[1] === ' ' || m[1] === '')) break;
      if (lines.length >= SMTP_REPLY_MAX_LINES) break;
      // Garbage: Postfix keeps reading until a proper last line.
    }
    return parseReply(lines);
  }

  /**
   * While the connection waits in the session cache: onEvent runs when the
   * server sends anything or hangs up, and the socket does not keep the
   * process alive; the history of the finished session is dropped (Postfix
   * smtp_chat_reset). null ends that state.
   */
  whileIdle(onEvent: (() => void) | null): void {
    this.#idle = onEvent;
    if (onEvent) {
      this.history.length = 0;
      this.#sock.unref();
    } else this.#sock.ref();
  }

  /** True when the server closed its side or the socket failed. */
  get broken(): boolean {
    return this.#closed || this.#error !== null || this.#sock.destroyed;
  }

  /** True when the server sent something not read yet (unusable for a new transaction). */
  get hasUnreadInput(): boolean {
    return this.#buf.length > 0;
  }

  /** Ends the connection: queued bytes (QUIT) still go out; a peer that does not close is cut off after CLOSE_GRACE_MS. */
  close(): void {
    if (this.broken) {
      this.#sock.destroy();
      return;
    }
    this.#sock.end();
    setTimeout(() => this.#sock.destroy(), CLOSE_GRACE_MS).unref();
  }
}
