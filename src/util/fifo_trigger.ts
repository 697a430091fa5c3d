/*
 * fifo_trigger - wake up a FIFO server (Postfix fifo_trigger)
 *
 * What it does: opens a named pipe for writing without blocking and
 * without following a symbolic link, checks that it really is a FIFO,
 * writes the request bytes and closes it. When nobody has the FIFO open
 * for reading, open() fails with ENXIO: that is a failed trigger. A FIFO
 * that is full (EAGAIN) already holds an unread wake-up, so the trigger
 * counts as delivered.
 *
 * What it does not do: create the FIFO (master does) or read from it
 * (src/global/ipc/trigger_server.ts).
 *
 * DIAGNOSTICS
 * Never throws: resolves false when the FIFO cannot be opened or is not
 * a FIFO, with the reason in `out.why`.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { TriggerWhy } from './unix_trigger.js';

export function fifoTrigger(path: string, data: Buffer | string, timeoutMs: number, out: TriggerWhy = {}): Promise<boolean> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  const work = (async () => {
    let fh;
    try {
      fh = await open(path, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    } catch (err) {
      out.why = `open ${path}: ${(err as Error).message}`;
      return false;
    }
    try {
      const st = await fh.stat();
      if (!st.isFIFO()) {
        out.why = `${path} is not a fifo`;
        return false;
      }
      try {
        await fh.write(bytes);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') {
          out.why = `write ${path}: ${(err as Error).message}`;
          return false;
        }
      }
      return true;
    } finally {
      await fh.close().catch(() => undefined);
    }
  })();
  if (timeoutMs <= 0) return work;
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      out.why = `write ${path}: timeout after ${timeoutMs} ms`;
      resolve(false);
    }, timeoutMs);
    timer.unref();
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}
