/*
 * instance - a live, throwaway Postern mail system for system tests
 *
 * What it does: PosternInstance.create() makes a temporary root (under
 * os.tmpdir()) holding etc/ (a copy of the shipped conf/main.cf and
 * conf/master.cf, or master.cf lines the test gives), queue/, data/ and
 * maillog; writes the local paths and the test's main.cf settings with
 * Postern's own `postconf -e`, and its master.cf services with
 * `postconf -Me`; picks free loopback ports for the names the test asks
 * for and substitutes "${port:NAME}" (and "${root}") in every value;
 * writes the test's files (e.g. test services) into the root; runs
 * `postfix check`. start() runs `node dist/src/postfix/postfix.js -c DIR
 * start-fg` (or `master -d`) and waits, bounded, for master's "daemon
 * started" log line; if a chosen port was taken meanwhile it picks new
 * ports and tries again (PORT_ATTEMPTS). address() and chatVars() give
 * the picked ports to clients and .chat scripts. waitLog()/countLog()/log() read
 * the maillog. stop() stops master with `postfix stop` (or SIGTERM),
 * waits for every process it started, kills and reports any that
 * outlived the stop; cleanup() also removes the root.
 *
 * Ownership as in scripts/start.sh: run by root, master stays root and
 * the daemons run as mail_owner (the postfix account), so the root is
 * world-readable and data/ belongs to mail_owner; otherwise everything
 * runs as the invoking user.
 *
 * What it does not do: touch /etc/postfix, ./var or a system instance;
 * listen on anything but loopback addresses the test names; decide what
 * a test asserts.
 *
 * DIAGNOSTICS
 * create() throws with postconf's or postfix check's stderr; start()
 * throws when master does not log "daemon started" in time (with the
 * maillog and master's stderr); stop() throws naming the pids that were
 * still running after the stop (after killing them).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { type CommandResult, commandPath, REPO_ROOT, runCommand } from './paths.js';
import { descendantsOf, freePort, processAlive, processesMentioning, waitFor } from './proc.js';

/**
 * master.cf lines of a Postern instance that takes mail in: smtpd on the
 * picked port "smtp", cleanup, trivial-rewrite, pickup and postlogd (no
 * qmgr yet, so accepted mail stays in incoming).
 */
export const MAIL_IN_SERVICES: readonly string[] = [
  '127.0.0.1:${port:smtp} inet n - n - - smtpd',
  'pickup unix n - n 60 1 pickup',
  'cleanup unix n - n - 0 cleanup',
  'rewrite unix - - n - - trivial-rewrite',
  'postlog unix-dgram n - n - 1 postlogd',
];

/**
 * master.cf lines of a whole Postern mail system (mail in and mail out),
 * with Postfix 3.7's service names: the mail-in services plus qmgr, the
 * bounce/defer/trace services, flush, showq and every delivery agent.
 * Tests that relay add their own next-hop settings in main.cf.
 */
export const MAIL_OUT_SERVICES: readonly string[] = [
  ...MAIL_IN_SERVICES,
  'qmgr unix n - n 300 1 qmgr',
  'bounce unix - - n - 0 bounce',
  'defer unix - - n - 0 bounce',
  'trace unix - - n - 0 bounce',
  'flush unix n - n 1000? 0 flush',
  'showq unix n - n - - showq',
  'smtp unix - - n - - smtp',
  'relay unix - - n - - smtp',
  'lmtp unix - - n - - lmtp',
  'local unix - n n - - local',
  'virtual unix - n n - - virtual',
  'discard unix - - n - - discard',
  'error unix - - n - - error',
  'retry unix - - n - - error',
];

/** Bound on master logging "daemon started". */
export const INSTANCE_START_MS = 20_000;
/** Bound on every started process being gone after stop. */
export const INSTANCE_STOP_MS = 20_000;
/** How often start() picks fresh ports when one was taken between choosing and binding. */
export const PORT_ATTEMPTS = 3;
/** The log line that says master is up (Postfix's text). */
export const MASTER_STARTED = /postfix\/master\[\d+\]: daemon started -- version /;

/** The file's text, or '' when it does not exist (yet). */
export function readLogFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export interface PosternInstanceOptions {
  /** Prefix of the temporary root (default "postern-inst-"). */
  prefix?: string;
  /** main.cf settings applied with postconf -e after the local paths. */
  main?: Record<string, string>;
  /** master.cf lines that replace conf/master.cf (before `services`). */
  masterLines?: string[];
  /** master.cf services applied with postconf -Me: "service/type" -> the whole entry. */
  services?: Record<string, string>;
  /** Names of loopback TCP ports to pick; "${port:NAME}" in values becomes the number. */
  ports?: string[];
  /** File name -> text, written into the root before anything starts. */
  files?: Record<string, string>;
  /** How start() runs master: through `postfix start-fg` (default) or `master -d` directly. */
  startWith?: 'start-fg' | 'master';
}

export class PosternInstance {
  readonly root: string;
  readonly confDir: string;
  readonly queueDir: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The chosen loopback ports by name (chosen anew when start() had to retry). */
  ports: Record<string, number> = {};
  /** The process start() spawned (postfix start-fg or master), while it runs. */
  child: ChildProcess | null = null;
  /** Its stdout and stderr so far. */
  output = '';
  readonly #opts: PosternInstanceOptions;
  #exited: Promise<void> | null = null;
  #seen = new Set<number>();

  private constructor(opts: PosternInstanceOptions) {
    this.#opts = opts;
    this.root = mkdtempSync(join(tmpdir(), opts.prefix ?? 'postern-inst-'));
    this.confDir = join(this.root, 'etc');
    this.queueDir = join(this.root, 'queue');
    this.dataDir = join(this.root, 'data');
    this.logFile = join(this.root, 'maillog');
  }

  /** Lays out the root and configuration (see the header); throws on any configuration error. */
  static async create(opts: PosternInstanceOptions = {}): Promise<PosternInstance> {
    const inst = new PosternInstance(opts);
    try {
      mkdirSync(inst.confDir);
      mkdirSync(inst.queueDir);
      mkdirSync(inst.dataDir);
      for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(inst.root, name), text);
      if (userInfo().uid === 0) {
        // master stays root; the daemons it runs switch to mail_owner.
        chmodSync(inst.root, 0o755);
        const owner = accountIds('postfix');
        if (owner) chownSync(inst.dataDir, owner.uid, owner.gid);
      }
      await inst.#configure();
    } catch (err) {
      rmSync(inst.root, { recursive: true, force: true });
      throw err;
    }
    return inst;
  }

  /** Replaces ${port:NAME} and ${root} in a configuration value. */
  expand(value: string): string {
    return value.replace(/\$\{(port:([A-Za-z0-9_-]+)|root)\}/g, (all, _w: string, name: string | undefined) => {
      if (name === undefined) return this.root;
      const port = this.ports[name];
      if (port === undefined) throw new Error(`${all}: no port named "${name}" in the instance's ports`);
      return String(port);
    });
  }

  /** Writes main.cf and master.cf anew (from conf/ or masterLines), then applies the test's settings. */
  /** "127.0.0.1:PORT" of a picked port. */
  address(name: string): string {
    const port = this.ports[name];
    if (port === undefined) throw new Error(`no port named "${name}" in the instance's ports`);
    return `127.0.0.1:${port}`;
  }

  /** Variables for .chat scripts: NAME = "127.0.0.1:PORT" and port_NAME = "PORT" per picked port, root, confDir, queueDir. */
  chatVars(): Record<string, string> {
    const vars: Record<string, string> = { root: this.root, confDir: this.confDir, queueDir: this.queueDir };
    for (const [name, port] of Object.entries(this.ports)) {
      vars[name] = `127.0.0.1:${port}`;
      vars[`port_${name}`] = String(port);
    }
    return vars;
  }

  async #configure(): Promise<void> {
    this.ports = {};
    for (const name of this.#opts.ports ?? []) this.ports[name] = await freePort();
    copyFileSync(join(REPO_ROOT, 'conf', 'main.cf'), join(this.confDir, 'main.cf'));
    const lines = this.#opts.masterLines;
    if (lines) writeFileSync(join(this.confDir, 'master.cf'), lines.map((l) => `${this.expand(l)}\n`).join(''));
    else copyFileSync(join(REPO_ROOT, 'conf', 'master.cf'), join(this.confDir, 'master.cf'));
    const root = userInfo().uid === 0;
    const settings: Record<string, string> = {
      queue_directory: this.queueDir,
      data_directory: this.dataDir,
      maillog_file: this.logFile,
      maillog_file_prefixes: this.root,
      ...(root ? { mail_owner: accountIds('postfix') ? 'postfix' : 'nobody', setgid_group: accountIds('postdrop', true) ? 'postdrop' : 'nogroup' } : { mail_owner: userInfo().username, setgid_group: groupName(process.getgid?.() ?? 0) }),
      ...this.#opts.main,
    };
    const edits = Object.entries(settings).map(([k, v]) => `${k} = ${this.expand(v)}`);
    await this.#mustRun('postconf', ['-c', this.confDir, '-e', ...edits]);
    const services = Object.entries(this.#opts.services ?? {}).map(([k, v]) => `${this.expand(k)} = ${this.expand(v)}`);
    if (services.length > 0) await this.#mustRun('postconf', ['-c', this.confDir, '-Me', ...services]);
    await this.#mustRun('postfix', ['-c', this.confDir, 'check']);
  }

  async #mustRun(cmd: string, args: string[]): Promise<CommandResult> {
    const r = await runCommand(cmd, args);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (status ${r.status}): ${r.stderr}`);
    return r;
  }

  /** Postern's postconf -c confDir args. */
  postconf(args: string[]): Promise<CommandResult> {
    return runCommand('postconf', ['-c', this.confDir, ...args]);
  }

  /** Postern's postfix -c confDir args (status, reload, flush, ...). */
  postfix(args: string[]): Promise<CommandResult> {
    return runCommand('postfix', ['-c', this.confDir, ...args]);
  }

  log(): string {
    return readLogFile(this.logFile);
  }

  /** The first maillog line matching re, waiting (bounded) for it. */
  async waitLog(re: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitFor(`log line ${re} in ${this.logFile}`, () => this.log().split('\n').find((l) => re.test(l)), timeoutMs).catch((err: Error) => {
      throw new Error(`${err.message}\n--- maillog ---\n${this.log()}--- output ---\n${this.output}`);
    });
  }

  countLog(re: RegExp): number {
    return this.log().split('\n').filter((l) => re.test(l)).length;
  }

  /**
   * SIGKILLs the process start() spawned and every descendant (that one
   * first, so master cannot start new workers), as a crash would, and
   * forgets the child so start() can run again. Returns the pids killed.
   */
  killAll(): number[] {
    const top = this.child?.pid;
    if (top === undefined) throw new Error('killAll: the instance does not run');
    const all = [top, ...descendantsOf(top)];
    for (const pid of all) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    this.child = null;
    return all;
  }

  /** Starts the mail system and waits for "daemon started"; see the header. */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const before = this.countLog(MASTER_STARTED);
      this.#spawn();
      const child = this.child as ChildProcess;
      const ok = await waitFor('master to start', () => this.countLog(MASTER_STARTED) > before || child.exitCode !== null || child.signalCode !== null, INSTANCE_START_MS).catch(() => false);
      if (ok && child.exitCode === null && child.signalCode === null) {
        this.#remember();
        return;
      }
      const why = `master did not start (attempt ${attempt}): exit ${child.exitCode} signal ${child.signalCode}\n--- output ---\n${this.output}\n--- maillog ---\n${this.log()}`;
      await this.#kill();
      const portTaken = /address already in use/i.test(this.output + this.log());
      if (!portTaken || attempt >= PORT_ATTEMPTS || (this.#opts.ports ?? []).length === 0) throw new Error(why);
      await this.#configure();
    }
  }

  #spawn(): void {
    const args =
      (this.#opts.startWith ?? 'start-fg') === 'start-fg'
        ? [commandPath('postfix'), '-c', this.confDir, 'start-fg']
        : [commandPath('master'), '-c', this.confDir, '-d'];
    this.output = '';
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => (this.output += b.toString()));
    child.stderr.on('data', (b: Buffer) => (this.output += b.toString()));
    this.#exited = new Promise((r) => child.once('exit', () => r()));
    this.child = child;
    this.#seen = new Set([child.pid as number]);
  }

  /** Notes every live process of the instance, so stop() can check they all end. */
  #remember(): void {
    const pid = this.child?.pid;
    if (pid === undefined) return;
    for (const p of descendantsOf(pid)) this.#seen.add(p);
  }

  async #kill(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.#remember();
    for (const pid of this.#seen) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    await this.#exited;
    this.child = null;
  }

  /**
   * Stops master (postfix stop, or SIGTERM to master -d), waits for every
   * process seen, and throws if any had to be killed.
   */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.#remember();
    if (child.exitCode === null && child.signalCode === null) {
      if ((this.#opts.startWith ?? 'start-fg') === 'start-fg') {
        const r = await this.postfix(['stop']);
        if (r.status !== 0) child.kill('SIGTERM');
      } else child.kill('SIGTERM');
    }
    const gone = await waitFor('every process of the instance to end', () => [...this.#seen].every((p) => !processAlive(p)) && processesMentioning(this.confDir).length === 0, INSTANCE_STOP_MS).catch(() => false);
    const left = [...new Set([...this.#seen].filter(processAlive).concat(processesMentioning(this.confDir)))];
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Ended meanwhile.
      }
    }
    await this.#exited;
    this.child = null;
    if (!gone) throw new Error(`processes left after stop (killed): ${left.join(' ')}\n--- maillog ---\n${this.log()}`);
  }

  /** stop(), then removes the root (also when stop() threw, which it then rethrows). */
  async cleanup(): Promise<void> {
    try {
      await this.stop();
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }
}

/** uid and gid of an account (or, with isGroup, the gid of a group); null when there is none. */
function accountIds(name: string, isGroup = false): { uid: number; gid: number } | null {
  const file = isGroup ? '/etc/group' : '/etc/passwd';
  if (!existsSync(file)) return null;
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const f = line.split(':');
  return isGroup ? { uid: -1, gid: Number(f[2]) } : { uid: Number(f[2]), gid: Number(f[3]) };
}

/** The name of a group id (from /etc/group), or the number as text. */
function groupName(gid: number): string {
  const line = readLogFile('/etc/group')
    .split('\n')
    .find((l) => l.split(':')[2] === String(gid));
  return line ? line.split(':')[0] : String(gid);
}
