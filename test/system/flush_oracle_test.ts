/*
 * flush_oracle_test - Postern's flush(8) against the real Postfix 3.7 flush, with real and Postern clients
 *
 * What it does: on a queue written by Postern's cleanup (two deferred
 * messages for example.com, one for example.net), runs the same script
 * against Postern's flush server (in this process, on public/flush) and
 * against the real flush under a throwaway real master, with a recording
 * listener on public/qmgr standing in for the queue manager:
 * - add requests through Postern's flush_clnt (an allowed site in any case, a
 *   site outside fast_flush_domains) give the same
 *   statuses and the same logfile under flush/;
 * - the real "postqueue -s example.com" and Postern's "postqueue -s"
 *   move the listed deferred files to incoming, empty the logfile and
 *   send qmgr "F" then "I";
 * - "postqueue -i ID" moves one deferred file with the unthrottle bit
 *   set (mode 0740) and sends "I"; a site outside fast_flush_domains is
 *   refused with Postfix's message;
 * - purge removes empty logfiles older than fast_flush_purge_time.
 * The final queue trees and qmgr triggers of both sides are compared.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FlushClient } from '../../src/global/flush_clnt.js';
import { FLUSH_STAT } from '../../src/global/mail_proto.js';
import { createMailServer } from '../../src/master/mail_server.js';
import { flushServerOptions } from '../../src/flush/flush.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { runCommand, runProgram } from '../lib/paths.js';
import { POSTFIX_PROGRAMS, writeMasterCf } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { makeTestQueue, type TestQueue } from './postqueue_queue_lib.js';

/** Generous: a loaded test machine may take long to start Node. */
const RUN_MS = 40_000;
const MAIN = { fast_flush_domains: 'example.com', fast_flush_purge_time: '1d' };

interface Outcome {
  statuses: number[];
  logs: Record<string, string>;
  siteOut: { status: number | null; stderr: string }[];
  tree: string[];
  triggers: string;
}

async function scenario(q: TestQueue, ids: string[], startFlush: () => Promise<() => Promise<void>>): Promise<Outcome> {
  const triggers: string[] = [];
  const qmgrSock = join(q.oracle.queueDir, 'public', 'qmgr');
  const qmgr: Server = createServer((s) => {
    s.on('data', (b) => triggers.push(b.toString('latin1')));
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => qmgr.listen(qmgrSock, r));
  // The real flush runs as the postfix user and must be able to connect.
  chmodSync(qmgrSock, 0o666);
  const stop = await startFlush();
  try {
    const client = new FlushClient(q.config, { timeoutMs: 5000 });
    const statuses = [
      (await client.add('example.com', ids[0]!)).status,
      (await client.add('example.com', ids[1]!)).status,
      (await client.add('EXAMPLE.com', ids[1]!)).status,
      (await client.add('example.com', ids[2]!)).status,
      (await client.add('example.net', ids[2]!)).status,
    ];
    client.close();
    const logs: Record<string, string> = {};
    for (const f of readdirSync(join(q.oracle.queueDir, 'flush'))) logs[f] = readFileSync(join(q.oracle.queueDir, 'flush', f), 'latin1');
    const siteOut = [];
    for (const [prog, args] of [
      [POSTFIX_PROGRAMS.postqueue, ['-s', 'example.com']],
      ['postern', ['-s', 'example.net']],
      ['postern', ['-i', ids[2]!]],
      ['postern', ['-s', 'example.com']],
    ] as const) {
      const a = ['-c', q.oracle.confDir, ...args];
      const r = prog === 'postern' ? await runCommand('postqueue', a, { env: q.oracle.env, timeoutMs: RUN_MS }) : await runProgram(prog, a, { env: q.oracle.env, timeoutMs: RUN_MS });
      siteOut.push({ status: r.status, stderr: r.stderr });
    }
    // An empty logfile from long ago goes away with purge.
    const old = Date.now() / 1000 - 3 * 86400;
    utimesSync(join(q.oracle.queueDir, 'flush', 'example_com'), old, old);
    const purger = new FlushClient(q.config, { timeoutMs: 5000 });
    statuses.push((await purger.purge()).status);
    purger.close();
    await waitUntil(() => !readdirSync(join(q.oracle.queueDir, 'flush')).includes('example_com'), 5000);
    await waitUntil(() => triggers.join('').length >= 4, 3000);
    const tree: string[] = [];
    for (const dir of ['incoming', 'deferred', 'flush']) {
      const walk = (d: string, rel: string): void => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(d, e.name), `${rel}/*`);
          else tree.push(`${rel}/${ids.includes(e.name) ? `id${ids.indexOf(e.name)}` : e.name} ${(statSync(join(d, e.name)).mode & 0o7777).toString(8)}`);
        }
      };
      walk(join(q.oracle.queueDir, dir), dir);
    }
    return { statuses, logs, siteOut, tree: tree.sort(), triggers: triggers.join('') };
  } finally {
    await stop();
    await new Promise<void>((r) => qmgr.close(() => r()));
    rmSync(qmgrSock, { force: true });
  }
}

async function build(): Promise<{ q: TestQueue; ids: string[] }> {
  const q = await makeTestQueue(MAIN, 'postern-flush-');
  const ids: string[] = [];
  for (const rc of ['a@example.com', 'b@example.com', 'c@example.net']) ids.push(await q.submit({ sender: 'joe@example.org', recipients: [rc] }));
  for (const id of ids) q.moveTo(id, 'incoming', 'deferred');
  q.chownToPostfix();
  return { q, ids };
}

describe('flush against Postfix', () => {
  let ours: { q: TestQueue; ids: string[] };
  let real: { q: TestQueue; ids: string[] };
  before(async () => {
    msgSetSinks([{ write: () => undefined }]);
    [ours, real] = await Promise.all([build(), build()]);
  });
  after(async () => {
    msgSetSinks([]);
    await Promise.all([ours?.q.cleanup(), real?.q.cleanup()]);
  });

  it('same logfiles, statuses, queue moves and qmgr triggers as the real flush', async () => {
    const mine = await scenario(ours.q, ours.ids, async () => {
      const sock = join(ours.q.oracle.queueDir, 'public', 'flush');
      const ms = createMailServer('single', flushServerOptions(), { config: ours.q.config, serviceName: 'flush' });
      await ms.init();
      const l = createServer((s) => ms.client(s));
      await new Promise<void>((r) => l.listen(sock, r));
      return async () => {
        await new Promise<void>((r) => l.close(() => r()));
        ms.stop();
        rmSync(sock, { force: true });
      };
    });
    const theirs = await scenario(real.q, real.ids, async () => {
      writeMasterCf(real.q.oracle.confDir, ['flush unix n - n - 0 flush', 'postlog unix-dgram n - n - 1 postlogd']);
      await real.q.oracle.startMaster(join(real.q.oracle.queueDir, 'public', 'flush'));
      return async () => void (await real.q.oracle.stop());
    });
    assert.deepEqual(theirs.statuses, [FLUSH_STAT.OK, FLUSH_STAT.OK, FLUSH_STAT.OK, FLUSH_STAT.OK, FLUSH_STAT.DENY, FLUSH_STAT.OK]);
    assert.deepEqual(mine.statuses, theirs.statuses);
    const mapIds = (text: string, ids: string[]): string => ids.reduce((t, id, i) => t.split(id).join(`id${i}`), text);
    assert.deepEqual(
      Object.fromEntries(Object.entries(mine.logs).map(([k, v]) => [k, mapIds(v, ours.ids)])),
      Object.fromEntries(Object.entries(theirs.logs).map(([k, v]) => [k, mapIds(v, real.ids)])),
    );
    assert.deepEqual(Object.keys(theirs.logs).sort(), ['example_com']);
    assert.deepEqual(
      mine.siteOut.map((r) => ({ ...r, stderr: mapIds(r.stderr, ours.ids) })),
      theirs.siteOut.map((r) => ({ ...r, stderr: mapIds(r.stderr, real.ids) })),
    );
    assert.equal(theirs.siteOut[1]!.stderr, 'postqueue: fatal: Flush service is not configured for destination "example.net"\n');
    assert.deepEqual(mine.tree, theirs.tree);
    assert.ok(theirs.tree.includes('incoming/id2 740'), theirs.tree.join(' '));
    assert.equal(mine.triggers, theirs.triggers);
    assert.match(theirs.triggers, /^F\0I\0I\0/);
  });
});
