/*
 * dict_postmap_test - differential test of the table types against the real postmap -q
 *
 * What it does: opens each fixture table (src/global/testdata/
 * dict_oracle.{regexp,pcre,cidr,texthash}, plus inline:, static:,
 * unix:, unionmap:, pipemap: and one-value randmap: specs, and an lmdb:
 * table that the REAL postmap builds from dict_oracle.map in a temporary
 * directory) with dictOpen(), looks up every key of dict_oracle_keys.ts,
 * and runs the real Postfix `postmap -c DIR -q - type:name` over the
 * same keys in one batch; each result (value or not found) must be
 * equal. The fixtures hold deliberate mistakes (bad patterns, unknown
 * flags, host bits, ENDIF without IF, duplicates, lines without a
 * value) so that the skipping rules are compared too.
 *
 * What it does not do: compare warning texts (the unit tests check
 * ours), or test hash: (Postfix's is Berkeley DB; ours is lmdb), or
 * write lmdb files (dict_lmdb's own tests and postmap's do).
 *
 * DIAGNOSTICS
 * A mismatch fails with the key, our value and postmap's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { DictError } from '../../src/global/dict_base.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { srcPath } from '../lib/paths.js';
import { ORACLE_MAIN_BASE, writeMainCf } from '../lib/postfix_oracle.js';
import { oracleKeys } from './dict_oracle_keys.js';

const POSTMAP = '/usr/sbin/postmap';
const POSTMAP_TIMEOUT_MS = 15_000;
const MIN_KEYS = 150;

let confDir = '';

before(() => {
  confDir = mkdtempSync(join(tmpdir(), 'postern-dict-oracle-'));
  writeMainCf(confDir, { ...ORACLE_MAIN_BASE });
  // Our warnings about the fixtures' deliberate mistakes are expected.
  msgSetSinks([{ write: () => {} }]);
});

after(() => {
  msgSetSinks([]);
  rmSync(confDir, { recursive: true, force: true });
});

/** postmap -q - over the keys: key -> value for the keys it found. */
function postmapBatch(spec: string, keys: readonly string[]): Map<string, string> {
  const r = spawnSync(POSTMAP, ['-c', confDir, '-q', '-', spec], {
    input: Buffer.from(keys.map((k) => `${k}\n`).join(''), 'latin1'),
    timeout: POSTMAP_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  });
  assert.equal(r.error, undefined, `postmap: ${r.error}`);
  const stderr = r.stderr.toString('latin1');
  assert.ok(!/fatal:/.test(stderr), `postmap failed for ${spec}: ${stderr}`);
  const found = new Map<string, string>();
  const out = r.stdout.toString('latin1');
  for (const line of out.split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    assert.ok(tab >= 0, `unexpected postmap output line ${JSON.stringify(line)}`);
    found.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return found;
}

/** Build TYPE:FILE with the real postmap (from a copy of a fixture in the config directory). */
function realPostmapBuild(type: string, fixtureFile: string, name: string): string {
  const source = join(confDir, name);
  copyFileSync(fixtureFile, source);
  const r = spawnSync(POSTMAP, ['-c', confDir, `${type}:${source}`], { timeout: POSTMAP_TIMEOUT_MS });
  assert.equal(r.error, undefined, `postmap: ${r.error}`);
  assert.equal(r.status, 0, `postmap ${type}:${source}: ${r.stderr.toString('latin1')}`);
  return source;
}

/** minHits: at least that many keys found; allHit: every key may be found (static:, randmap:). */
async function compare(spec: string, minHits = 10, allHit = false): Promise<void> {
  const keys = oracleKeys();
  assert.ok(keys.length >= MIN_KEYS, `only ${keys.length} keys`);
  const theirs = postmapBatch(spec, keys);
  dictCacheClear();
  const dict = dictOpen(spec);
  const mismatches: string[] = [];
  let hits = 0;
  for (const key of keys) {
    let mine: string | null;
    try {
      mine = await dict.lookup(key);
    } catch (err) {
      assert.ok(err instanceof DictError);
      mine = `<DictError ${err.message}>`;
    }
    const expect = theirs.get(key) ?? null;
    if (expect !== null) hits++;
    if (mine !== expect) mismatches.push(`${JSON.stringify(key)}: ours ${JSON.stringify(mine)}, postmap ${JSON.stringify(expect)}`);
  }
  assert.deepEqual(mismatches, [], `${spec}: ${mismatches.length} of ${keys.length} keys differ`);
  if (process.env.POSTERN_TEST_VERBOSE) {
    console.log(`${spec}: ${keys.length} keys, ${hits} found`);
  }
  // The fixture must exercise the table: many keys found, many not.
  assert.ok(hits >= minHits && (allHit || hits < keys.length), `${spec}: ${hits} hits of ${keys.length}`);
}

const fixture = (ext: string) => srcPath('src', 'global', 'testdata', `dict_oracle.${ext}`);

test('regexp: table agrees with postmap -q', () => compare(`regexp:${fixture('regexp')}`));
test('pcre: table agrees with postmap -q', () => compare(`pcre:${fixture('pcre')}`));
test('cidr: table agrees with postmap -q', () => compare(`cidr:${fixture('cidr')}`));
test('texthash: table agrees with postmap -q', () => compare(`texthash:${fixture('texthash')}`));
test('inline: table agrees with postmap -q', () =>
  compare('inline:{ user@example.com=exact, { User@Example.NET = upper }, {@example.com = catch all, with commas} , postmaster=pm, ={empty key}, 10.1.2.3=ip, a.b=dots, a"b"@example.com=q, {"quoted user"@example.com = quoted-key-in-braces} }'));
test('inline: later duplicates replace earlier ones as in postmap', () => compare('inline:{a.b=one, A.B=two, user=x, User=y}', 2));
test('static: table agrees with postmap -q', () => compare('static:{ text with  spaces }', 10, true));
test('static: bare form agrees with postmap -q', () => compare('static:OK', 10, true));
test('randmap: with one value agrees with postmap -q', () => compare('randmap:{ {smtp:[relay.example]:587} }', 10, true));
test('lmdb: table built by the real postmap agrees with postmap -q', () =>
  compare(`lmdb:${realPostmapBuild('lmdb', fixture('map'), 'dict_oracle.map')}`, 20));
test('lmdb: unionmap and pipemap over lmdb agree with postmap -q', async () => {
  const table = realPostmapBuild('lmdb', fixture('map'), 'dict_oracle_nested.map');
  await compare(`unionmap:{ lmdb:${table}, cidr:${fixture('cidr')}, static:{x} }`, 20, true);
  await compare(`pipemap:{ regexp:${fixture('regexp')}, inline:{ pm=postmaster, example-com=user }, lmdb:${table} }`, 1);
});
test('unionmap: agrees with postmap -q', () =>
  compare(`unionmap:{ inline:{a=1, b=2, user@example.com=u}, inline:{ a=3 }, regexp:${fixture('regexp')}, cidr:${fixture('cidr')} }`));
test('pipemap: agrees with postmap -q', () =>
  compare(`pipemap:{ regexp:${fixture('regexp')}, inline:{ example-com=ex, pm=postmaster, {=from-empty} }, texthash:${fixture('texthash')} }`, 1));
test('unix:passwd.byname agrees with postmap -q', () => compare('unix:passwd.byname', 3));
test('unix:group.byname agrees with postmap -q', () => compare('unix:group.byname', 3));
