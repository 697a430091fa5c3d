/*
 * smtpd_chat - the SMTP server's side of the conversation (Postfix smtpd_chat.c)
 *
 * What it does: SmtpdChat owns the client's byte streams. query() reads
 * one command line through the bounded LineReader (over-long lines are
 * cut at line_length_limit and the rest skipped, with Postfix's
 * "request longer than" warning); before it waits for input it flushes
 * the replies collected so far, so pipelined commands get their replies
 * in one write, as Postfix's VSTREAM does. reply() formats one reply the
 * way Postfix's smtpd_chat_reply() does: it first sleeps
 * smtpd_error_sleep_time when the session's error count has reached
 * smtpd_soft_error_limit, appends smtpd_reject_footer to 4xx/5xx
 * replies, turns a reply with embedded "\r\n" into a multi-line reply,
 * turns 5xx into 4xx under soft_bounce (enhanced status codes stay
 * even when ENHANCEDSTATUSCODES is discarded, as in Postfix 3.7), and
 * marks the session for
 * hangup after a 421 or 521 reply. Writes wait for the socket to drain
 * (never more than one reply batch is buffered) within smtpd_timeout.
 *
 * What it does not do: parse commands or decide replies.
 *
 * DIAGNOSTICS
 * query() and flush() throw SmtpdIoError ('timeout' or 'eof'), the
 * protocol engine's longjmp: the session ends with Postfix's log line.
 */
import type { Duplex } from 'node:stream';
import { msgWarn } from '../util/msg.js';
import type { LineReader } from '../util/line_reader.js';
import type { SmtpdState } from './smtpd_state.js';
import { printableText } from './smtpd_token.js';

/** How a session ended abnormally (Postfix SMTP_ERR_TIME / SMTP_ERR_EOF). */
export class SmtpdIoError extends Error {
  constructor(readonly kind: 'timeout' | 'eof') {
    super(kind === 'timeout' ? 'timeout' : 'lost connection');
  }
}

export interface ChatOptions {
  timeoutMs: number;
  softErrorLimit: number;
  errorSleepMs: number;
  softBounce: boolean;
  rejectFooter: string;
  smtputf8: boolean;
}

export interface QueryResult {
  line: string;
  /** The line ended in LF without CR. */
  bareLf: boolean;
  /** The line was longer than line_length_limit (the rest was skipped). */
  tooLong: boolean;
  /** The bytes were not valid UTF-8. */
  badUtf8: boolean;
}

const LF = 0x0a;
/** Replies collected for a pipelining client are written once they reach this size. */
export const CHAT_OUTPUT_LIMIT = 64 * 1024;
const SMTP_REPLY = /^([245]\d\d)([ -])(?:([245]\.\d{1,3}\.\d{1,3})( |$))?/;

export class SmtpdChat {
  readonly #out: Duplex;
  readonly #reader: LineReader;
  readonly #state: SmtpdState;
  readonly #opts: ChatOptions;
  #pending: string[] = [];
  #pendingBytes = 0;
  #closed = false;
  /** Session must end after the current command (421/521 replies). */
  hangup = false;

  constructor(out: Duplex, reader: LineReader, state: SmtpdState, opts: ChatOptions) {
    this.#out = out;
    this.#reader = reader;
    this.#state = state;
    this.#opts = opts;
    out.on('close', () => (this.#closed = true));
  }

  get options(): ChatOptions {
    return this.#opts;
  }

  /** Sends one reply (possibly multi-line, "\r\n"-separated); see the header. */
  async reply(text: string): Promise<void> {
    if (this.#state.errorCount >= this.#opts.softErrorLimit && this.#opts.errorSleepMs > 0) {
      await this.flush();
      await new Promise((r) => setTimeout(r, this.#opts.errorSleepMs));
    }
    this.replyNow(text);
    if (this.#pendingBytes >= CHAT_OUTPUT_LIMIT) await this.flush();
  }

  /** reply() without the error sleep (greeting, internal use). */
  replyNow(text: string): void {
    let t = text;
    if ((t[0] === '4' || t[0] === '5') && this.#opts.rejectFooter) t = footer(t, this.#opts.rejectFooter);
    const lines = t.split('\r\n');
    for (let i = 0; i < lines.length; i++) {
      let line = lines[i]!;
      if (this.#opts.softBounce && line[0] === '5') {
        line = `4${line.slice(1)}`;
        if (line[4] === '5') line = `${line.slice(0, 4)}4${line.slice(5)}`;
      }
      if (i < lines.length - 1 && line.length >= 4) line = `${line.slice(0, 3)}-${line.slice(4)}`;
      this.#pending.push(line, '\r\n');
      this.#pendingBytes += line.length + 2;
    }
    if (text.startsWith('421') || text.startsWith('521')) this.hangup = true;
  }

  /** Writes the collected replies; waits (bounded) while the socket is full. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return;
    const data = this.#pending.join('');
    this.#pending = [];
    this.#pendingBytes = 0;
    if (this.#closed || this.#out.destroyed) throw new SmtpdIoError('eof');
    const ok = this.#out.write(data, 'utf8');
    if (ok) return;
    await new Promise<void>((resolve, reject) => {
      const done = (err: SmtpdIoError | null): void => {
        clearTimeout(timer);
        this.#out.off('drain', onDrain);
        this.#out.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = (): void => done(null);
      const onClose = (): void => done(new SmtpdIoError('eof'));
      const timer = setTimeout(() => done(new SmtpdIoError('timeout')), this.#opts.timeoutMs);
      this.#out.on('drain', onDrain);
      this.#out.on('close', onClose);
    });
  }

  /** True when no complete line is waiting: the next read would block. */
  #wouldBlock(): boolean {
    if (!this.#reader.hasBufferedInput()) return true;
    return this.#reader.peekBuffered().indexOf(LF) < 0;
  }

  /** Flushes output when the next read would wait for the client. */
  async flushIfIdle(): Promise<void> {
    if (this.#pending.length > 0 && this.#wouldBlock()) await this.flush();
  }

  /** Reads one command line; see the header. */
  async query(): Promise<QueryResult> {
    await this.flushIfIdle();
    const r = await this.#reader.readLine({ overflow: 'skip' });
    if (r.status === 'timeout') throw new SmtpdIoError('timeout');
    if (r.status !== 'line') throw new SmtpdIoError('eof');
    const { text, bad } = decodeLine(r.line);
    if (!r.complete) {
      msgWarn(`${this.#state.namaddr}: request longer than ${this.#reader.lineLimit}: ${printableText(text.slice(0, 30), true)}...`);
    }
    return { line: text, bareLf: r.bareLf, tooLong: !r.complete, badUtf8: bad };
  }
}

/** UTF-8 when the bytes are valid UTF-8, else one character per byte. */
export function decodeLine(buf: Buffer): { text: string; bad: boolean } {
  let ascii = true;
  for (let i = 0; i < buf.length; i++) {
    if (buf[i]! >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return { text: buf.toString('latin1'), bad: false };
  const text = buf.toString('utf8');
  if (!text.includes('\ufffd') || Buffer.from(text, 'utf8').equals(buf)) return { text, bad: false };
  return { text: buf.toString('latin1'), bad: true };
}

/** Appends smtpd_reject_footer (its "\n" escapes make more lines) to a 4xx/5xx reply. */
function footer(reply: string, foot: string): string {
  const m = SMTP_REPLY.exec(reply);
  if (!m) return reply;
  const code = m[1]!;
  const dsn = m[3] ? `${m[3]} ` : '';
  const lines = foot.split('\\n');
  return [reply, ...lines.map((l) => `${code} ${dsn}${l}`)].join('\r\n');
}
