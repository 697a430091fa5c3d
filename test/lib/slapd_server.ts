/*
 * slapd_server - a throwaway OpenLDAP server for the ldap: table tests
 *
 * What it does: startSlapd() writes a slapd.conf into a fresh directory
 * under os.tmpdir() (Debian's core, cosine, inetorgperson, misc and nis
 * schemas, the mdb backend with its database in that directory, one
 * suffix with a root DN and password), runs /usr/sbin/slapd in the
 * foreground (-d 0) on ldap://127.0.0.1:FREE_PORT/ (with tls: also
 * ldaps:// on a second port, and STARTTLS, with a self-signed
 * certificate made by openssl), and waits until it accepts
 * connections. add() loads LDIF through ldapadd as the root DN.
 * stop()/start() take the server down and bring it back on the same
 * port and data; destroy() stops it and removes the directory.
 *
 * What it does not do: touch /etc/ldap/slapd.d or a system slapd, ask
 * for client certificates, or skip: a missing program or a server that
 * does not come up throws.
 *
 * DIAGNOSTICS
 * start() throws with slapd's output when it is not ready within
 * SLAPD_START_MS; add() throws with ldapadd's stderr when it fails.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runProgram } from './paths.js';
import { freePort, portAccepts, waitFor } from './proc.js';

export const SLAPD_PROGRAMS = {
  server: '/usr/sbin/slapd',
  add: '/usr/bin/ldapadd',
  openssl: '/usr/bin/openssl',
} as const;
export const SLAPD_SCHEMA_DIR = '/etc/ldap/schema';
export const SLAPD_MODULE_DIR = '/usr/lib/ldap';
export const SLAPD_SCHEMAS = ['core', 'cosine', 'inetorgperson', 'misc', 'nis'] as const;
/** How long slapd may take to accept connections / to stop before SIGKILL. */
export const SLAPD_START_MS = 20_000;
export const SLAPD_STOP_MS = 10_000;
export const SLAPD_COMMAND_MS = 20_000;
/** The mdb map size (bytes): small, the fixtures are tiny. */
export const SLAPD_MDB_MAXSIZE = 16 * 1024 * 1024;

export interface SlapdOptions {
  /** Default "dc=example,dc=com". */
  suffix?: string;
  /** Default "secret". */
  rootPassword?: string;
  /** Also serve ldaps:// and STARTTLS with a self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

export interface SlapdServer {
  readonly dir: string;
  readonly port: number;
  readonly url: string;
  /** ldaps://127.0.0.1:PORT when started with tls, else null. */
  readonly ldapsUrl: string | null;
  readonly suffix: string;
  readonly rootDn: string;
  readonly rootPassword: string;
  /** Adds the LDIF entries (ldapadd -x as the root DN). */
  add(ldif: string): Promise<void>;
  running(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): Promise<void>;
}

export async function startSlapd(opts: SlapdOptions = {}): Promise<SlapdServer> {
  for (const p of Object.values(SLAPD_PROGRAMS)) {
    if (!existsSync(p)) throw new Error(`slapd_server: ${p} is missing (Debian packages slapd, ldap-utils)`);
  }
  const suffix = opts.suffix ?? 'dc=example,dc=com';
  const rootDn = `cn=admin,${suffix}`;
  const rootPassword = opts.rootPassword ?? 'secret';
  const dir = mkdtempSync(join(tmpdir(), 'postern-slapd-'));
  const db = join(dir, 'db');
  mkdirSync(db);
  const conf = join(dir, 'slapd.conf');
  const tlsLines: string[] = [];
  if (opts.tls) {
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    const r = await runProgram(SLAPD_PROGRAMS.openssl, [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert,
    ], { timeoutMs: SLAPD_COMMAND_MS });
    if (r.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`openssl req failed (${r.status}): ${r.stderr}`);
    }
    tlsLines.push(`TLSCertificateFile ${cert}`, `TLSCertificateKeyFile ${key}`);
  }
  writeFileSync(conf, [
    ...tlsLines,
    ...SLAPD_SCHEMAS.map((s) => `include ${join(SLAPD_SCHEMA_DIR, `${s}.schema`)}`),
    `modulepath ${SLAPD_MODULE_DIR}`,
    'moduleload back_mdb',
    `pidfile ${join(dir, 'slapd.pid')}`,
    'database mdb',
    `maxsize ${SLAPD_MDB_MAXSIZE}`,
    `suffix "${suffix}"`,
    `rootdn "${rootDn}"`,
    `rootpw ${rootPassword}`,
    `directory ${db}`,
    '',
  ].join('\n'));
  const port = await freePort();
  const url = `ldap://127.0.0.1:${port}`;
  const ldapsUrl = opts.tls ? `ldaps://127.0.0.1:${await freePort()}` : null;
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';

  const stop = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), SLAPD_STOP_MS);
    await exited;
    clearTimeout(timer);
  };

  const start = async (): Promise<void> => {
    if (child) return;
    const listen = ldapsUrl ? `${url}/ ${ldapsUrl}/` : `${url}/`;
    const proc = spawn(SLAPD_PROGRAMS.server, ['-f', conf, '-h', listen, '-d', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    proc.stdout?.on('data', (b: Buffer) => { output = (output + b.toString()).slice(-4000); });
    proc.stderr?.on('data', (b: Buffer) => { output = (output + b.toString()).slice(-4000); });
    exited = new Promise((resolve) => proc.once('exit', () => {
      if (child === proc) child = null;
      resolve();
    }));
    try {
      await waitFor('slapd to accept connections', async () => child === proc && portAccepts(port), SLAPD_START_MS);
    } catch (err) {
      await stop();
      throw new Error(`${(err as Error).message}\n${output}`);
    }
  };

  const add = async (ldif: string): Promise<void> => {
    const r = await runProgram(SLAPD_PROGRAMS.add, ['-x', '-H', url, '-D', rootDn, '-w', rootPassword],
      { input: ldif, timeoutMs: SLAPD_COMMAND_MS });
    if (r.status !== 0) throw new Error(`ldapadd failed (${r.status}): ${r.stderr}`);
  };

  try {
    await start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return {
    dir, port, url, ldapsUrl, suffix, rootDn, rootPassword, add, start, stop,
    running: () => child !== null,
    destroy: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
