/*
 * postmap_oracle_lib - run the real postmap(1) and Postern's side by side
 *
 * What it does: makePostmapPair() lays out a temporary tree with one
 * main.cf that both programs read (-c) and two working directories,
 * "real" and "ours", so that relative table names — and with them every
 * warning text — are identical for both. putBoth() writes the same
 * bytes into both directories; runBoth() runs /usr/sbin/postmap in
 * "real" and dist/src/postmap/postmap.js in "ours" with the same
 * arguments and standard input, concurrently; runRealIn()/runOursIn()
 * run one of them in a chosen directory (the real postmap reading our
 * table and the other way round). rawLmdb() lists an LMDB file's raw
 * keys and values (null bytes shown as \0) through the lmdb package, to
 * compare the bytes each program stored.
 *
 * What it does not do: decide what must be equal (the tests do), or
 * skip anything: a missing /usr/sbin/postmap fails the test that runs it.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'lmdb';
import { commandPath, runProgram, type CommandResult } from '../lib/paths.js';
import { writeMainCf, type MainSettings } from '../lib/postfix_oracle.js';
import { dictCacheClear } from '../../src/global/dict.js';
import { postmapMain } from '../../src/postmap/postmap.js';
import { FatalError, msgSetSinks, setFatalHandler, severityPrefix } from '../../src/util/msg.js';

/** The real Postfix postmap (the oracle). */
export const REAL_POSTMAP = '/usr/sbin/postmap';
/** Bound on one postmap run. */
export const POSTMAP_TIMEOUT_MS = 20_000;

/** Postern postmap processes at once (node start-up is CPU-bound; the test machine has few cores). */
export const OURS_PARALLEL = 3;
/** Real postmap processes at once (cheap, but each fatal error sleeps a second before exiting). */
export const REAL_PARALLEL = 12;

/** A counting semaphore: run() starts fn when fewer than `limit` are running. */
class Pool {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    try {
      return await fn();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

const oursPool = new Pool(OURS_PARALLEL);
const realPool = new Pool(REAL_PARALLEL);

/** main.cf both programs read: lmdb as the default type, UTF-8 checks on (compatibility 3.6). */
export const POSTMAP_MAIN: MainSettings = {
  compatibility_level: '3.6',
  myhostname: 'oracle.example',
  default_database_type: 'lmdb',
};

export interface PostmapPair {
  root: string;
  conf: string;
  real: string;
  ours: string;
}

/** A temporary tree (removed after the test): conf/main.cf from base plus settings, and the "real" and "ours" working directories. */
export function makePostmapPair(
  t: { after(fn: () => void): void },
  settings: MainSettings = {},
  base: MainSettings = POSTMAP_MAIN,
  prefix = 'postern-postmap-',
): PostmapPair {
  const root = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const conf = join(root, 'conf');
  writeMainCf(conf, { ...base, ...settings });
  const real = join(root, 'real');
  const ours = join(root, 'ours');
  mkdirSync(real);
  mkdirSync(ours);
  return { root, conf, real, ours };
}

/** The same bytes (latin1 string or Buffer) under name in both working directories. */
export function putBoth(pair: PostmapPair, name: string, content: string | Buffer, mode = 0o644): void {
  for (const dir of [pair.real, pair.ours]) {
    const file = join(dir, name);
    writeFileSync(file, typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
    chmodSync(file, mode);
  }
}

/** The environment for both programs: no MAIL_CONFIG or MAIL_VERBOSE of the caller's. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['MAIL_CONFIG'];
  delete env['MAIL_VERBOSE'];
  return env;
}

export function runRealIn(pair: PostmapPair, dir: string, args: string[], input?: string | Buffer): Promise<CommandResult> {
  return realPool.run(() => runProgram(REAL_POSTMAP, ['-c', pair.conf, ...args], { cwd: dir, input, env: cleanEnv(), timeoutMs: POSTMAP_TIMEOUT_MS }));
}

export function runOursIn(pair: PostmapPair, dir: string, args: string[], input?: string | Buffer): Promise<CommandResult> {
  return oursPool.run(() => runProgram(process.execPath, [commandPath('postmap'), '-c', pair.conf, ...args], {
    cwd: dir,
    input,
    env: cleanEnv(),
    timeoutMs: POSTMAP_TIMEOUT_MS,
  }));
}

export async function runBoth(pair: PostmapPair, args: string[], input?: string | Buffer): Promise<{ real: CommandResult; ours: CommandResult }> {
  const [real, ours] = await Promise.all([runRealIn(pair, pair.real, args, input), runOursIn(pair, pair.ours, args, input)]);
  return { real, ours };
}

let inProcessChain: Promise<unknown> = Promise.resolve();

/**
 * Postern's postmap run inside this process (no node start-up: the
 * cheap way to compare many option and error cases) in dir, with
 * stdout, stderr and the exit status captured as a spawned run would
 * give them. Runs one at a time (cwd, msg sinks and the table cache are
 * process-wide).
 */
export function runOursInProcess(pair: PostmapPair, dir: string, args: string[], input: string | Buffer = ''): Promise<CommandResult> {
  const run = async (): Promise<CommandResult> => {
    const cwd = process.cwd();
    const out: Buffer[] = [];
    let stderr = '';
    dictCacheClear();
    process.chdir(dir);
    msgSetSinks([{ write: (sev, text) => { stderr += `postmap: ${severityPrefix(sev)}${text}\n`; } }]);
    setFatalHandler((sev, text) => {
      throw new FatalError(sev, text);
    });
    let status: number;
    try {
      status = await postmapMain(['-c', pair.conf, ...args], {
        readStdin: () => (typeof input === 'string' ? input : input.toString('latin1')),
        writeStdout: (data) => out.push(data),
      });
    } catch (err) {
      if (!(err instanceof FatalError)) throw err;
      status = err.severity === 'fatal' ? 1 : 2;
    } finally {
      setFatalHandler(null);
      msgSetSinks([]);
      process.chdir(cwd);
    }
    return { status, signal: null, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.from(stderr, 'latin1').toString('utf8') };
  };
  const result = inProcessChain.then(run, run);
  inProcessChain = result.catch(() => {});
  return result;
}

/** The real postmap spawned in "real" and ours in-process in "ours", same arguments and input. */
export async function runBothInProcess(pair: PostmapPair, args: string[], input?: string | Buffer): Promise<{ real: CommandResult; ours: CommandResult }> {
  const [real, ours] = await Promise.all([runRealIn(pair, pair.real, args, input), runOursInProcess(pair, pair.ours, args, input)]);
  return { real, ours };
}

/** Status, stdout and stderr in one string, for assert.equal with a readable diff. */
export function show(r: CommandResult): string {
  return `status=${r.status}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/** Every raw key and value of an LMDB file, in file order, NUL bytes shown as \0. */
export function rawLmdb(file: string): string[] {
  const db = open({ path: file, keyEncoding: 'binary', encoding: 'binary', readOnly: true });
  const out: string[] = [];
  try {
    for (const { key, value } of db.getRange({})) {
      const k = Buffer.from(key as Uint8Array).toString('latin1').replace(/\0/g, '\\0');
      const v = Buffer.from(value as Uint8Array).toString('latin1').replace(/\0/g, '\\0');
      out.push(`${k}\t${v}`);
    }
  } finally {
    void db.close();
  }
  return out;
}
