/*
 * postqueue_oracle_test - Postern's showq(8) and postqueue(1) against the real Postfix 3.7 ones
 *
 * What it does: fills a throwaway queue with messages written by
 * Postern's cleanup (incoming, active forced to expire, deferred with a
 * defer logfile that names some recipients, hold, a quoted sender, a UTF-8
 * recipient, an empty sender) and compares, byte for byte:
 * - the mail_queue_list_protocol stream of the real showq and of ours,
 *   both in stand-alone mode (-u -S) on the same queue;
 * - "postqueue -p" and "postqueue -j" stdout, stderr and exit status,
 *   real and ours, with the mail system down (each falls back to its own
 *   stand-alone showq);
 * - the real postqueue reading Postern's showq over public/showq (served
 *   in this process by the daemon's own server options), and Postern's
 *   postqueue reading the real showq under a throwaway real master;
 * - the same with enable_long_queue_ids = yes (long queue ids, long
 *   column layout), an empty queue, and hand-made files (malformed size
 *   record, done and extracted recipients, no
 *   time record, old-style and unfinished defer log entries, a file
 *   still being written). Not compared: a duplicate or missing sender
 *   record, where the real showq 3.7 goes on with freed buffers (its
 *   SHOWQ_CLEANUP_AND_RETURN does not return) and dies without output;
 *   ours ends that file's report, as the code intends.
 * - the errors of -s, -i, -f and bad usage with the mail system down.
 * All with TZ set so that the arrival times are local times.
 *
 * Every temporary directory is removed and the real master stopped.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { encodeRecord } from '../../src/global/record.js';
import { after, before, describe, it } from 'node:test';
import { createMailServer } from '../../src/master/mail_server.js';
import { SHOWQ_SERVER } from '../../src/showq/showq.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { runCommand, runProgram, type CommandResult } from '../lib/paths.js';
import { POSTFIX_PROGRAMS, writeMasterCf } from '../lib/postfix_oracle.js';
import { makeTestQueue, type TestQueue } from './postqueue_queue_lib.js';

const TZ = 'America/New_York';
const REAL_SHOWQ = POSTFIX_PROGRAMS.showq;
/** Generous: a loaded test machine may take long to start Node. */
const RUN_MS = 40_000;

function env(q: TestQueue): NodeJS.ProcessEnv {
  return { ...q.oracle.env, TZ };
}

function realPostqueue(q: TestQueue, args: string[]): Promise<CommandResult> {
  return runProgram(POSTFIX_PROGRAMS.postqueue, ['-c', q.oracle.confDir, ...args], { env: env(q), timeoutMs: RUN_MS });
}

function ourPostqueue(q: TestQueue, args: string[]): Promise<CommandResult> {
  return runCommand('postqueue', ['-c', q.oracle.confDir, ...args], { env: env(q), timeoutMs: RUN_MS });
}

function same(a: CommandResult, b: CommandResult, what: string): void {
  assert.equal(b.stdout, a.stdout, `${what}: stdout (stderr: ${b.stderr.slice(0, 1000)})`);
  assert.equal(b.stderr, a.stderr, `${what}: stderr`);
  assert.equal(b.status, a.status, `${what}: exit status`);
}

async function fill(q: TestQueue): Promise<void> {
  await q.submit({ sender: 'joe@example.org', recipients: ['bob@example.com'] });
  const big = await q.submit({
    sender: '',
    recipients: ['x1@example.net', 'x2@example.net', 'x3@example.net', 'x4@example.net'],
    body: Array.from({ length: 60 }, (_, i) => `line ${i} `.repeat(8)),
    time: 1764300000,
  });
  const held = await q.submit({ sender: 'john doe@example.org', recipients: ['"quoted"@example.com', 'ünï@example.com'], time: 1730000000 });
  const act = await q.submit({ sender: 'active@example.org', recipients: ['r@example.com', 'r2@example.com'] });
  q.moveTo(big, 'incoming', 'deferred');
  const refused = 'connect to example.net[192.0.2.1]:25: Connection refused';
  q.writeDeferLog(big, [
    { recipient: 'x1@example.net', reason: refused },
    { recipient: 'x2@example.net', reason: refused },
    { recipient: 'x4@example.net', reason: 'host example.net[192.0.2.1] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)', status: '4.2.2' },
  ]);
  q.moveTo(held, 'incoming', 'hold');
  q.moveTo(act, 'incoming', 'active');
  q.setMode('active', act, 0o710);
  q.chownToPostfix();
}

/** Hand-made queue files that exercise showq's corner cases (Postfix showq_report). */
function oddFiles(x: TestQueue): void {
  const file = (queue: string, id: string, recs: Array<[number, string]>, mode = 0o700): void => {
    const p = x.path(queue, id);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, Buffer.concat(recs.map(([t, d]) => encodeRecord(t, d))), { mode });
    chmodSync(p, mode);
  };
  const body: Array<[number, string]> = [[REC_TYPE.MESG, ''], [REC_TYPE.NORM, 'Subject: odd'], [REC_TYPE.NORM, ''], [REC_TYPE.NORM, 'text'], [REC_TYPE.XTRA, '']];
  // A malformed size record: the file size is used instead.
  file('incoming', 'A1B2C3D4E5', [[REC_TYPE.SIZE, 'abc'], [REC_TYPE.TIME, '1764000000 1'], [REC_TYPE.FROM, 'odd@example.org'], [REC_TYPE.RCPT, 'r1@example.com'], ...body, [REC_TYPE.END, '']]);
  // A done recipient is not listed; recipients after the content (extracted) are; no time record: the file's mtime.
  file('deferred', 'D1B2C3D4E5', [[REC_TYPE.SIZE, '             20             80              2              0             20              0'], [REC_TYPE.FROM, ''], [REC_TYPE.DONE, 'done@example.com'], [REC_TYPE.RCPT, 'left@example.com'], ...body, [REC_TYPE.RCPT, 'extracted@example.com'], [REC_TYPE.END, '']]);
  utimesSync(x.path('deferred', 'D1B2C3D4E5'), 1760000000, 1760000000);
  // An old-style defer log entry, an entry without recipient and reason, and one not ended by a blank line.
  const log = x.path('defer', 'D1B2C3D4E5');
  mkdirSync(dirname(log), { recursive: true });
  writeFileSync(log, '<left@example.com>: old style reason\n\nstatus=4.0.0\n\nrecipient=extracted@example.com\nreason=not finished');
  // Not ready (still being written): not listed.
  file('incoming', 'E1B2C3D4E5', [[REC_TYPE.TIME, '1764000003 1'], [REC_TYPE.FROM, 'busy@example.org'], [REC_TYPE.END, '']], 0o600);
  x.chownToPostfix();
}

describe('postqueue and showq against Postfix', () => {
  let q: TestQueue;
  let qLong: TestQueue;
  let qEmpty: TestQueue;
  let qOdd: TestQueue;

  before(async () => {
    msgSetSinks([{ write: () => undefined }]);
    q = await makeTestQueue();
    qLong = await makeTestQueue({ enable_long_queue_ids: 'yes' });
    qEmpty = await makeTestQueue();
    qOdd = await makeTestQueue();
    await fill(q);
    await fill(qLong);
    qEmpty.chownToPostfix();
    oddFiles(qOdd);
  });
  after(async () => {
    msgSetSinks([]);
    for (const x of [q, qLong, qEmpty, qOdd]) await x?.cleanup();
  });

  it('showq -S writes the same protocol bytes as the real showq', async () => {
    await Promise.all([q, qLong, qEmpty, qOdd].map(async (x) => {
      const real = await runProgram(REAL_SHOWQ, ['-u', '-S'], { env: env(x), timeoutMs: RUN_MS });
      const ours = await runCommand('showq', ['-u', '-S'], { env: env(x), timeoutMs: RUN_MS });
      assert.equal(real.status, 0, real.stderr);
      assert.ok(real.stdout.startsWith('protocol\0mail_queue_list_protocol\0\0'));
      assert.equal(ours.stdout, real.stdout);
      assert.equal(ours.status, 0, ours.stderr);
    }));
  });

  it('postqueue -p and -j with the mail system down: same output, warning and status', async () => {
    const runs: Array<[TestQueue, string]> = [[q, '-p'], [q, '-j'], [qLong, '-p'], [qLong, '-j'], [qEmpty, '-p'], [qOdd, '-p'], [qOdd, '-j']];
    const results = await Promise.all(runs.map(async ([x, mode]) => ({ mode, real: await realPostqueue(x, [mode]), ours: await ourPostqueue(x, [mode]) })));
    for (const r of results) {
      assert.match(r.real.stderr, /Mail system is down -- accessing queue directly/);
      same(r.real, r.ours, `postqueue ${r.mode}`);
    }
    const listing = results[0]!.real.stdout;
    assert.match(listing, /^-Queue ID- {2}--Size-- ----Arrival Time---- -Sender\/Recipient-------\n/);
    assert.match(listing, /\*# +\d+ /);
    assert.match(listing, /! +\d+ /);
    assert.match(listing, /\(reason unavailable\)/);
    assert.match(listing, /-- \d+ Kbytes in 4 Requests\.\n$/);
    assert.match(results[1]!.real.stdout, /^\{"queue_name": "active", "queue_id": "[0-9A-F]+", "arrival_time": \d+, "message_size": \d+, "forced_expire": true, /);
    assert.match(results[2]!.real.stdout, /^----Queue ID----- --Size-- ---Arrival Time---- --Sender\/Recipient------\n/);
    assert.equal(results[4]!.real.stdout, 'Mail queue is empty\n');
  });

  it('the real postqueue reads Postern showq over public/showq, and Postern postqueue reads the real showq', async () => {
    const expected = { p: await realPostqueue(q, ['-p']), j: await realPostqueue(q, ['-j']) };
    // Postern's showq daemon, in this process, on the queue's public/showq.
    const sock = join(q.oracle.queueDir, 'public', 'showq');
    const ms = createMailServer('single', SHOWQ_SERVER, { config: q.config, serviceName: 'showq' });
    await ms.init();
    const listener: Server = createServer((s) => ms.client(s));
    await new Promise<void>((r) => listener.listen(sock, r));
    try {
      for (const [mode, exp] of [['-p', expected.p], ['-j', expected.j]] as const) {
        const real = await realPostqueue(q, [mode]);
        assert.equal(real.stderr, '', `real postqueue ${mode} via Postern showq`);
        assert.equal(real.status, 0);
        assert.equal(real.stdout, exp.stdout, `real postqueue ${mode} via Postern showq`);
        const ours = await ourPostqueue(q, [mode]);
        assert.equal(ours.stderr, '');
        assert.equal(ours.stdout, exp.stdout, `Postern postqueue ${mode} via Postern showq`);
      }
    } finally {
      await new Promise<void>((r) => listener.close(() => r()));
      ms.stop();
      rmSync(sock, { force: true });
    }
    // The real showq under a throwaway real master.
    writeMasterCf(q.oracle.confDir, ['showq unix n - n - - showq', 'postlog unix-dgram n - n - 1 postlogd']);
    await q.oracle.startMaster(sock);
    try {
      for (const [mode, exp] of [['-p', expected.p], ['-j', expected.j]] as const) {
        const ours = await ourPostqueue(q, [mode]);
        assert.equal(ours.stderr, '', `Postern postqueue ${mode} via the real showq`);
        assert.equal(ours.status, 0);
        assert.equal(ours.stdout, exp.stdout, `Postern postqueue ${mode} via the real showq`);
      }
    } finally {
      await q.oracle.stop();
    }
  });

  it('errors with the mail system down: same messages and status', async () => {
    const cases: string[][] = [[], ['-p', '-j'], ['-x'], ['-s', 'a..b'], ['-s', 'example.com'], ['-i', 'a/b'], ['-i', 'ABCDEF']];
    const results = await Promise.all(cases.map(async (args) => ({ args, real: await realPostqueue(qEmpty, args), ours: await ourPostqueue(qEmpty, args) })));
    for (const r of results) {
      assert.notEqual(r.real.status, 0, `real postqueue ${r.args.join(' ')}`);
      same(r.real, r.ours, `postqueue ${r.args.join(' ')}`);
    }
  });
});
