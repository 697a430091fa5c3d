/*
 * proxymap_test - Postern's proxymap/proxywrite daemons with Postern's proxy: client, in one process
 *
 * What it does: runs the proxymap and proxywrite services
 * (createMailServer, as master would) on queue_directory/private/{proxymap,
 * proxywrite} of a temporary layout and talks to them through
 * dictOpen("proxy:...") over the real sockets: the approval list rules,
 * folding as Postfix's client and server do it, pattern flag, a proxy:
 * nested in a served table opened directly, unapproved tables, writes
 * refused by the read-only service, writes/deletes/sequence through
 * proxywrite on an lmdb: table, a table that cannot be opened
 * (temporary failure), the daemon going away and coming back, and a
 * changed table file read anew for the next client. What
 * the real Postfix does in each case is checked in
 * test/oracle/proxymap_oracle_test.ts.
 *
 * DIAGNOSTICS
 * Assertion failures name the case.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DictError, dictCacheClear, dictOpen } from '../global/dict.js';
import { dictProxyClientsClose } from '../global/dict_proxy.js';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { createMailServer, type MailServer } from '../master/mail_server.js';
import { msgSetSinks } from '../util/msg.js';
import { proxymapServer } from './proxymap.js';
import { approvedTables } from './proxymap_service.js';

const root = mkdtempSync(join(tmpdir(), 'postern-proxymap-'));
const queueDir = join(root, 'queue');
mkdirSync(join(queueDir, 'private'), { recursive: true });
const T = (name: string): string => join(root, name);
writeFileSync(T('text'), 'Key1 v1\nkey2 v2\nuser@example.com local\n');
writeFileSync(T('re'), '/^A(.*)$/ got $1\n');
const TEXT = `texthash:${T('text')}`;
const RE = `regexp:${T('re')}`;
// No comma or space inside: proxy_read_maps is split on them (as Postfix does).
const NESTED = 'unionmap:{proxy:inline:{a=b}}';
const MISSING = `texthash:${T('missing')}`;
const LMDB = `lmdb:${T('rw')}`;

function config(extra: Record<string, string> = {}, dir = 'etc'): MailConfig {
  const confDir = join(root, dir);
  mkdirSync(confDir, { recursive: true });
  const settings: Record<string, string> = {
    queue_directory: queueDir,
    proxy_read_maps: `proxy:${TEXT}, proxy:${RE} proxy:proxy:${NESTED} proxy:${MISSING} proxy:${LMDB}`,
    proxy_write_maps: `proxy:${LMDB} proxy:${TEXT}`,
    ...extra,
  };
  writeFileSync(join(confDir, 'main.cf'), Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  return loadMailConfig({ configDir: confDir });
}

const base = config();
const warnings: string[] = [];
msgSetSinks([{ write: (sev, text) => void warnings.push(`${sev}: ${text}`) }]);

interface Running {
  stop(): Promise<void>;
}

async function startService(service: 'proxymap' | 'proxywrite'): Promise<Running> {
  const server: MailServer = createMailServer('multi', proxymapServer(), { config: base, serviceName: service });
  await server.init();
  const listener: Server = createServer((sock) => server.client(sock));
  const path = join(queueDir, 'private', service);
  rmSync(path, { force: true });
  await new Promise<void>((res) => listener.listen(path, res));
  return {
    async stop() {
      server.abort();
      await new Promise<void>((res) => listener.close(() => res()));
    },
  };
}

const running = new Map<string, Running>();
after(async () => {
  for (const r of running.values()) await r.stop();
  dictProxyClientsClose();
  msgSetSinks([]);
  rmSync(root, { recursive: true, force: true });
});

async function ensureRunning(): Promise<void> {
  for (const s of ['proxymap', 'proxywrite'] as const) if (!running.has(s)) running.set(s, await startService(s));
}

test('proxy_read_maps/proxy_write_maps: only proxy: entries with a type, every proxy: prefix removed', () => {
  assert.deepEqual(
    [...approvedTables('proxy:a:b, proxy:proxy:c:d\tnoproxy:x:y proxy:nocolon $x\r\nproxy:e:f,,proxy:a:b')],
    ['a:b', 'c:d', 'e:f'],
  );
  assert.deepEqual([...approvedTables('')], []);
});

test('lookups through proxymap: folding, pattern flag, nested proxy: opened by the server itself', async () => {
  await ensureRunning();
  dictCacheClear();
  warnings.length = 0;
  const text = dictOpen(`proxy:${TEXT}`, { config: base });
  // The client folds (UTF-8 on); the server opened texthash without folding, so "Key1" is never found (as Postfix).
  assert.equal(await text.lookup('KEY2'), 'v2');
  assert.equal(await text.lookup('Key1'), null);
  assert.equal(await text.lookup('USER@Example.COM'), 'local');
  assert.equal(text.pattern, false);
  // Without the UTF-8 layer the key goes as given and the server folds it.
  const plain = dictOpen(`proxy:${TEXT}`, { config: base, utf8: false });
  assert.equal(await plain.lookup('KEY2'), 'v2');
  const noFold = dictOpen(`proxy:${TEXT}`, { config: base, fold: false, utf8: false });
  assert.equal(await noFold.lookup('KEY2'), null);
  assert.equal(await noFold.lookup('Key1'), 'v1');
  const re = dictOpen(`proxy:${RE}`, { config: base });
  assert.equal(await re.lookup('Axy'), 'got xy');
  assert.equal(await re.lookup('axy'), 'got xy');
  assert.equal(await re.lookup('bxy'), null);
  assert.equal(re.pattern, true);
  // inline:{a=b} is not approved: the server opened it directly, not through itself.
  assert.equal(await dictOpen(`proxy:${NESTED}`, { config: base }).lookup('a'), 'b');
  assert.deepEqual(warnings, []);
});

test('an unapproved table and a table that cannot be opened fail temporarily', async () => {
  await ensureRunning();
  warnings.length = 0;
  const other = `texthash:${T('text')}.other`;
  await assert.rejects(dictOpen(`proxy:${other}`, { config: base }).lookup('x'), DictError);
  assert.deepEqual(warnings, [
    `warning: request for unapproved table: "${other}"`,
    `warning: to approve this table for read-only access, list proxy:${other} in main.cf:proxy_read_maps`,
    `warning: proxymap service is not configured for table "${other}"`,
  ]);
  warnings.length = 0;
  await assert.rejects(dictOpen(`proxy:${MISSING}`, { config: base }).lookup('x'), /proxymap service reports a temporary failure/);
  assert.ok(warnings.some((w) => w.includes(`${MISSING} is unavailable`)), warnings.join('\n'));
});

test('the read-only service refuses updates; proxywrite updates, deletes and walks an lmdb: table', async () => {
  await ensureRunning();
  // Create the table (empty) in this process first.
  const created = dictOpen(LMDB, { mode: 'create', bulk: true, config: base });
  await created.close();
  warnings.length = 0;
  // A client whose proxywrite service is the read-only proxymap.
  const misdirected = config({ proxywrite_service_name: 'proxymap' }, 'etc-misdirected');
  await assert.rejects(dictOpen(`proxy:${LMDB}`, { config: misdirected, mode: 'write' }).update!('k', 'v'), DictError);
  assert.deepEqual(warnings, [
    `warning: refusing ${LMDB} update request on non-proxywrite service`,
    `warning: proxymap update access is not configured for table "${LMDB}"`,
  ]);

  warnings.length = 0;
  const rw = dictOpen(`proxy:${LMDB}`, { config: base, mode: 'write' });
  await rw.update!('Alpha', '1');
  await rw.update!('beta', '2');
  await rw.update!('ALPHA', '3');
  assert.equal(await rw.delete!('Beta'), true);
  assert.equal(await rw.delete!('gamma'), false);
  await rw.update!('delta', '4');
  const seq: string[] = [];
  for await (const [k, v] of rw.sequence!()) seq.push(`${k}=${v}`);
  assert.deepEqual(seq.sort(), ['alpha=3', 'delta=4']);
  assert.equal(await dictOpen(`proxy:${LMDB}`, { config: base }).lookup('Delta'), '4');
  // A table type without updates: BAD, in both processes' words.
  await assert.rejects(dictOpen(`proxy:${TEXT}`, { config: base, mode: 'write' }).update!('a', 'b'), DictError);
  assert.deepEqual(warnings, [
    `warning: table ${TEXT}: update operation is not supported`,
    `warning: proxywrite update failed for table "${TEXT}" key "a": invalid request`,
  ]);
});

test('the service goes away: DictError; it comes back: the same table works again', async () => {
  await ensureRunning();
  const text = dictOpen(`proxy:${TEXT}`, { config: base });
  assert.equal(await text.lookup('key2'), 'v2');
  await running.get('proxymap')!.stop();
  running.delete('proxymap');
  warnings.length = 0;
  await assert.rejects(text.lookup('key2'), DictError);
  assert.ok(warnings.length === 1 && warnings[0]!.startsWith('warning: dict_proxy_lookup: service private/proxymap: '), warnings.join('\n'));
  await ensureRunning();
  assert.equal(await text.lookup('key2'), 'v2');
});

test('a changed table file is read anew for the next client (Postfix: "has changed -- restarting")', async () => {
  await ensureRunning();
  dictCacheClear();
  dictProxyClientsClose();
  const d = dictOpen(`proxy:${TEXT}`, { config: base });
  assert.equal(await d.lookup('key2'), 'v2');
  writeFileSync(T('text'), 'key2 changed\n');
  const later = new Date(Date.now() + 10_000);
  utimesSync(T('text'), later, later);
  warnings.length = 0;
  // The same client connection keeps the table it had, as with Postfix.
  assert.equal(await d.lookup('key2'), 'v2');
  dictProxyClientsClose();
  assert.equal(await d.lookup('key2'), 'changed');
  assert.deepEqual(warnings, [`info: table ${TEXT} has changed -- restarting`]);
});

test('an unknown request name is answered BAD and the connection goes on (as Postfix)', async () => {
  await ensureRunning();
  const sock = connect(join(queueDir, 'private', 'proxymap'));
  const got: Buffer[] = [];
  sock.on('data', (b: Buffer) => got.push(b));
  await new Promise<void>((res, rej) => {
    sock.once('connect', () => res());
    sock.once('error', rej);
  });
  warnings.length = 0;
  sock.write(Buffer.from('request\0bogus\0\0request\0lookup\0table\0' + TEXT + '\0flags\x000\0key\0key2\0\0', 'latin1'));
  const want = 'protocol\0proxymap_protocol\0\0status\x003\0\0status\x000\0value\0changed\0\0';
  const t0 = Date.now();
  while (Buffer.concat(got).length < want.length && Date.now() - t0 < 5_000) await new Promise((r) => setTimeout(r, 20));
  sock.destroy();
  assert.equal(Buffer.concat(got).toString('latin1'), want);
  assert.deepEqual(warnings, ['warning: unrecognized request: "bogus", ignored']);
});
