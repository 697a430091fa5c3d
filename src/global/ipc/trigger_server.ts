/*
 * trigger_server - the receiving side of triggers (Postfix trigger_server)
 *
 * What it does: serveTriggerConnection() takes one accepted connection on
 * a trigger endpoint (pickup, qmgr, flush...), waits at most waitMs for
 * the client to write, reads the request (at most TRIGGER_BUF_SIZE bytes,
 * up to the NUL byte that ends it), closes the connection and hands the
 * bytes to the callback, as Postfix's trigger server does. The bytes are
 * raw: a Postfix or Postern client sends its request letters followed by
 * one NUL byte, and a receiver ignores bytes it does not know. openFifoTrigger() does the
 * same for a FIFO endpoint: it keeps the FIFO open read-write (so it
 * never sees end-of-file when writers come and go) and calls the callback
 * for every chunk that arrives.
 *
 * What it does not do: create sockets or FIFOs (master does), count
 * max_use/max_idle (the skeleton in src/master/ does), or interpret the
 * request letters (qmgr, pickup do).
 *
 * DIAGNOSTICS
 * A client that connects and writes nothing within waitMs, or hangs up
 * without writing, is dropped silently (a false alarm, as in Postfix). An
 * exception in the callback is logged as a warning. openFifoTrigger()
 * rejects when the path cannot be opened or is not a FIFO.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { msgWarn } from '../../util/msg.js';

/** Postfix TRIGGER_BUF_SIZE: the most bytes one trigger delivers. */
export const TRIGGER_BUF_SIZE = 1024;
/** Postfix trigger servers wait 10s (read_wait) for a client's bytes. */
export const TRIGGER_READ_WAIT_MS = 10 * 1000;
/** After the first bytes, how long a request without its NUL may take to complete. */
export const TRIGGER_SETTLE_MS = 100;

export type TriggerCallback = (data: Buffer) => void | Promise<void>;

export interface TriggerReadOptions {
  /** How long to wait for the first bytes (default TRIGGER_READ_WAIT_MS). */
  waitMs?: number;
  maxBytes?: number;
  /** How long to wait for the rest once bytes arrived (default TRIGGER_SETTLE_MS). */
  settleMs?: number;
}

/**
 * Reads one trigger from a connection and closes it; null when none came.
 * A Postfix or Postern client writes its request and then a NUL byte, in
 * two writes; the request is complete at that NUL (or at maxBytes, or at
 * end-of-input, or settleMs after the first bytes for a client that sends
 * no NUL). Closing only then spares the client a broken pipe.
 */
export function readTriggerConnection(stream: Duplex, opts: TriggerReadOptions = {}): Promise<Buffer | null> {
  const waitMs = opts.waitMs ?? TRIGGER_READ_WAIT_MS;
  const maxBytes = opts.maxBytes ?? TRIGGER_BUF_SIZE;
  const settleMs = opts.settleMs ?? TRIGGER_SETTLE_MS;
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    let timer = setTimeout(() => finish(), waitMs);
    function finish(): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stream.off('data', onData);
      stream.destroy();
      resolve(size > 0 ? Buffer.concat(parts).subarray(0, maxBytes) : null);
    }
    function onData(chunk: Buffer): void {
      if (size === 0) {
        clearTimeout(timer);
        timer = setTimeout(finish, settleMs);
      }
      parts.push(chunk);
      size += chunk.length;
      if (size >= maxBytes || chunk[chunk.length - 1] === 0) finish();
    }
    stream.on('data', onData);
    stream.once('end', finish);
    stream.once('close', finish);
    stream.on('error', finish);
  });
}

/** Serves one trigger connection: read, close, then call back. */
export async function serveTriggerConnection(stream: Duplex, onTrigger: TriggerCallback, opts: TriggerReadOptions & { label?: string } = {}): Promise<boolean> {
  const data = await readTriggerConnection(stream, opts);
  if (data === null) return false;
  await runCallback(onTrigger, data, opts.label);
  return true;
}

async function runCallback(onTrigger: TriggerCallback, data: Buffer, label = 'trigger'): Promise<void> {
  try {
    await onTrigger(data);
  } catch (err) {
    msgWarn(`${label}: trigger handler failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export interface FifoTriggerListener {
  close(): void;
}

/** Listens on an existing FIFO; calls onTrigger for every chunk written to it. */
export async function openFifoTrigger(path: string, onTrigger: TriggerCallback, opts: { label?: string; maxBytes?: number } = {}): Promise<FifoTriggerListener> {
  // A raw descriptor, not a FileHandle: the Socket owns and closes it.
  const fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK | constants.O_NOFOLLOW);
  if (!fstatSync(fd).isFIFO()) {
    closeSync(fd);
    throw new Error(`${path} is not a fifo`);
  }
  const sock = new Socket({ fd, readable: true, writable: false });
  const maxBytes = opts.maxBytes ?? TRIGGER_BUF_SIZE;
  let chain = Promise.resolve();
  sock.on('data', (chunk: Buffer) => {
    const data = chunk.subarray(0, maxBytes);
    chain = chain.then(() => runCallback(onTrigger, data, opts.label));
  });
  sock.on('error', (err) => msgWarn(`${opts.label ?? path}: ${err.message}`));
  return {
    close() {
      sock.destroy();
    },
  };
}
