/*
 * unix_trigger - wake up a UNIX-domain stream server (Postfix unix_trigger)
 *
 * What it does: connects to a UNIX stream socket, writes the request bytes
 * followed by one NUL byte (as Postfix's unix_trigger does, so a real
 * Postfix trigger server sees the same bytes), and half-closes. The
 * promise resolves once the bytes are handed to the kernel; the socket is
 * then left to close when the server hangs up, or destroyed timeoutMs
 * later (some kernels drop data when the client disconnects before the
 * server accepted, which is why Postfix waits for the peer too). Neither
 * the lingering socket nor its timer keeps the process alive.
 *
 * What it does not do: wait for a reply (triggers have none), retry, or
 * tell a FIFO from a socket (src/global/mail_trigger.ts does that).
 *
 * DIAGNOSTICS
 * Never throws: resolves false when the socket cannot be reached or the
 * write does not complete within timeoutMs; the reason is in `why` when
 * the caller passes an object to receive it.
 */
import { connect } from 'node:net';

export interface TriggerWhy {
  why?: string;
}

export function unixTrigger(path: string, data: Buffer | string, timeoutMs: number, out: TriggerWhy = {}): Promise<boolean> {
  const bytes = Buffer.concat([typeof data === 'string' ? Buffer.from(data, 'latin1') : data, Buffer.alloc(1)]);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (ok: boolean, why?: string) => {
      if (settled) return;
      settled = true;
      if (why !== undefined) out.why = why;
      resolve(ok);
    };
    const sock = connect({ path });
    const limit = timeoutMs > 0 ? setTimeout(() => {
      sock.destroy();
      settle(false, `connect/write to ${path}: timeout after ${timeoutMs} ms`);
    }, timeoutMs) : null;
    sock.on('error', (err) => {
      if (limit) clearTimeout(limit);
      sock.destroy();
      settle(false, `connect to ${path}: ${err.message}`);
    });
    sock.once('connect', () => {
      sock.write(bytes, (err) => {
        if (limit) clearTimeout(limit);
        if (err) {
          sock.destroy();
          return settle(false, `write to ${path}: ${err.message}`);
        }
        settle(true);
        sock.end();
        sock.resume();
        sock.unref();
        if (timeoutMs > 0) setTimeout(() => sock.destroy(), timeoutMs).unref();
      });
    });
  });
}
