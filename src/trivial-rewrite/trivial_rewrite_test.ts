/*
 * trivial_rewrite_test - the daemon in-process: announcement, the three requests, protocol errors
 *
 * What it does: runs trivialRewriteServer() under createMailServer() on a
 * UNIX socket in a temporary directory and talks raw attr0 to it: the
 * announcement (protocol=trivial_rewrite_protocol), a rewrite reply
 * (flags, address), a resolve reply (flags, transport, nexthop,
 * recipient, flags: the layout the real daemon sends, see
 * test/oracle/trivial_rewrite_resolve_test.ts), several requests on one
 * connection, and that an unknown request name or rewrite rule ends the
 * connection as Postfix's daemon does.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Attr0Decoder, type Attr0Frame, encodeAttr0 } from '../util/attr0.js';
import { msgSetSinks, setFatalHandler } from '../util/msg.js';
import { MailConfig } from '../global/mail_conf.js';
import { createMailServer, type MailServer } from '../master/mail_server.js';
import { checkParameters, trivialRewriteServer } from './trivial_rewrite.js';

const WAIT_MS = 5_000;
const config = new MailConfig('/nonexistent/postern-trivial-rewrite', [], {
  compatibility_level: '3.6',
  myhostname: 'host.example',
  mydomain: 'example',
  myorigin: 'origin.example',
  mydestination: '$myhostname',
  inet_interfaces: 'loopback-only',
  inet_protocols: 'ipv4',
});

let dir: string;
let path: string;
let server: MailServer;
let listener: Server;

before(async () => {
  msgSetSinks([{ write: () => undefined }]);
  dir = mkdtempSync(join(tmpdir(), 'postern-trivial-rewrite-'));
  path = join(dir, 'rewrite');
  server = createMailServer('multi', trivialRewriteServer(), { config, serviceName: 'rewrite' });
  await server.init();
  listener = createServer((sock) => server.client(sock));
  await new Promise<void>((res) => listener.listen(path, res));
});

after(async () => {
  server.abort();
  await new Promise<void>((res) => listener.close(() => res()));
  rmSync(dir, { recursive: true, force: true });
});

/** Sends each request list in turn; returns every list received and whether the server closed. */
function converse(requests: Array<Array<[string, string]>>): Promise<{ frames: Attr0Frame[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = connect(path);
    const dec = new Attr0Decoder();
    const frames: Attr0Frame[] = [];
    let sent = 0;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer within ${WAIT_MS} ms (${frames.length} lists)`));
    }, WAIT_MS);
    const done = (closed: boolean) => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ frames, closed });
    };
    sock.on('data', (chunk) => {
      const r = dec.push(chunk);
      for (const f of r.frames) {
        frames.push(f);
        if (sent < requests.length) sock.write(encodeAttr0(requests[sent++]!.map(([name, value]) => ({ name, value }))));
        else done(false);
      }
    });
    sock.on('close', () => done(true));
    sock.on('error', () => undefined);
  });
}

test('announcement, rewrite and resolve replies on one connection', async () => {
  const { frames, closed } = await converse([
    [['request', 'rewrite'], ['rule', 'local'], ['address', 'user']],
    [['request', 'resolve'], ['sender', ''], ['address', 'user@host.example']],
    [['request', 'verify'], ['sender', 's@x.example'], ['address', 'user@remote.example']],
  ]);
  assert.equal(closed, false);
  assert.deepEqual(frames, [
    [{ name: 'protocol', value: 'trivial_rewrite_protocol' }],
    [{ name: 'flags', value: '0' }, { name: 'address', value: 'user@origin.example' }],
    [
      { name: 'flags', value: '0' },
      { name: 'transport', value: 'local' },
      { name: 'nexthop', value: 'host.example' },
      { name: 'recipient', value: 'user@host.example' },
      { name: 'flags', value: '256' },
    ],
    [
      { name: 'flags', value: '0' },
      { name: 'transport', value: 'smtp' },
      { name: 'nexthop', value: 'remote.example' },
      { name: 'recipient', value: 'user@remote.example' },
      { name: 'flags', value: '4096' },
    ],
  ]);
});

test('an unknown request or rewrite rule ends the connection', async () => {
  const bad = await converse([[['request', 'bogus'], ['address', 'x']]]);
  assert.equal(bad.closed, true);
  assert.equal(bad.frames.length, 1);
  const rule = await converse([[['request', 'rewrite'], ['rule', 'sideways'], ['address', 'x']]]);
  assert.equal(rule.closed, true);
  assert.equal(rule.frames.length, 1);
  const missing = await converse([[['request', 'resolve'], ['address', 'x']]]);
  assert.equal(missing.closed, true);
});

test('an empty transport parameter is fatal at start, in Postfix words', () => {
  setFatalHandler((_sev, text) => {
    throw new Error(text);
  });
  try {
    const bad = new MailConfig('/nonexistent', [], { default_transport: '' });
    assert.throws(() => checkParameters(bad), /^Error: bad string length 0 < 1: default_transport = $/);
    assert.doesNotThrow(() => checkParameters(config));
  } finally {
    setFatalHandler(null);
  }
});
