/*
 * resolve_clnt_test - rewrite and resolve clients over a real UNIX socket: wire form, cache, retries
 *
 * What it does: serves TRIVIAL_REWRITE_PROTOCOL with createAttrServer()
 * on a socket in a temporary directory, answering from the in-process
 * code (rewrite_addr.ts, resolve_addr.ts), and checks that
 * rewriteClient/resolveClient get the same answers as the local clients,
 * that the cache of recent answers saves a repeated question, also when
 * two questions alternate (and never caches the empty address), forgets
 * the oldest answer past its size and an answer past its time, that a client keeps trying while the service is
 * missing and picks it up when it appears, gives up after giveUpMs, and
 * treats a reply with an empty transport as a failed exchange. The
 * wire form itself is checked against the real trivial-rewrite in
 * test/oracle/trivial_rewrite_resolve_test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { msgSetSinks } from '../util/msg.js';
import { RecentAnswers } from '../util/recent_answers.js';
import { type AttrServer, createAttrServer } from './ipc/attr_serv.js';
import { MailConfig } from './mail_conf.js';
import { ResolveEngine } from './resolve_addr.js';
import { localResolveClient, resolveClient } from './resolve_clnt.js';
import { TRIVIAL_REQ, TRIVIAL_REWRITE_PROTOCOL, type TrivialReply, type TrivialRequest, localRewriteClient, rewriteClient } from './rewrite_clnt.js';
import { rewriteExternal, rewriteSettings } from './rewrite_addr.js';

const SETTINGS = {
  compatibility_level: '3.6',
  myhostname: 'host.example',
  mydomain: 'example',
  myorigin: 'origin.example',
  mydestination: '$myhostname, localhost',
  relay_domains: 'relay.example',
  inet_interfaces: 'loopback-only',
  inet_protocols: 'ipv4',
};
const config = new MailConfig('/nonexistent/postern-resolve-clnt', [], SETTINGS);
const OPTS = { timeoutMs: 2_000, giveUpMs: 2_500 };

let dir: string;
const requests: TrivialRequest[] = [];
let nullTransportOnce = false;

function handler(): (req: TrivialRequest) => Promise<TrivialReply> {
  const engine = new ResolveEngine(config);
  return async (req) => {
    requests.push(req);
    if (req.request === TRIVIAL_REQ.REWRITE) {
      return { serverFlags: 0, address: rewriteExternal(rewriteSettings(config, req.rule === 'remote' ? 'remote' : 'local'), req.address) };
    }
    const r = await engine.resolve(req.request === TRIVIAL_REQ.VERIFY ? 'verify' : 'regular', req.sender, req.address);
    if (nullTransportOnce) {
      nullTransportOnce = false;
      return { serverFlags: 0, ...r, transport: '' };
    }
    return { serverFlags: 0, ...r };
  };
}

async function serve(path: string): Promise<AttrServer> {
  const srv = createAttrServer(TRIVIAL_REWRITE_PROTOCOL, handler(), { label: 'private/rewrite', idleTimeoutMs: 5_000 });
  await srv.listen(path);
  return srv;
}

let server: AttrServer;
let sock: string;

before(async () => {
  msgSetSinks([{ write: () => undefined }]);
  dir = mkdtempSync(join(tmpdir(), 'postern-resolve-clnt-'));
  sock = join(dir, 'rewrite');
  server = await serve(sock);
});

after(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const ADDRESSES = ['', 'user', 'user@host.example', 'user@relay.example', 'user@remote.example', 'u%v@host.example', '"a b"@host.example', 'user@[127.0.0.1]'];

test('resolveClient over the socket answers what localResolveClient computes', async () => {
  const remote = resolveClient(config, { ...OPTS, endpoint: sock });
  const local = localResolveClient(config);
  for (const a of ADDRESSES) {
    assert.deepEqual(await remote.resolve('', a), await local.resolve('', a), a);
    assert.deepEqual(await remote.verify('s@x.example', a), await local.verify('s@x.example', a), a);
  }
});

test('rewriteClient over the socket answers what localRewriteClient computes', async () => {
  const remote = rewriteClient(config, { ...OPTS, endpoint: sock });
  const local = localRewriteClient(config);
  for (const context of ['local', 'remote'] as const) {
    for (const a of ['user', 'user@host', 'site!user', '"a b"', '', 'x@y.']) {
      assert.equal(await remote.rewrite(context, a), await local.rewrite(context, a), `${context} ${a}`);
    }
  }
  // The address travels in external (quoted) form, as Postfix's rewrite_clnt_internal sends it.
  requests.length = 0;
  await remote.rewrite('local', 'first last');
  assert.deepEqual(requests, [{ request: 'rewrite', rule: 'local', address: '"first last"' }]);
});

test('recent answers: a repeated question is answered without asking; the empty address is never cached', async () => {
  const c = resolveClient(config, { ...OPTS, endpoint: sock });
  requests.length = 0;
  await c.resolve('', 'user@remote.example');
  await c.resolve('', 'user@remote.example');
  assert.equal(requests.length, 1);
  await c.resolve('other@x.example', 'user@remote.example');
  await c.verify('other@x.example', 'user@remote.example');
  assert.equal(requests.length, 3);
  await c.resolve('', '');
  await c.resolve('', '');
  assert.equal(requests.length, 5);
  // A sender and a recipient, message after message: both stay cached (Postfix's one entry would not).
  for (let i = 0; i < 3; i++) {
    await c.resolve('', 'sender@x.example');
    await c.resolve('sender@x.example', 'rcpt@remote.example');
  }
  assert.equal(requests.length, 7);
});

test('RecentAnswers forgets the oldest answer past its size and any answer past its time', async () => {
  const cache = new RecentAnswers<number>(50, 2);
  cache.set('a', 1);
  cache.set('b', 2);
  assert.equal(cache.get('a'), 1);
  cache.set('c', 3);
  assert.equal(cache.get('a'), null, 'the oldest entry went');
  assert.equal(cache.get('b'), 2);
  assert.equal(cache.get('c'), 3);
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(cache.get('c'), null, 'expired');
});

test('an empty transport in a reply is a failed exchange: the client asks again', async () => {
  const c = resolveClient(config, { ...OPTS, giveUpMs: 5_000, endpoint: sock });
  requests.length = 0;
  nullTransportOnce = true;
  const r = await c.resolve('', 'user@relay.example');
  assert.equal(r.transport, 'relay');
  assert.equal(requests.length, 2);
});

test('the client keeps trying while the service is missing, and gives up after giveUpMs', async () => {
  const later = join(dir, 'later');
  const c = resolveClient(config, { ...OPTS, giveUpMs: 5_000, endpoint: later });
  const pending = c.resolve('', 'user@host.example');
  await new Promise((res) => setTimeout(res, 300));
  const srv = await serve(later);
  try {
    const r = await pending;
    assert.equal(r.transport, 'local');
  } finally {
    await srv.close();
  }
  const never = resolveClient(config, { timeoutMs: 500, giveUpMs: 1_200, endpoint: join(dir, 'never') });
  await assert.rejects(never.resolve('', 'user@host.example'), /did not answer within 1200 ms/);
});
