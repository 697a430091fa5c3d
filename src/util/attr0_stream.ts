/*
 * attr0_stream - read and write attr0 lists on a byte stream, with deadlines
 *
 * What it does: wraps a connected Duplex (a UNIX socket, or one end of an
 * in-process pair) so that readFrame() gives the next complete attribute
 * list or a typed failure, and writeBytes() waits for the stream to drain
 * (backpressure). Input goes through an Attr0Decoder with the caller's
 * caps; when more than maxQueuedFrames lists are waiting unread, reading
 * from the stream pauses until the consumer catches up.
 *
 * What it does not do: protocol names, typed fields or retries
 * (src/global/ipc/), or connect (the caller hands in a connected stream).
 *
 * DIAGNOSTICS
 * Never throws for peer behaviour. readFrame() resolves { ok: false } with
 * kind 'eof' (the peer closed between lists), 'closed' (it closed, reset or
 * errored in the middle of a list), 'timeout', 'malformed' or 'oversized';
 * the last four leave the stream destroyed.
 */
import type { Duplex } from 'node:stream';
import { type Attr0Frame, Attr0Decoder, type Attr0Limits, type AttrFormat } from './attr0.js';

export type StreamFailureKind = 'eof' | 'closed' | 'timeout' | 'malformed' | 'oversized';

export type FrameResult = { ok: true; frame: Attr0Frame } | { ok: false; kind: StreamFailureKind; message: string };

/** Lists decoded ahead of the reader before input is paused. */
export const ATTR0_STREAM_MAX_QUEUED_FRAMES = 16;

export interface Attr0StreamOptions {
  limits?: Partial<Attr0Limits>;
  /** '0' (default) or 'plain'. */
  format?: AttrFormat;
  maxQueuedFrames?: number;
}

export class Attr0Stream {
  readonly stream: Duplex;
  #decoder: Attr0Decoder;
  #frames: Attr0Frame[] = [];
  #end: { kind: StreamFailureKind; message: string } | null = null;
  #waiter: ((r: FrameResult) => void) | null = null;
  #maxQueued: number;
  #bytesIn = 0;
  #writeTimedOut = false;

  constructor(stream: Duplex, opts: Attr0StreamOptions = {}) {
    this.stream = stream;
    this.#decoder = new Attr0Decoder(opts.limits, opts.format);
    this.#maxQueued = opts.maxQueuedFrames ?? ATTR0_STREAM_MAX_QUEUED_FRAMES;
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('end', () => this.#onEnd());
    stream.on('close', () => this.#onEnd());
    stream.on('error', (err: Error) => this.#finish('closed', `read error: ${err.message}`));
  }

  /** Bytes received so far (tells a retry whether the peer said anything). */
  get bytesIn(): number {
    return this.#bytesIn;
  }

  /** True while part of a list has arrived but not its end. */
  get partial(): boolean {
    return !this.#decoder.idle;
  }

  /** True once a writeBytes() gave up because the peer did not read in time. */
  get writeTimedOut(): boolean {
    return this.#writeTimedOut;
  }

  get ended(): boolean {
    return this.#end !== null && this.#frames.length === 0;
  }

  #onData(chunk: Buffer): void {
    if (this.#end) return;
    this.#bytesIn += chunk.length;
    const { frames, failure } = this.#decoder.push(chunk);
    this.#frames.push(...frames);
    if (failure) {
      this.#finish(failure.kind, failure.message);
      this.stream.destroy();
    }
    this.#deliver();
    if (this.#frames.length >= this.#maxQueued) this.stream.pause();
  }

  #onEnd(): void {
    if (this.#decoder.idle) this.#finish('eof', 'end of input');
    else this.#finish('closed', 'premature end-of-input');
  }

  #finish(kind: StreamFailureKind, message: string): void {
    if (!this.#end) this.#end = { kind, message };
    this.#deliver();
  }

  #deliver(): void {
    const w = this.#waiter;
    if (!w) return;
    const frame = this.#frames.shift();
    if (frame) {
      this.#waiter = null;
      if (this.#frames.length < this.#maxQueued && !this.#end) this.stream.resume();
      w({ ok: true, frame });
    } else if (this.#end) {
      this.#waiter = null;
      w({ ok: false, ...this.#end });
    }
  }

  /** The next complete list, or why there is none; waits at most timeoutMs (0: no limit). */
  readFrame(timeoutMs = 0): Promise<FrameResult> {
    if (this.#waiter) throw new Error('attr0_stream: concurrent readFrame');
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      this.#waiter = (r) => {
        if (timer) clearTimeout(timer);
        resolve(r);
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#waiter = null;
          this.#finish('timeout', `timeout after ${timeoutMs} ms`);
          this.stream.destroy();
          resolve({ ok: false, kind: 'timeout', message: `timeout after ${timeoutMs} ms` });
        }, timeoutMs);
      }
      this.#deliver();
      if (!this.#end && this.#frames.length < this.#maxQueued) this.stream.resume();
    });
  }

  /**
   * Writes bytes and waits until the stream accepted them (drain), the
   * stream closed, or timeoutMs passed. Resolves true on success.
   */
  writeBytes(bytes: Buffer, timeoutMs = 0): Promise<boolean> {
    const s = this.stream;
    if (s.destroyed || !s.writable) return Promise.resolve(false);
    return new Promise((resolve) => {
      let done = false;
      let timer: NodeJS.Timeout | null = null;
      const finish = (ok: boolean) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        s.off('drain', onDrain);
        s.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => finish(true);
      const onClose = () => finish(false);
      s.on('close', onClose);
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#writeTimedOut = true;
          s.destroy();
          finish(false);
        }, timeoutMs);
      }
      try {
        const flushed = s.write(bytes, (err) => {
          if (err) finish(false);
        });
        if (flushed) finish(true);
        else s.on('drain', onDrain);
      } catch {
        finish(false);
      }
    });
  }

  /** Half-closes after pending writes; the peer sees end-of-input. */
  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }

  destroy(): void {
    this.stream.destroy();
  }
}
