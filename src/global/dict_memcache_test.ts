/*
 * dict_memcache_test - the memcache: client against a real memcached
 *
 * Updates, deletes and lookups through Debian's memcached (started by
 * test/lib/memcached_server.ts on TCP and on a UNIX-domain socket), key
 * folding and key_format, the checks that skip a key, data_size_limit,
 * the backup table (fallback, cache fill, answers while memcached is
 * down), sequence(), and a misbehaving server's replies (retried
 * max_try times, warned on the last). The real postmap -q comparison is
 * in test/oracle/dict_net_oracle_test.ts.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MemcachedServer } from '../../test/lib/memcached_server.js';
import { freePort } from '../../test/lib/proc.js';
import { dictCacheClear, dictOpen } from './dict.js';
import { DictError } from './dict_base.js';
import { captureWarnings } from './dict_test_lib.js';

let mc: MemcachedServer;
let dir = '';

before(async () => {
  mc = await MemcachedServer.start();
  dir = mkdtempSync(join(tmpdir(), 'postern-memcache-'));
  chmodSync(dir, 0o777);
});

after(async () => {
  await mc?.stop();
  rmSync(dir, { recursive: true, force: true });
  dictCacheClear();
});

let cfCount = 0;
function cf(text: string): string {
  const file = join(dir, `t${++cfCount}.cf`);
  writeFileSync(file, text);
  return file;
}

test('update, lookup (folded), delete', async () => {
  const file = cf(`memcache = ${mc.endpoint}\nkey_format = t1:%s\n`);
  const w = dictOpen(`memcache:${file}`, { mode: 'write' });
  assert.equal(w.pattern, false);
  await w.update!('Joe@Example.COM', 'joe value');
  const r = dictOpen(`memcache:${file}`);
  assert.equal(r.update, undefined);
  assert.equal(await r.lookup('joe@example.com'), 'joe value');
  assert.equal(await r.lookup('JOE@EXAMPLE.COM'), 'joe value');
  const raw = dictOpen(`memcache:${cf(`memcache = ${mc.endpoint}\n`)}`);
  assert.equal(await raw.lookup('t1:joe@example.com'), 'joe value');
  assert.equal(await w.delete!('joe@example.com'), true);
  assert.equal(await w.delete!('joe@example.com'), false);
  assert.equal(await r.lookup('joe@example.com'), null);
  await w.close();
});

test('skipped keys: lookups find nothing silently, updates warn and fail', async () => {
  const file = cf(`memcache = ${mc.endpoint}\nkey_format = %u\ndomain = example.com\n`);
  const w = dictOpen(`memcache:${file}`, { mode: 'write' });
  assert.equal(w.pattern, true);
  const { lines } = await captureWarnings(async () => {
    assert.equal(await w.lookup('a b@example.com'), null);
    assert.equal(await w.lookup('user@example.net'), null);
    assert.equal(await w.lookup('@example.com'), null);
    await assert.rejects(w.update!('a b@example.com', 'x'), DictError);
    await assert.rejects(w.update!('user@example.net', 'x'), DictError);
  });
  assert.deepEqual(lines, [
    `warning: ${file}: skipping update for name "a b@example.com": name contains space`,
    `warning: ${file}: skipping update for name "user@example.net": domain mismatch`,
  ]);
});

test('data_size_limit: a long value is not stored', async () => {
  const file = cf(`memcache = ${mc.endpoint}\ndata_size_limit = 10\n`);
  const w = dictOpen(`memcache:${file}`, { mode: 'write' });
  const { lines } = await captureWarnings(() => assert.rejects(w.update!('longkey', 'x'.repeat(11)), DictError));
  assert.deepEqual(lines, [`warning: database memcache:${file}: data for key longkey is too long (data_size_limit=10) -- not stored`]);
  assert.equal(await w.lookup('longkey'), null);
});

test('backup table: fallback, cache fill, answers while memcached is down', async () => {
  const file = cf(`memcache = ${mc.endpoint}\nkey_format = b:%s\nbackup = inline:{ k1=from-backup }\n`);
  const d = dictOpen(`memcache:${file}`);
  assert.equal(await d.lookup('k1'), 'from-backup');
  assert.equal(await d.lookup('k2'), null);
  const raw = dictOpen(`memcache:${cf(`memcache = ${mc.endpoint}\n`)}`);
  assert.equal(await raw.lookup('b:k1'), 'from-backup');
  const { lines: seq } = await captureWarnings(async () => {
    const out: Array<[string, string]> = [];
    for await (const e of raw.sequence!()) out.push(e);
    assert.deepEqual(out, []);
  });
  assert.deepEqual(seq, [`warning: database memcache:${join(dir, `t${cfCount}.cf`)}: first/next support requires backup database`]);
  await mc.stop();
  try {
    const { result, lines } = await captureWarnings(() => d.lookup('k1'));
    assert.equal(result, 'from-backup');
    assert.ok(lines.every((l) => /^warning: connect to 127\.0\.0\.1:\d+: Connection refused$/.test(l)), lines.join('\n'));
    await captureWarnings(() => assert.rejects(raw.lookup('b:k1'), DictError));
  } finally {
    await mc.start();
  }
  assert.equal(await raw.lookup('b:k1'), null);
});

test('UNIX-domain memcached', async (t) => {
  const unix = await MemcachedServer.start({ unixPath: join(dir, 'mc.sock') });
  t.after(() => unix.stop());
  const w = dictOpen(`memcache:${cf(`memcache = ${unix.endpoint}\n`)}`, { mode: 'write' });
  await w.update!('u', 'over unix');
  assert.equal(await w.lookup('u'), 'over unix');
});

test('a bad server reply is tried max_try times and warned on the last try', async (t) => {
  const port = await freePort();
  let gets = 0;
  const fake = createServer((s) => {
    s.on('data', () => {
      gets++;
      s.write('VALUE k 0 999999\r\n');
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => fake.listen(port, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => fake.close(() => r())));
  const file = cf(`memcache = inet:127.0.0.1:${port}\nretry_pause = 1\nmax_try = 2\n`);
  const d = dictOpen(`memcache:${file}`);
  const { lines } = await captureWarnings(() => assert.rejects(d.lookup('k'), DictError));
  assert.deepEqual(lines, [`warning: ${file}: unexpected memcache server reply: VALUE k 0 999999`]);
  assert.equal(gets, 2);
  await d.close();
});
