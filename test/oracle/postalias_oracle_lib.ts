/*
 * postalias_oracle_lib - run the real postalias(1) and Postern's side by side
 *
 * What it does: makePair() makes a temporary tree with one main.cf
 * (shared by both programs) and two working directories, "real" and
 * "ours", so that relative file names, and with them every message
 * text, are the same for both. putFile() writes the same bytes into
 * both; runBoth() runs /usr/sbin/postalias in "real" and
 * dist/src/postalias/postalias.js in "ours" with the same arguments and
 * standard input; rawTable() lists an LMDB file's raw keys and values
 * (null bytes visible) with the lmdb package; maskTime() hides the
 * YP_LAST_MODIFIED time stamp, the one value that differs by design.
 *
 * What it does not do: decide what must be equal (the tests do).
 */
import { open } from 'lmdb';
import { commandPath, runProgram, type CommandResult } from '../lib/paths.js';
import type { MainSettings } from '../lib/postfix_oracle.js';
import { cleanEnv, makePostmapPair, putBoth, type PostmapPair } from './postmap_oracle_lib.js';

/** The real Postfix postalias (the oracle). */
export const REAL_POSTALIAS = '/usr/sbin/postalias';
/** Bound on one postalias run. */
export const POSTALIAS_TIMEOUT_MS = 60_000;

/** main.cf for both programs: a fixed host name, lmdb as the default type. */
export const ORACLE_ALIAS_MAIN: MainSettings = {
  myhostname: 'oracle.example',
  default_database_type: 'lmdb',
};

export type Pair = PostmapPair;

export function makePair(t: { after(fn: () => void): void }, settings: MainSettings = {}): Pair {
  return makePostmapPair(t, settings, ORACLE_ALIAS_MAIN, 'postern-postalias-');
}

/** Writes name with the same bytes (latin1) into both working directories. */
export const putFile = putBoth;

export function runReal(pair: Pair, args: string[], input?: string | Buffer): Promise<CommandResult> {
  return runProgram(REAL_POSTALIAS, ['-c', pair.conf, ...args], { cwd: pair.real, input, env: cleanEnv(), timeoutMs: POSTALIAS_TIMEOUT_MS });
}

/** Postern's postalias in dir (default: the "ours" directory). */
export function runOurs(pair: Pair, args: string[], input?: string | Buffer, dir = pair.ours): Promise<CommandResult> {
  return runProgram(process.execPath, [commandPath('postalias'), '-c', pair.conf, ...args], {
    cwd: dir,
    input,
    env: cleanEnv(),
    timeoutMs: POSTALIAS_TIMEOUT_MS,
  });
}

export async function runBoth(pair: Pair, args: string[], input?: string | Buffer): Promise<{ real: CommandResult; ours: CommandResult }> {
  const [real, ours] = await Promise.all([runReal(pair, args, input), runOurs(pair, args, input)]);
  return { real, ours };
}

/** Hides the YP_LAST_MODIFIED time stamp in "key:<TAB>value" listings and raw dumps. */
export function maskTime(text: string): string {
  return text.replace(/YP_LAST_MODIFIED:\t\d+/g, 'YP_LAST_MODIFIED:\tTIME');
}

/** Every raw entry of an LMDB file, in file order, as JSON-quoted byte strings. */
export function rawTable(file: string): string[] {
  const db = open({ path: file, keyEncoding: 'binary', encoding: 'binary', readOnly: true });
  try {
    const rows: string[] = [];
    for (const { key, value } of db.getRange()) {
      const k = Buffer.from(key as Uint8Array).toString('latin1');
      const v = Buffer.from(value as Uint8Array).toString('latin1');
      rows.push(`${JSON.stringify(k)} ${JSON.stringify(k === 'YP_LAST_MODIFIED' ? 'TIME' : v)}`);
    }
    return rows;
  } finally {
    void db.close();
  }
}

/** Both results equal in status, standard output (time masked) and standard error. */
export function sameResult(r: { real: CommandResult; ours: CommandResult }): { real: string; ours: string } {
  const show = (c: CommandResult): string => `status=${c.status}\n--stdout--\n${maskTime(c.stdout)}--stderr--\n${c.stderr}`;
  return { real: show(r.real), ours: show(r.ours) };
}
