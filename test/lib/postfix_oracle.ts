/*
 * postfix_oracle - a throwaway configuration (and instance) of the real Postfix for tests
 *
 * What it does: makeOracleConfig() creates a temporary directory laid out
 * as ROOT/etc (config_directory, or ROOT itself), ROOT/queue
 * (queue_directory), ROOT/data (data_directory) and ROOT/maillog
 * (maillog_file), writes main.cf (and master.cf when asked) there and
 * back-dates them, and returns an OracleConfig that runs the real
 * Postfix programs against it (postconf, run), starts an instance with
 * "postfix start" or a foreground master (-d), stops it, and removes the
 * directory. writeMainCf()/writeMasterCf()/backdate() do the same for a
 * configuration directory a test lays out itself.
 *
 * Why back-date: Postfix treats a main.cf or master.cf younger than about
 * a second as still being edited, and pauses (or reads it again) until it
 * has cooled down; dating the files CONFIG_AGE_SECONDS in the past keeps
 * every oracle run at full speed.
 *
 * What it does not do: decide what a test compares, touch /etc/postfix or
 * a system instance, or skip anything: a missing Postfix program fails
 * the calling test.
 *
 * DIAGNOSTICS
 * start()/startMaster() throw (assertion errors) naming the program and
 * showing its stderr and the instance's maillog when the instance does
 * not come up in time; every child process is killed after a timeout.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CommandResult, type RunOptions, runProgram } from './paths.js';

/** Where the Debian packages put the programs the tests call. */
/**
 * main.cf identity most oracle instances share: a fixed host name (so
 * output never depends on this machine), no local domains, and the 3.6
 * compatibility defaults. Spread it first, then add the test's own.
 */
export const ORACLE_MAIN_BASE: Readonly<Record<string, string>> = {
  compatibility_level: '3.6',
  myhostname: 'oracle.example',
  mydestination: '',
};

/**
 * main.cf for an instance whose smtpd a test talks to from 127.0.0.1:
 * ORACLE_MAIN_BASE plus no local recipient or alias tables (no proxymap
 * needed), IPv4 loopback only, the client in mynetworks (relaying
 * allowed), no anvil-backed limits (no anvil service needed). Spread it
 * first, then add the test's own.
 */
export const ORACLE_SMTPD_BASE: Readonly<Record<string, string>> = {
  ...ORACLE_MAIN_BASE,
  local_recipient_maps: '',
  alias_maps: '',
  inet_interfaces: '127.0.0.1',
  inet_protocols: 'ipv4',
  mynetworks: '127.0.0.0/8',
  smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
  smtpd_client_connection_count_limit: '0',
  smtpd_client_connection_rate_limit: '0',
};

/**
 * master.cf lines for an instance that moves mail: pickup, cleanup, qmgr,
 * trivial-rewrite, bounce/defer/trace, error/retry, discard, smtp, local
 * and postlogd, none chrooted (the temporary root is no chroot jail).
 */
export const ORACLE_MAIL_SERVICES: readonly string[] = [
  'pickup unix n - n 60 1 pickup',
  'cleanup unix n - n - 0 cleanup',
  'qmgr unix n - n 300 1 qmgr',
  'rewrite unix - - n - - trivial-rewrite',
  'bounce unix - - n - 0 bounce',
  'defer unix - - n - 0 bounce',
  'trace unix - - n - 0 bounce',
  'error unix - - n - - error',
  'retry unix - - n - - error',
  'discard unix - - n - - discard',
  'smtp unix - - n - - smtp',
  'local unix - n n - - local',
  'postlog unix-dgram n - n - 1 postlogd',
];

export const POSTFIX_PROGRAMS = {
  postfix: '/usr/sbin/postfix',
  postconf: '/usr/sbin/postconf',
  postcat: '/usr/sbin/postcat',
  postlog: '/usr/sbin/postlog',
  postqueue: '/usr/sbin/postqueue',
  sendmail: '/usr/sbin/sendmail',
  master: '/usr/lib/postfix/sbin/master',
  showq: '/usr/lib/postfix/sbin/showq',
} as const;

/** How far in the past configuration files are dated. */
export const CONFIG_AGE_SECONDS = 60;
/** Bound on a Postfix command (postfix start/stop, postconf, sendmail...). */
export const COMMAND_TIMEOUT_MS = 30_000;
/** Bound on a foreground master creating the socket startMaster() waits for. */
export const MASTER_START_MS = 10_000;
/** Bound on a foreground master exiting after SIGTERM before it gets SIGKILL. */
export const MASTER_STOP_MS = 10_000;
const POLL_MS = 50;

/** main.cf settings in order; null drops one of the defaults. */
export type MainSettings = Record<string, string | null>;

/** Dates a file CONFIG_AGE_SECONDS in the past (see the header). */
export function backdate(path: string): void {
  const t = new Date(Date.now() - CONFIG_AGE_SECONDS * 1000);
  utimesSync(path, t, t);
}

/** Writes confDir/main.cf ("name = value" lines, nulls left out), back-dated; creates confDir. Returns the file. */
export function writeMainCf(confDir: string, settings: MainSettings): string {
  mkdirSync(confDir, { recursive: true });
  const file = join(confDir, 'main.cf');
  const lines = Object.entries(settings).flatMap(([k, v]) => (v === null ? [] : [`${k} = ${v}\n`]));
  writeFileSync(file, lines.join(''));
  backdate(file);
  return file;
}

/** Writes confDir/master.cf from whole lines, back-dated. Returns the file. */
export function writeMasterCf(confDir: string, lines: string[]): string {
  mkdirSync(confDir, { recursive: true });
  const file = join(confDir, 'master.cf');
  writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
  backdate(file);
  return file;
}

/** The uid and gid of the postfix user (mail_owner), from /etc/passwd. */
export function postfixIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postfix:'));
  assert.ok(line, 'no postfix user in /etc/passwd: install the postfix package');
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export interface OracleConfigOptions {
  /** Prefix of the fresh temporary directory (default "postern-oracle-"). */
  prefix?: string;
  /** Use this directory (created here, must not exist) instead of a fresh temporary one. */
  root?: string;
  /** config_directory below the root (default "etc"); '' makes the root itself the config directory. */
  confSubdir?: string;
  /** main.cf settings after the defaults (queue_directory, data_directory, maillog_file, maillog_file_prefixes). */
  main?: MainSettings;
  /** master.cf lines; no master.cf when left out. */
  master?: string[];
  /** Directories to create below queue_directory (queue_directory itself always exists). */
  queueDirs?: string[];
  /** Directories (relative to the root) to create and give to the postfix user; makes the root world-readable. */
  ownedDirs?: string[];
}

export interface OracleConfig {
  readonly root: string;
  readonly confDir: string;
  readonly queueDir: string;
  readonly dataDir: string;
  readonly maillog: string;
  /** process.env with MAIL_CONFIG set to confDir and /usr/sbin on PATH. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs the real postconf -c confDir args. */
  postconf(args: string[], opts?: RunOptions): Promise<CommandResult>;
  /** Runs any program with env (MAIL_CONFIG = confDir), bounded by COMMAND_TIMEOUT_MS unless opts say otherwise. */
  run(prog: string, args: string[], opts?: RunOptions): Promise<CommandResult>;
  /** postfix -c confDir start; asserts it succeeded. */
  start(): Promise<void>;
  /** Runs master -c confDir -d in the foreground and waits until `waitFor` exists. */
  startMaster(waitFor: string): Promise<void>;
  /** Stops what start()/startMaster() started (postfix stop, or SIGTERM to the master); null when nothing runs. */
  stop(): Promise<CommandResult | null>;
  /** stop(), then removes the root directory. */
  cleanup(): Promise<void>;
  /** The maillog so far ('' when there is none), for failure messages. */
  readLog(): string;
}

/** Creates the directory layout and configuration files; see the header. */
export function makeOracleConfig(opts: OracleConfigOptions = {}): OracleConfig {
  let root: string;
  if (opts.root !== undefined) {
    mkdirSync(opts.root);
    root = opts.root;
  } else {
    root = mkdtempSync(join(tmpdir(), opts.prefix ?? 'postern-oracle-'));
  }
  const confDir = opts.confSubdir === '' ? root : join(root, opts.confSubdir ?? 'etc');
  const queueDir = join(root, 'queue');
  const dataDir = join(root, 'data');
  const maillog = join(root, 'maillog');
  mkdirSync(confDir, { recursive: true });
  mkdirSync(queueDir, { recursive: true });
  for (const d of opts.queueDirs ?? []) mkdirSync(join(queueDir, d), { recursive: true });
  if (opts.ownedDirs && opts.ownedDirs.length > 0) {
    // The master and its daemons work as the postfix user below here.
    chmodSync(root, 0o755);
    const owner = postfixIds();
    for (const d of opts.ownedDirs) {
      mkdirSync(join(root, d), { recursive: true });
      chownSync(join(root, d), owner.uid, owner.gid);
    }
  }
  writeMainCf(confDir, {
    queue_directory: queueDir,
    data_directory: dataDir,
    maillog_file: maillog,
    maillog_file_prefixes: root,
    // A bare-port inet service must never listen beyond loopback in a test.
    inet_interfaces: 'loopback-only',
    ...opts.main,
  });
  if (opts.master) writeMasterCf(confDir, opts.master);

  const env: NodeJS.ProcessEnv = { ...process.env, MAIL_CONFIG: confDir, PATH: `/usr/sbin:/usr/bin:/bin:${process.env.PATH ?? ''}` };
  let instance = false;
  let master: ChildProcess | null = null;

  const readLog = (): string => {
    try {
      return readFileSync(maillog, 'utf8');
    } catch {
      return '';
    }
  };
  const run = (prog: string, args: string[], o: RunOptions = {}): Promise<CommandResult> =>
    runProgram(prog, args, { timeoutMs: COMMAND_TIMEOUT_MS, ...o, env: o.env ?? env });

  const stop = async (): Promise<CommandResult | null> => {
    if (instance) {
      instance = false;
      return run(POSTFIX_PROGRAMS.postfix, ['-c', confDir, 'stop']);
    }
    const m = master;
    if (m) {
      master = null;
      if (m.exitCode === null && m.signalCode === null) {
        const exited = new Promise<void>((r) => m.once('exit', () => r()));
        m.kill('SIGTERM');
        const timer = setTimeout(() => m.kill('SIGKILL'), MASTER_STOP_MS);
        await exited;
        clearTimeout(timer);
      }
    }
    return null;
  };

  return {
    root,
    confDir,
    queueDir,
    dataDir,
    maillog,
    env,
    postconf: (args, o) => run(POSTFIX_PROGRAMS.postconf, ['-c', confDir, ...args], o),
    run,
    readLog,
    async start() {
      assert.ok(existsSync(POSTFIX_PROGRAMS.postfix), `${POSTFIX_PROGRAMS.postfix} is missing: install the postfix package`);
      const r = await run(POSTFIX_PROGRAMS.postfix, ['-c', confDir, 'start']);
      assert.equal(r.status, 0, `postfix start failed: ${r.stderr}${readLog()}`);
      instance = true;
    },
    async startMaster(waitFor: string) {
      assert.ok(existsSync(POSTFIX_PROGRAMS.master), `${POSTFIX_PROGRAMS.master} is missing: install the postfix package`);
      const m = spawn(POSTFIX_PROGRAMS.master, ['-c', confDir, '-d'], { stdio: 'ignore', env });
      master = m;
      const t0 = Date.now();
      while (!existsSync(waitFor)) {
        assert.ok(Date.now() - t0 < MASTER_START_MS, `master did not create ${waitFor} in time\n${readLog()}`);
        assert.equal(m.exitCode, null, `master exited early\n${readLog()}`);
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    },
    stop,
    async cleanup() {
      await stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
