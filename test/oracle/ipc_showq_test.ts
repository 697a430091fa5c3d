/*
 * ipc_showq_test - attr0 bytes against the real Postfix showq and postqueue
 *
 * What it does: builds a throwaway Postfix queue (its own config and
 * queue directory; two messages dropped into maildrop by the real
 * sendmail/postdrop), then
 *  1. runs the real showq(8) in stand-alone mode on one end of a UNIX
 *     socket and records the exact bytes it sends (announcement, one list
 *     per message, empty terminating list);
 *  2. decodes them with Postern's Attr0Stream, checks the announcement
 *     with a Postern protocol declaration, and re-encodes every list:
 *     the bytes must be identical; a Postern client (openAttrStream,
 *     scanRecords) reads the real showq's stream typed and strict;
 *  3. runs the real postqueue -p twice against queue_directory/public/showq:
 *     once served by the real showq, once by a Postern server sending
 *     Postern-encoded bytes; the two listings must be identical.
 * No master is started; every child is bounded by a timeout and the
 * temporary directory is removed afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Attr0Frame, encodeAttr0 } from '../../src/util/attr0.js';
import { Attr0Stream, type FrameResult } from '../../src/util/attr0_stream.js';
import { attr, scanRecords } from '../../src/util/attr0_scan.js';
import { openAttrStream } from '../../src/global/ipc/attr_clnt.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../../src/global/mail_proto.js';
import { defineProtocol } from '../../src/global/ipc/protocol.js';
import { runProgram } from '../lib/paths.js';
import { type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';

const SHOWQ_PROGRAM = POSTFIX_PROGRAMS.showq;
const QUEUE_DIRS = ['maildrop', 'incoming', 'active', 'deferred', 'hold', 'corrupt', 'public', 'private', 'pid'];

/** showq sends; it reads nothing. Each message list starts with these fields. */
const SHOWQ = defineProtocol({
  name: MAIL_ATTR_PROTO.SHOWQ,
  request: {},
  reply: {
    [MAIL_ATTR.QUEUE]: attr.str(),
    [MAIL_ATTR.QUEUEID]: attr.str(),
    [MAIL_ATTR.TIME]: attr.long(),
    [MAIL_ATTR.SIZE]: attr.long(),
    [MAIL_ATTR.FORCED_EXPIRE]: attr.bool(),
    [MAIL_ATTR.SENDER]: attr.str(),
  },
});
const SHOWQ_RCPT = { [MAIL_ATTR.RECIP]: attr.str(), [MAIL_ATTR.WHY]: attr.str() };

let oracle: OracleConfig;
let dir: string;
let conf: string;
let queueDir: string;

async function run(file: string, args: string[], input = ''): Promise<string> {
  const r = await oracle.run(file, args, { input, timeoutMs: 20_000 });
  assert.equal(r.status, 0, `${file} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

before(async () => {
  // The queue directories sendmail/postdrop and showq need (root runs them all here).
  oracle = makeOracleConfig({ prefix: 'postern-showq-', queueDirs: QUEUE_DIRS, main: { compatibility_level: '3.6' } });
  dir = oracle.root;
  conf = oracle.confDir;
  queueDir = oracle.queueDir;
  await run('/usr/sbin/sendmail', ['-C', conf, '-f', 'sender@example.com', '-i', 'rcpt1@example.net', 'rcpt2@example.org'], 'Subject: one\n\nbody\n');
  await run('/usr/sbin/sendmail', ['-C', conf, '-f', '', '-i', 'postmaster@example.com'], 'Subject: two\n\n' + 'x'.repeat(3000) + '\n');
  assert.equal(readdirSync(join(queueDir, 'maildrop')).length, 2, 'two messages in maildrop');
});

after(async () => {
  await oracle?.cleanup();
});

/** Serves path with `onConn` until the returned close() is called. */
async function listen(path: string, onConn: (s: Socket) => void): Promise<() => Promise<void>> {
  const server: Server = createServer((s) => {
    s.on('error', () => {});
    onConn(s);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return () => new Promise<void>((r) => server.close(() => r()));
}

/** Hands an accepted connection to the real showq in stand-alone mode. */
function realShowq(sock: Socket): void {
  // Stand-alone showq reads standard input and writes standard output: both are the socket.
  const child = spawn(SHOWQ_PROGRAM, ['-S'], { stdio: [sock, sock, 'ignore'], env: oracle.env });
  child.on('error', () => sock.destroy());
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  child.on('exit', () => {
    clearTimeout(timer);
    sock.destroy();
  });
}

async function recordRealShowq(): Promise<Buffer> {
  const path = join(dir, 'record.sock');
  const close = await listen(path, realShowq);
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const c = connect({ path });
      const got: Buffer[] = [];
      const t = setTimeout(() => reject(new Error('showq did not finish in 20s')), 20_000);
      c.on('data', (b) => got.push(b));
      c.on('error', reject);
      c.on('close', () => {
        clearTimeout(t);
        resolve(Buffer.concat(got));
      });
    });
  } finally {
    await close();
  }
}

async function readAllFrames(bytes: Buffer): Promise<Attr0Frame[]> {
  const path = join(dir, 'replay.sock');
  const close = await listen(path, (s) => s.end(bytes));
  const io = new Attr0Stream(connect({ path }));
  const frames: Attr0Frame[] = [];
  try {
    for (let k = 0; k < 100; k++) {
      const r = await io.readFrame(5000);
      if (!r.ok) {
        assert.equal(r.kind, 'eof', r.message);
        break;
      }
      frames.push(r.frame);
    }
  } finally {
    io.destroy();
    await close();
  }
  return frames;
}

describe('attr0 against the real Postfix showq/postqueue', () => {
  let real: Buffer;
  let frames: Attr0Frame[];

  it('decodes what the real showq sends and re-encodes it byte for byte', async () => {
    real = await recordRealShowq();
    frames = await readAllFrames(real);
    assert.equal(frames.length, 4, 'announcement, two messages, terminator');
    assert.ok(SHOWQ.checkAnnouncement(frames[0]!).ok);
    assert.deepEqual(SHOWQ.announcement(), encodeAttr0(frames[0]!));
    assert.deepEqual(frames[3], []);
    const again = Buffer.concat(frames.map((f) => encodeAttr0(f)));
    assert.deepEqual(again, real);
  });

  it('a Postern client reads the real showq stream, typed and strict', async () => {
    const path = join(dir, 'client.sock');
    const close = await listen(path, realShowq);
    try {
      const opened = await openAttrStream(SHOWQ, path, 10_000);
      if (!opened.ok) assert.fail(opened.message);
      const io: Attr0Stream = opened.io;
      const seen: Array<[string, string[]]> = [];
      for (let k = 0; k < 10; k++) {
        const r: FrameResult = await io.readFrame(10_000);
        if (!r.ok) assert.fail(r.message);
        if (r.frame.length === 0) break;
        const m = scanRecords(SHOWQ.reply, SHOWQ_RCPT, r.frame);
        if (!m.ok) assert.fail(m.message);
        assert.equal(m.value.head.queue_name, 'maildrop');
        assert.equal(m.value.head.forced_expire, false);
        assert.ok(m.value.head.size > 0 && m.value.head.time > 1_600_000_000);
        assert.ok(m.value.items.every((i) => i.reason === ''));
        seen.push([m.value.head.sender, m.value.items.map((i) => i.recipient)]);
      }
      io.destroy();
      seen.sort((a, b) => a[0].localeCompare(b[0]));
      // showq shows the null sender as MAILER-DAEMON.
      assert.deepEqual(seen, [
        ['MAILER-DAEMON', ['postmaster@example.com']],
        ['sender@example.com', ['rcpt1@example.net', 'rcpt2@example.org']],
      ]);
    } finally {
      await close();
    }
  });

  it('the real postqueue -p prints the same listing from a Postern server', async () => {
    const endpoint = join(queueDir, 'public', 'showq');
    let close = await listen(endpoint, realShowq);
    let fromPostfix: string;
    try {
      fromPostfix = await run('/usr/sbin/postqueue', ['-c', conf, '-p']);
    } finally {
      await close();
    }
    assert.match(fromPostfix, /rcpt2@example\.org/);
    assert.match(fromPostfix, /-- \d+ Kbytes in 2 Requests\./);

    close = await listen(endpoint, (s) => {
      const io = new Attr0Stream(s);
      void (async () => {
        await io.writeBytes(SHOWQ.announcement(), 5000);
        for (const f of frames.slice(1)) await io.writeBytes(encodeAttr0(f), 5000);
        io.end();
      })();
    });
    try {
      const fromPostern = await run('/usr/sbin/postqueue', ['-c', conf, '-p']);
      assert.equal(fromPostern, fromPostfix);
    } finally {
      await close();
    }
  });

  it('the real postqueue rejects a Postern server announcing another protocol', async () => {
    const endpoint = join(queueDir, 'public', 'showq');
    const close = await listen(endpoint, (s) => s.end(encodeAttr0([{ name: MAIL_ATTR.PROTO, value: MAIL_ATTR_PROTO.FLUSH }])));
    try {
      const r = await runProgram('/usr/sbin/postqueue', ['-c', conf, '-p'], { timeoutMs: 20_000 });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /queue_flush_protocol/);
    } finally {
      await close();
    }
  });
});
