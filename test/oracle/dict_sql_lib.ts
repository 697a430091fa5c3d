/*
 * dict_sql_lib - differential helpers for the sqlite:/pgsql: oracle tests
 *
 * What it does: oracleLookups() asks the real Postfix postmap (-q -, keys
 * on stdin as bytes) for many keys of one table and returns, per key, the
 * value or null; oracleLookupOne() runs `postmap -q KEY TABLE` and returns
 * exit status and output; ourLookups() asks Postern's dictOpen() the same
 * keys with the same main.cf (fold on, as postmap -q), recording a
 * DictError as "ERROR". SQL_TRICKY_KEYS are the keys every table is asked.
 *
 * What it does not do: start database servers (pg_server.ts) or decide
 * what is expected: the real postmap does.
 *
 * DIAGNOSTICS
 * Throws when the real postmap exits unexpectedly (its stderr in the
 * message) or prints a line that does not belong to the keys asked.
 */
import { spawn } from 'node:child_process';
import { DictError, dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';

/** The real postmap. */
export const REAL_POSTMAP = '/usr/sbin/postmap';
/** Bound on one real postmap run. */
export const ORACLE_RUN_MS = 30_000;

/** Keys (byte strings) every SQL table is asked: case, quotes, backslashes, %, address shapes, 8-bit. */
export const SQL_TRICKY_KEYS: readonly string[] = [
  'alice@example.com',
  'ALICE@Example.COM',
  'bob@example.com',
  'bob',
  'Bob',
  "o'brien@example.com",
  "o''brien@example.com",
  'back\\slash@example.com',
  'back\\\\slash@example.com',
  'dq"uote@example.com',
  'pct%s@example.com',
  '%%',
  '%s',
  '100%',
  '@example.com',
  'alice@',
  '@',
  'a@b@example.com',
  'carol@sub.example.com',
  'carol@a..com',
  'carol@.example.com',
  'carol@example.com.',
  'carol@com',
  'dave@other.org',
  'eve@example.org',
  "'; DROP TABLE t; --",
  "x' OR '1'='1",
  'semi;colon@example.com',
  'multi',
  'multi2',
  'nullval',
  'emptyval',
  'number',
  'real',
  'int',
  'big',
  'tiny',
  'third',
  'neg',
  'huge',
  'at@example.com',
  'user+ext@example.com',
  'tab',
  Buffer.from('jürgen@exämple.com', 'utf8').toString('latin1'),
  Buffer.from('JÜRGEN@EXÄMPLE.COM', 'utf8').toString('latin1'),
  '\xe9t\xe9@example.com',
  'x'.repeat(300) + '@example.com',
  'with space@example.com',
  'trailing ',
  '',
];

/** Byte string → UTF-8 text (fixture values are byte strings). */
export const u8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

/** Rows of table t (k → v); null is SQL NULL. */
export const SQL_FIXTURE_T: ReadonlyArray<[string, string | number | bigint | null]> = [
  ['alice@example.com', 'Alice A'],
  ['bob', 'bob-local'],
  ['bob@example.com', 'bob@example.com'],
  ["o'brien@example.com", "O'Brien"],
  ['back\\slash@example.com', 'back\\slash'],
  ['dq"uote@example.com', 'dq'],
  ['pct%s@example.com', 'pct'],
  ['%%', 'pctpct'],
  ['%s', 'pcts'],
  ['@example.com', 'catchall@example.com'],
  ['a@b@example.com', 'ab'],
  ['multi', 'one@x.org'],
  ['multi', 'two@y.org'],
  ['multi', 'three'],
  ['multi2', 'm1'],
  ['multi2', 'm2'],
  ['nullval', null],
  ['emptyval', ''],
  ['number', 42],
  ['real', 2.5],
  ['int', 7n],
  ['big', 1e20],
  ['tiny', 0.00001],
  // A REAL that needs rounding (1/3) reads the same through the column
  // value, but SQL text conversions inside the bundled (newer) SQLite give
  // 17 digits where Debian's 3.40 gives 15: only exact values here.
  ['third', 0.1],
  ['neg', -1234.5],
  ['huge', 9007199254740993n],
  ['at@example.com', '@nolocal.org'],
  ['user+ext@example.com', 'plus'],
  [u8('jürgen@exämple.com'), u8('umlaut ü')],
  ['with space@example.com', 'space'],
  ['trailing ', 'ts'],
  ['carol@sub.example.com', 'carol'],
  ['tab', 'a\tb'],
];
/** Rows of table u (local, domain → v). */
export const SQL_FIXTURE_U: ReadonlyArray<[string, string, string]> = [
  ['alice', 'example.com', 'u-alice'],
  ['carol', 'sub.example.com', 'u-carol'],
  ["o'brien", 'example.com', 'u-obrien'],
  ['back\\slash', 'example.com', 'u-bs'],
  [u8('jürgen'), u8('exämple.com'), 'u-j'],
  ['dave', 'other.org', 'u-dave'],
  ['a@b', 'example.com', 'u-ab'],
  ['carol', 'com', 'u-carol-com'],
  ['user+ext', 'example.com', 'u-plus'],
];
/** Rows of table d (top label, second label → v). */
export const SQL_FIXTURE_D: ReadonlyArray<[string, string, string]> = [
  ['com', 'example', 'd-example'],
  ['org', 'other', 'd-other'],
  ['com', 'a', 'd-a'],
  ['org', 'example', 'd-example-org'],
];

/** Table settings (besides dbpath) per configuration, name → lines. */
export const SQL_CONFIGS: Readonly<Record<string, string[]>> = {
  plain: ["query = SELECT v FROM t WHERE k='%s'"],
  userdomain: ["query = SELECT v FROM u WHERE local='%u' AND domain='%d'"],
  useronly: ["query = SELECT v FROM u WHERE local='%u'"],
  labels: ["query = SELECT v FROM d WHERE l1='%1' AND l2='%2'"],
  keyparts: ["query = SELECT v FROM t WHERE k='%s'", 'result_format = R=%s S=%S U=%U D=%D %% end'],
  resultparts: ["query = SELECT v FROM t WHERE k='%s'", 'result_format = %u at %d'],
  resultuser: ["query = SELECT v FROM t WHERE k='%s'", 'result_format = <%u>'],
  domainlist: ["query = SELECT v FROM t WHERE k='%s'", 'domain = example.com, inline:{ other.org=yes }, !nothing.example'],
  limit1: ["query = SELECT v FROM t WHERE k='%s'", 'expansion_limit = 1'],
  limit3: ["query = SELECT v FROM t WHERE k='%s'", 'expansion_limit = 3'],
  legacy: ['table = t', 'select_field = v', 'where_field = k', "additional_conditions = AND v <> 'three'"],
  noexpand: ["query = SELECT v FROM t WHERE k='%s'", 'result_format = $myhostname/%s'],
  literal: ["query = SELECT '%%' || v || '%%' FROM t WHERE k = '%s' AND '%%' = '%%'"],
  twocols: ["query = SELECT v, k FROM t WHERE k='%s'"],
  upperkey: ["query = SELECT v FROM u WHERE local='%U' AND domain='%D'"],
};

function run(args: string[], input: Buffer | null): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(REAL_POSTMAP, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), ORACLE_RUN_MS);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out).toString('latin1'), stderr: Buffer.concat(err).toString('latin1') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

/** The real `postmap -c confDir -q - spec`: value per key (null: not found). Keys must not hold newlines or tabs. */
export async function oracleLookups(confDir: string, spec: string, keys: readonly string[]): Promise<Array<string | null>> {
  const r = await run(['-c', confDir, '-q', '-', spec], Buffer.from(keys.map((k) => `${k}\n`).join(''), 'latin1'));
  if (r.status !== 0 && r.status !== 1) throw new Error(`postmap -q - ${spec} exited ${r.status}: ${r.stderr}`);
  if (/fatal:/.test(r.stderr)) throw new Error(`postmap -q - ${spec}: ${r.stderr}`);
  const lines = r.stdout.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const result: Array<string | null> = [];
  let i = 0;
  for (const key of keys) {
    const line = lines[i];
    if (line !== undefined && line.startsWith(`${key}\t`)) {
      result.push(line.slice(key.length + 1));
      i++;
    } else {
      result.push(null);
    }
  }
  if (i !== lines.length) throw new Error(`postmap -q - ${spec}: unexpected output line ${JSON.stringify(lines[i])}`);
  return result;
}

/** The real `postmap -c confDir -q key spec`. */
export async function oracleLookupOne(confDir: string, spec: string, key: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return run(['-c', confDir, '-q', key, spec], null);
}

/** Postern's answers for the same keys and main.cf: value, null, or "ERROR" for a DictError. */
export async function ourLookups(confDir: string, spec: string, keys: readonly string[]): Promise<Array<string | null>> {
  dictCacheClear();
  const dict = dictOpen(spec, { config: loadMailConfig({ configDir: confDir }) });
  const out: Array<string | null> = [];
  try {
    for (const k of keys) {
      try {
        out.push(await dict.lookup(k));
      } catch (err) {
        if (!(err instanceof DictError)) throw err;
        out.push('ERROR');
      }
    }
  } finally {
    await dict.close();
    dictCacheClear();
  }
  return out;
}

/** Key → value pairs where the two answers differ, for a readable assertion message. */
export function differences(keys: readonly string[], ours: ReadonlyArray<string | null>, real: ReadonlyArray<string | null>): string[] {
  const diffs: string[] = [];
  keys.forEach((k, i) => {
    if (ours[i] !== real[i]) diffs.push(`${JSON.stringify(k)}: ours ${JSON.stringify(ours[i])} real ${JSON.stringify(real[i])}`);
  });
  return diffs;
}
