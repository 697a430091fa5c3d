/*
 * mail_stream - a queue file being written, and how it is finished (Postfix mail_stream.c)
 *
 * What it does: mailStreamFile() creates a new file in a queue (mode
 * 0600 plus the caller's extra bits while it is written) and returns a
 * MailStream: buffered appends that know their file offset (append()
 * writes out every MAIL_STREAM_BUFFER_SIZE bytes, push() only buffers
 * until flush()), in-place writes at an earlier offset (for fixed-width
 * records; patched in the buffer when not yet written), and finish():
 * flush, set the ready mode (owner rwx, Postfix's "complete" mark, plus
 * the extra bits), one fsync that makes content and mode durable
 * together, close — Postfix's mail_stream_finish_file() order. Only when
 * finish() resolves may anyone report success. A system crash before the
 * fsync returns can leave a file marked complete with content missing;
 * no one was told it was queued, and the queue manager moves such a file
 * to the corrupt queue. abort() closes and removes the file. Writes,
 * chmod and close are synchronous system calls on the open descriptor
 * (microseconds on a small file, as Postfix makes them); only the fsync,
 * which waits for the disk, goes through Node's thread pool.
 *
 * What it does not do: know records (record.ts, queue_file_write.ts),
 * choose the queue, or notify the queue manager (mail_trigger.ts).
 *
 * DIAGNOSTICS
 * Write, fsync and chmod failures reject the returned promises with the
 * system error; the caller reports them (cleanup replies a temporary
 * failure) and calls abort(). Using a stream after finish/abort throws.
 */
import { closeSync, fchmodSync, fsync, writeSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { promisify } from 'node:util';
import { MAIL_QUEUE_MODE_WRITING, MAIL_QUEUE_STAT, mailQueueEnter, type QueueHashOptions } from './mail_queue.js';

const fsyncAsync = promisify(fsync);

/** Buffered bytes that trigger a write to the file. */
export const MAIL_STREAM_BUFFER_SIZE = 64 * 1024;

export interface MailStreamOptions extends QueueHashOptions {
  queueDir: string;
  queueName: string;
  longQueueIds: boolean;
  /** Mode bits added to 0600 while writing and to 0700 when finished (postdrop uses 0044). */
  extraMode?: number;
  /** fsync before reporting success (default true; tests of throughput may turn it off). */
  fsync?: boolean;
}

export class MailStream {
  readonly queueId: string;
  readonly path: string;
  /** Arrival time the queue ID was made from. */
  readonly sec: number;
  readonly usec: number;
  #fd: number;
  #pending: Buffer[] = [];
  #pendingLen = 0;
  /** File offset where the pending bytes start. */
  #flushedTo = 0;
  #closed = false;
  readonly #extraMode: number;
  readonly #fsync: boolean;

  constructor(entered: { queueId: string; path: string; fd: number; sec: number; usec: number }, extraMode: number, fsync: boolean) {
    this.queueId = entered.queueId;
    this.path = entered.path;
    this.sec = entered.sec;
    this.usec = entered.usec;
    this.#fd = entered.fd;
    this.#extraMode = extraMode;
    this.#fsync = fsync;
  }

  /** Offset of the next byte appended. */
  get offset(): number {
    return this.#flushedTo + this.#pendingLen;
  }

  #check(): void {
    if (this.#closed) throw new Error(`${this.path}: stream already closed`);
  }

  /** Bytes buffered and not yet written to the file. */
  get buffered(): number {
    return this.#pendingLen;
  }

  /** Buffers bytes without writing (synchronous: for callers that produce many records at once). */
  push(data: Buffer): void {
    this.#check();
    this.#pending.push(data);
    this.#pendingLen += data.length;
  }

  /** Appends bytes; writes them out once enough are buffered. */
  async append(data: Buffer): Promise<void> {
    this.push(data);
    if (this.#pendingLen >= MAIL_STREAM_BUFFER_SIZE) await this.flush();
  }

  /** Writes every buffered byte to the file. */
  async flush(): Promise<void> {
    this.#check();
    if (this.#pendingLen === 0) return;
    const data = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending, this.#pendingLen);
    this.#pending = [];
    this.#pendingLen = 0;
    writeFully(this.#fd, data, this.#flushedTo);
    this.#flushedTo += data.length;
  }

  /**
   * Overwrites bytes at an earlier offset (a fixed-width record, a type
   * byte): in the buffer when none of them was written out yet (so a small
   * file still goes out in one write), else in the file.
   */
  async writeAt(offset: number, data: Buffer): Promise<void> {
    this.#check();
    if (offset + data.length > this.offset) throw new RangeError(`${this.path}: in-place write past the end`);
    if (offset >= this.#flushedTo) {
      let pos = this.#flushedTo;
      let done = 0;
      for (const chunk of this.#pending) {
        const end = pos + chunk.length;
        while (done < data.length && offset + done < end) {
          chunk[offset + done - pos] = data[done]!;
          done++;
        }
        if (done === data.length) return;
        pos = end;
      }
      return;
    }
    await this.flush();
    writeFully(this.#fd, data, offset);
  }

  /**
   * Makes the file complete: flush, ready mode, fsync, close.
   * The queue file is safe on disk when this resolves.
   */
  async finish(): Promise<void> {
    await this.flush();
    fchmodSync(this.#fd, MAIL_QUEUE_STAT.READY | this.#extraMode);
    if (this.#fsync) await fsyncAsync(this.#fd);
    this.#closed = true;
    closeSync(this.#fd);
  }

  /** Gives up: close and remove the file. Safe to call more than once. */
  async abort(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        closeSync(this.#fd);
      } catch {
        // Already unusable; the file goes anyway.
      }
    }
    await unlink(this.path).catch(() => {});
  }
}

function writeFully(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) {
    const bytesWritten = writeSync(fd, data, done, data.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('short write');
    done += bytesWritten;
  }
}

/** Creates a new queue file in opts.queueName and returns it as a MailStream. */
export async function mailStreamFile(opts: MailStreamOptions): Promise<MailStream> {
  const extra = opts.extraMode ?? 0;
  const entered = mailQueueEnter(opts.queueDir, opts.queueName, MAIL_QUEUE_MODE_WRITING | extra, opts);
  return new MailStream(entered, extra, opts.fsync ?? true);
}
