/*
 * line_reader - bounded, timed reader of LF-terminated text lines from a stream
 *
 * What it does: LineReader sits on a Readable (a net.Socket in smtpd) and
 * hands out one line per readLine() call, the way Postfix's smtp_get()
 * does with a bound:
 *  - a line ends at LF; the LF is removed, and so is the CR before it.
 *    With detectBareLf off (Postfix's smtpd_forbid_bare_newline = no) every
 *    CR before the LF is removed; with it on exactly one CR is removed and
 *    a line that ended in LF without CR is reported as bareLf. A CR that is
 *    not followed by LF is ordinary text (CR alone never ends a line).
 *  - a line longer than lineLimit (line_length_limit) comes back in pieces
 *    of lineLimit bytes, each with complete = false, the rest in later
 *    calls ("split", for message content); or, with overflow "skip" (for
 *    commands), the first lineLimit bytes come back with complete = false
 *    and the rest of the line up to its LF is read and thrown away. When a
 *    piece would end in CR and the next byte is LF, the line is complete.
 *  - backpressure: at most bufferLimit bytes are kept ahead of the
 *    consumer (raised to lineLimit + 1 when smaller); past that the
 *    stream is paused until the consumer catches up, so a client that pipelines without bound costs bufferLimit plus
 *    one stream chunk of memory, never more.
 *  - timeouts: each read waits at most timeoutMs (smtpd_timeout); by
 *    default arriving bytes restart the clock (Postfix's per-read time
 *    limit); with deadline set the clock runs for the whole line
 *    (smtpd_per_request_deadline).
 *  - hasBufferedInput()/peekBuffered() tell whether the peer already sent
 *    more than was consumed (improper pipelining detection). They see the
 *    bytes Node has read from the socket; Postfix also peeks the kernel
 *    buffer, which pendingInput() approximates by letting the event loop
 *    turn once (so bytes already in the kernel are read) before looking.
 *  - readChunk() hands out raw bytes (BDAT, TLS hand-over), same bounds.
 *
 * What it does not do: write to the stream, decide SMTP replies or log;
 * interpret dots (dot_reader.ts does); close the stream (detach() only
 * stops listening).
 *
 * DIAGNOSTICS
 * Results are values: { status: 'line' | 'chunk' | 'eof' | 'timeout' |
 * 'error' }. End of input in the middle of a line is 'eof' with the
 * partial bytes (Postfix treats it as a lost connection too). Calling a
 * read while another is pending, or bad limits, throws (a programming
 * error).
 */
import type { Readable } from 'node:stream';

/** Defaults: line_length_limit's default, the read-ahead bound, smtpd_timeout's default. */
export const LINE_READER_DEFAULTS = {
  lineLimit: 2048,
  bufferLimit: 64 * 1024,
  timeoutMs: 300_000,
} as const;

const LF = 0x0a;
const CR = 0x0d;

export interface LineReaderOptions {
  /** Longest piece returned (line_length_limit), bytes, >= 1. */
  lineLimit?: number;
  /** Bytes kept ahead of the consumer before the stream is paused, >= 1. */
  bufferLimit?: number;
  /** Time limit per read in ms (smtpd_timeout); 0 = none. */
  timeoutMs?: number;
  /** Time limit covers the whole line, not each arrival of bytes. */
  deadline?: boolean;
  /** Remove exactly one CR before LF and report lines without it (bare LF). */
  detectBareLf?: boolean;
}

export type OverflowMode = 'split' | 'skip';

export interface ReadLineOptions {
  /** What to do with the rest of an over-long line (default 'split'). */
  overflow?: OverflowMode;
  /** Overrides the reader's timeoutMs for this read. */
  timeoutMs?: number;
}

export type LineResult =
  | {
      status: 'line';
      /** The text without its line ending. */
      line: Buffer;
      /** The piece ended at LF (false: lineLimit was reached first). */
      complete: boolean;
      /** The line ended in LF without a CR before it. */
      bareLf: boolean;
      /** Bytes discarded after the piece (overflow 'skip'), LF excluded. */
      skipped: number;
    }
  | { status: 'eof'; partial: Buffer }
  | { status: 'timeout' }
  | { status: 'error'; error: Error };

export type ChunkResult = { status: 'chunk'; data: Buffer } | { status: 'eof'; partial: Buffer } | { status: 'timeout' } | { status: 'error'; error: Error };

type Attempt<T> = () => T | null;

export class LineReader {
  readonly lineLimit: number;
  readonly bufferLimit: number;
  readonly timeoutMs: number;
  readonly deadline: boolean;
  /** Mutable: smtpd turns it on once it knows the client is not excluded. */
  detectBareLf: boolean;
  #stream: Readable;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #paused = false;
  #wake: (() => void) | null = null;
  #pending = false;
  #skipping = false;
  #skipped = 0;
  /** The piece handed out once the rest of its line has been skipped. */
  #skippedPiece: (LineResult & { status: 'line' }) | null = null;
  #consumed = 0;
  #onData = (chunk: Buffer | string): void => {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (b.length === 0) return;
    this.#chunks.push(b);
    this.#buffered += b.length;
    if (this.#buffered >= this.bufferLimit && !this.#paused) {
      this.#paused = true;
      this.#stream.pause();
    }
    this.#notify(true);
  };
  #onEnd = (): void => {
    this.#ended = true;
    this.#notify(false);
  };
  #onError = (err: Error): void => {
    this.#error ??= err;
    this.#notify(false);
  };
  #onClose = (): void => {
    this.#ended = true;
    this.#notify(false);
  };
  #onArrival: (() => void) | null = null;

  constructor(stream: Readable, opts: LineReaderOptions = {}) {
    this.lineLimit = opts.lineLimit ?? LINE_READER_DEFAULTS.lineLimit;
    // The read-ahead must hold a full piece plus the byte after it.
    this.bufferLimit = Math.max(opts.bufferLimit ?? LINE_READER_DEFAULTS.bufferLimit, (opts.lineLimit ?? LINE_READER_DEFAULTS.lineLimit) + 1);
    this.timeoutMs = opts.timeoutMs ?? LINE_READER_DEFAULTS.timeoutMs;
    this.deadline = opts.deadline ?? false;
    this.detectBareLf = opts.detectBareLf ?? false;
    if (!Number.isInteger(this.lineLimit) || this.lineLimit < 1) throw new RangeError(`line_reader: bad lineLimit ${this.lineLimit}`);
    if (!Number.isInteger(this.bufferLimit) || this.bufferLimit < 1) throw new RangeError(`line_reader: bad bufferLimit ${this.bufferLimit}`);
    if (!(this.timeoutMs >= 0)) throw new RangeError(`line_reader: bad timeoutMs ${this.timeoutMs}`);
    this.#stream = stream;
    stream.on('data', this.#onData);
    stream.on('end', this.#onEnd);
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
    if (stream.isPaused()) stream.resume();
  }

  /** Bytes received and not yet handed out. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Bytes handed out (or skipped) so far. */
  get consumed(): number {
    return this.#consumed;
  }

  /** True when the peer sent bytes that no read has taken yet. */
  hasBufferedInput(): boolean {
    return this.#buffered > 0;
  }

  /** hasBufferedInput() after one event-loop turn (see the header). */
  async pendingInput(): Promise<boolean> {
    if (this.#buffered > 0) return true;
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.#buffered > 0;
  }

  /** Up to max of the bytes received and not yet consumed, without consuming them. */
  peekBuffered(max: number = this.lineLimit): Buffer {
    return this.#peek(Math.min(max, this.#buffered));
  }

  /** Stops listening to the stream (the stream stays open) and returns the unread bytes. */
  detach(): Buffer {
    const s = this.#stream;
    s.off('data', this.#onData);
    s.off('end', this.#onEnd);
    s.off('error', this.#onError);
    s.off('close', this.#onClose);
    if (!this.#paused) s.pause();
    const rest = this.#take(this.#buffered);
    this.#ended = true;
    this.#notify(false);
    return rest;
  }

  /** Reads one line or piece of a line; see the header. */
  readLine(opts: ReadLineOptions = {}): Promise<LineResult> {
    const overflow = opts.overflow ?? 'split';
    return this.#run<LineResult>(() => this.#tryLine(overflow), opts.timeoutMs);
  }

  /** Reads between 1 and max bytes as they arrive. */
  readChunk(max: number, opts: { timeoutMs?: number } = {}): Promise<ChunkResult> {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`line_reader: bad chunk size ${max}`);
    return this.#run<ChunkResult>(() => (this.#buffered > 0 ? { status: 'chunk', data: this.#take(Math.min(max, this.#buffered)) } : null), opts.timeoutMs);
  }

  /** Runs attempt now and after every arrival until it gives a result, the input ends, or time runs out. */
  #run<T extends { status: string }>(attempt: Attempt<T>, timeoutOverride?: number): Promise<T | { status: 'eof'; partial: Buffer } | { status: 'timeout' } | { status: 'error'; error: Error }> {
    if (this.#pending) throw new Error('line_reader: read while another read is pending');
    type R = T | { status: 'eof'; partial: Buffer } | { status: 'timeout' } | { status: 'error'; error: Error };
    const first = this.#attempt(attempt);
    if (first) return Promise.resolve(first as R);
    this.#pending = true;
    const limit = timeoutOverride ?? this.timeoutMs;
    return new Promise<R>((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      const finish = (r: R): void => {
        if (timer) clearTimeout(timer);
        this.#wake = null;
        this.#onArrival = null;
        this.#pending = false;
        resolve(r);
      };
      const arm = (): void => {
        if (limit <= 0) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => finish({ status: 'timeout' }), limit);
      };
      arm();
      if (!this.deadline) this.#onArrival = arm;
      this.#wake = () => {
        const r = this.#attempt(attempt);
        if (r) finish(r as R);
      };
    });
  }

  /** One try: a result, an end/error result, or null to wait. */
  #attempt<T>(attempt: Attempt<T>): T | { status: 'eof'; partial: Buffer } | { status: 'error'; error: Error } | null {
    const r = attempt();
    this.#maybeResume();
    if (r) return r;
    if (this.#error) return { status: 'error', error: this.#error };
    if (this.#ended) return { status: 'eof', partial: this.#take(this.#buffered) };
    return null;
  }

  #notify(arrival: boolean): void {
    if (arrival) this.#onArrival?.();
    this.#wake?.();
  }

  #maybeResume(): void {
    if (this.#paused && this.#buffered < this.bufferLimit && !this.#ended) {
      this.#paused = false;
      this.#stream.resume();
    }
  }

  #tryLine(overflow: OverflowMode): LineResult | null {
    if (this.#skipping) {
      if (!this.#skipRest()) return null;
      // #skipRest() finished the skipped line: deliver the saved piece.
      const r = this.#skippedPiece;
      this.#skippedPiece = null;
      if (r) r.skipped = this.#skipped;
      return r;
    }
    const scan = Math.min(this.#buffered, this.lineLimit);
    const lf = this.#indexOfLf(scan);
    if (lf >= 0) return this.#finishLine(this.#take(lf + 1).subarray(0, lf));
    if (this.#buffered < this.lineLimit) return null;
    // The piece is full. A CR at its end followed by LF still completes the line.
    const last = this.#byteAt(this.lineLimit - 1);
    if (last === CR) {
      if (this.#buffered === this.lineLimit) return this.#ended ? this.#partial() : null;
      if (this.#byteAt(this.lineLimit) === LF) return this.#finishLine(this.#take(this.lineLimit + 1).subarray(0, this.lineLimit));
    }
    const piece = this.#take(this.lineLimit);
    const r: LineResult & { status: 'line' } = { status: 'line', line: piece, complete: false, bareLf: false, skipped: 0 };
    if (overflow === 'split') return r;
    this.#skipping = true;
    this.#skipped = 0;
    this.#skippedPiece = r;
    return this.#tryLine(overflow);
  }

  /** Discards input up to and including the next LF; true when it was found. */
  #skipRest(): boolean {
    const lf = this.#indexOfLf(this.#buffered);
    if (lf < 0) {
      this.#skipped += this.#buffered;
      this.#take(this.#buffered);
      return false;
    }
    this.#skipped += lf;
    this.#take(lf + 1);
    this.#skipping = false;
    return true;
  }

  /** A full piece whose last byte is CR at the end of input: hand it out as is. */
  #partial(): LineResult {
    return { status: 'line', line: this.#take(this.lineLimit), complete: false, bareLf: false, skipped: 0 };
  }

  /** Strips the CR(s) before the removed LF and reports a bare LF. */
  #finishLine(text: Buffer): LineResult {
    let end = text.length;
    const bareLf = end === 0 || text[end - 1] !== CR;
    if (this.detectBareLf) {
      if (!bareLf) end -= 1;
    } else {
      while (end > 0 && text[end - 1] === CR) end -= 1;
    }
    return { status: 'line', line: text.subarray(0, end), complete: true, bareLf, skipped: 0 };
  }

  #indexOfLf(limit: number): number {
    let base = 0;
    for (const c of this.#chunks) {
      if (base >= limit) break;
      const i = c.indexOf(LF);
      if (i >= 0 && base + i < limit) return base + i;
      base += c.length;
    }
    return -1;
  }

  #byteAt(pos: number): number {
    let base = 0;
    for (const c of this.#chunks) {
      if (pos < base + c.length) return c[pos - base] as number;
      base += c.length;
    }
    return -1;
  }

  #peek(n: number): Buffer {
    const parts: Buffer[] = [];
    let need = n;
    for (const c of this.#chunks) {
      if (need <= 0) break;
      parts.push(c.subarray(0, Math.min(need, c.length)));
      need -= c.length;
    }
    return Buffer.concat(parts);
  }

  /** Removes and returns the first n buffered bytes (a copy, so chunks are not pinned). */
  #take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const c = this.#chunks[0] as Buffer;
      const k = Math.min(c.length, n - got);
      c.copy(out, got, 0, k);
      got += k;
      if (k === c.length) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(k);
    }
    this.#buffered -= n;
    this.#consumed += n;
    return out;
  }
}
