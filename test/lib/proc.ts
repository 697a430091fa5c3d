/*
 * proc - processes, ports and bounded waits shared by the system-test harnesses
 *
 * What it does: freePort() asks the kernel for an unused loopback TCP
 * port; waitFor() polls a condition until it yields a value or a bound
 * passes; waitForPort() waits until a loopback port accepts connections;
 * processAlive(), childrenOf(), descendantsOf() and processesMentioning()
 * look at /proc, so a harness can make sure no process it started is
 * left behind.
 *
 * What it does not do: kill anything (callers kill only what they
 * started), or reserve a port: another process may take a freePort()
 * port before it is bound, and callers retry (see instance.ts).
 *
 * DIAGNOSTICS
 * waitFor()/waitForPort() throw an Error saying what did not happen
 * within how many milliseconds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';

/** How often waitFor() looks. */
export const POLL_MS = 50;
/** waitFor()'s bound when the caller gives none. */
export const WAIT_FOR_DEFAULT_MS = 10_000;

/** An unused TCP port on 127.0.0.1 (free when asked; see the header). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Polls fn (every pollMs) until it returns a truthy value, which it returns; throws after timeoutMs. */
export async function waitFor<T>(
  what: string,
  fn: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  timeoutMs = WAIT_FOR_DEFAULT_MS,
  pollMs = POLL_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** True when a TCP connection to host:port succeeds (closed at once). */
export function portAccepts(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1_000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/**
 * Waits until host:port accepts a connection. Note that the probe is a
 * real connection: an SMTP server sees (and may log) a client that
 * leaves at once.
 */
export async function waitForPort(port: number, timeoutMs = WAIT_FOR_DEFAULT_MS, host = '127.0.0.1'): Promise<void> {
  await waitFor(`${host}:${port} to accept connections`, () => portAccepts(port, host), timeoutMs);
}

/** True while pid exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

/** Pids (not zombies) whose parent is `ppid` (from /proc). */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === ppid && fields[0] !== 'Z') out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every live descendant of pid (children, their children, ...). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const todo = [pid];
  while (todo.length > 0) {
    for (const c of childrenOf(todo.pop() as number)) {
      out.push(c);
      todo.push(c);
    }
  }
  return out;
}

/** Live processes whose command line contains `needle` (from /proc). */
export function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes(needle) && processAlive(Number(name))) found.push(Number(name));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}
