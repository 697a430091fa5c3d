/*
 * memcached_server - a throwaway Debian memcached for table tests
 *
 * What it does: startMemcached() runs /usr/bin/memcached on 127.0.0.1
 * and a free port (UDP off, as user nobody because memcached refuses to
 * run as root without -u), waits until it accepts connections, and
 * returns a handle that can stop() it and start() it again on the same
 * port (server-down / server-back tests). Optionally it also listens on
 * a UNIX-domain socket instead (unixPath).
 *
 * What it does not do: share a server between tests, or kill any
 * process it did not start (stop() kills its own child by pid).
 *
 * DIAGNOSTICS
 * Throws when memcached is missing, exits early or does not accept
 * connections within MEMCACHED_START_MS (the error carries its stderr).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { freePort, portAccepts, waitFor } from './proc.js';

export const MEMCACHED_PROGRAM = '/usr/bin/memcached';
/** How long a start may take. */
export const MEMCACHED_START_MS = 10_000;
/** How long stop() waits for the process to exit. */
export const MEMCACHED_STOP_MS = 5_000;
/** The user memcached drops to (it refuses root). */
export const MEMCACHED_USER = 'nobody';

export interface MemcachedOptions {
  /** Listen on this UNIX-domain socket instead of TCP (the directory must be writable by nobody). */
  unixPath?: string;
}

export class MemcachedServer {
  private child: ChildProcess | null = null;
  private stderr = '';

  private constructor(readonly port: number, readonly unixPath: string | undefined) {}

  static async start(opts: MemcachedOptions = {}): Promise<MemcachedServer> {
    if (!existsSync(MEMCACHED_PROGRAM)) throw new Error(`${MEMCACHED_PROGRAM} is not installed`);
    const server = new MemcachedServer(opts.unixPath ? 0 : await freePort(), opts.unixPath);
    await server.start();
    return server;
  }

  /** "inet:127.0.0.1:PORT" or "unix:PATH", as memcache_table(5) names it. */
  get endpoint(): string {
    return this.unixPath ? `unix:${this.unixPath}` : `inet:127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** (Re)starts the server on the same port or socket. */
  async start(): Promise<void> {
    if (this.running) return;
    const args = this.unixPath
      ? ['-s', this.unixPath, '-a', '0666']
      : ['-l', '127.0.0.1', '-p', String(this.port), '-U', '0'];
    args.push('-u', MEMCACHED_USER, '-m', '16', '-c', '64');
    this.stderr = '';
    const child = spawn(MEMCACHED_PROGRAM, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    try {
      await waitFor('memcached to accept connections', async () => {
        if (!this.running) throw new Error(`memcached exited: ${this.stderr}`);
        return this.unixPath ? existsSync(this.unixPath) : portAccepts(this.port);
      }, MEMCACHED_START_MS);
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL) and waits until it is gone. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), MEMCACHED_STOP_MS);
    await gone;
    clearTimeout(timer);
    if (!this.unixPath) await waitFor('memcached port to close', async () => !(await portAccepts(this.port)), MEMCACHED_STOP_MS);
  }
}
