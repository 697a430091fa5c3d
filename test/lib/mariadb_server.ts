/*
 * mariadb_server - a throwaway MariaDB server for the mysql: table tests
 *
 * What it does: startMariadb() bootstraps a data directory in a fresh
 * directory under os.tmpdir() the way mariadb-install-db does (mariadbd
 * --bootstrap fed Debian's system-table scripts; the help tables, the
 * sys schema and the GIS procedures are left out, which takes most of
 * the install time away), then runs mariadbd --no-defaults on
 * 127.0.0.1 and a free port, with its UNIX socket, pid file and error
 * log in that directory (as root: --user=root, which MariaDB accepts).
 * sql() feeds statements to the `mariadb` client over the socket as the
 * database root (no password) and returns its tab-separated output.
 * stop() ends the server (SIGTERM, then SIGKILL after a bound) and
 * start() runs it again on the same port and data, so a test can take
 * the server down mid-run and bring it back. destroy() stops it and
 * removes the directory.
 *
 * What it does not do: touch a system MariaDB (/etc/mysql is never
 * read: --no-defaults everywhere), install packages, or skip: a missing
 * program or a server that does not come up throws.
 *
 * DIAGNOSTICS
 * start() throws with the tail of the server's error log when it is
 * not ready within MARIADB_START_MS; sql() throws with the client's
 * stderr when a statement fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram } from './paths.js';
import { freePort, portAccepts, waitFor } from './proc.js';

/** The Debian programs. */
export const MARIADB_PROGRAMS = {
  server: '/usr/sbin/mariadbd',
  client: '/usr/bin/mariadb',
} as const;

/** Debian's scripts that create and fill the mysql schema (what mariadb-install-db feeds the server). */
export const MARIADB_SYSTEM_SQL = [
  '/usr/share/mysql/mysql_system_tables.sql',
  '/usr/share/mysql/mysql_system_tables_data.sql',
] as const;

/** How long the server may take to accept connections. */
export const MARIADB_START_MS = 30_000;
/** How long a stop may take before SIGKILL. */
export const MARIADB_STOP_MS = 10_000;
/** Bound on mariadb-install-db and each client run. */
export const MARIADB_COMMAND_MS = 30_000;

export interface MariadbServer {
  readonly dir: string;
  readonly port: number;
  /** The server's UNIX socket. */
  readonly socket: string;
  /** Runs SQL as the database root; returns the client's stdout (batch, tab-separated). */
  sql(statements: string): Promise<string>;
  /** Is the server process running? */
  running(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stop() and remove the directory. */
  destroy(): Promise<void>;
}

/** Installs a data directory and starts a server on 127.0.0.1:free port. */
export async function startMariadb(): Promise<MariadbServer> {
  for (const p of [...Object.values(MARIADB_PROGRAMS), ...MARIADB_SYSTEM_SQL]) {
    if (!existsSync(p)) throw new Error(`mariadb_server: ${p} is missing (Debian packages mariadb-server, mariadb-client)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'postern-mariadb-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  mkdirSync(data);
  // As mariadb-install-db --auth-root-authentication-method=normal: root without a password.
  const bootstrapSql = 'create database if not exists mysql;\nuse mysql;\nSET @auth_root_socket=NULL;\n'
    + MARIADB_SYSTEM_SQL.map((f) => readFileSync(f, 'utf8')).join('\n');
  const install = await runProgram(MARIADB_PROGRAMS.server, [
    '--no-defaults', '--bootstrap', `--datadir=${data}`, '--user=root', '--log-warnings=0',
    '--enforce-storage-engine=', '--max_allowed_packet=8M', '--net_buffer_length=16K', '--skip-name-resolve',
  ], { input: bootstrapSql, timeoutMs: MARIADB_COMMAND_MS });
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`mariadbd --bootstrap failed (${install.status}): ${install.stderr.slice(-2000)}`);
  }
  const port = await freePort();
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  const start = async (): Promise<void> => {
    if (child) return;
    const proc = spawn(MARIADB_PROGRAMS.server, [
      '--no-defaults', `--datadir=${data}`, '--user=root', '--bind-address=127.0.0.1', `--port=${port}`,
      `--socket=${socket}`, `--pid-file=${join(dir, 'mysqld.pid')}`, `--log-error=${join(dir, 'error.log')}`,
      '--skip-name-resolve', '--skip-log-bin', '--innodb-buffer-pool-size=16M', '--max-connections=50',
    ], { stdio: 'ignore' });
    child = proc;
    exited = new Promise((resolve) => proc.once('exit', () => {
      if (child === proc) child = null;
      resolve();
    }));
    try {
      await waitFor('mariadbd to accept connections', async () => child === proc && existsSync(socket) && portAccepts(port),
        MARIADB_START_MS);
    } catch (err) {
      const log = existsSync(join(dir, 'error.log')) ? readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000) : '';
      await stop();
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  };

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), MARIADB_STOP_MS);
    await exited;
    clearTimeout(timer);
  };

  const sql = async (statements: string): Promise<string> => {
    const r = await runProgram(MARIADB_PROGRAMS.client, [
      '--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '--default-character-set=utf8mb4',
    ], { input: statements, timeoutMs: MARIADB_COMMAND_MS });
    if (r.status !== 0) throw new Error(`mariadb client failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  };

  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir, port, socket, sql, start, stop,
    running: () => child !== null,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
