/*
 * mail_trigger_test - triggers over UNIX sockets and FIFOs, both ends
 *
 * What it does: sends triggers with unixTrigger, fifoTrigger and
 * mailTrigger to the receiving helpers in src/global/ipc/trigger_server.ts
 * on real sockets and FIFOs in a temporary queue directory, including
 * the cases where nobody listens, the endpoint is the wrong kind of file,
 * and a client connects but says nothing. The differential case runs the
 * real Postfix postkick(1) against a Postern trigger server and checks it
 * receives the same bytes as from Postern's own mailTrigger.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { type Server, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fifoTrigger } from '../util/fifo_trigger.js';
import { type Severity, msgSetSinks } from '../util/msg.js';
import { type TriggerWhy, unixTrigger } from '../util/unix_trigger.js';
import { runProgram } from '../../test/lib/paths.js';
import { writeMainCf } from '../../test/lib/postfix_oracle.js';
import { openFifoTrigger, readTriggerConnection, serveTriggerConnection } from './ipc/trigger_server.js';
import { MAIL_CLASS, QMGR_REQ, TRIGGER_REQ_WAKEUP } from './mail_proto.js';
import { mailTrigger } from './mail_trigger.js';

let dir: string;
let queueDir: string;
const warnings: string[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'postern-trigger-'));
  queueDir = join(dir, 'queue');
  mkdirSync(join(queueDir, 'private'), { recursive: true });
  mkdirSync(join(queueDir, 'public'), { recursive: true });
  msgSetSinks([{ write: (sev: Severity, text: string) => void (sev === 'warning' && warnings.push(text)) }]);
});
after(() => {
  msgSetSinks([]);
  rmSync(dir, { recursive: true, force: true });
});

/** A trigger server on a UNIX socket that records every trigger it gets. */
async function unixTriggerServer(path: string): Promise<{ got: Buffer[]; next(): Promise<Buffer>; close(): Promise<void> }> {
  const got: Buffer[] = [];
  const waiters: Array<(b: Buffer) => void> = [];
  const server: Server = createServer((sock) => {
    void serveTriggerConnection(sock, (data) => {
      got.push(data);
      waiters.shift()?.(data);
    }, { waitMs: 2000 });
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    got,
    next: () =>
      new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no trigger within 3s')), 3000);
        waiters.push((b) => {
          clearTimeout(t);
          resolve(b);
        });
      }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

function mkfifo(path: string): void {
  execFileSync('mkfifo', ['-m', '0622', path]);
}

describe('unix triggers', () => {
  it('delivers the request bytes plus a NUL, as Postfix does', async () => {
    const path = join(dir, 'u1');
    const srv = await unixTriggerServer(path);
    try {
      const next = srv.next();
      assert.equal(await unixTrigger(path, QMGR_REQ.SCAN_INCOMING, 1000), true);
      assert.deepEqual(await next, Buffer.from('I\0'));
    } finally {
      await srv.close();
    }
  });

  it('fails when nobody listens', async () => {
    const why: TriggerWhy = {};
    assert.equal(await unixTrigger(join(dir, 'nosuch'), 'W', 1000, why), false);
    assert.match(why.why ?? '', /ENOENT/);
    // A socket file left behind by a dead server: connection refused. (Node
    // unlinks its socket on close, so keep a second hard link to it.)
    const live = join(dir, 'live');
    const stale = join(dir, 'stale');
    const s = createServer();
    await new Promise<void>((r) => s.listen(live, r));
    linkSync(live, stale);
    await new Promise<void>((r) => s.close(() => r()));
    const why2: TriggerWhy = {};
    assert.equal(await unixTrigger(stale, 'W', 1000, why2), false);
    assert.match(why2.why ?? '', /ECONNREFUSED/);
  });

  it('the receiver drops a client that connects and says nothing', async () => {
    const path = join(dir, 'u2');
    const results: Array<Buffer | null> = [];
    const server = createServer((sock) => void readTriggerConnection(sock, { waitMs: 200 }).then((b) => results.push(b)));
    await new Promise<void>((r) => server.listen(path, r));
    try {
      const c = connect({ path });
      c.on('error', () => {});
      const closed = new Promise<void>((r) => c.on('close', () => r()));
      const t0 = Date.now();
      await closed;
      assert.ok(Date.now() - t0 < 2000, 'dropped after the wait');
      assert.deepEqual(results, [null]);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('the receiver takes at most TRIGGER_BUF_SIZE bytes', async () => {
    const path = join(dir, 'u3');
    const srv = await unixTriggerServer(path);
    try {
      const next = srv.next();
      assert.equal(await unixTrigger(path, Buffer.alloc(5000, 0x41), 1000), true);
      assert.ok((await next).length <= 1024);
    } finally {
      await srv.close();
    }
  });
});

describe('fifo triggers', () => {
  it('delivers bytes to a FIFO reader, repeatedly', async () => {
    const path = join(dir, 'f1');
    mkfifo(path);
    const got: string[] = [];
    let wake: (() => void) | null = null;
    const l = await openFifoTrigger(path, (b) => {
      got.push(b.toString('latin1'));
      wake?.();
    });
    try {
      for (const req of ['W', 'D', 'A']) {
        const arrived = new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error('no fifo trigger within 3s')), 3000);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        assert.equal(await fifoTrigger(path, req, 1000), true);
        await arrived;
      }
      assert.deepEqual(got.join(''), 'WDA');
    } finally {
      l.close();
    }
  });

  it('fails with ENXIO when nobody reads the FIFO', async () => {
    const path = join(dir, 'f2');
    mkfifo(path);
    const why: TriggerWhy = {};
    assert.equal(await fifoTrigger(path, 'W', 1000, why), false);
    assert.match(why.why ?? '', /ENXIO/);
  });

  it('refuses a regular file and a symbolic link', async () => {
    const file = join(dir, 'plain');
    writeFileSync(file, '');
    const why: TriggerWhy = {};
    assert.equal(await fifoTrigger(file, 'W', 1000, why), false);
    assert.match(why.why ?? '', /not a fifo/);
    const fifo = join(dir, 'f3');
    mkfifo(fifo);
    const l = await openFifoTrigger(fifo, () => {});
    try {
      const link = join(dir, 'f3-link');
      symlinkSync(fifo, link);
      assert.equal(await fifoTrigger(link, 'W', 1000), false, 'symlink not followed');
    } finally {
      l.close();
    }
  });
});

describe('mailTrigger', () => {
  it('picks the unix or fifo trigger by what the endpoint is', async () => {
    const srv = await unixTriggerServer(join(queueDir, 'private', 'qmgr'));
    const fifo = join(queueDir, 'public', 'pickup');
    mkfifo(fifo);
    const fifoGot: Buffer[] = [];
    const l = await openFifoTrigger(fifo, (b) => void fifoGot.push(b));
    try {
      const next = srv.next();
      assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PRIVATE, 'qmgr', QMGR_REQ.SCAN_DEFERRED), true);
      assert.deepEqual(await next, Buffer.from('D\0'));
      assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, 'pickup', TRIGGER_REQ_WAKEUP), true);
      for (let k = 0; k < 100 && fifoGot.length === 0; k++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(Buffer.concat(fifoGot), Buffer.from('W'));
    } finally {
      l.close();
      await srv.close();
    }
  });

  it('warns like Postfix when the endpoint is missing or not a socket/fifo', async () => {
    warnings.length = 0;
    assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, 'nosuch', 'W', 1000), false);
    writeFileSync(join(queueDir, 'public', 'flush'), '');
    assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PUBLIC, 'flush', 'W', 1000), false);
    // Texts checked against: postkick -c DIR public nosuch W (Postfix 3.7).
    assert.deepEqual(warnings, ['unable to look up public/nosuch: No such file or directory', 'public/flush is not a socket or a fifo']);
  });

  it('a trigger from the real postkick(1) arrives as the same bytes as ours', async () => {
    const conf = join(dir, 'conf');
    writeMainCf(conf, { queue_directory: queueDir });
    const srv = await unixTriggerServer(join(queueDir, 'private', 'kick'));
    try {
      const fromPostfix = srv.next();
      const r = await runProgram('/usr/sbin/postkick', ['-c', conf, 'private', 'kick', 'IA'], { timeoutMs: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      const theirs = await fromPostfix;
      const fromUs = srv.next();
      assert.equal(await mailTrigger(queueDir, MAIL_CLASS.PRIVATE, 'kick', 'IA'), true);
      assert.deepEqual(await fromUs, theirs);
      assert.deepEqual(theirs, Buffer.from('IA\0'));
    } finally {
      await srv.close();
    }
  });

  it('the real postkick(1) reports the same missing endpoint text', async () => {
    const conf = join(dir, 'conf2');
    writeMainCf(conf, { queue_directory: queueDir });
    const r = await runProgram('/usr/sbin/postkick', ['-c', conf, 'public', 'nosuch', 'W'], { timeoutMs: 10_000 });
    assert.match(r.stderr, /warning: unable to look up public\/nosuch: No such file or directory/);
  });
});
