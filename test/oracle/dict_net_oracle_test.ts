/*
 * dict_net_oracle_test - tcp:, socketmap: and memcache: against the real postmap -q
 *
 * What it does: starts a tcp_table server and a socketmap server
 * (test/lib/table_servers.ts) and a real memcached
 * (test/lib/memcached_server.ts), fills them with entries for a third of
 * the keys of dict_oracle_keys.ts (values with blanks, '%', 8-bit
 * bytes), and asks every key through the real Postfix `postmap -q -`
 * and through Postern's dictOpen(): the answers must be equal, and for
 * tcp: and socketmap: the requests the servers received (the %XX
 * encoding, the folding, which keys were not sent at all) must be
 * byte-for-byte equal too. For memcache: each entry is stored under the
 * key as given, ASCII-lowercased and Unicode-lowercased with distinct
 * values, so the folding shows; other memcache tables use key_format,
 * domain, and a texthash: backup table (fallback and cache fill). Then error replies (tcp 400 / malformed / bad
 * status; socketmap TEMP / TIMEOUT / PERM / unknown; a server that
 * hangs up or is stopped): the real postmap must fail ("fatal: table
 * ...: query error") where our lookup rejects with DictError, with the
 * same warning lines; and after a restart both find entries again.
 *
 * What it does not do: wait out tcp:'s ten one-second connect retries
 * twice (Postern's pause is shortened; the real postmap's full retry
 * run, started first, is compared at the end, warnings counted).
 *
 * DIAGNOSTICS
 * A mismatch fails naming the key, both answers, or both warning lists.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { DictError } from '../../src/global/dict_base.js';
import { DICT_TCP_DEFAULTS, dictTcpSetLimits } from '../../src/global/dict_tcp.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { MemcachedServer } from '../lib/memcached_server.js';
import { freePort } from '../lib/proc.js';
import { runProgram } from '../lib/paths.js';
import { ORACLE_MAIN_BASE, backdate, writeMainCf } from '../lib/postfix_oracle.js';
import { HANG_UP, SocketmapServer, TcpTableServer } from '../lib/table_servers.js';
import { oracleKeys } from './dict_oracle_keys.js';

const POSTMAP = '/usr/sbin/postmap';
const POSTMAP_TIMEOUT_MS = 30_000;
const MIN_KEYS = 150;
const MEMCACHE_KEY_MAX = 250;
/** Warnings the real postmap -q itself adds (postmap.c), not the table. */
const POSTMAP_OWN_WARNING = /empty string result is not allowed|should return NO RESULT in case of NOT FOUND/;
/** Our tcp: retry pause here (the real postmap's is one second). */
const TEST_TCP_PAUSE_MS = 5;

const VALUES = ['plain', 'with blanks  inside', '100% sure', 'caf\xc3\xa9', 'OK', 'a,b,c', 'x'.repeat(300), '%41%', 'trailing '];

let confDir = '';
let tcp: TcpTableServer;
let smap: SocketmapServer;
let mc: MemcachedServer;
let warnings: string[] = [];
let deadTcpSpec = '';
let realDeadTcp: Promise<{ value: string | null | 'error'; warnings: string[] }>;
const keys = oracleKeys();
const entries = new Map<string, string>();

before(async () => {
  confDir = mkdtempSync(join(tmpdir(), 'postern-net-oracle-'));
  writeMainCf(confDir, { ...ORACLE_MAIN_BASE });
  msgSetSinks([{ write: (sev, text) => warnings.push(`${sev}: ${text}`) }]);
  keys.forEach((k, i) => {
    if (i % 3 === 0) entries.set(k, `${VALUES[i % VALUES.length]}#${i}`);
  });
  tcp = await TcpTableServer.start(new Map(entries));
  smap = await SocketmapServer.start(new Map([['mapA', new Map(entries)], ['other', new Map()]]));
  mc = await MemcachedServer.start();
  dictTcpSetLimits({ pauseMs: TEST_TCP_PAUSE_MS });
  // The real postmap spends nine seconds retrying a tcp: server that is down: start it now,
  // on a port where nothing listens, and compare at the end (see the last test).
  deadTcpSpec = `tcp:127.0.0.1:${await freePort()}`;
  realDeadTcp = realOne(deadTcpSpec, 'user@example.com');
  realDeadTcp.catch(() => {}); // awaited (and its failure reported) by the last test
});

after(async () => {
  dictTcpSetLimits({ ...DICT_TCP_DEFAULTS });
  msgSetSinks([]);
  await tcp?.stop();
  await smap?.stop();
  await mc?.stop();
  dictCacheClear();
  rmSync(confDir, { recursive: true, force: true });
});

interface RealResult { found: Map<string, string>; status: number | null; warnings: string[]; fatal: string[] }

/** Writes a .cf file back-dated: Postfix's dict_load_file() waits while a file is younger than a second. */
function writeCf(file: string, text: string): void {
  writeFileSync(file, text);
  backdate(file);
}

/** The real postmap -q - over keys. */
async function realBatch(spec: string, list: readonly string[]): Promise<RealResult> {
  const r = await runProgram(POSTMAP, ['-c', confDir, '-q', '-', spec], {
    input: Buffer.from(list.map((k) => `${k}\n`).join(''), 'latin1'), timeoutMs: POSTMAP_TIMEOUT_MS,
  });
  const found = new Map<string, string>();
  for (const line of Buffer.from(r.stdout, 'utf8').toString('latin1').split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    assert.ok(tab >= 0, `unexpected postmap output line ${JSON.stringify(line)}`);
    found.set(line.slice(0, tab), line.slice(tab + 1));
  }
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  return {
    found,
    status: r.status,
    warnings: lines.filter((l) => l.startsWith('postmap: warning: ')).map((l) => l.slice('postmap: '.length)),
    fatal: lines.filter((l) => l.startsWith('postmap: fatal: ')),
  };
}

/** The real postmap -q KEY: 'error' when it failed. */
async function realOne(spec: string, key: string): Promise<{ value: string | null | 'error'; warnings: string[] }> {
  const r = await runProgram(POSTMAP, ['-c', confDir, '-q', key, spec], { timeoutMs: POSTMAP_TIMEOUT_MS });
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  // postmap's own complaint about an empty result is not the table's.
  const w = lines.filter((l) => l.startsWith('postmap: warning: ') && !POSTMAP_OWN_WARNING.test(l))
    .map((l) => l.slice('postmap: '.length));
  if (r.status === 0) return { value: r.stdout.replace(/\n$/, ''), warnings: w };
  if (r.status === 1 && lines.some((l) => /^postmap: fatal: table .*: query error/.test(l))) return { value: 'error', warnings: w };
  assert.equal(r.status, 1, `postmap -q ${key} ${spec}: ${r.stderr}`);
  assert.equal(lines.filter((l) => l.includes('fatal')).length, 0, r.stderr);
  return { value: null, warnings: w };
}

/** Ours: one lookup, with the warnings it logged. */
async function ourOne(spec: string, key: string): Promise<{ value: string | null | 'error'; warnings: string[] }> {
  warnings = [];
  let value: string | null | 'error';
  try {
    value = await dictOpen(spec).lookup(key);
  } catch (err) {
    assert.ok(err instanceof DictError, `not a DictError: ${err}`);
    value = 'error';
  }
  return { value, warnings: warnings.filter((w) => w.startsWith('warning: ')) };
}

async function ourBatch(spec: string, list: readonly string[]): Promise<Map<string, string>> {
  const dict = dictOpen(spec);
  const found = new Map<string, string>();
  for (const k of list) {
    const v = await dict.lookup(k);
    if (v !== null) found.set(k, v);
  }
  return found;
}

function assertSameAnswers(spec: string, list: readonly string[], real: Map<string, string>, ours: Map<string, string>): void {
  for (const k of list) {
    assert.equal(ours.get(k), real.get(k), `${spec} key ${JSON.stringify(k)}: ours ${JSON.stringify(ours.get(k))}, postmap ${JSON.stringify(real.get(k))}`);
  }
}

test('the key list is big enough', () => {
  assert.ok(keys.length >= MIN_KEYS, `${keys.length} keys`);
});

test('tcp: same answers and same requests as the real postmap -q -', async () => {
  const spec = `tcp:${tcp.address}`;
  tcp.rawRequests.length = 0;
  const real = await realBatch(spec, keys);
  assert.equal(real.fatal.length, 0, real.fatal.join('\n'));
  const realRequests = [...tcp.rawRequests];
  tcp.rawRequests.length = 0;
  const ours = await ourBatch(spec, keys);
  assertSameAnswers(spec, keys, real.found, ours);
  assert.ok(real.found.size > keys.length / 5, `only ${real.found.size} found`);
  assert.deepEqual(tcp.rawRequests, realRequests);
});

test('socketmap: same answers and same requests as the real postmap -q -', async () => {
  for (const spec of [`socketmap:${smap.endpoint}:mapA`, `socketmap:${smap.endpoint}:other`]) {
    smap.requests.length = 0;
    const real = await realBatch(spec, keys);
    assert.equal(real.fatal.length, 0, real.fatal.join('\n'));
    const realRequests = [...smap.requests];
    smap.requests.length = 0;
    const ours = await ourBatch(spec, keys);
    assertSameAnswers(spec, keys, real.found, ours);
    assert.deepEqual(smap.requests, realRequests);
  }
});

/** Stores entries with a plain memcache text-protocol client (independent of dict_memcache). */
async function memcacheSet(port: number, items: ReadonlyMap<string, string>): Promise<void> {
  const sock = connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', () => resolve());
    sock.once('error', reject);
  });
  let reply = '';
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      reply += d.toString('latin1');
      if (reply.split('\r\n').length - 1 >= items.size) resolve();
    });
    sock.once('error', reject);
    setTimeout(() => reject(new Error(`memcached replied only ${JSON.stringify(reply.slice(0, 200))}`)), 5000);
  });
  for (const [k, v] of items) sock.write(Buffer.from(`set ${k} 0 0 ${v.length}\r\n${v}\r\n`, 'latin1'));
  await done;
  sock.destroy();
  assert.ok(reply.split('\r\n').slice(0, items.size).every((l) => l === 'STORED'), reply.slice(0, 300));
}

const asciiLower = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const unicodeLower = (s: string): string => Buffer.from(Buffer.from(s, 'latin1').toString('utf8').toLowerCase(), 'utf8').toString('latin1');
const memcacheKeyOk = (k: string): boolean => k.length > 0 && k.length <= MEMCACHE_KEY_MAX && /^[\x21-\x7e\x80-\xff]+$/.test(k);

test('memcache: same answers as the real postmap -q -, folding included', async () => {
  const mkeys = keys.filter((k) => memcacheKeyOk(k));
  const items = new Map<string, string>();
  mkeys.forEach((k, i) => {
    if (i % 3 !== 0) return;
    items.set(k, `raw#${i}`);
    if (asciiLower(k) !== k) items.set(asciiLower(k), `ascii#${i}`);
    const u = unicodeLower(k);
    if (u !== asciiLower(k) && memcacheKeyOk(u)) items.set(u, `unicode#${i} ${VALUES[i % VALUES.length]}`);
  });
  await memcacheSet(mc.port, items);
  const cf = join(confDir, 'mc.cf');
  writeCf(cf, `memcache = ${mc.endpoint}\n`);
  const spec = `memcache:${cf}`;
  const real = await realBatch(spec, mkeys);
  assert.equal(real.fatal.length, 0, real.fatal.join('\n'));
  const ours = await ourBatch(spec, mkeys);
  assertSameAnswers(spec, mkeys, real.found, ours);
  assert.ok(real.found.size > mkeys.length / 5, `only ${real.found.size} found`);
});

test('memcache: key_format and domain as the real postmap', async () => {
  const items = new Map<string, string>([
    ['pfx:user@example.com', 'one'], ['pfx:user+foo@example.com', 'two'], ['pfx:user@example.net', 'three'],
    ['pfx:com/example', 'four'], ['pfx:user', 'five'], ['pfx:example.com%', 'six'],
  ]);
  await memcacheSet(mc.port, items);
  const cases: Array<[string, string]> = [
    ['key_format = pfx:%s\ndomain = example.com, example.org\n', 'k1.cf'],
    ['key_format = pfx:%u\n', 'k2.cf'],
    ['key_format = pfx:%1/%2\n', 'k3.cf'],
    ['key_format = pfx:%d%%\n', 'k4.cf'],
  ];
  const list = ['user@example.com', 'USER@Example.COM', 'user+foo@example.com', 'user@example.net', 'user', '@example.com',
    'user@', 'a@b@example.com', 'x@com', 'user@sub.example.com', 'with space@example.com', ''];
  for (const [text, name] of cases) {
    const cf = join(confDir, name);
    writeCf(cf, `memcache = ${mc.endpoint}\n${text}`);
    const spec = `memcache:${cf}`;
    const real = await realBatch(spec, list);
    assert.equal(real.fatal.length, 0, real.fatal.join('\n'));
    assertSameAnswers(spec, list, real.found, await ourBatch(spec, list));
    assert.ok(real.found.size > 0, `${text}: nothing found`);
  }
});

test('tcp: error replies fail the lookup as in the real postmap, with the same warnings', async () => {
  const replies: Record<string, string> = {
    'k-400': '400 try later', 'k-bad': 'not a reply', 'k-600': '600 what', 'k-pct': '200 a%zz', 'k-empty': '200 ',
    'k-hex': '200 %41%62%20c', 'k-sp3': '200', 'k-500': '500', 'k-nul': '200 ab%00cd', 'k-lower': '200 %4a%4B',
  };
  tcp.respond = (key) => replies[key];
  try {
    const spec = `tcp:${tcp.address}`;
    const list = Object.keys(replies);
    const reals = await Promise.all(list.map((key) => realOne(spec, key)));
    for (const [i, key] of list.entries()) {
      const ours = await ourOne(spec, key);
      assert.deepEqual(ours, reals[i], `tcp reply ${JSON.stringify(replies[key])}`);
    }
  } finally {
    tcp.respond = undefined;
  }
});

test('socketmap: error replies and hang-ups as in the real postmap, with the same warnings', async () => {
  const replies: Record<string, string | typeof HANG_UP> = {
    's-temp': 'TEMP database busy', 's-timeout': 'TIMEOUT', 's-perm': 'PERM  no such map\x01', 's-odd': 'WHAT is this',
    's-ok-bare': 'OK', 's-ok-empty': 'OK ', 's-nf': 'NOTFOUND', 's-hang': HANG_UP, 's-long': `OK ${'v'.repeat(100_001)}`,
  };
  smap.respond = (key) => replies[key];
  try {
    const spec = `socketmap:${smap.endpoint}:mapA`;
    const list = Object.keys(replies);
    const reals = await Promise.all(list.map((key) => realOne(spec, key)));
    for (const [i, key] of list.entries()) {
      const ours = await ourOne(spec, key);
      assert.deepEqual(ours, reals[i], `socketmap reply for ${key}`);
    }
  } finally {
    smap.respond = undefined;
  }
});

test('server stopped: temporary failure, not "not found"; restarted: found again', async () => {
  const key = [...entries.keys()].find((k) => /^[a-z0-9@.]+$/.test(k))!;
  assert.ok(key, 'a plain key with an entry');
  const smapSpec = `socketmap:${smap.endpoint}:mapA`;
  const mcf = join(confDir, 'down.cf');
  writeCf(mcf, `memcache = ${mc.endpoint}\n`);
  const mcSpec = `memcache:${mcf}`;
  await memcacheSet(mc.port, new Map([[key, 'cached']]));
  const tcpSpec = `tcp:${tcp.address}`;
  for (const spec of [smapSpec, mcSpec, tcpSpec]) assert.notEqual((await ourOne(spec, key)).value, null, spec);

  await smap.stop();
  await mc.stop();
  await tcp.stop();
  for (const spec of [smapSpec, mcSpec, tcpSpec]) assert.equal((await ourOne(spec, key)).value, 'error', spec);
  for (const spec of [smapSpec, mcSpec]) {
    const real = await realOne(spec, key);
    const ours = await ourOne(spec, key);
    assert.equal(real.value, 'error', spec);
    assert.deepEqual(ours, real, spec);
  }
  // tcp: ten connect attempts, one second apart in Postfix (shortened for ours); started in before().
  const ourTcp = await ourOne(deadTcpSpec, 'user@example.com');
  const realTcp = await realDeadTcp;
  assert.equal(realTcp.value, 'error');
  assert.equal(realTcp.warnings.length, DICT_TCP_DEFAULTS.maxTry);
  assert.deepEqual(ourTcp, realTcp);

  await smap.start();
  await mc.start();
  await tcp.start();
  await memcacheSet(mc.port, new Map([[key, 'cached again']]));
  for (const spec of [smapSpec, mcSpec, tcpSpec]) {
    const real = await realOne(spec, key);
    const ours = await ourOne(spec, key);
    assert.notEqual(real.value, 'error', spec);
    assert.notEqual(real.value, null, spec);
    assert.deepEqual(ours.value, real.value, spec);
  }
});

test('memcache: backup table fallback and cache fill as the real postmap', async () => {
  const backupFile = join(confDir, 'backup.txt');
  writeCf(backupFile, 'only@backup.example from-backup\nboth@example.com backup-loses\n');
  await memcacheSet(mc.port, new Map([['bk:both@example.com', 'memcache-wins']]));
  const cf = join(confDir, 'bk.cf');
  writeCf(cf, `memcache = ${mc.endpoint}\nkey_format = bk:%s\nbackup = texthash:${backupFile}\n`);
  const spec = `memcache:${cf}`;
  const raw = join(confDir, 'bkraw.cf');
  writeCf(raw, `memcache = ${mc.endpoint}\n`);
  const list = ['only@backup.example', 'both@example.com', 'none@example.com', 'ONLY@Backup.Example'];
  const real = await realBatch(spec, list);
  assert.equal(real.fatal.length, 0, real.fatal.join('\n'));
  assert.equal(real.found.get('only@backup.example'), 'from-backup');
  // The real postmap filled the cache from the backup: drop that entry, so that ours must do the same.
  const filled = await realOne(`memcache:${raw}`, 'bk:only@backup.example');
  assert.equal(filled.value, 'from-backup');
  await memcacheDelete(mc.port, 'bk:only@backup.example');
  assertSameAnswers(spec, list, real.found, await ourBatch(spec, list));
  assert.equal((await realOne(`memcache:${raw}`, 'bk:only@backup.example')).value, 'from-backup');
});

/** Removes one key with a plain text-protocol client. */
async function memcacheDelete(port: number, key: string): Promise<void> {
  const sock = connect({ host: '127.0.0.1', port });
  const reply = await new Promise<string>((resolve, reject) => {
    let buf = '';
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n')) resolve(buf);
    });
    sock.once('error', reject);
    sock.write(`delete ${key}\r\n`);
    setTimeout(() => reject(new Error('memcached did not answer delete')), 5000);
  });
  sock.destroy();
  assert.equal(reply, 'DELETED\r\n');
}
