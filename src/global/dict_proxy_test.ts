/*
 * dict_proxy_test - the proxy: client on the wire, against a scripted proxymap server
 *
 * What it does: a scripted server (createAttrServer with the proxymap
 * protocol) on DIR/private/proxymap records every request and answers
 * from a script. (1) The real Postfix postmap -q and Postern's
 * dictOpen("proxy:...") ask the same questions: the recorded requests
 * (names, table, flags, folded keys) must be identical — the real
 * client is the oracle for the flags and the client-side UTF-8
 * casefolding. (2) Each reply status gives what Postfix's client makes
 * of it (value, not found, temporary failure, the warnings). (3) A
 * server that does not answer: ipc_timeout bounds the wait (DictError),
 * and requests beyond the pending bound fail at once.
 *
 * DIAGNOSTICS
 * Assertion failures name the case; needs the postfix package.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { msgSetSinks } from '../util/msg.js';
import { DictError, dictCacheClear, dictOpen } from './dict.js';
import { PROXY_NO_BULK_TEXT, dictProxyClientsClose, dictProxySetMaxPending } from './dict_proxy.js';
import { createAttrServer } from './ipc/attr_serv.js';
import { loadMailConfig } from './mail_conf.js';
import { DICT_FLAG, PROXY_STAT, PROXYMAP_PROTOCOL } from './proxy_proto.js';

const POSTMAP = '/usr/sbin/postmap';
const POSTMAP_TIMEOUT_MS = 20_000;

const root = mkdtempSync(join(tmpdir(), 'postern-dict-proxy-'));
mkdirSync(join(root, 'private'));
writeFileSync(join(root, 'main.cf'), `queue_directory = ${root}\ncompatibility_level = 3.6\nipc_timeout = 1s\n`);
const config = loadMailConfig({ configDir: root });

type Req = Record<string, unknown>;
const seen: Req[] = [];
/** What the scripted server does with a lookup key: a status and value, or 'hang'. */
let answer: (key: string) => { status: number; value: string } | 'hang' = () => ({ status: PROXY_STAT.NOKEY, value: '' });

const server = createAttrServer(PROXYMAP_PROTOCOL, (req) => {
  seen.push({ ...req });
  if (req.request === 'open') {
    const pattern = req.table.startsWith('regexp:');
    return { status: PROXY_STAT.OK, flags: pattern ? DICT_FLAG.PATTERN : DICT_FLAG.FIXED };
  }
  if (req.request === 'lookup') {
    const a = answer(req.key);
    return a === 'hang' ? new Promise<never>(() => undefined) : a;
  }
  return { status: PROXY_STAT.BAD };
});
await server.listen(join(root, 'private', 'proxymap'));

const warnings: string[] = [];
msgSetSinks([{ write: (sev, text) => void warnings.push(`${sev}: ${text}`) }]);

after(async () => {
  msgSetSinks([]);
  dictProxyClientsClose();
  await server.close();
  rmSync(root, { recursive: true, force: true });
});

function realPostmap(args: string[]): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(POSTMAP, ['-c', root, ...args], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), POSTMAP_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('our requests are the real postmap\'s requests (flags, client-side UTF-8 casefolding)', async () => {
  assert.ok(existsSync(POSTMAP), `${POSTMAP} is missing: install the postfix package`);
  const cases: Array<{ args: string[]; table: string; key: string; fold: boolean }> = [
    { args: [], table: 'texthash:/x', key: utf8('KéY@Example.COM'), fold: true },
    { args: ['-f'], table: 'texthash:/x', key: 'KEY', fold: false },
    { args: [], table: 'regexp:/x', key: 'KEY', fold: true },
  ];
  for (const c of cases) {
    seen.length = 0;
    // The real postmap prints the key as UTF-8 text: pass it as such.
    assert.equal(await realPostmap([...c.args, '-q', Buffer.from(c.key, 'latin1').toString('utf8'), `proxy:${c.table}`]), 1);
    const theirs = [...seen];
    seen.length = 0;
    dictCacheClear();
    dictProxyClientsClose();
    assert.equal(await dictOpen(`proxy:${c.table}`, { config, fold: c.fold, utf8: true }).lookup(c.key), null);
    // The attr0 layer hands the server UTF-8 text; compare as such.
    assert.deepEqual(seen, theirs, `postmap ${c.args.join(' ')} -q ${c.key} proxy:${c.table}`);
  }
});

test('reply statuses: value, not found, temporary failures, refusals', async () => {
  dictCacheClear();
  answer = (key) => {
    const status: Record<string, number> = { ok: PROXY_STAT.OK, retry: PROXY_STAT.RETRY, config: PROXY_STAT.CONFIG, bad: PROXY_STAT.BAD, deny: PROXY_STAT.DENY, odd: 9 };
    // The server side speaks attr0 text: UTF-8 arrives as the client's byte string.
    return { status: status[key] ?? PROXY_STAT.NOKEY, value: key === 'ok' ? 'välue' : '' };
  };
  const d = dictOpen('proxy:texthash:/s', { config });
  assert.equal(await d.lookup('ok'), utf8('välue'));
  assert.equal(await d.lookup('missing'), null);
  warnings.length = 0;
  await assert.rejects(d.lookup('retry'), { name: 'DictError', message: 'proxy:texthash:/s lookup error: proxymap service reports a temporary failure' });
  await assert.rejects(d.lookup('config'), /configuration error/);
  assert.deepEqual(warnings, [], 'RETRY and CONFIG are not logged by the client (the server did)');
  await assert.rejects(d.lookup('bad'), DictError);
  await assert.rejects(d.lookup('deny'), DictError);
  await assert.rejects(d.lookup('odd'), DictError);
  assert.deepEqual(warnings, [
    'warning: proxymap lookup failed for table "texthash:/s" key "bad": invalid request',
    'warning: proxymap service is not configured for table "texthash:/s"',
    'warning: proxymap lookup failed for table "texthash:/s" key "odd": unexpected reply status 9',
  ]);
});

test('a server that does not answer: ipc_timeout, and the pending bound', async () => {
  dictCacheClear();
  dictProxyClientsClose();
  answer = (key) => (key === 'hang' ? 'hang' : { status: PROXY_STAT.OK, value: 'fine' });
  const d = dictOpen('proxy:texthash:/h', { config });
  assert.equal(await d.lookup('first'), 'fine');
  dictProxySetMaxPending(2);
  warnings.length = 0;
  const t0 = Date.now();
  const waiting = [d.lookup('hang'), d.lookup('hang')];
  await assert.rejects(d.lookup('hang'), /too many pending requests/);
  for (const w of waiting) await assert.rejects(w, /timeout/);
  assert.ok(Date.now() - t0 < 10_000, 'bounded by ipc_timeout');
  dictProxySetMaxPending(1000);
  assert.equal(warnings.length, 3, warnings.join('\n'));
  assert.match(warnings[0]!, /^warning: dict_proxy_lookup: service private\/proxymap: too many pending requests \(2\)$/);
  // The next request gets a fresh connection.
  assert.equal(await d.lookup('again'), 'fine');
});

test('proxy: cannot be built in bulk (postmap -i/-build), in the real postmap\'s words', async () => {
  const r = await new Promise<string>((resolve, reject) => {
    const child = spawn(POSTMAP, ['-c', root, '-i', 'proxy:lmdb:/nonexistent/x'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const err: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), POSTMAP_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(err).toString('utf8'));
    });
    child.stdin.end('a b\n');
  });
  assert.equal(r, `postmap: fatal: ${PROXY_NO_BULK_TEXT}\n`);
  warnings.length = 0;
  const d = dictOpen('proxy:lmdb:/nonexistent/x', { config, mode: 'create', bulk: true });
  await assert.rejects(d.lookup('a'), DictError);
  assert.deepEqual(warnings, [`warning: proxy:lmdb:/nonexistent/x is unavailable. ${PROXY_NO_BULK_TEXT}`]);
});
