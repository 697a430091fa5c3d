/*
 * postsuper_oracle_test - Postern's postsuper(1) against the real Postfix 3.7 postsuper
 *
 * What it does: builds two queues from the same script with Postern's
 * cleanup (messages in incoming, deferred with defer logs, hold, active,
 * maildrop), then runs the real postsuper -c on one and ours on the other
 * with the same operation and compares stderr (queue IDs of the second
 * queue mapped onto the first's), the exit status, the maillog lines, and
 * the resulting queue trees (paths and permission bits, IDs mapped). The
 * operations: -d ID, -d ALL, -d ALL deferred, -d - (IDs on standard input,
 * with an invalid and an unknown one), -h/-H by ID and ALL, -r ID and
 * -r ALL, -e and -f, several in one command, -s with a file at the wrong
 * hash level, a stray directory, a bogus file name and a file whose name
 * does not match its inode number, -p with an old temporary file, the
 * default (no option), and the errors (bad option, relative -c, invalid
 * directory name). Every temporary directory is removed.
 */
import assert from 'node:assert/strict';
import { chownSync, mkdirSync, readdirSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { msgSetSinks } from '../../src/util/msg.js';
import { runCommand, runProgram, type CommandResult } from '../lib/paths.js';
import { postfixIds } from '../lib/postfix_oracle.js';
import { makeTestQueue, type TestQueue } from './postqueue_queue_lib.js';

const REAL_POSTSUPER = '/usr/sbin/postsuper';
/** Generous: a loaded test machine may take long to start Node. */
const RUN_MS = 40_000;

interface Built {
  q: TestQueue;
  ids: string[];
}

/** The same queue content each time; returns the queue IDs in submission order. */
async function build(): Promise<Built> {
  const q = await makeTestQueue();
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push(await q.submit({ sender: `s${i}@example.org`, recipients: [`r${i}@example.com`, `t${i}@example.net`] }));
  q.moveTo(ids[1]!, 'incoming', 'deferred');
  q.writeDeferLog(ids[1]!, [{ recipient: 'r1@example.com', reason: 'connect to example.com[192.0.2.1]:25: Connection refused' }]);
  q.moveTo(ids[2]!, 'incoming', 'deferred');
  q.moveTo(ids[3]!, 'incoming', 'hold');
  q.moveTo(ids[4]!, 'incoming', 'active');
  q.moveTo(ids[5]!, 'incoming', 'hold');
  q.chownToPostfix();
  return { q, ids };
}

/** Rewrites the second queue's IDs, paths and directory into the first's. */
function mapper(from: Built, to: Built): (text: string) => string {
  return (text) => {
    let out = text.split(from.q.oracle.root).join(to.q.oracle.root);
    from.ids.forEach((id, i) => {
      const target = to.ids[i]!;
      out = out.split(`${id[0]}/${id}`).join(`${target[0]}/${target}`).split(id).join(target);
    });
    return out;
  };
}

/** Every path under queue_directory (message and log directories) with its permission bits. */
function tree(b: Built): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (['public', 'private', 'pid'].includes(e.name) && dir === b.q.oracle.queueDir) continue;
      let rel = relative(b.q.oracle.queueDir, p);
      // Which hash directories exist depends on the queue IDs: their files are compared, not they.
      if (e.isDirectory() && /^[a-z]+\/[0-9A-Za-z]$/.test(rel)) rel = '';
      if (rel !== '') out.push(`${rel} ${(statSync(p).mode & 0o7777).toString(8)}${e.isDirectory() ? '/' : ''}`);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(b.q.oracle.queueDir);
  return out;
}

function logLines(b: Built): string[] {
  return b.q.oracle
    .readLog()
    .split('\n')
    .filter((l) => l.includes('postsuper['))
    .map((l) => l.replace(/^.*postsuper\[\d+\]: /, ''));
}

async function compare(args: (ids: string[]) => string[], opts: { input?: (ids: string[]) => string; prepare?: (b: Built) => void } = {}): Promise<{ real: CommandResult; realBuilt: Built }> {
  const [a, b] = await Promise.all([build(), build()]);
  try {
    opts.prepare?.(a);
    opts.prepare?.(b);
    const real = await runProgram(REAL_POSTSUPER, ['-c', a.q.oracle.confDir, ...args(a.ids)], { env: a.q.oracle.env, input: opts.input?.(a.ids) ?? '', timeoutMs: RUN_MS });
    const ours = await runCommand('postsuper', ['-c', b.q.oracle.confDir, ...args(b.ids)], { env: b.q.oracle.env, input: opts.input?.(b.ids) ?? '', timeoutMs: RUN_MS });
    const map = mapper(b, a);
    const what = `postsuper ${args(a.ids).join(' ')}`;
    assert.equal(map(ours.stderr), real.stderr, `${what}: stderr`);
    assert.equal(ours.stdout, real.stdout, `${what}: stdout`);
    assert.equal(ours.status, real.status, `${what}: status`);
    const norm = (list: string[]): string[] => [...new Set(list)].sort();
    assert.deepEqual(norm(tree(b).map(map)), norm(tree(a)), `${what}: queue tree`);
    assert.deepEqual(logLines(b).map(map), logLines(a), `${what}: maillog`);
    return { real, realBuilt: a };
  } finally {
    await Promise.all([a.q.cleanup(), b.q.cleanup()]);
  }
}

describe('postsuper against Postfix', () => {
  before(() => msgSetSinks([{ write: () => undefined }]));
  after(() => msgSetSinks([]));

  it('deletes by ID, from standard input, ALL and ALL in one queue', async () => {
    const [r] = await Promise.all([
      compare((ids) => ['-d', ids[0]!, '-d', ids[1]!, '-d', 'NOSUCHID12']),
      compare(() => ['-d', '-'], { input: (ids) => `${ids[2]}\n${ids[3]}\nbad/id\n${ids[4]}` }),
      compare(() => ['-d', 'ALL']),
      compare(() => ['-d', 'ALL', 'deferred']),
    ]);
    assert.match(r.real.stderr, /: removed\n/);
    assert.match(r.real.stderr, /postsuper: Deleted: 2 messages\n$/);
  });

  it('holds, releases, requeues and expires, also several operations in one command', async () => {
    const [, , , r] = await Promise.all([
      compare((ids) => ['-h', ids[0]!, '-h', ids[3]!, '-H', ids[5]!]),
      compare(() => ['-h', 'ALL']),
      compare(() => ['-H', 'ALL']),
      compare((ids) => ['-r', ids[1]!, '-e', ids[2]!, '-f', ids[3]!]),
      compare(() => ['-r', 'ALL', 'deferred', 'hold']),
    ]);
    assert.match(r.real.stderr, /: requeued\n/);
    assert.match(r.real.stderr, /: expired\n/);
  });

  it('repairs the queue structure (-s, -p, the default) and refuses bad usage', async () => {
    const old = Date.now() / 1000 - 8 * 24 * 3600;
    const { uid, gid } = postfixIds();
    const structure = compare(() => ['-s'], {
      prepare: (b) => {
        const qd = b.q.oracle.queueDir;
        // A deferred file at the wrong hash level, a stray directory, a bogus name.
        renameSync(b.q.path('deferred', b.ids[2]!), join(qd, 'deferred', b.ids[2]!));
        mkdirSync(join(qd, 'incoming', 'strayDir'));
        writeFileSync(join(qd, 'hold', 'not-a-queue-id'), 'x');
        chownSync(join(qd, 'hold', 'not-a-queue-id'), uid, gid);
      },
    });
    const purge = compare(() => ['-p'], {
      prepare: (b) => {
        const f = join(b.q.oracle.queueDir, 'incoming', 'ABCDE12345');
        writeFileSync(f, 'temp', { mode: 0o600 });
        chownSync(f, uid, gid);
        utimesSync(f, old, old);
        const g = join(b.q.oracle.queueDir, 'incoming', 'ABCDE12346');
        writeFileSync(g, 'temp', { mode: 0o600 });
        chownSync(g, uid, gid);
      },
    });
    const bads = [['-x'], ['-c', 'relative'], ['-d', 'ALL', 'nosuchqueue']];
    const [s, , , ...badRuns] = await Promise.all([structure, purge, compare(() => []), ...bads.map((bad) => compare(() => bad))]);
    assert.match(s.real.stderr, /warning: bogus file name: hold\/not-a-queue-id\n/);
    badRuns.forEach((r, i) => assert.notEqual(r.real.status, 0, bads[i]!.join(' ')));
  });
});
