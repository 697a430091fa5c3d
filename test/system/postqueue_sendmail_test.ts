/*
 * postqueue_sendmail_test - sendmail -bp / -q / -qR / -qI against the real Postfix sendmail
 *
 * What it does: with a queue written by Postern's cleanup and the mail
 * system down, runs the real /usr/sbin/sendmail -C and Postern's sendmail
 * -C with the queue modes (-bp, -q, -qRsite, -qIid, a recipient where none
 * is allowed) and compares stdout, stderr and exit status: both run their
 * own postqueue, so the listing, the warnings and the "mail system is
 * down" errors must be Postfix's. Then, with qmgr and pickup sockets of
 * our own, -q must send qmgr "FADI" and pickup "W" (Postfix
 * mail_flush_deferred and mail_flush_maildrop), each ending in a NUL.
 */
import assert from 'node:assert/strict';
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { msgSetSinks } from '../../src/util/msg.js';
import { runCommand, runProgram } from '../lib/paths.js';
import { POSTFIX_PROGRAMS } from '../lib/postfix_oracle.js';
import { makeTestQueue, type TestQueue } from './postqueue_queue_lib.js';

/** Generous: a loaded test machine may take long to start Node. */
const RUN_MS = 40_000;
const TZ = 'Europe/Berlin';

describe('sendmail queue modes against Postfix', () => {
  let q: TestQueue;
  before(async () => {
    msgSetSinks([{ write: () => undefined }]);
    q = await makeTestQueue({ fast_flush_domains: 'example.com' }, 'postern-smq-');
    const id = await q.submit({ sender: 'joe@example.org', recipients: ['bob@example.com', 'eve@example.net'] });
    await q.submit({ sender: '', recipients: ['x@example.com'] });
    q.moveTo(id, 'incoming', 'deferred');
    q.writeDeferLog(id, [{ recipient: 'bob@example.com', reason: 'lost connection with example.com[192.0.2.7] while receiving the initial server greeting' }]);
    q.chownToPostfix();
  });
  after(async () => {
    msgSetSinks([]);
    await q?.cleanup();
  });

  const env = (): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = { ...q.oracle.env, TZ };
    delete e.MAIL_CONFIG;
    return e;
  };

  it('the queue modes with the mail system down: same output, messages and status', async () => {
    const cases = [['-bp'], ['-q'], ['-qRexample.net'], ['-qIABCDEF12'], ['-bp', 'someone@example.com']];
    const results = await Promise.all(
      cases.map(async (args) => ({
        args,
        real: await runProgram(POSTFIX_PROGRAMS.sendmail, ['-C', q.oracle.confDir, ...args], { env: env(), timeoutMs: RUN_MS }),
        ours: await runCommand('sendmail', ['-C', q.oracle.confDir, ...args], { env: env(), timeoutMs: RUN_MS }),
      })),
    );
    for (const r of results) {
      const what = `sendmail ${r.args.join(' ')}`;
      assert.equal(r.ours.stdout, r.real.stdout, `${what}: stdout (stderr: ${r.ours.stderr.slice(0, 1000)})`);
      assert.equal(r.ours.stderr, r.real.stderr, `${what}: stderr`);
      assert.equal(r.ours.status, r.real.status, `${what}: status`);
    }
    assert.match(results[0]!.real.stdout, /-- \d+ Kbytes in 2 Requests\.\n$/);
    assert.match(results[0]!.real.stdout, /\(lost connection with example\.com\[192\.0\.2\.7\] while receiving the initial server greeting\)\n/);
    assert.match(results[1]!.real.stderr, /postqueue: fatal: Cannot flush mail queue - mail system is down\n$/);
  });

  it('sendmail -q wakes up qmgr with FADI and pickup with W', async () => {
    const got: Record<string, string> = { qmgr: '', pickup: '' };
    const servers: Server[] = [];
    for (const name of ['qmgr', 'pickup']) {
      const path = join(q.oracle.queueDir, 'public', name);
      const s = createServer((c) => {
        c.on('data', (b: Buffer) => (got[name] += b.toString('latin1')));
        c.on('error', () => undefined);
      });
      await new Promise<void>((r) => s.listen(path, r));
      chmodSync(path, 0o666);
      servers.push(s);
    }
    try {
      const r = await runCommand('sendmail', ['-C', q.oracle.confDir, '-q'], { env: env(), timeoutMs: RUN_MS });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
      assert.equal(got.qmgr, 'FADI\0');
      assert.equal(got.pickup, 'W\0');
      const real = await runProgram(POSTFIX_PROGRAMS.postqueue, ['-c', q.oracle.confDir, '-f'], { env: env(), timeoutMs: RUN_MS });
      assert.equal(real.status, 0, real.stderr);
      assert.equal(got.qmgr, 'FADI\0FADI\0');
      assert.equal(got.pickup, 'W\0W\0');
    } finally {
      for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
      for (const name of ['qmgr', 'pickup']) rmSync(join(q.oracle.queueDir, 'public', name), { force: true });
    }
  });
});
