/*
 * dict_regexp_fuzz_test - random regexp:/pcre: tables against the real postmap -q
 *
 * What it does: builds tables of pseudo-random patterns (fixed seeds, so
 * every run is the same) from a small grammar (literals, '.', bracket
 * classes, groups, escapes, alternation, anchors, every quantifier,
 * option letters), writes them to a temporary directory, and requires
 * that our regexp:/pcre: tables and `postmap -q -` give the same result
 * for pseudo-random keys. Results name the first matching rule and its
 * $1, so both the match decision and the captured text are compared;
 * rules either side refuses are skipped by both.
 *
 * What it does not do: exercise features outside the grammar (see
 * dict_postmap_test.ts and the unit tests for those).
 *
 * DIAGNOSTICS
 * A mismatch fails with the key, both results and the table's rules.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { backdate, ORACLE_MAIN_BASE, writeMainCf } from '../lib/postfix_oracle.js';

const POSTMAP = '/usr/sbin/postmap';
const POSTMAP_TIMEOUT_MS = 15_000;
const TABLES = 8;
const RULES = 25;
const KEYS = 80;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-dict-fuzz-'));
  writeMainCf(dir, { ...ORACLE_MAIN_BASE });
  msgSetSinks([{ write: () => {} }]);
});
after(() => {
  msgSetSinks([]);
  rmSync(dir, { recursive: true, force: true });
});

/** A small deterministic generator (LCG), so failures reproduce. */
class Rng {
  constructor(private seed: number) {}
  int(n: number): number {
    this.seed = (this.seed * 1103515245 + 12345) & 0x7fffffff;
    return this.seed % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

function pattern(r: Rng, pcre: boolean, depth = 0): string {
  const atom = (): string => {
    const k = r.int(10);
    if (k < 4) return r.pick(['a', 'b', 'c', 'A', '.', 'x']);
    if (k < 5) return r.pick(['[ab]', '[^a]', '[a-c]', '[[:alpha:]]', '[.]', '[]a]', '[A-Z]']);
    if (k < 6 && depth < 3) return `(${pattern(r, pcre, depth + 1)})`;
    if (k < 7) return r.pick(['\\.', '\\*', '\\(', pcre ? '\\d' : '\\w', '\\b']);
    return r.pick(['a', 'b']);
  };
  const branch = (): string => {
    let s = '';
    for (let n = 1 + r.int(3); n > 0; n--) {
      s += atom();
      if (r.int(4) === 0) s += r.pick(['*', '+', '?', '{1,2}', '{2}', pcre ? '*?' : '+', '{2,}']);
    }
    if (r.int(5) === 0) s = `^${s}`;
    if (r.int(5) === 0) s += '$';
    return s;
  };
  let s = branch();
  if (r.int(4) === 0) s += `|${branch()}`;
  return s;
}

function postmap(spec: string, keys: readonly string[]): Map<string, string> {
  const res = spawnSync(POSTMAP, ['-c', dir, '-q', '-', spec], {
    input: Buffer.from(keys.map((k) => `${k}\n`).join(''), 'latin1'),
    timeout: POSTMAP_TIMEOUT_MS,
  });
  assert.equal(res.error, undefined);
  assert.ok(!/fatal:/.test(res.stderr.toString('latin1')), res.stderr.toString('latin1'));
  const found = new Map<string, string>();
  for (const line of res.stdout.toString('latin1').split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    found.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return found;
}

async function fuzz(type: 'regexp' | 'pcre', seed: number): Promise<void> {
  const r = new Rng(seed);
  let compared = 0;
  for (let t = 0; t < TABLES; t++) {
    const rules: string[] = [];
    for (let i = 0; i < RULES; i++) {
      let p = pattern(r, type === 'pcre');
      if (r.int(2) === 0) p = `^(${p})$`;
      const flags = r.pick(['', '', 'i', type === 'pcre' ? 's' : 'm']);
      const hasGroup = /(^|[^\\])\(/.test(p);
      rules.push(`/${p}/${flags} r${i}:${hasGroup ? '$1' : ''}`);
    }
    const file = join(dir, `t${seed}-${t}.${type}`);
    writeFileSync(file, `${rules.join('\n')}\n`);
    backdate(file);
    const keys = new Set<string>();
    for (let tries = 0; keys.size < KEYS && tries < KEYS * 4; tries++) {
      let s = '';
      for (let n = r.int(7); n > 0; n--) s += r.pick(['a', 'b', 'c', 'A', 'B', '.', 'x', '(', '*', ' ', 'ab']);
      keys.add(s);
    }
    const list = [...keys];
    const theirs = postmap(`${type}:${file}`, list);
    dictCacheClear();
    const dict = dictOpen(`${type}:${file}`);
    for (const key of list) {
      const mine = await dict.lookup(key);
      assert.equal(mine, theirs.get(key) ?? null, `key ${JSON.stringify(key)} in\n${rules.join('\n')}`);
      compared++;
    }
  }
  assert.equal(compared, TABLES * KEYS);
}

for (const seed of [1, 2]) {
  test(`regexp: random tables agree with postmap (seed ${seed})`, () => fuzz('regexp', seed));
  test(`pcre: random tables agree with postmap (seed ${seed})`, () => fuzz('pcre', seed));
}
