/*
 * proxymap_oracle_test - proxy: tables between Postern and the real Postfix proxymap(8), both ways
 *
 * What it does:
 *  1. A real Postfix master runs proxymap and proxywrite (a throwaway
 *     instance); Postern's dict_proxy client looks up several hundred
 *     keys (test/oracle/dict_oracle_keys.ts) in texthash:, regexp:, pcre:
 *     and cidr: fixture tables through it, and the real `postmap -q -
 *     proxy:...` does the same through the same daemon: same answers.
 *     Also: the pattern flag from the open reply, sequence (the real
 *     postmap refuses -s on proxy:; ours walks the table), an unapproved table (our DictError and
 *     warning == the real postmap's fatal text, and the real daemon's
 *     warnings), an approved table whose file is missing (temporary
 *     failure, never "not found"), and the daemon stopped (DictError)
 *     then started again (lookups work without reopening).
 *  2. Postern's proxymap serves queue/private/proxymap of a real Postfix
 *     layout; the real postmap -q -, -q and -s through it give exactly
 *     what they give through the real proxymap daemon of part 1 (same
 *     table files), including exit codes, stderr, and the daemon's
 *     warnings for an unapproved table, and the raw reply to an unknown
 *     request name.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type OracleConfig, ORACLE_MAIN_BASE, makeOracleConfig, postfixIds } from '../lib/postfix_oracle.js';
import { srcPath } from '../lib/paths.js';
import { oracleKeys } from './dict_oracle_keys.js';
import { DictError, dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { dictProxyClientsClose } from '../../src/global/dict_proxy.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { createMailServer, type MailServer } from '../../src/master/mail_server.js';
import { proxymapServer } from '../../src/proxymap/proxymap.js';
import { msgSetSinks } from '../../src/util/msg.js';

const POSTMAP = '/usr/sbin/postmap';
/** Bound on waiting for a restarted real proxymap to answer again. */
const RESTART_WAIT_MS = 15_000;
/** Bound on waiting for a raw reply. */
const RAW_WAIT_MS = 5_000;
const FIXTURES = ['texthash', 'regexp', 'pcre', 'cidr'] as const;
/** The lmdb: tables the write tests change (upper case keys: stored folded by postmap). */
const LMDB_SOURCE = 'a 1\nB 2\nc 3\nd 4\nuser@example.com local\nJöe@example.com utf8\n';
/** What each daemon is asked to do to its copy, through our client and the real postmap -d. */
const WRITES: Array<['update', string, string] | ['delete', string]> = [
  ['update', 'New', 'v1'], ['update', 'a', 'replaced'], ['update', utf8('Ünï@X'), utf8('ÿ')], ['delete', 'B'], ['delete', 'nothere'],
];

/** UTF-8 text as the byte string Postern's tables use. */
function utf8(s: string): string {
  return Buffer.from(s, 'utf8').toString('latin1');
}

let shared = '';
let specs: string[] = [];
let missing = '';
let unapproved = '';
const cleanups: Array<() => Promise<void> | void> = [];

/** What the real daemon and the real postmap said in part 1, compared in part 2. */
const realAnswers = new Map<string, { status: number | null; stdout: string; stderr: string }>();
let realDenyLog: string[] = [];
let realWrites: string[] = [];

before(() => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  assert.ok(existsSync(POSTMAP), `${POSTMAP} is missing: install the postfix package`);
  // Table files both daemons (the real one runs as postfix) can read.
  shared = mkdtempSync(join(tmpdir(), 'postern-proxymap-tables-'));
  chmodSync(shared, 0o755);
  cleanups.push(() => rmSync(shared, { recursive: true, force: true }));
  specs = FIXTURES.map((t) => {
    const file = join(shared, `table.${t}`);
    copyFileSync(srcPath('src', 'global', 'testdata', `dict_oracle.${t}`), file);
    chmodSync(file, 0o644);
    return `${t}:${file}`;
  });
  missing = `texthash:${join(shared, 'no-such-file')}`;
  // An empty main.cf for the real postmap's direct builds and dumps.
  writeFileSync(join(shared, 'main.cf'), '');
  // Two copies of one lmdb: table, built by the real postmap: one for each daemon to change.
  for (const n of ['rw1', 'rw2']) {
    writeFileSync(join(shared, n), LMDB_SOURCE);
    const r = spawnSync(POSTMAP, ['-c', shared, `lmdb:${join(shared, n)}`], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    const ids = postfixIds();
    chownSync(join(shared, `${n}.lmdb`), ids.uid, ids.gid);
  }
  unapproved = `texthash:${join(shared, 'table.texthash')}x`;
});

after(async () => {
  msgSetSinks([]);
  dictProxyClientsClose();
  for (const c of cleanups.reverse()) await c();
});

function mainSettings(): Record<string, string> {
  return {
    ...ORACLE_MAIN_BASE,
    // Commas and several proxy: prefixes, as Postfix accepts them.
    proxy_read_maps: [...specs, missing, lmdb('rw1'), lmdb('rw2')].map((s) => `proxy:${s}`).join(', ') + ' proxy:proxy:inline:{a=b}',
    proxy_write_maps: `proxy:${lmdb('rw1')} proxy:${lmdb('rw2')}`,
  };
}

function lmdb(name: string): string {
  return `lmdb:${join(shared, name)}`;
}

/** Our client's writes through the proxywrite service, then the real postmap -d through it; returns what each said. */
async function applyWrites(o: OracleConfig, name: string): Promise<string[]> {
  const config = loadMailConfig({ configDir: o.confDir });
  const dict = dictOpen(`proxy:${lmdb(name)}`, { config, mode: 'write' });
  const out: string[] = [];
  for (const w of WRITES) {
    if (w[0] === 'update') {
      await dict.update!(w[1], w[2]);
      out.push(`update ${w[1]}`);
    } else {
      out.push(`delete ${w[1]} ${await dict.delete!(w[1])}`);
    }
  }
  for (const k of ['C', 'zz']) {
    const r = await postmap(o, ['-d', k, `proxy:${lmdb(name)}`]);
    out.push(`postmap -d ${k}: ${r.status} ${r.stdout} ${r.stderr.replaceAll(name, 'NAME')}`);
  }
  const seq: string[] = [];
  for await (const [k, v] of dictOpen(`proxy:${lmdb(name)}`, { config }).sequence!()) seq.push(`${k}=${v}`);
  out.push(`sequence: ${seq.sort().join(' ')}`);
  const dump = await o.run(POSTMAP, ['-c', shared, '-s', lmdb(name)]);
  out.push(`dump ${dump.status}: ${sortedLines(dump.stdout).join(' ')}`);
  return out;
}

/** Raw bytes to a service socket; what came back within RAW_WAIT_MS (or once `expect` bytes arrived). */
async function rawExchange(path: string, bytes: string, expect: number): Promise<string> {
  const sock = connect(path);
  const got: Buffer[] = [];
  sock.on('data', (b: Buffer) => got.push(b));
  await new Promise<void>((res, rej) => {
    sock.once('connect', () => res());
    sock.once('error', rej);
  });
  sock.write(Buffer.from(bytes, 'latin1'));
  const t0 = Date.now();
  while (Buffer.concat(got).length < expect && Date.now() - t0 < RAW_WAIT_MS) await new Promise((r) => setTimeout(r, 20));
  sock.destroy();
  return Buffer.concat(got).toString('latin1');
}

/**
 * An unknown request name. (Postfix answers BAD but then loses its place
 * in the stream; Postern goes on serving the connection: see
 * src/proxymap/proxymap_test.ts.)
 */
const BOGUS_REQUEST = 'request\0bogus\0\0';
const BOGUS_REPLY_BYTES = 'protocol\0proxymap_protocol\0\0status\x003\0\0'.length;

function keyInput(): Buffer {
  return Buffer.from(oracleKeys().map((k) => `${k}\n`).join(''), 'latin1');
}

/** The real postmap's "key TAB value" lines as a map. */
function parseQueryOutput(stdout: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    const tab = line.indexOf('\t');
    m.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return m;
}

function sortedLines(s: string): string[] {
  return s.split('\n').filter((l) => l !== '').sort();
}

async function postmap(o: OracleConfig, args: string[], input?: Buffer) {
  return o.run(POSTMAP, ['-c', o.confDir, ...args], { input });
}

test('our proxy: client against the real proxymap daemon', async () => {
  const oracle = makeOracleConfig({
    prefix: 'postern-proxymap-real-',
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'data'],
    main: mainSettings(),
    master: ['proxymap unix - - n - - proxymap', 'proxywrite unix - - n - 1 proxymap', 'postlog unix-dgram n - n - 1 postlogd'],
  });
  cleanups.push(() => oracle.cleanup());
  await oracle.startMaster(join(oracle.queueDir, 'private', 'proxymap'));
  const config = loadMailConfig({ configDir: oracle.confDir });
  const warnings: string[] = [];
  msgSetSinks([{ write: (sev, text) => void warnings.push(`${sev}: ${text}`) }]);
  dictCacheClear();
  const keys = oracleKeys();
  const utf8Keys = keys.filter((k) => Buffer.from(k, 'latin1').toString('utf8') === Buffer.from(k, 'latin1').toString('utf8') && /[\x80-\xff]/.test(k));
  assert.ok(utf8Keys.length > 0, 'the key list has 8-bit keys');

  for (const spec of specs) {
    const real = await postmap(oracle, ['-q', '-', `proxy:${spec}`], keyInput());
    realAnswers.set(`q- ${spec}`, real);
    const want = parseQueryOutput(real.stdout);
    assert.ok(want.size > 10, `the real postmap found keys in ${spec}: ${real.stderr}`);
    const dict = dictOpen(`proxy:${spec}`, { config });
    const got = new Map<string, string>();
    for (const k of keys) {
      const v = await dict.lookup(k);
      if (v !== null) got.set(Buffer.from(k, 'latin1').toString('utf8'), Buffer.from(v, 'latin1').toString('utf8'));
    }
    assert.deepEqual(got, want, `lookups in proxy:${spec}`);
    assert.equal(dict.pattern, !spec.startsWith('texthash:'), `pattern flag of ${spec}`);
  }

  // sequence: the real postmap refuses -s on proxy: (recorded for part 2); ours walks the table through the daemon.
  const text = specs[0]!;
  const realSeq = await postmap(oracle, ['-s', `proxy:${text}`]);
  realAnswers.set(`s ${text}`, realSeq);
  const seq: string[] = [];
  for await (const [k, v] of dictOpen(`proxy:${text}`, { config }).sequence!()) seq.push(`${k}\t${v}`);
  assert.ok(seq.length > 10, 'sequence through the real daemon');

  // Single -q: found, not found (for part 2).
  for (const k of ['user@example.com', 'nope-nothing']) realAnswers.set(`q ${k}`, await postmap(oracle, ['-q', k, `proxy:${text}`]));

  // An unknown request name on the wire.
  realAnswers.set('bogus', { status: 0, stdout: await rawExchange(join(oracle.queueDir, 'private', 'proxymap'), BOGUS_REQUEST, BOGUS_REPLY_BYTES), stderr: '' });
  assert.equal(realAnswers.get('bogus')!.stdout.length, BOGUS_REPLY_BYTES, 'the real daemon answered');

  // An unapproved table: DictError, and our warning is the real client's fatal text.
  warnings.length = 0;
  await assert.rejects(dictOpen(`proxy:${unapproved}`, { config }).lookup('x'), DictError);
  const realDeny = await postmap(oracle, ['-q', 'x', `proxy:${unapproved}`]);
  realAnswers.set('deny', realDeny);
  assert.equal(realDeny.status, 1);
  assert.deepEqual(warnings, [`warning: ${realDeny.stderr.trim().replace(/^postmap: fatal: /, '')}`]);
  realDenyLog = readFileSync(oracle.maillog, 'utf8').split('\n').filter((l) => l.includes('unapproved') || l.includes('to approve'))
    .map((l) => l.replace(/^.*postfix\/proxymap\[\d+\]: /, '')).slice(-2);
  assert.equal(realDenyLog.length, 2, oracle.readLog());

  // An approved table that cannot be opened: a temporary failure, never "not found".
  await assert.rejects(dictOpen(`proxy:${missing}`, { config }).lookup('x'), DictError);
  realAnswers.set('missing', await postmap(oracle, ['-q', 'x', `proxy:${missing}`]));

  // proxywrite: our client's update/delete and the real postmap -d, then the table as the real postmap dumps it.
  realWrites = await applyWrites(oracle, 'rw1');
  assert.ok(realWrites.some((l) => l.includes('new=v1') && l.includes(`${utf8('ünï@x')}=${utf8('ÿ')}`)), realWrites.join('\n'));

  // The daemon goes away: DictError; it comes back: the same Dict works again.
  const dict = dictOpen(`proxy:${text}`, { config });
  const probe = [...want(realAnswers.get(`q- ${text}`)!.stdout).entries()][0]!;
  assert.equal(await dict.lookup(probe[0]), probe[1]);
  await oracle.stop();
  warnings.length = 0;
  await assert.rejects(dict.lookup(probe[0]), DictError);
  assert.ok(warnings.some((w) => w.startsWith('warning: dict_proxy_lookup: service private/proxymap: ')), warnings.join('\n'));
  await oracle.startMaster(join(oracle.queueDir, 'private', 'proxymap'));
  const t0 = Date.now();
  let back: string | null = null;
  while (Date.now() - t0 < RESTART_WAIT_MS) {
    try {
      back = await dict.lookup(probe[0]);
      break;
    } catch (err) {
      assert.ok(err instanceof DictError);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  assert.equal(back, probe[1], 'lookups work again after the daemon restarted');
});

function want(stdout: string): Map<string, string> {
  return parseQueryOutput(stdout);
}

test('the real postmap against our proxymap daemon', async () => {
  assert.ok(realAnswers.size > 0, 'part 1 ran first and recorded the real daemon');
  const layout = makeOracleConfig({ prefix: 'postern-proxymap-ours-', queueDirs: ['private'], main: mainSettings() });
  cleanups.push(() => layout.cleanup());
  const config = loadMailConfig({ configDir: layout.confDir });
  const warnings: string[] = [];
  msgSetSinks([{ write: (sev, text) => void warnings.push(`${sev}: ${text}`) }]);
  for (const service of ['proxymap', 'proxywrite']) {
    const server: MailServer = createMailServer('multi', proxymapServer(), { config, serviceName: service });
    await server.init();
    const listener: Server = createServer((sock) => server.client(sock));
    cleanups.push(async () => {
      server.abort();
      await new Promise<void>((res) => listener.close(() => res()));
    });
    await new Promise<void>((res) => listener.listen(join(layout.queueDir, 'private', service), res));
  }

  for (const spec of specs) {
    const ours = await postmap(layout, ['-q', '-', `proxy:${spec}`], keyInput());
    const real = realAnswers.get(`q- ${spec}`)!;
    assert.equal(ours.status, real.status, `postmap -q - proxy:${spec}: ${ours.stderr}`);
    assert.deepEqual(parseQueryOutput(ours.stdout), parseQueryOutput(real.stdout), `postmap -q - proxy:${spec}`);
    assert.equal(ours.stderr, real.stderr);
  }
  const text = specs[0]!;
  assert.deepEqual(await postmap(layout, ['-s', `proxy:${text}`]), realAnswers.get(`s ${text}`));
  dictCacheClear();
  assert.deepEqual(await applyWrites(layout, 'rw2'), realWrites, 'the same changes through our proxywrite');
  for (const k of ['user@example.com', 'nope-nothing']) {
    const ours = await postmap(layout, ['-q', k, `proxy:${text}`]);
    assert.deepEqual(ours, realAnswers.get(`q ${k}`), `postmap -q ${k}`);
  }
  assert.deepEqual(
    await rawExchange(join(layout.queueDir, 'private', 'proxymap'), BOGUS_REQUEST, BOGUS_REPLY_BYTES),
    realAnswers.get('bogus')!.stdout,
    'an unknown request name',
  );
  warnings.length = 0;
  const deny = await postmap(layout, ['-q', 'x', `proxy:${unapproved}`]);
  assert.deepEqual(deny, realAnswers.get('deny'));
  assert.deepEqual(warnings, realDenyLog);
  const miss = await postmap(layout, ['-q', 'x', `proxy:${missing}`]);
  assert.deepEqual(miss, realAnswers.get('missing'));
  assert.notEqual(miss.status, 0, 'a table that cannot be opened is an error, not "not found"');
});
