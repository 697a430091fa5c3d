/*
 * pg_server - a throwaway PostgreSQL server for table tests
 *
 * What it does: startPgServer() makes a temporary directory owned by the
 * postgres (or nobody) user, runs Debian's initdb there (trust
 * authentication, UTF-8, no fsync) and starts postgres on 127.0.0.1 and a
 * free port, with its UNIX socket in the same directory, as that user
 * (postgres refuses to run as root). The returned handle runs SQL as the
 * superuser through the pg driver, stops the server (fast shutdown,
 * SIGKILL after a bound) and starts it again on the same port and data,
 * and removes everything in cleanup(). The binaries are found by globbing
 * /usr/lib/postgresql/<version>/bin (newest version).
 *
 * What it does not do: share a server between tests, touch any system
 * cluster, or listen on anything but loopback.
 *
 * DIAGNOSTICS
 * Throws when the binaries are missing, initdb fails (its output in the
 * message), or the server does not accept connections within
 * PG_START_MS.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from './proc.js';

/** Bound on initdb. */
export const PG_INITDB_MS = 60_000;
/** Bound on the server accepting connections after start. */
export const PG_START_MS = 20_000;
/** Bound on a fast shutdown before SIGKILL. */
export const PG_STOP_MS = 10_000;
/** The superuser initdb creates. */
export const PG_SUPERUSER = 'postgres';

/** The part of the pg driver's API this harness uses. */
interface PgClient {
  connect(): Promise<void>;
  query(text: string, values?: unknown[]): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
}
type PgClientCtor = new (cfg: Record<string, unknown>) => PgClient;

export interface PgServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Directory of the UNIX-domain socket (.s.PGSQL.<port>). */
  readonly socketDir: string;
  readonly dir: string;
  /** Runs SQL as the superuser in database dbname (default "postgres"). */
  exec(sql: string, dbname?: string, values?: unknown[]): Promise<Array<Record<string, unknown>>>;
  /** Fast shutdown; resolves when the server has exited. */
  stop(): Promise<void>;
  /** Starts the stopped server again on the same port. */
  start(): Promise<void>;
  readonly running: boolean;
  /** stop() and remove the directory. */
  cleanup(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory. */
export function pgBinDir(): string {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) throw new Error(`PostgreSQL is not installed (${base} missing)`);
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'postgres')))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${base}`);
  return join(base, versions[0]!, 'bin');
}

/** uid/gid of the user the server runs as (postgres, else nobody). */
function serverIds(): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n');
  for (const name of ['postgres', 'nobody']) {
    const f = passwd.find((l) => l.startsWith(`${name}:`))?.split(':');
    if (f) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error('neither a postgres nor a nobody user exists');
}

export async function startPgServer(): Promise<PgServer> {
  const bin = pgBinDir();
  const ids = serverIds();
  const dir = mkdtempSync(join(tmpdir(), 'postern-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  mkdirSync(data, { mode: 0o700 });
  chownSync(dir, ids.uid, ids.gid);
  chownSync(data, ids.uid, ids.gid);
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', PG_SUPERUSER, '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    uid: ids.uid,
    gid: ids.gid,
    cwd: dir,
    timeout: PG_INITDB_MS,
    encoding: 'utf8',
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (${init.status ?? init.signal}): ${init.stdout}${init.stderr}`);
  }
  const port = await freePort();
  const Client = createRequire(import.meta.url)('pg').Client as PgClientCtor;
  let child: ChildProcess | null = null;
  let log = '';

  const start = async (): Promise<void> => {
    if (child) return;
    const c = spawn(join(bin, 'postgres'), ['-D', data, '-h', '127.0.0.1', '-p', String(port), '-k', dir, '-F', '-c', 'max_connections=50'], {
      uid: ids.uid,
      gid: ids.gid,
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.stdout!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    c.stderr!.on('data', (b: Buffer) => (log = (log + b.toString()).slice(-4000)));
    c.on('exit', () => {
      if (child === c) child = null;
    });
    child = c;
    try {
      await waitForPort(port, PG_START_MS);
      // The port opens before recovery ends: wait until a query works.
      const deadline = Date.now() + PG_START_MS;
      for (;;) {
        try {
          await exec('SELECT 1');
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } catch (err) {
      throw new Error(`postgres did not start: ${(err as Error).message}\n${log}`);
    }
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGINT');
    const timer = setTimeout(() => c.kill('SIGKILL'), PG_STOP_MS);
    await exited;
    clearTimeout(timer);
    child = null;
  };

  const exec = async (sql: string, dbname = 'postgres', values?: unknown[]): Promise<Array<Record<string, unknown>>> => {
    const client = new Client({ host: '127.0.0.1', port, user: PG_SUPERUSER, database: dbname, connectionTimeoutMillis: 5000 });
    await client.connect();
    try {
      return (await client.query(sql, values)).rows;
    } finally {
      await client.end();
    }
  };

  const server: PgServer = {
    host: '127.0.0.1',
    port,
    socketDir: dir,
    dir,
    exec,
    stop,
    start,
    get running() {
      return child !== null;
    },
    cleanup: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await start();
  } catch (err) {
    await server.cleanup();
    throw err;
  }
  return server;
}
