/*
 * ipc_anvil_test - Postern's typed client against real Postfix daemons (anvil, cleanup)
 *
 * What it does: starts a throwaway real Postfix master (its own config
 * and queue directory; master.cf with only anvil, cleanup and postlog;
 * nothing on the network) and talks to the real anvil daemon on private/anvil with
 * AttrClient and a request-dispatched protocol declaration in the
 * "plain" attribute form, which is what anvil speaks in Postfix 3.7
 * (checked: its announcement is "protocol=anvil_protocol\n\n"). Counts and
 * rates come back as the real anvil computes them, over reused
 * connections. It also opens the real cleanup(8), whose announcement
 * carries a greeting field (queue_id) in the same list, with
 * openAttrStream(). The master is stopped with SIGTERM at the end (it stops
 * its children), and the temporary directory is removed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Attr0Decoder, decodeAttr0 } from '../../src/util/attr0.js';
import { attr } from '../../src/util/attr0_scan.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../../src/global/mail_proto.js';
import { AttrClient, openAttrStream } from '../../src/global/ipc/attr_clnt.js';
import { defineProtocol } from '../../src/global/ipc/protocol.js';
import { callRequest, defineRequestProtocol } from '../../src/global/ipc/protocol_requests.js';
import { type OracleConfig, makeOracleConfig } from '../lib/postfix_oracle.js';

const START_WAIT_MS = 10_000;

/** anvil(8) as its manual page documents it (names checked against the binary). */
const IDENT = { ident: attr.str() };
const RATE = { [MAIL_ATTR.STATUS]: attr.int(), rate: attr.int() };
const ANVIL = defineRequestProtocol({
  name: 'anvil_protocol',
  format: 'plain',
  requests: {
    connect: { request: IDENT, reply: { [MAIL_ATTR.STATUS]: attr.int(), count: attr.int(), rate: attr.int() } },
    disconnect: { request: IDENT, reply: { [MAIL_ATTR.STATUS]: attr.int() } },
    message: { request: IDENT, reply: RATE },
    recipient: { request: IDENT, reply: RATE },
    lookup: {
      request: IDENT,
      reply: {
        [MAIL_ATTR.STATUS]: attr.int(),
        count: attr.int(),
        rate: attr.int(),
        mail: attr.int(),
        rcpt: attr.int(),
        newtls: attr.int(),
        auth: attr.int(),
      },
    },
  },
});

let oracle: OracleConfig | undefined;
let anvilPath: string;
let queueDir: string;

/** cleanup(8) greets with protocol=cleanup_protocol and, in the same list, the new queue_id. */
const CLEANUP_HELLO = defineProtocol({
  name: MAIL_ATTR_PROTO.CLEANUP,
  greeting: { [MAIL_ATTR.QUEUEID]: attr.str() },
  request: {},
  reply: {},
});

/** The raw bytes of the first list a server sends. */
function firstList(path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect({ path });
    const d = new Attr0Decoder();
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no list within 10s'));
    }, 10_000);
    s.on('error', reject);
    s.on('data', (b: Buffer) => {
      got.push(b);
      if (d.push(b).frames.length > 0) {
        clearTimeout(timer);
        s.destroy();
        resolve(Buffer.concat(got));
      }
    });
  });
}

before(async () => {
  assert.equal(userInfo().uid, 0, 'this test starts a real Postfix master, which needs root');
  // The master and anvil work as the postfix user in these directories.
  oracle = makeOracleConfig({
    prefix: 'postern-anvil-',
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'queue/incoming', 'data'],
    main: { compatibility_level: '3.6', myhostname: 'postern.example', inet_interfaces: 'loopback-only' },
    master: ['anvil unix - - n - 1 anvil', 'cleanup unix n - n - 0 cleanup', 'postlog unix-dgram n - n - 1 postlogd'],
  });
  queueDir = oracle.queueDir;
  anvilPath = join(queueDir, 'private', 'anvil');
  await oracle.startMaster(anvilPath);
});

after(async () => {
  // The master is stopped with SIGTERM (it stops its children).
  await oracle?.cleanup();
});

describe('AttrClient against the real anvil (plain form)', () => {
  it('checks the announcement and gets typed replies, reusing connections', async () => {
    // Two clients, like two smtpd processes: anvil counts a remote client
    // once per anvil client connection, and every connect request in its rate.
    const c1 = new AttrClient(ANVIL, { endpoint: anvilPath, timeoutMs: 10_000, idleMs: 10_000 });
    const c2 = new AttrClient(ANVIL, { endpoint: anvilPath, timeoutMs: 10_000, idleMs: 10_000 });
    try {
      const ident = 'smtp:192.0.2.1';
      const got: unknown[] = [];
      for (let k = 1; k <= 3; k++) got.push(await callRequest(c1, 'connect', { ident }));
      got.push(await callRequest(c2, 'connect', { ident }));
      got.push(await callRequest(c1, 'message', { ident }));
      got.push(await callRequest(c1, 'disconnect', { ident }));
      got.push(await callRequest(c2, 'lookup', { ident }));
      const replies = got.map((r) => {
        const x = r as { ok: boolean; reply?: unknown; message?: string };
        assert.ok(x.ok, x.message);
        return x.reply;
      });
      assert.deepEqual(replies, [
        { status: 0, count: 1, rate: 1 },
        { status: 0, count: 1, rate: 2 },
        { status: 0, count: 1, rate: 3 },
        { status: 0, count: 2, rate: 4 },
        { status: 0, rate: 1 },
        { status: 0 },
        { status: 0, count: 1, rate: 4, mail: 1, rcpt: 0, newtls: 0, auth: 0 },
      ]);
    } finally {
      c1.close();
      c2.close();
    }
  });

  it('a client expecting the NUL form fails cleanly on anvil', async () => {
    const zero = defineRequestProtocol({ name: 'anvil_protocol', requests: ANVIL.requests });
    const r = await new AttrClient(zero, { endpoint: anvilPath, timeoutMs: 1000 }).request({ request: 'lookup', ident: 'x' });
    assert.equal(r.ok, false);
    assert.ok(!r.ok && (r.kind === 'timeout' || r.kind === 'closed' || r.kind === 'announce'), !r.ok ? r.message : '');
  });

  it('reads the queue_id greeting of the real cleanup', async () => {
    const path = join(queueDir, 'public', 'cleanup');
    const t0 = Date.now();
    while (!existsSync(path)) {
      assert.ok(Date.now() - t0 < START_WAIT_MS, 'no public/cleanup');
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await openAttrStream(CLEANUP_HELLO, path, 10_000);
    if (!r.ok) assert.fail(r.message);
    r.io.destroy();
    assert.match(r.greeting?.queue_id ?? '', /^[0-9A-F]{6,}$/);
    // Postern's greeting bytes equal the real cleanup's, byte for byte.
    const raw = await firstList(path);
    const again = await openAttrStream(CLEANUP_HELLO, path, 10_000);
    if (!again.ok) assert.fail(again.message);
    again.io.destroy();
    const frames = decodeAttr0(raw).frames;
    assert.equal(frames.length, 1);
    const id = (frames[0]![1] as { value: string }).value;
    assert.deepEqual(CLEANUP_HELLO.announcement({ queue_id: id }), raw);
  });
});
