/*
 * cleanup_input - pull-style reading of a client stream with a deadline
 *
 * What it does: ChunkReader wraps a connected client stream (a UNIX
 * socket from master, or one end of an in-process pair). read() gives
 * the next chunk of bytes, or null at end of input, on a stream error or
 * when nothing arrived within the time limit (ipc_timeout; timedOut then
 * says so). The stream is paused while no read() is waiting, so a client
 * that sends faster than cleanup writes is held back by the socket
 * (backpressure, at most one chunk buffered). write() sends bytes and
 * waits until the stream accepted them, within the same time limit.
 *
 * What it does not do: parse anything (cleanup.ts decodes the flags
 * list and the records).
 *
 * DIAGNOSTICS
 * None logged; write() rejects with an Error naming the problem.
 */
import type { Duplex } from 'node:stream';

export class ChunkReader {
  readonly stream: Duplex;
  readonly timeoutMs: number;
  #chunks: Buffer[] = [];
  #ended = false;
  #waiter: ((b: Buffer | null) => void) | null = null;
  #timedOut = false;

  constructor(stream: Duplex, timeoutMs: number) {
    this.stream = stream;
    this.timeoutMs = timeoutMs;
    stream.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      stream.pause();
      this.#deliver();
    });
    const done = () => {
      this.#ended = true;
      this.#deliver();
    };
    stream.on('end', done);
    stream.on('close', done);
    stream.on('error', done);
    stream.pause();
  }

  get timedOut(): boolean {
    return this.#timedOut;
  }

  get label(): string {
    const s = this.stream as Duplex & { remoteAddress?: string };
    return s.remoteAddress ?? 'client stream';
  }

  #deliver(): void {
    const w = this.#waiter;
    if (!w) return;
    const c = this.#chunks.shift();
    if (c) {
      this.#waiter = null;
      w(c);
    } else if (this.#ended) {
      this.#waiter = null;
      w(null);
    }
  }

  /** The next chunk, or null (end of input, error, timeout). */
  read(): Promise<Buffer | null> {
    const c = this.#chunks.shift();
    if (c) return Promise.resolve(c);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | null = null;
      this.#waiter = (b) => {
        if (timer) clearTimeout(timer);
        resolve(b);
      };
      if (this.timeoutMs > 0) {
        timer = setTimeout(() => {
          this.#timedOut = true;
          this.#waiter = null;
          this.#ended = true;
          this.stream.destroy();
          resolve(null);
        }, this.timeoutMs);
      }
      this.stream.resume();
    });
  }

  /** Writes bytes; resolves once the stream took them. */
  write(bytes: Buffer): Promise<void> {
    const s = this.stream;
    if (s.destroyed || !s.writable) return Promise.reject(new Error('write to client: connection closed'));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | null = null;
      const onClose = () => finish(new Error('write to client: connection closed'));
      const finish = (err: Error | null) => {
        if (timer) clearTimeout(timer);
        s.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      s.on('close', onClose);
      if (this.timeoutMs > 0) {
        timer = setTimeout(() => {
          s.destroy();
          finish(new Error(`write to client: timeout after ${this.timeoutMs} ms`));
        }, this.timeoutMs);
      }
      s.write(bytes, (err) => finish(err ?? null));
    });
  }

  /** Half-closes after pending writes. */
  end(): void {
    if (!this.stream.destroyed) this.stream.end();
  }
}
