/*
 * dict_tcp_test - the tcp: client against an in-process tcp_table(5) server
 *
 * Encoding, reply handling, retries and their warnings, time limits,
 * reconnection and one-at-a-time use of the connection by concurrent
 * callers. Differential tests against the real postmap are in
 * test/oracle/dict_net_oracle_test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HANG_UP, NO_REPLY, TcpTableServer } from '../../test/lib/table_servers.js';
import { dictCacheClear, dictOpen } from './dict.js';
import { DictError } from './dict_base.js';
import { captureWarnings } from './dict_test_lib.js';
import { DICT_TCP_DEFAULTS, dictTcpSetLimits, hexQuote, hexUnquote } from './dict_tcp.js';

let server: TcpTableServer;

before(async () => {
  server = await TcpTableServer.start(new Map([['key', 'value with spaces'], ['Upper', 'U'], ['pct%', '100%']]));
});

after(async () => {
  dictTcpSetLimits({ ...DICT_TCP_DEFAULTS });
  await server.stop();
  dictCacheClear();
});

test('hex quoting as Postfix hex_quote/hex_unquote', () => {
  assert.equal(hexQuote('a b%\t\xe9\x7f~'), 'a%20b%25%09%E9%7F~');
  assert.equal(hexUnquote('%4a%4B%20x'), 'JK x');
  assert.equal(hexUnquote('100%'), null);
  assert.equal(hexUnquote('%4'), null);
  assert.equal(hexUnquote('%g0'), null);
  assert.equal(hexUnquote(''), '');
});

test('lookups: found, not found, not folded, whole keys only', async () => {
  const d = dictOpen(`tcp:${server.address}`);
  assert.equal(d.pattern, true);
  assert.equal(d.lookupSync, undefined);
  assert.equal(await d.lookup('key'), 'value with spaces');
  assert.equal(await d.lookup('pct%'), '100%');
  assert.equal(await d.lookup('Upper'), 'U');
  assert.equal(await d.lookup('upper'), null);
  assert.ok(server.rawRequests.includes('get pct%25'));
});

test('concurrent callers share the connection one request at a time', async () => {
  const d = dictOpen(`tcp:${server.address}`);
  const before = server.connections;
  const keys = Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 'key' : `k${i}`));
  const got = await Promise.all(keys.map((k) => d.lookup(k)));
  assert.deepEqual(got, keys.map((k) => (k === 'key' ? 'value with spaces' : null)));
  assert.ok(server.connections - before <= 1, `${server.connections - before} new connections`);
});

test('400 reply: temporary failure without retry; malformed and bad status: warned', async () => {
  const replies: Record<string, string> = { soft: '400 later', junk: 'junk', bad: '300 x' };
  server.respond = (k) => replies[k];
  try {
    const d = dictOpen(`tcp:${server.address}`);
    const { lines } = await captureWarnings(async () => {
      for (const k of Object.keys(replies)) await assert.rejects(d.lookup(k), DictError);
    });
    assert.deepEqual(lines, [
      `warning: read TCP map reply from ${server.address}: malformed reply: junk`,
      `warning: read TCP map reply from ${server.address}: bad status code: 300 x`,
    ]);
    assert.equal(await d.lookup('key'), 'value with spaces');
  } finally {
    server.respond = undefined;
  }
});

test('over-long reply and hang-up: retried maxTry times, then DictError', async () => {
  dictTcpSetLimits({ maxTry: 3, pauseMs: 1 });
  server.respond = (k) => (k === 'long' ? `200 ${'x'.repeat(DICT_TCP_DEFAULTS.maxLen)}` : k === 'hang' ? HANG_UP : undefined);
  try {
    const d = dictOpen(`tcp:${server.address}`);
    const { lines } = await captureWarnings(async () => {
      await assert.rejects(d.lookup('long'), DictError);
      await assert.rejects(d.lookup('hang'), DictError);
    });
    const longW = `warning: read TCP map reply from ${server.address}: text longer than ${DICT_TCP_DEFAULTS.maxLen}`;
    assert.equal(lines.filter((l) => l === longW).length, 3);
    assert.equal(lines.filter((l) => l === `warning: read TCP map reply from ${server.address}: unexpected EOF (Operation now in progress)`).length, 3);
    server.respond = (k) => (k === 'edge' ? `200 ${'y'.repeat(DICT_TCP_DEFAULTS.maxLen - 5)}` : undefined);
    assert.equal((await d.lookup('edge'))?.length, DICT_TCP_DEFAULTS.maxLen - 5);
  } finally {
    server.respond = undefined;
    dictTcpSetLimits({ ...DICT_TCP_DEFAULTS });
  }
});

test('a server that does not answer: time limit, then DictError; the next lookup reconnects', async () => {
  dictTcpSetLimits({ maxTry: 2, pauseMs: 1, timeoutMs: 150 });
  server.respond = (k) => (k === 'silent' ? NO_REPLY : undefined);
  try {
    const d = dictOpen(`tcp:${server.address}`);
    const { lines } = await captureWarnings(() => assert.rejects(d.lookup('silent'), DictError));
    assert.deepEqual(lines, Array(2).fill(`warning: read TCP map reply from ${server.address}: unexpected EOF (Connection timed out)`));
    assert.equal(await d.lookup('key'), 'value with spaces');
  } finally {
    server.respond = undefined;
    dictTcpSetLimits({ ...DICT_TCP_DEFAULTS });
  }
});

test('server gone and back on the same port', async () => {
  dictTcpSetLimits({ pauseMs: 1 });
  try {
    const d = dictOpen(`tcp:${server.address}`);
    assert.equal(await d.lookup('key'), 'value with spaces');
    await server.stop();
    const { lines } = await captureWarnings(() => assert.rejects(d.lookup('key'), DictError));
    // The kept connection may first be found closed (as Postfix finds it), then every connect fails.
    assert.equal(lines.length, DICT_TCP_DEFAULTS.maxTry);
    const eof = `warning: read TCP map reply from ${server.address}: unexpected EOF (Operation now in progress)`;
    assert.ok(lines.every((l, i) => l === `warning: connect to TCP map ${server.address}: Connection refused` || (i === 0 && l === eof)), lines.join('\n'));
    await server.start();
    assert.equal(await d.lookup('key'), 'value with spaces');
  } finally {
    dictTcpSetLimits({ ...DICT_TCP_DEFAULTS });
  }
});

test('open errors: write mode and a bad address become surrogates', async () => {
  const w = dictOpen(`tcp:${server.address}`, { mode: 'write' });
  const { lines } = await captureWarnings(() => assert.rejects(w.lookup('key'), /requires O_RDONLY access mode/));
  assert.deepEqual(lines, []);
  await captureWarnings(() => assert.rejects(dictOpen('tcp:no-port-here').lookup('x'), DictError));
});
