/*
 * dict_socketmap_test - the socketmap: client against an in-process socketmap server
 *
 * Netstring framing, TCP and UNIX-domain servers, the shared connection
 * per server, idle close, reply size and time limits, the one retry
 * after a closed connection, and open errors. Differential tests
 * against the real postmap are in test/oracle/dict_net_oracle_test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { NO_REPLY, SocketmapServer } from '../../test/lib/table_servers.js';
import { dictCacheClear, dictOpen } from './dict.js';
import { DictError } from './dict_base.js';
import { DICT_SOCKMAP_DEFAULTS, dictSocketmapSetLimits, netstringEncode } from './dict_socketmap.js';
import { captureWarnings } from './dict_test_lib.js';

let server: SocketmapServer;
const maps = new Map([['aliases', new Map([['joe', 'joe@example.com'], ['Big', 'B']])], ['other', new Map([['joe', 'other joe']])]]);

before(async () => {
  server = await SocketmapServer.start(maps);
});

after(async () => {
  dictSocketmapSetLimits({ ...DICT_SOCKMAP_DEFAULTS });
  await server.stop();
  dictCacheClear();
});

test('netstring encoding', () => {
  assert.equal(netstringEncode('aliases joe'), '11:aliases joe,');
  assert.equal(netstringEncode(''), '0:,');
});

test('lookups per map name over one shared connection; keys not folded', async () => {
  const before = server.connections;
  const a = dictOpen(`socketmap:${server.endpoint}:aliases`);
  const o = dictOpen(`socketmap:${server.endpoint}:other`);
  assert.equal(a.pattern, true);
  const got = await Promise.all([a.lookup('joe'), o.lookup('joe'), a.lookup('nobody'), a.lookup('Big'), a.lookup('big')]);
  assert.deepEqual(got, ['joe@example.com', 'other joe', null, 'B', null]);
  assert.equal(server.connections - before, 1);
});

test('UNIX-domain server', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-sockmap-'));
  const unix = await SocketmapServer.start(maps, { path: join(dir, 'sock') });
  t.after(async () => {
    await unix.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  assert.equal(await dictOpen(`socketmap:${unix.endpoint}:aliases`).lookup('joe'), 'joe@example.com');
});

test('idle connection closed after the idle limit; a server-side close is retried once', async () => {
  dictSocketmapSetLimits({ maxIdleMs: 100 });
  try {
    const d = dictOpen(`socketmap:${server.endpoint}:aliases`);
    assert.equal(await d.lookup('joe'), 'joe@example.com');
    const n = server.connections;
    await new Promise((r) => setTimeout(r, 250));
    assert.equal(await d.lookup('joe'), 'joe@example.com');
    assert.equal(server.connections, n + 1);
    server.dropClients();
    const { result, lines } = await captureWarnings(() => d.lookup('joe'));
    assert.equal(result, 'joe@example.com');
    assert.deepEqual(lines, []);
  } finally {
    dictSocketmapSetLimits({ ...DICT_SOCKMAP_DEFAULTS });
  }
});

test('reply size and time limits: DictError with Postfix netstring texts', async () => {
  dictSocketmapSetLimits({ maxReply: 50, timeoutMs: 150 });
  server.respond = (k) => (k === 'big' ? `OK ${'x'.repeat(60)}` : k === 'quiet' ? NO_REPLY : undefined);
  try {
    const spec = `socketmap:${server.endpoint}:aliases`;
    const d = dictOpen(spec);
    const { lines } = await captureWarnings(async () => {
      await assert.rejects(d.lookup('big'), DictError);
      await assert.rejects(d.lookup('quiet'), DictError);
    });
    assert.deepEqual(lines, [
      `warning: table ${spec} lookup error: input exceeds size limit`,
      `warning: table ${spec} lookup error: time limit exceeded`,
    ]);
    assert.equal(await d.lookup('joe'), 'joe@example.com');
  } finally {
    server.respond = undefined;
    dictSocketmapSetLimits({ ...DICT_SOCKMAP_DEFAULTS });
  }
});

test('server replies TEMP/PERM: DictError; NOTFOUND and OK without data', async () => {
  const replies: Record<string, string> = { t: 'TEMP  busy now', p: 'PERM', n: 'NOTFOUND ', e: 'OK ' };
  server.respond = (k) => replies[k];
  try {
    const spec = `socketmap:${server.endpoint}:aliases`;
    const d = dictOpen(spec);
    const { lines } = await captureWarnings(async () => {
      await assert.rejects(d.lookup('t'), DictError);
      await assert.rejects(d.lookup('p'), DictError);
      assert.equal(await d.lookup('n'), null);
      assert.equal(await d.lookup('e'), '');
    });
    assert.deepEqual(lines, [
      `warning: ${spec} socketmap server temporary error: busy now`,
      `warning: ${spec} socketmap server permanent error`,
    ]);
  } finally {
    server.respond = undefined;
  }
});

test('open errors become surrogates', async () => {
  for (const [spec, why] of [
    [`socketmap:${server.endpoint}:aliases`, /requires O_RDONLY access mode/],
    ['socketmap:nomapname', /socketmap requires server:socketmap argument/],
    ['socketmap:tcp:127.0.0.1:1:m', /invalid transport name: tcp/],
  ] as const) {
    const opts = spec.endsWith(':aliases') ? { mode: 'write' as const } : {};
    await captureWarnings(() => assert.rejects(dictOpen(spec, opts).lookup('x'), why));
  }
});
