/*
 * bounce_append_service - append one recipient record to a per-message log (Postfix bounce_append_service.c)
 *
 * What it does: bounceAppendService() appends the entry for one
 * recipient to queue_directory/<service>/<queue id> (bounce, defer or
 * trace; hashed as hash_queue_names says, directories made on demand), in
 * the format of src/global/bounce_log.ts, one append at a time per file
 * (each service's logs are written by its one bounce process), and
 * fsyncs before it answers: once the bounce service said
 * yes, nothing retries that recipient. When the write fails the file is
 * truncated back to its old length. bounceCleanupLog() removes a log
 * (BOUNCE_FLAG_CLEAN on error).
 *
 * What it does not do: validate the request (bounce.ts does) or send
 * notifications.
 *
 * DIAGNOSTICS
 * Returns 0 on success, -1 after a warning naming the file when the log
 * cannot be written (Postfix raises a fatal error to force a backoff; a
 * failed request makes the client defer just the same).
 */
import { mkdir, open, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { msgWarn } from '../util/msg.js';
import { formatBounceLogEntry } from '../global/bounce_log.js';
import type { Dsn } from '../global/dsn.js';
import type { Recipient } from '../global/recipient_list.js';
import { type BounceContext, bouncePath } from './bounce_service.js';

/** Log writes to one file from this process are serialised (Postfix uses a file lock). */
const fileQueues = new Map<string, Promise<unknown>>();

async function serialised<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const prev = fileQueues.get(path) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  fileQueues.set(path, tail);
  try {
    return await run;
  } finally {
    if (fileQueues.get(path) === tail) fileQueues.delete(path);
  }
}

/** Appends one entry; 0 on success, -1 on failure. */
export async function bounceAppendService(ctx: BounceContext, service: string, queueId: string, rcpt: Recipient, dsn: Dsn): Promise<number> {
  let path: string;
  try {
    path = bouncePath(ctx, service, queueId);
  } catch (err) {
    msgWarn(`${(err as Error).message}`);
    return -1;
  }
  const text = Buffer.from(formatBounceLogEntry(rcpt, dsn, ctx.oldLogCompat), 'utf8');
  return serialised(path, async () => {
    let fh;
    try {
      await mkdir(dirname(path), { recursive: true, mode: 0o700 });
      fh = await open(path, 'a', 0o600);
    } catch (err) {
      msgWarn(`open file ${service} ${queueId}: ${(err as Error).message}`);
      return -1;
    }
    let origLength = 0;
    try {
      origLength = (await fh.stat()).size;
      await fh.write(text);
      await fh.sync();
      return 0;
    } catch (err) {
      await fh.truncate(origLength).catch(() => undefined);
      msgWarn(`append file ${service} ${queueId}: ${(err as Error).message}`);
      return -1;
    } finally {
      await fh.close().catch((err: unknown) => msgWarn(`append file ${service} ${queueId}: ${(err as Error).message}`));
    }
  });
}

/** Removes a log file; a missing file is fine. */
export async function bounceCleanupLog(ctx: BounceContext, service: string, queueId: string): Promise<void> {
  try {
    await unlink(bouncePath(ctx, service, queueId));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') msgWarn(`remove ${service} ${queueId}: ${(err as Error).message}`);
  }
}
