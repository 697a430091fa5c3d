/*
 * cleanup_clnt_test - the cleanup protocol from the client side, against scripted servers
 *
 * The server side here is a plain UNIX socket server that speaks the
 * bytes of the protocol by hand (announcement with queue_id, then it
 * collects the flags list and the raw records up to 'E' and replies),
 * so the test sees exactly what the client writes. Postern's own cleanup
 * daemon is tested against the client in src/cleanup/cleanup_test.ts and
 * against the real cleanup in test/oracle/cleanup_queue_file_test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { encodeAttr0 } from '../util/attr0.js';
import { CLEANUP_PROTOCOL, cleanupOpen } from './cleanup_clnt.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from './cleanup_user.js';
import { REC_TYPE } from './rec_type.js';
import { RecordStreamDecoder, encodeRecord } from './record.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-cleanup-clnt-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

type Behaviour = (sock: Socket, got: { bytes: Buffer[] }) => void;

async function serve(name: string, behave: Behaviour): Promise<{ path: string; server: Server; got: { bytes: Buffer[] } }> {
  const path = join(dir, name);
  const got = { bytes: [] as Buffer[] };
  const server = createServer((sock) => {
    sock.on('data', (b) => got.bytes.push(b));
    sock.on('error', () => undefined);
    behave(sock, got);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return { path, server, got };
}

const HELLO = (id: string) => encodeAttr0([{ name: 'protocol', value: 'cleanup_protocol' }, { name: 'queue_id', value: id }]);

test('writes flags and records in wire form and reads status and reason', async () => {
  const { path, server, got } = await serve('good', (sock, g) => {
    sock.write(HELLO('4ABCDEF123'));
    sock.on('data', () => {
      const all = Buffer.concat(g.bytes);
      if (all.length > 0 && all[all.length - 2] === REC_TYPE.END && all[all.length - 1] === 0) {
        sock.end(CLEANUP_PROTOCOL.encodeReply({ status: CLEANUP_STAT.HOPS, reason: '5.4.0 too many hops' }));
      }
    });
  });
  try {
    const r = await cleanupOpen({ queueDir: dir, flags: CLEANUP_FLAG.MASK_EXTERNAL, endpoint: path, timeoutMs: 5000 });
    assert.ok(r.ok);
    const s = r.session;
    assert.equal(s.queueId, '4ABCDEF123');
    s.record(REC_TYPE.TIME, '1 2');
    s.attr('rewrite_context', 'remote');
    s.record(REC_TYPE.NORM, Buffer.from([0xe9]));
    await s.drain();
    const reply = await s.end();
    assert.deepEqual(reply, { status: CLEANUP_STAT.HOPS, reason: '5.4.0 too many hops' });
    const all = Buffer.concat(got.bytes);
    const flags = Buffer.from('flags\x00114\x00\x00', 'latin1');
    assert.deepEqual(all.subarray(0, flags.length), flags);
    const d = new RecordStreamDecoder();
    d.push(all.subarray(flags.length));
    const recs: Array<[string, string]> = [];
    for (let r2 = d.next(); r2.kind === 'record'; r2 = d.next()) recs.push([String.fromCharCode(r2.type), r2.data.toString('latin1')]);
    assert.deepEqual(recs, [['T', '1 2'], ['A', 'rewrite_context=remote'], ['N', '\xe9'], ['E', '']]);
    assert.deepEqual(encodeRecord(REC_TYPE.END, ''), Buffer.from([REC_TYPE.END, 0]));
  } finally {
    server.close();
  }
});

test('no service: ok false with a reason', async () => {
  const r = await cleanupOpen({ queueDir: dir, flags: 0, endpoint: join(dir, 'nothing'), timeoutMs: 2000 });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /nothing/);
});

test('the default endpoint is queue_directory/public/cleanup', async () => {
  const r = await cleanupOpen({ queueDir: dir, flags: 0, timeoutMs: 2000 });
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.reason : '', /public\/cleanup/);
});

test('a wrong announcement is refused', async () => {
  const { path, server } = await serve('wrong', (sock) => sock.write(encodeAttr0([{ name: 'protocol', value: 'flush_protocol' }])));
  try {
    const r = await cleanupOpen({ queueDir: dir, flags: 0, endpoint: path, timeoutMs: 2000 });
    assert.equal(r.ok, false);
  } finally {
    server.close();
  }
});

test('a server that goes away before replying gives CLEANUP_STAT.WRITE', async () => {
  const { path, server } = await serve('gone', (sock) => {
    sock.write(HELLO('4ABC'));
    sock.once('data', () => sock.destroy());
  });
  try {
    const r = await cleanupOpen({ queueDir: dir, flags: 0, endpoint: path, timeoutMs: 2000 });
    assert.ok(r.ok);
    r.session.record(REC_TYPE.TIME, '1 2');
    const reply = await r.session.end();
    assert.equal(reply.status, CLEANUP_STAT.WRITE);
    assert.notEqual(reply.reason, '');
  } finally {
    server.close();
  }
});

test('a server that never replies times out with CLEANUP_STAT.WRITE', async () => {
  const { path, server } = await serve('silent', (sock) => sock.write(HELLO('4ABD')));
  try {
    const r = await cleanupOpen({ queueDir: dir, flags: 0, endpoint: path, timeoutMs: 300 });
    assert.ok(r.ok);
    const reply = await r.session.end();
    assert.equal(reply.status, CLEANUP_STAT.WRITE);
    assert.match(reply.reason, /timeout/);
  } finally {
    server.close();
  }
});
