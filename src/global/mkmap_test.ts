/*
 * mkmap_test - mkmapOpen(): bulk builds of lmdb: tables, refusals, and dictOpenChecked()
 *
 * Expected texts are those of the real postmap 3.7.11 (the same cases
 * run against it in test/oracle/postmap_query_test.ts).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FatalError, setFatalHandler } from '../util/msg.js';
import { dictCacheClear, dictOpen } from './dict.js';
import { captureWarnings } from './dict_test_lib.js';
import { MailConfig } from './mail_conf.js';
import { dictOpenChecked, dictRdonlyRefusal, mkmapOpen, mkmapSplitSpec, mkmapTypeRefusal } from './mkmap.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'postern-mkmap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const config = new MailConfig('/nonexistent', [], { default_database_type: 'lmdb' });
const BUILD = { config, create: true, dup: 'warn', try0Null: true, try1Null: true, fold: true } as const;

async function readAll(spec: string, keys: string[]): Promise<Array<string | null>> {
  dictCacheClear();
  const dict = dictOpen(spec, { config });
  return Promise.all(keys.map((k) => dict.lookup(k)));
}

test('mkmapOpen: a build replaces the table; keys folded; duplicates warned and the first kept', async (t) => {
  const dir = tempDir(t);
  const name = join(dir, 'tab');
  const first = await mkmapOpen(`lmdb:${name}`, BUILD);
  await first.append('Old', 'gone');
  await first.close();
  const { lines } = await captureWarnings(async () => {
    const m = await mkmapOpen(`lmdb:${name}`, BUILD);
    await m.append('Alpha', 'one');
    await m.append('ALPHA', 'two');
    await m.append('beta', 'three');
    await m.close();
  });
  assert.deepEqual(lines, [`warning: lmdb:${name}: duplicate entry: "alpha"`]);
  assert.deepEqual(await readAll(`lmdb:${name}`, ['alpha', 'BETA', 'old']), ['one', 'three', null]);
});

test('mkmapOpen: without create the entries stay (postmap -i); replace mode overwrites', async (t) => {
  const dir = tempDir(t);
  const name = join(dir, 'tab');
  const m = await mkmapOpen(`lmdb:${name}`, BUILD);
  await m.append('a', '1');
  await m.close();
  const inc = await mkmapOpen(`lmdb:${name}`, { ...BUILD, create: false, dup: 'replace' });
  await inc.append('a', '2');
  await inc.append('b', '3');
  await inc.close();
  assert.deepEqual(await readAll(`lmdb:${name}`, ['a', 'b']), ['2', '3']);
});

test('mkmapOpen: a new table gets the source\'s read bits (umask 022 plus the source\'s missing bits)', async (t) => {
  const dir = tempDir(t);
  const src = join(dir, 'src');
  writeFileSync(src, 'a b\n', { mode: 0o640 });
  const saved = process.umask(0o022);
  t.after(() => process.umask(saved));
  const m = await mkmapOpen(`lmdb:${src}`, { ...BUILD, sourcePath: src });
  await m.close();
  assert.equal(statSync(`${src}.lmdb`).mode & 0o777, 0o640);
});

test('mkmapOpen: types that cannot be built are fatal with Postfix\'s text', async () => {
  assert.equal(mkmapTypeRefusal('lmdb'), null);
  assert.equal(mkmapTypeRefusal('hash'), null);
  assert.equal(mkmapTypeRefusal('regexp'), 'unsupported dictionary type: regexp does not support bulk-mode creation.');
  assert.equal(mkmapTypeRefusal('foo'), 'unsupported dictionary type: foo. Is the postfix-foo package installed?');
  assert.equal(dictRdonlyRefusal('cidr', '/x'), 'cidr:/x map requires O_RDONLY access mode');
  assert.equal(dictRdonlyRefusal('lmdb', '/x'), null);
  setFatalHandler((sev, text) => {
    throw new FatalError(sev, text);
  });
  try {
    await assert.rejects(mkmapOpen('texthash:/x', BUILD), /does not support bulk-mode creation/);
  } finally {
    setFatalHandler(null);
  }
});

test('mkmapSplitSpec and dictOpenChecked: default type, open errors handed back instead of a surrogate', async (t) => {
  assert.deepEqual(mkmapSplitSpec('/etc/postfix/virtual', config), { type: 'lmdb', name: '/etc/postfix/virtual' });
  assert.deepEqual(mkmapSplitSpec('hash:/etc/x', config), { type: 'hash', name: '/etc/x' });
  const dir = tempDir(t);
  const { result, lines } = await captureWarnings(() => dictOpenChecked(`lmdb:${dir}/nosuch`, { config }));
  assert.deepEqual(result, { error: `open database ${dir}/nosuch.lmdb: No such file or directory` });
  assert.deepEqual(lines, []);
  const ok = dictOpenChecked('inline:{a=b}', { config });
  assert.ok('dict' in ok && (await ok.dict.lookup('a')) === 'b');
});
