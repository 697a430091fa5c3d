/*
 * master_harness - a throwaway Postern instance for master(8) system tests
 *
 * What it does: makes a temporary config directory and queue directory
 * (under os.tmpdir()), writes main.cf and master.cf and small test
 * services (JavaScript modules written into the temp directory that
 * import the real mail_server skeleton), creates the queue directories
 * with `postfix check`, starts the real master as a child process
 * (node dist/src/master/master.js -c DIR -d), and offers bounded waits:
 * for a log line, for a process to end, for a client's reply. stop()
 * ends the master it started (SIGTERM, then SIGKILL after a deadline),
 * kills any worker it left behind, and removes the directory.
 *
 * The process, port and wait helpers live in test/lib/proc.ts and the
 * test services in test/lib/test_services.ts (shared with
 * test/lib/instance.ts, the general harness for later issues).
 *
 * What it does not do: touch /etc/postfix or any system instance, or use
 * addresses other than 127.0.0.1.
 *
 * DIAGNOSTICS
 * Every wait throws an Error saying what did not happen in time.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readLogFile } from '../lib/instance.js';
import { commandPath, runCommand } from '../lib/paths.js';
import { childrenOf, freePort, processAlive, waitFor } from '../lib/proc.js';

/** How often startWithPorts tries fresh ports when one was taken meanwhile. */
export const BIND_ATTEMPTS = 3;
// The process, port and wait helpers and the test services are shared with
// test/lib/instance.ts; they are re-exported here for the master tests.
export { ECHO_SERVICE, flakyService, triggerService } from '../lib/test_services.js';
export { childrenOf, freePort, POLL_MS, processAlive, waitFor } from '../lib/proc.js';

/** A line-oriented client on 127.0.0.1. */
export class Client {
  #buf = '';
  #lines: string[] = [];
  closed = false;
  private constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.#buf += d;
      let nl;
      while ((nl = this.#buf.indexOf('\n')) >= 0) {
        this.#lines.push(this.#buf.slice(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
      }
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => (this.closed = true));
  }

  /** Connects to 127.0.0.1:port, or to a UNIX socket when given a path. */
  static open(where: number | string, timeoutMs = 5_000): Promise<Client> {
    return new Promise((resolve, reject) => {
      const sock = typeof where === 'number' ? connect({ host: '127.0.0.1', port: where }) : connect({ path: where });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${where}: timeout`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        resolve(new Client(sock));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** The next line, or null when none arrives within timeoutMs. */
  async line(timeoutMs = 5_000): Promise<string | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (Date.now() > deadline || (this.closed && this.#lines.length === 0)) return null;
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.#lines.shift() as string;
  }

  send(text: string): void {
    this.sock.write(`${text}\n`);
  }

  /** Sends quit and waits (bounded) for the server to close. */
  async quit(timeoutMs = 5_000): Promise<void> {
    this.send('quit');
    await waitFor('server to close the connection', () => this.closed, timeoutMs);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/**
 * Runs fn while master is SIGSTOPped (it can neither accept nor hand over
 * clients), then lets master go on, also when fn fails; onTestEnd gets the
 * same resume for a test that times out inside fn (pass t.after).
 */
export async function whileMasterStopped<T>(masterPid: number, onTestEnd: (resume: () => void) => void, fn: () => Promise<T>): Promise<T> {
  const resume = (): void => {
    try {
      process.kill(masterPid, 'SIGCONT');
    } catch {
      // Gone already.
    }
  };
  process.kill(masterPid, 'SIGSTOP');
  onTestEnd(resume);
  try {
    return await fn();
  } finally {
    resume();
  }
}

/** Parses the echo greeting "pid=N uid=U greeting=G service=S". */
export function parseGreeting(line: string | null): { pid: number; uid: number; greeting: string; service: string } {
  const m = /^pid=(\d+) uid=(\d+) greeting=(.*) service=(.*)$/.exec(line ?? '');
  if (!m) throw new Error(`not an echo greeting: ${JSON.stringify(line)}`);
  return { pid: Number(m[1]), uid: Number(m[2]), greeting: m[3], service: m[4] };
}

export interface InstanceOptions {
  main?: Record<string, string>;
  /** master.cf lines; "$DIR" is replaced by the instance directory. */
  master: string[];
  /** file name -> module text, written into the instance directory. */
  files?: Record<string, string>;
}

export class Instance {
  readonly dir: string;
  readonly confDir: string;
  readonly queueDir: string;
  readonly outDir: string;
  readonly logFile: string;
  master: ChildProcess | null = null;
  masterStderr = '';
  #exited: Promise<number | null> | null = null;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'postern-master-'));
    chmodSync(this.dir, 0o755); // workers may run as mail_owner
    this.confDir = join(this.dir, 'conf');
    this.queueDir = join(this.dir, 'queue');
    this.outDir = join(this.dir, 'out');
    this.logFile = join(this.dir, 'maillog');
    mkdirSync(this.confDir);
    mkdirSync(this.outDir);
    chmodSync(this.outDir, 0o777);
  }

  writeMain(extra: Record<string, string> = {}): void {
    const base: Record<string, string> = {
      queue_directory: this.queueDir,
      data_directory: join(this.dir, 'data'),
      maillog_file: this.logFile,
      maillog_file_prefixes: this.dir,
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      ...extra,
    };
    writeFileSync(join(this.confDir, 'main.cf'), Object.entries(base).map(([k, v]) => `${k} = ${v}\n`).join(''));
  }

  writeMaster(lines: string[]): void {
    writeFileSync(join(this.confDir, 'master.cf'), lines.map((l) => l.replaceAll('$DIR', this.dir) + '\n').join(''));
  }

  static async create(opts: InstanceOptions): Promise<Instance> {
    const inst = new Instance();
    for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(inst.dir, name), text);
    inst.writeMain(opts.main);
    inst.writeMaster(opts.master);
    const r = await runCommand('postfix', ['-c', inst.confDir, 'check']);
    if (r.status !== 0) throw new Error(`postfix check failed: ${r.stderr}`);
    return inst;
  }

  log(): string {
    return readLogFile(this.logFile);
  }

  async waitLog(re: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitFor(`log line ${re}`, () => this.log().split('\n').find((l) => re.test(l)), timeoutMs);
  }

  countLog(re: RegExp): number {
    return this.log().split('\n').filter((l) => re.test(l)).length;
  }

  /** Starts master -d and waits for "daemon started". */
  async startMaster(extraArgs: string[] = []): Promise<ChildProcess> {
    const child = spawn(process.execPath, [commandPath('master'), '-c', this.confDir, '-d', ...extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (d: Buffer) => (this.masterStderr += d.toString()));
    this.master = child;
    this.#exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor('master to start', () => /daemon started/.test(this.masterStderr) || child.exitCode !== null, 10_000);
    if (child.exitCode !== null) throw new Error(`master exited: ${this.masterStderr}`);
    return child;
  }

  /**
   * Picks `count` free loopback ports, writes master.cf from them and
   * starts master; if another test grabbed a port meanwhile (bind fails),
   * tries again with new ports, at most BIND_ATTEMPTS times.
   */
  async startWithPorts(count: number, lines: (ports: number[]) => string[]): Promise<number[]> {
    for (let attempt = 1; ; attempt++) {
      const ports: number[] = [];
      for (let i = 0; i < count; i++) ports.push(await freePort());
      this.writeMaster(lines(ports));
      try {
        await this.startMaster();
        return ports;
      } catch (err) {
        if (attempt >= BIND_ATTEMPTS || !/Address already in use/.test(this.masterStderr)) throw err;
        this.masterStderr = '';
      }
    }
  }

  /** Waits (bounded) for the master started here to exit; its exit code. */
  async waitMasterExit(timeoutMs = 10_000): Promise<number | null> {
    if (!this.#exited) return null;
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), timeoutMs).unref());
    const r = await Promise.race([this.#exited, timeout]);
    if (r === 'timeout') throw new Error('master did not exit in time');
    return r;
  }

  /** Stops what this instance started and removes its directory. */
  async stop(): Promise<void> {
    const m = this.master;
    if (m && m.exitCode === null && m.signalCode === null) {
      const kids = childrenOf(m.pid as number);
      m.kill('SIGTERM');
      try {
        await this.waitMasterExit(10_000);
      } catch {
        m.kill('SIGKILL');
      }
      for (const pid of kids) if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
