/*
 * paths - where things are when a test runs from dist/
 *
 * What it does: REPO_ROOT (the checkout), srcPath() for fixtures kept
 * beside the TypeScript sources (testdata/ is not copied to dist/),
 * commandPath() for the compiled entry of a Postern command, and
 * runCommand() which runs one with the current Node and collects its
 * output.
 *
 * What it does not do: build the project (npm test builds first).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  for (let i = 0; i < 20; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'src'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(`cannot find the repository root above ${start}`);
}

export const REPO_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** A path under the source tree, e.g. srcPath('src/postcat/testdata/x'). */
export function srcPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}

/** The compiled entry of a command: commandPath('postconf'). */
export function commandPath(name: string, file = name): string {
  return join(REPO_ROOT, 'dist', 'src', name, `${file}.js`);
}

export interface CommandResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

/** Runs `node <compiled command> args...`; kills it after timeoutMs (default 20 s). */
export function runCommand(name: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return runProgram(process.execPath, [commandPath(name), ...args], opts);
}

/** Runs any program (the real Postfix's postconf, postcat, ...) the same way. */
export function runProgram(file: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}
