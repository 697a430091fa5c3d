/*
 * qmgr_scan_test - queue directory walks and Postfix's scan request semantics
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QMGR_SCAN, QmgrScan, scanQueueIds } from './qmgr_scan.js';
import { qmgrMove } from './qmgr_move.js';

function queueTree(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'qmgr-scan-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'deferred', 'A'), { recursive: true });
  mkdirSync(join(dir, 'deferred', 'B'), { recursive: true });
  writeFileSync(join(dir, 'deferred', 'A', 'A1234567890'), 'x');
  writeFileSync(join(dir, 'deferred', 'B', 'B1234567890'), 'x');
  writeFileSync(join(dir, 'deferred', 'C1234567890'), 'x');
  // Not queue IDs: skipped.
  writeFileSync(join(dir, 'deferred', 'A', 'bad.name'), 'x');
  writeFileSync(join(dir, 'deferred', '12345.678'), 'x');
  return dir;
}

test('scanQueueIds walks hashed subdirectories and skips other names', async (t) => {
  const dir = queueTree(t);
  const ids: string[] = [];
  for await (const id of scanQueueIds(dir, 'deferred')) ids.push(id);
  assert.deepEqual(ids.sort(), ['A1234567890', 'B1234567890', 'C1234567890']);
  const none: string[] = [];
  for await (const id of scanQueueIds(dir, 'incoming')) none.push(id);
  assert.deepEqual(none, []);
});

test('a scan runs only when started, and restarts once when asked during a scan', async (t) => {
  const dir = queueTree(t);
  const scan = new QmgrScan(dir, 'deferred');
  assert.equal(await scan.next(), null);
  scan.request(QMGR_SCAN.START);
  const first = await scan.next();
  assert.ok(first);
  assert.equal(first.flags, 0);
  // A request during the scan: SCAN_ALL applies now, START restarts after this run.
  scan.request(QMGR_SCAN.START | QMGR_SCAN.ALL);
  const seen = [first.queueId];
  for (let i = 0; i < 2; i++) {
    const item = await scan.next();
    assert.ok(item);
    assert.equal(item.flags & QMGR_SCAN.ALL, QMGR_SCAN.ALL);
    seen.push(item.queueId);
  }
  assert.equal(seen.length, 3);
  const rerun: string[] = [];
  for (let i = 0; i < 10; i++) {
    const item = await scan.next();
    if (!item) break;
    rerun.push(item.queueId);
  }
  assert.deepEqual(rerun.sort(), [...seen].sort());
  assert.equal(scan.busy, false);
});

test('qmgrMove moves every file and sets its time stamps', async (t) => {
  const dir = queueTree(t);
  // With deferred hashed one level deep, every file lives in its hash directory.
  mkdirSync(join(dir, 'deferred', 'C'));
  renameSync(join(dir, 'deferred', 'C1234567890'), join(dir, 'deferred', 'C', 'C1234567890'));
  mkdirSync(join(dir, 'incoming'));
  const moved = await qmgrMove({ queueDir: dir, hash: { hashDepth: 1, hashQueues: ['deferred'] } }, 'deferred', 'incoming', 1_000_000);
  assert.equal(moved, 3);
  const ids: string[] = [];
  for await (const id of scanQueueIds(dir, 'incoming')) ids.push(id);
  assert.deepEqual(ids.sort(), ['A1234567890', 'B1234567890', 'C1234567890']);
  assert.equal(statSync(join(dir, 'incoming', 'B1234567890')).mtimeMs, 1_000_000_000);
});
