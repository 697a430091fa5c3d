/*
 * dict_randmap_test - randmap:{...}: random picks, syntax, compared with the real postmap -q
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dictCacheClear, dictOpen } from './dict.js';
import { DictError } from './dict_base.js';
import { captureWarnings } from './dict_test_lib.js';
import { dictRandmapOpen, randmapParse } from './dict_randmap.js';

const POSTMAP = '/usr/sbin/postmap';
/** Lookups per spec: enough that every value of a short list shows up (p(miss) < 1e-20). */
const LOOKUPS = 200;

/** The real postmap -q - over LOOKUPS keys: the values it answered, or its fatal message. */
function realPicks(t: { after(fn: () => void): void }, spec: string): { values: string[]; fatal: string | null } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-randmap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'main.cf'), 'compatibility_level = 3.6\n');
  // A main.cf younger than a second makes Postfix wait for it to settle.
  const past = new Date(Date.now() - 60_000);
  utimesSync(join(dir, 'main.cf'), past, past);
  const keys = Array.from({ length: LOOKUPS }, (_, i) => `key${i}@Example.COM\n`).join('');
  const r = spawnSync(POSTMAP, ['-c', dir, '-q', '-', spec], { input: keys, timeout: 15_000 });
  assert.equal(r.error, undefined, String(r.error));
  const fatal = /postmap: fatal: (.*)/.exec(r.stderr.toString('latin1'))?.[1] ?? null;
  const values = r.stdout.toString('latin1').split('\n').filter((l) => l !== '').map((l) => l.slice(l.indexOf('\t') + 1));
  return { values, fatal };
}

async function ourPicks(spec: string): Promise<{ values: string[]; error: string | null }> {
  dictCacheClear();
  const { result } = await captureWarnings(async () => {
    const dict = dictOpen(spec);
    const values: string[] = [];
    try {
      for (let i = 0; i < LOOKUPS; i++) values.push((await dict.lookup(`key${i}@Example.COM`))!);
    } catch (err) {
      assert.ok(err instanceof DictError);
      return { values, error: err.message };
    }
    return { values, error: null };
  });
  return result;
}

const GOOD = [
  'randmap:{a}',
  'randmap:{ smtp:relay1.example, smtp:[relay2.example]:587 ,lmtp:unix:/x }',
  'randmap:{ {a b}, c }',
  'randmap:{{x}y}',
  'randmap:{a,,b}',
  'randmap:{ A\tB\nC }',
];

for (const spec of GOOD) {
  test(`${spec}: the same set of answers as the real postmap`, async (t) => {
    const real = realPicks(t, spec);
    assert.equal(real.fatal, null);
    assert.equal(real.values.length, LOOKUPS);
    const ours = await ourPicks(spec);
    assert.equal(ours.error, null);
    assert.deepEqual([...new Set(ours.values)].sort(), [...new Set(real.values)].sort());
  });
}

const BAD = ['randmap:{}', 'randmap:{ }', 'randmap:x', 'randmap:{ {a b }', 'randmap:{a}}', 'randmap:{a} b'];

for (const spec of BAD) {
  test(`${spec}: refused with the real postmap's reason`, async (t) => {
    const real = realPicks(t, spec);
    assert.notEqual(real.fatal, null);
    const ours = await ourPicks(spec);
    assert.equal(ours.values.length, 0);
    assert.equal(ours.error, `${spec} lookup error: ${real.fatal}`);
  });
}

test('randmap picks spread over all values, synchronously too', () => {
  const dict = dictRandmapOpen({
    spec: 'randmap:{a,b,c,d}', type: 'randmap', name: '{a,b,c,d}', fold: true, utf8: true,
    mode: 'read', dup: 'warn', try0Null: true, try1Null: true, bulk: false,
  });
  assert.equal(dict.pattern, true);
  const counts = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const v = dict.lookupSync!('');
    counts.set(v!, (counts.get(v!) ?? 0) + 1);
  }
  assert.deepEqual([...counts.keys()].sort(), ['a', 'b', 'c', 'd']);
  // Uniform: each near 1000 (6 sigma is about 165).
  for (const n of counts.values()) assert.ok(n > 800 && n < 1200, `skewed: ${[...counts]}`);
  assert.equal(dict.sequence, undefined);
  assert.equal(dict.update, undefined);
});

test('randmap refuses a write open as Postfix does', () => {
  assert.throws(
    () => dictRandmapOpen({
      spec: 'randmap:{a}', type: 'randmap', name: '{a}', fold: true, utf8: true,
      mode: 'write', dup: 'warn', try0Null: true, try1Null: true, bulk: false,
    }),
    /^DictOpenError: randmap:\{a\} map requires O_RDONLY access mode$/,
  );
  assert.deepEqual(randmapParse('{ {a b}, c }'), ['{a b}', 'c']);
  assert.equal(randmapParse('{}'), null);
});
