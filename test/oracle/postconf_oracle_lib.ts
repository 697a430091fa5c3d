/*
 * postconf_oracle_lib - run Postern's postconf and Postfix's side by side
 *
 * What it does: bothPostconf() runs the same postconf arguments through
 * Postern (runCommand) and the real Postfix 3.7 (runProgram, found as
 * "postconf" on a PATH that includes /usr/sbin so that both print the
 * program name "postconf"), each against its own copy of a configuration
 * directory, and returns both results with the directory names replaced
 * by "CONFDIR" so that they can be compared byte for byte. The files are
 * back-dated with test/lib/postfix_oracle.ts backdate() (Postfix re-reads a
 * fresh main.cf and repeats its warnings) except where a test re-dates them.
 * sortedLines() puts stderr lines in order for the few warnings Postfix
 * prints in hash-table order.
 *
 * What it does not do: decide what must be equal (the tests do).
 *
 * DIAGNOSTICS
 * Throws when the real postconf is not installed: the oracle is required.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, runProgram, srcPath, type CommandResult } from '../lib/paths.js';
import { POSTFIX_PROGRAMS, backdate } from '../lib/postfix_oracle.js';

export const ORACLE_POSTCONF = POSTFIX_PROGRAMS.postconf;
/**
 * How many cases a describe() runs side by side. Each case has its own
 * directories; many end in a fatal error, before which the real postconf
 * sleeps a second, so more cases than CPUs overlap usefully.
 */
export const ORACLE_PARALLEL = 8;
export const TESTDATA = srcPath('src', 'postconf', 'testdata', 'main_modes');

export interface Side {
  result: CommandResult;
  dir: string;
  files: Record<string, string>;
}

/** The environment both postconfs run in: /usr/sbin on PATH (the oracle prints "postconf"), no MAIL_CONFIG. */
export function oracleEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: `/usr/sbin:/usr/bin:/bin:${process.env.PATH ?? ''}` };
  delete env.MAIL_CONFIG;
  return env;
}

export function requireOracle(): void {
  if (!existsSync(ORACLE_POSTCONF)) throw new Error(`the oracle ${ORACLE_POSTCONF} is not installed (apt-get install postfix)`);
}

/** A fresh temp directory holding a copy of the named testdata files (or empty ones). */
export function makeConfDir(files: Record<string, string | null>): string {
  const dir = mkdtempSync(join(tmpdir(), 'postconf-oracle-'));
  for (const [name, from] of Object.entries(files)) {
    if (from === null) cpSync('/dev/null', join(dir, name));
    else cpSync(join(TESTDATA, from), join(dir, name));
    backdate(join(dir, name));
  }
  return dir;
}

function normalise(text: string, dir: string): string {
  return text.split(dir).join('CONFDIR');
}

function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const f of readdirSync(dir).sort()) out[f] = normalise(readFileSync(join(dir, f), 'utf8'), dir);
  return out;
}

/**
 * Runs args (with "-c DIR" put first unless noConfDir) through both
 * implementations, each with its own copy of files.
 */
export async function bothPostconf(
  args: string[],
  files: Record<string, string | null> = { 'main.cf': 'main.cf', 'master.cf': 'master.cf', 'ldap-aliases.cf': 'ldap-aliases.cf' },
  opts: { noConfDir?: boolean } = {},
): Promise<{ postern: Side; postfix: Side }> {
  requireOracle();
  const run = async (which: 'postern' | 'postfix'): Promise<Side> => {
    const dir = makeConfDir(files);
    try {
      const full = opts.noConfDir ? args : ['-c', dir, ...args];
      const env = oracleEnv();
      const result =
        which === 'postern' ? await runCommand('postconf', full, { env }) : await runProgram('postconf', full, { env });
      return {
        result: { ...result, stdout: normalise(result.stdout, dir), stderr: normalise(result.stderr, dir) },
        dir,
        files: snapshot(dir),
      };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const [postern, postfix] = await Promise.all([run('postern'), run('postfix')]);
  return { postern, postfix };
}

export function sortedLines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '').sort();
}

/** Drops the process_id line: it is the pid of each process. */
export function withoutPid(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.startsWith('process_id = '))
    .join('\n');
}
