/*
 * attr_clnt_test - typed client and server over real UNIX sockets and in-process
 *
 * What it does: runs AttrClient against createAttrServer() on UNIX
 * sockets in a temporary directory, and against hand-written misbehaving
 * peers (one that dies mid-reply, one that hangs, one that announces the
 * wrong protocol, one that sends garbage or too much), and misbehaving
 * raw clients against the server (oversized, malformed, pipelining
 * without reading). Every wait is bounded by a timeout.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Attr0Decoder, encodeAttr0 } from '../../util/attr0.js';
import { attr } from '../../util/attr0_scan.js';
import { type Severity, msgSetSinks } from '../../util/msg.js';
import { MAIL_ATTR } from '../mail_proto.js';
import { AttrClient } from './attr_clnt.js';
import { inProcessEndpoint } from './attr_inproc.js';
import { type AttrServer, createAttrServer } from './attr_serv.js';
import { type ReplyOf, type RequestOf, defineProtocol } from './protocol.js';

const TEST = defineProtocol({
  name: 'test_protocol',
  request: {
    [MAIL_ATTR.REQ]: attr.str({ maxBytes: 100 }),
    [MAIL_ATTR.SIZE]: attr.long(),
    [MAIL_ATTR.FLAGS]: attr.int(),
    [MAIL_ATTR.DUMMY]: attr.bool(),
    [MAIL_ATTR.VALUE]: attr.data({ optional: true }),
    [MAIL_ATTR.TABLE]: attr.hash({ optional: true }),
  },
  reply: {
    [MAIL_ATTR.STATUS]: attr.int(),
    [MAIL_ATTR.WHY]: attr.str(),
    [MAIL_ATTR.VALUE]: attr.data({ optional: true }),
    [MAIL_ATTR.TABLE]: attr.hash({ optional: true }),
  },
  limits: { maxStringBytes: 256 * 1024, maxFrameBytes: 512 * 1024 },
});

/** Echoes the request back in the reply; a few request names misbehave. */
async function handler(req: RequestOf<typeof TEST>): Promise<ReplyOf<typeof TEST>> {
  if (req.request === 'throw') throw new Error('handler exploded');
  if (req.request === 'big') return { status: 0, reason: 'x'.repeat(req.size) };
  return {
    status: req.flags,
    reason: `${req.request}:${req.size}:${req.dummy}`,
    value: req.value,
    table: req.table,
  };
}

const REQ = { request: 'echo', size: 1, flags: 0, dummy: true };

let dir: string;
const warnings: string[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-ipc-'));
  msgSetSinks([{ write: (sev: Severity, text: string) => void (sev === 'warning' && warnings.push(text)) }]);
});
after(() => {
  msgSetSinks([]);
  rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
const sockPath = () => join(dir, `s${++counter}`);

async function withServer<T>(fn: (path: string, srv: AttrServer) => Promise<T>): Promise<T> {
  const srv = createAttrServer(TEST, handler, { label: 'private/test', idleTimeoutMs: 5000 });
  const path = sockPath();
  await srv.listen(path);
  try {
    return await fn(path, srv);
  } finally {
    await srv.close();
  }
}

/** A raw server that runs `script` on every connection. */
async function withRawServer<T>(script: (s: Socket) => void, fn: (path: string) => Promise<T>): Promise<T> {
  const path = sockPath();
  const socks = new Set<Socket>();
  const server: Server = createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    script(s);
  });
  await new Promise<void>((r) => server.listen(path, r));
  try {
    return await fn(path);
  } finally {
    for (const s of socks) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}

/** A raw client: connects, writes bytes, collects what comes back until close or timeout. */
function rawExchange(path: string, bytes: Buffer, waitMs = 2000): Promise<{ data: Buffer; closedByPeer: boolean }> {
  return new Promise((resolve) => {
    const s = connect({ path });
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ data: Buffer.concat(got), closedByPeer: false });
    }, waitMs);
    s.on('data', (b) => got.push(b));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(got), closedByPeer: true });
    });
    s.write(bytes);
  });
}

describe('attr client and server', () => {
  it('round-trips every attribute type over a UNIX socket', async () => {
    await withServer(async (path) => {
      const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 2000 });
      const value = Buffer.from([0, 1, 2, 254, 255]);
      const table = new Map([['k', 'v'], ['x', 'y z']]);
      const r = await c.request({ request: 'echo', size: 2 ** 40, flags: -1, dummy: false, value, table });
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.deepEqual(r.reply, { status: -1, reason: `echo:${2 ** 40}:false`, value, table });
    });
  });

  it('runs the same code through the in-process transport', async () => {
    const c = new AttrClient(TEST, { endpoint: inProcessEndpoint(TEST, handler), timeoutMs: 2000, idleMs: 1000 });
    for (let k = 0; k < 3; k++) {
      const r = await c.request({ ...REQ, flags: k });
      assert.ok(r.ok, r.ok ? '' : r.message);
      assert.equal(r.reply.status, k);
    }
    const big = await c.request({ ...REQ, request: 'big', size: 200_000 });
    assert.ok(big.ok && big.reply.reason.length === 200_000, 'large reply through the pair');
    c.close();
  });

  it('reports a missing endpoint as a connect failure', async () => {
    const c = new AttrClient(TEST, { endpoint: join(dir, 'nonexistent'), timeoutMs: 1000 });
    const r = await c.request(REQ);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.kind, 'connect');
  });

  it('fails promptly when the server dies in the middle of a reply', async () => {
    await withRawServer(
      (s) => {
        s.write(TEST.announcement());
        s.once('data', () => {
          s.write(Buffer.from('status\x000\x00reason\x00half'));
          setTimeout(() => s.destroy(), 20);
        });
      },
      async (path) => {
        const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 10_000 });
        const t0 = Date.now();
        const r = await c.request(REQ);
        assert.equal(r.ok, false);
        assert.equal(!r.ok && r.kind, 'closed');
        assert.ok(Date.now() - t0 < 2000, 'failure is prompt, not the timeout');
      },
    );
  });

  it('times out on a server that never answers', async () => {
    await withRawServer(
      (s) => void s.write(TEST.announcement()),
      async (path) => {
        const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 300 });
        const t0 = Date.now();
        const r = await c.request(REQ);
        const took = Date.now() - t0;
        assert.equal(!r.ok && r.kind, 'timeout');
        assert.ok(took >= 250 && took < 2000, `took ${took} ms`);
      },
    );
  });

  it('times out on a server that does not read a large request', async () => {
    await withRawServer(
      (s) => {
        s.write(TEST.announcement());
        s.pause();
      },
      async (path) => {
        const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 300 });
        const t0 = Date.now();
        const r = await c.request({ ...REQ, value: Buffer.alloc(8 * 1024 * 1024) });
        assert.equal(!r.ok && r.kind, 'timeout', !r.ok ? r.message : 'ok');
        assert.ok(Date.now() - t0 < 3000);
      },
    );
  });

  it('times out on a server that never announces itself', async () => {
    await withRawServer(
      () => {},
      async (path) => {
        const r = await new AttrClient(TEST, { endpoint: path, timeoutMs: 300 }).request(REQ);
        assert.equal(!r.ok && r.kind, 'timeout');
      },
    );
  });

  it('rejects a server that announces another protocol', async () => {
    await withRawServer(
      (s) => void s.write(encodeAttr0([{ name: 'protocol', value: 'anvil_protocol' }])),
      async (path) => {
        const r = await new AttrClient(TEST, { endpoint: path, timeoutMs: 1000 }).request(REQ);
        assert.equal(!r.ok && r.kind, 'announce');
        assert.match(!r.ok ? r.message : '', /unexpected protocol anvil_protocol \(expected: test_protocol\)/);
      },
    );
  });

  it('rejects garbage and oversized replies', async () => {
    const cases: Array<[Buffer, string]> = [
      [encodeAttr0([{ name: 'status', value: 'zero' }, { name: 'reason', value: '' }]), 'reply'],
      [encodeAttr0([{ name: 'reason', value: '' }]), 'reply'],
      [Buffer.from('{\0{\0'), 'malformed'],
      [Buffer.alloc(600 * 1024, 0x41), 'oversized'],
    ];
    for (const [reply, kind] of cases) {
      await withRawServer(
        (s) => {
          s.write(TEST.announcement());
          s.once('data', () => s.write(reply));
        },
        async (path) => {
          const r = await new AttrClient(TEST, { endpoint: path, timeoutMs: 2000 }).request(REQ);
          assert.equal(!r.ok && r.kind, kind, !r.ok ? r.message : 'ok');
        },
      );
    }
  });

  it('reuses a connection within ipc_idle, not past ipc_ttl', async () => {
    await withServer(async (path, srv) => {
      let accepted = 0;
      srv.server.on('connection', () => accepted++);
      const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 2000, idleMs: 5000 });
      assert.ok((await c.request(REQ)).ok);
      assert.ok((await c.request(REQ)).ok);
      assert.equal(accepted, 1, 'second request reused the connection');
      assert.equal(srv.connectionCount, 1);
      c.close();
      const c2 = new AttrClient(TEST, { endpoint: path, timeoutMs: 2000, idleMs: 5000, ttlMs: 0 });
      assert.ok((await c2.request(REQ)).ok);
      assert.ok((await c2.request(REQ)).ok);
      assert.equal(accepted, 3, 'ttl 0 forbids reuse');
      c2.close();
    });
  });

  it('closes a kept connection after ipc_idle', async () => {
    await withServer(async (path, srv) => {
      const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 2000, idleMs: 100 });
      assert.ok((await c.request(REQ)).ok);
      assert.equal(srv.connectionCount, 1);
      for (let k = 0; k < 100 && srv.connectionCount > 0; k++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(srv.connectionCount, 0, 'the idle connection was closed');
      assert.ok((await c.request(REQ)).ok, 'and a new one is made on demand');
      c.close();
    });
  });

  it('retries once on a fresh connection when a kept one was closed unseen', async () => {
    let accepted = 0;
    await withRawServer(
      (s) => {
        accepted++;
        s.write(TEST.announcement());
        let n = 0;
        s.on('data', () => {
          if (++n === 1) s.write(TEST.encodeReply({ status: 7, reason: 'first' }));
          else s.destroy(); // hang up on the second request without a word
        });
      },
      async (path) => {
        const c = new AttrClient(TEST, { endpoint: path, timeoutMs: 2000, idleMs: 5000 });
        const a = await c.request(REQ);
        const b = await c.request(REQ);
        assert.ok(a.ok && b.ok, 'both requests succeed');
        assert.equal(accepted, 2, 'the second request went out again on a new connection');
        c.close();
      },
    );
  });

  it('serves many concurrent clients', async () => {
    await withServer(async (path) => {
      const N = 200;
      const results = await Promise.all(
        Array.from({ length: N }, (_, k) => new AttrClient(TEST, { endpoint: path, timeoutMs: 5000 }).request({ ...REQ, flags: k })),
      );
      results.forEach((r, k) => assert.ok(r.ok && r.reply.status === k, `client ${k}`));
    });
  });
});

describe('attr server against bad clients', () => {
  const goodRequest = TEST.encodeRequest(REQ);

  async function expectDropped(path: string, bytes: Buffer, warning: RegExp): Promise<void> {
    warnings.length = 0;
    const { closedByPeer } = await rawExchange(path, bytes);
    assert.ok(closedByPeer, 'server hung up');
    assert.ok(warnings.some((w) => warning.test(w)), `warnings: ${JSON.stringify(warnings)}`);
    const r = await new AttrClient(TEST, { endpoint: path, timeoutMs: 2000 }).request(REQ);
    assert.ok(r.ok, 'server still serves others');
  }

  it('drops a client that sends an oversized list and keeps serving', async () => {
    await withServer((path) => expectDropped(path, Buffer.alloc(300 * 1024, 0x61), /private\/test: oversized/));
  });

  it('drops a client that sends a malformed or unexpected request', async () => {
    await withServer(async (path) => {
      await expectDropped(path, encodeAttr0([{ name: 'request', value: 'x' }, { name: 'size', value: 'ten' }]), /malformed request: .*size/);
      await expectDropped(path, encodeAttr0([{ name: 'bogus', value: 'x' }]), /malformed request: unexpected attribute bogus/);
      await expectDropped(path, Buffer.from('{\0{\0'), /malformed/);
    });
  });

  it('drops a client whose request makes the handler throw', async () => {
    await withServer((path) => expectDropped(path, TEST.encodeRequest({ ...REQ, request: 'throw' }), /handler failed: handler exploded/));
  });

  it('drops a client that goes quiet in the middle of a request', async () => {
    const srv = createAttrServer(TEST, handler, { label: 'private/test', idleTimeoutMs: 200 });
    const path = sockPath();
    await srv.listen(path);
    try {
      await expectDropped(path, Buffer.from('request\0ec'), /timeout while reading request/);
    } finally {
      await srv.close();
    }
  });

  it('stops reading from a client that does not read its replies', async () => {
    let calls = 0;
    const srv = createAttrServer(TEST, (req) => {
      calls++;
      return handler(req);
    }, { label: 'private/test' });
    const path = sockPath();
    await srv.listen(path);
    try {
      const N = 400;
      const one = TEST.encodeRequest({ ...REQ, request: 'big', size: 100_000 });
      const s = connect({ path });
      s.on('error', () => {});
      s.pause();
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(Buffer.concat(Array.from({ length: N }, () => one)));
      await new Promise((r) => setTimeout(r, 300));
      assert.ok(calls < N / 4, `handler ran ${calls} times while the client read nothing`);
      const dec = new Attr0Decoder(TEST.limits);
      let frames = 0;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${frames} replies`)), 10_000);
        s.on('data', (b: Buffer) => {
          const r = dec.push(b);
          frames += r.frames.length;
          if (frames === N + 1) {
            clearTimeout(timer);
            resolve();
          }
        });
        s.resume();
      });
      assert.equal(calls, N);
      s.destroy();
    } finally {
      await srv.close();
    }
  });
});
