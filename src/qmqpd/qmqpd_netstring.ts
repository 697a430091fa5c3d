/*
 * qmqpd_netstring - netstrings over a socket, with limits and a timeout (Postfix netstring.c)
 *
 * What it does: NetstringReader reads from a stream the pieces QMQP is
 * made of: a netstring length ("123:"), data of a given length, the ","
 * terminator, a whole netstring with a size limit, and one byte (to see
 * whether the recipient list has ended). Every read waits at most the
 * timeout (qmqpd_timeout) for more input; bytes are taken from the
 * stream only as they are needed, with the stream paused in between, so
 * a client cannot make us buffer more than one chunk ahead.
 * encodeNetstring() builds "len:data,".
 *
 * What it does not do: know QMQP (qmqpd.ts), or write replies with a
 * timeout (a reply is short; the socket write is bounded by the caller).
 *
 * DIAGNOSTICS
 * Failures throw NetstringError with kind 'eof', 'time', 'format' or
 * 'size', which are Postfix's NETSTRING_ERR_* cases.
 */
import type { Duplex } from 'node:stream';

export type NetstringErrorKind = 'eof' | 'time' | 'format' | 'size';

export class NetstringError extends Error {
  constructor(readonly kind: NetstringErrorKind) {
    super(`netstring ${kind}`);
    this.name = 'NetstringError';
  }
}

/** Longest length prefix accepted: more digits than this is a size error. */
export const NETSTRING_MAX_DIGITS = 15;

export function encodeNetstring(data: Buffer | string): Buffer {
  const body = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return Buffer.concat([Buffer.from(`${body.length}:`, 'latin1'), body, Buffer.from(',')]);
}

export class NetstringReader {
  #chunks: Buffer[] = [];
  #have = 0;
  #ended = false;
  #waiter: (() => void) | null = null;

  constructor(
    private readonly stream: Duplex,
    private readonly timeoutMs: number,
  ) {
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#have += chunk.length;
      stream.pause();
      this.#wake();
    });
    const end = (): void => {
      this.#ended = true;
      this.#wake();
    };
    stream.on('end', end);
    stream.on('close', end);
    stream.on('error', end);
    stream.pause();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = null;
    w?.();
  }

  /** Waits until at least one byte is buffered. */
  async #need(): Promise<void> {
    if (this.#have > 0) return;
    if (this.#ended) throw new NetstringError('eof');
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    await new Promise<void>((resolve) => {
      this.#waiter = resolve;
      timer = setTimeout(() => {
        timedOut = true;
        resolve();
      }, this.timeoutMs);
      this.stream.resume();
    });
    clearTimeout(timer);
    if (this.#have > 0) return;
    if (timedOut) throw new NetstringError('time');
    throw new NetstringError('eof');
  }

  /** Takes up to `max` buffered bytes (at least one, waiting for input). */
  async #take(max: number): Promise<Buffer> {
    await this.#need();
    const first = this.#chunks[0]!;
    if (first.length <= max) {
      this.#chunks.shift();
      this.#have -= first.length;
      return first;
    }
    this.#chunks[0] = first.subarray(max);
    this.#have -= max;
    return first.subarray(0, max);
  }

  async getc(): Promise<number> {
    return (await this.#take(1))[0]!;
  }

  /** Puts one byte back (Postfix vstream_ungetc). */
  ungetc(ch: number): void {
    this.#chunks.unshift(Buffer.from([ch]));
    this.#have++;
  }

  async getLength(): Promise<number> {
    let len = 0;
    for (let digits = 0; ; digits++) {
      const ch = await this.getc();
      if (ch === 0x3a) return len;
      if (ch < 0x30 || ch > 0x39) throw new NetstringError('format');
      if (digits >= NETSTRING_MAX_DIGITS) throw new NetstringError('size');
      len = len * 10 + (ch - 0x30);
    }
  }

  async getData(len: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < len) {
      const b = await this.#take(len - got);
      parts.push(b);
      got += b.length;
    }
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts, got);
    if ((await this.getc()) !== 0x2c) throw new NetstringError('format');
    return data;
  }

  /** A whole netstring; a length above `limit` (when > 0) is a size error. */
  async get(limit: number): Promise<Buffer> {
    const len = await this.getLength();
    if (limit > 0 && len > limit) throw new NetstringError('size');
    return this.getData(len);
  }
}
