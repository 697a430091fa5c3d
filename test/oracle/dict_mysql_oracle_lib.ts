/*
 * dict_mysql_oracle_lib - run the real postmap -q and Postern's tables over the same keys
 *
 * What it does: for the mysql: and ldap: differential tests, a
 * configuration directory both sides read (main.cf written with
 * ORACLE_MAIN_BASE plus the test's settings), realQueryAll() (the real
 * `postmap -q -` over a key list: its stdout and exit status),
 * oursQueryAll() (the same output built from Postern's dictOpen() with
 * the lookups postmap -q makes: keys folded), realQueryOne() (one
 * `postmap -q KEY`), and the tricky keys both tests share.
 *
 * Text: keys are byte strings (one char per byte) fed to the real
 * postmap as their bytes; its output is decoded as UTF-8 by runProgram,
 * so Postern's byte-string results are decoded the same way before they
 * are compared.
 *
 * What it does not do: start servers (mariadb_server.ts,
 * slapd_server.ts) or decide what a test expects.
 *
 * DIAGNOSTICS
 * None; the callers assert.
 */
import { join } from 'node:path';
import { type CommandResult, runProgram } from '../lib/paths.js';
import { ORACLE_MAIN_BASE, type MainSettings, writeMainCf } from '../lib/postfix_oracle.js';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { DictError } from '../../src/global/dict_base.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';

export const REAL_POSTMAP = '/usr/sbin/postmap';

/** A key as the real postmap receives it (its UTF-8 bytes as a byte string). */
export function bytes(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** A byte string as runProgram shows the real program's output. */
export function asUtf8(s: string): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** Writes DIR/main.cf (compatibility 3.6 so both sides have SMTPUTF8 on) and loads it for Postern. */
export function oracleConfig(dir: string, extra: MainSettings = {}): MailConfig {
  writeMainCf(dir, { ...ORACLE_MAIN_BASE, ...extra });
  return loadMailConfig({ configDir: dir });
}

/** The real `postmap -c DIR -q - SPEC` with the keys on stdin. */
export function realQueryAll(dir: string, spec: string, keys: readonly string[]): Promise<CommandResult> {
  const input = Buffer.from(keys.map((k) => `${k}\n`).join(''), 'latin1');
  return runProgram(REAL_POSTMAP, ['-c', dir, '-q', '-', spec], { input });
}

/** The real `postmap -c DIR -q KEY SPEC`. */
export function realQueryOne(dir: string, spec: string, key: string): Promise<CommandResult> {
  return runProgram(REAL_POSTMAP, ['-c', dir, '-q', asUtf8(key), spec]);
}

/** What `postmap -q -` prints for the keys, made with Postern's table; errors are thrown. */
export async function oursQueryAll(config: MailConfig, spec: string, keys: readonly string[]): Promise<{ stdout: string; status: number }> {
  dictCacheClear();
  const dict = dictOpen(spec, { config, fold: true });
  let out = '';
  let found = false;
  try {
    for (const k of keys) {
      const v = await dict.lookup(k);
      if (v !== null) {
        out += `${asUtf8(k)}\t${asUtf8(v)}\n`;
        found = true;
      }
    }
  } finally {
    await dict.close();
    dictCacheClear();
  }
  return { stdout: out, status: found ? 0 : 1 };
}

/** One lookup with Postern: the value, null, or the DictError. */
export async function oursQueryOne(config: MailConfig, spec: string, key: string): Promise<string | null | DictError> {
  dictCacheClear();
  const dict = dictOpen(spec, { config, fold: true });
  try {
    return await dict.lookup(key);
  } catch (err) {
    if (err instanceof DictError) return err;
    throw err;
  } finally {
    await dict.close();
    dictCacheClear();
  }
}

/** A .cf file path in DIR. */
export function cfPath(dir: string, name: string): string {
  return join(dir, name);
}

/**
 * Keys that have tripped table code before: case, quotes, backslashes,
 * SQL and LDAP metacharacters, '%' and '_', empty parts, several '@',
 * extensions, 8-bit (UTF-8) text, a long key.
 */
export const TRICKY_KEYS: readonly string[] = [
  'x', 'X', 'nope', 'a@example.com', 'A@EXAMPLE.COM', 'user@example.com', 'User@Example.Com',
  'user+ext@example.com', 'user', 'user@', '@example.com', '@', 'example.com', 'sub.example.com',
  'a@sub.example.com', 'a@b@example.com', "o'q@example.com", "O'Q@example.com", "x' OR '1'='1",
  "x' OR 'a'='a' -- ", "'", "''", '"', '\\', 'back\\slash', 'back\\\\slash', 'pct%@example.com', '%', 'a%',
  '_', 'under_score', 'under-score', '"a b"@example.com', 'sp ace', 'many', 'empty', 'nullv', 'multi',
  '*', 'a*', '(x)', 'paren(x)', 'a\\2a', 'nul\\00', 'semi;colon', 'alice@example.com', 'bob@example.com',
  'ALICE@example.com', 'carol@other.example', 'dave@example.org', 'x@y', 'a.b.c.d.example.com',
  bytes('josé@exämple.com'), bytes('JOSÉ@EXÄMPLE.COM'), bytes('smörgåsbord'), bytes('日本@example.com'),
  `${'l'.repeat(200)}@example.com`,
];
