/*
 * mail_queue_test - queue IDs in both forms, validation, hashed paths
 *
 * The fixed vectors were produced by the real Postfix 3.7.11 on this
 * machine (a held message's ID, its inode from `find -printf %i`, and its
 * hashed path under hash_queue_depth = 2); the oracle test checks the
 * same against a live instance.
 */
import assert from 'node:assert/strict';
import { closeSync, fstatSync, mkdtempSync, readdirSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  dirForest,
  isLongQueueId,
  MAIL_QUEUE,
  mailQueueEnter,
  mailQueueIdOk,
  mailQueueNameOk,
  makeQueueId,
  parseQueueId,
  queueDirNames,
  queuePath,
  safeStrtoul,
  safeUltostr,
  splitQueueNames,
} from './mail_queue.js';

const HASH2 = { hashDepth: 2, hashQueues: ['deferred', 'defer', 'hold'] };

test('queue directory names are the Postfix set', () => {
  assert.deepEqual(queueDirNames(), [
    'active', 'bounce', 'corrupt', 'defer', 'deferred', 'flush', 'hold', 'incoming', 'maildrop', 'pid', 'private', 'public', 'saved', 'trace',
  ]);
  assert.equal(MAIL_QUEUE.DEFERRED, 'deferred');
});

test('short IDs from Postfix: five hex digits of microseconds, then the inode in hex', () => {
  const p = parseQueueId('DB6C220C2D3');
  assert.deepEqual(p, { longForm: false, usec: 0xdb6c2, inode: 2147027n });
  assert.equal(makeQueueId(0, 0xdb6c2, 2147027, false), 'DB6C220C2D3');
  assert.equal(makeQueueId(0, 5, 255, false), '00005FF');
  assert.equal(isLongQueueId('DB6C220C2D3'), false);
});

test('long IDs from Postfix: base-52 seconds and microseconds, z, base-51 inode', () => {
  const p = parseQueueId('4jcJhX50JKzJ9J4');
  assert.deepEqual(p, { longForm: true, sec: 1795890540, usec: 703889, inode: 2146645n });
  assert.equal(makeQueueId(1795890540, 703889, 2146645, true), '4jcJhX50JKzJ9J4');
  assert.equal(isLongQueueId('4jcJhX50JKzJ9J4'), true);
});

test('IDs round-trip with their time and inode in both forms', () => {
  const cases: Array<[number, number, bigint]> = [
    [0, 0, 1n],
    [1, 999999, 51n],
    [1795890540, 123456, 2n ** 40n + 17n],
    [4102444800, 500000, 2n ** 63n - 1n],
  ];
  for (const [sec, usec, inode] of cases) {
    const long = makeQueueId(sec, usec, inode, true);
    assert.ok(!long.slice(long.indexOf('z') + 1).includes('z'), 'no z in the inode part');
    assert.deepEqual(parseQueueId(long), { longForm: true, sec, usec, inode });
    assert.ok(mailQueueIdOk(long));
    const short = makeQueueId(sec, usec, inode, false);
    assert.deepEqual(parseQueueId(short), { longForm: false, usec, inode });
    assert.ok(mailQueueIdOk(short));
  }
});

test('the safe alphabet has no vowels and round-trips', () => {
  assert.equal(safeUltostr(0, 52, 4), '0000');
  assert.equal(safeUltostr(51, 52), 'z');
  assert.equal(safeUltostr(10, 52), 'B');
  assert.equal(safeStrtoul('z', 52), 51n);
  assert.equal(safeStrtoul('a', 52), null);
  assert.equal(safeStrtoul('z', 51), null);
  assert.equal(parseQueueId('not-an-id'), null);
  assert.equal(parseQueueId('ABC'), null);
});

test('validation follows Postfix', () => {
  assert.ok(mailQueueNameOk('deferred'));
  assert.ok(!mailQueueNameOk('../etc'));
  assert.ok(!mailQueueNameOk(''));
  assert.ok(!mailQueueNameOk('x'.repeat(101)));
  assert.ok(mailQueueIdOk('example_com'));
  assert.ok(!mailQueueIdOk('bad/id'));
  assert.ok(!mailQueueIdOk(''));
  assert.ok(!mailQueueIdOk('A'.repeat(256)));
});

test('hashed paths: one level per character; long IDs hash on their microseconds in hex', () => {
  assert.equal(dirForest('ABCD', 2), 'A/B/');
  assert.equal(dirForest('A', 3), 'A/_/_/');
  assert.equal(queuePath('', 'hold', 'DB6C220C2D3', HASH2), 'hold/D/B/DB6C220C2D3');
  assert.equal(queuePath('', 'hold', '4jcJhX50JKzJ9J4', HASH2), 'hold/A/B/4jcJhX50JKzJ9J4');
  assert.equal(queuePath('', 'hold', '4jcJhX4TjLzJ9JC', HASH2), 'hold/9/A/4jcJhX4TjLzJ9JC');
  assert.equal(queuePath('/q', 'incoming', 'DB6C220C2D3', HASH2), '/q/incoming/DB6C220C2D3');
  const dflt = { hashDepth: 1, hashQueues: splitQueueNames('deferred, defer') };
  assert.equal(queuePath('/q', 'deferred', 'DB6C220C2D3', dflt), '/q/deferred/D/DB6C220C2D3');
  assert.equal(queuePath('', 'DEFER', 'DB6C220C2D3', dflt), 'DEFER/D/DB6C220C2D3');
  assert.throws(() => queuePath('', 'hold', 'bad/id', dflt), /bad queue id/);
  assert.throws(() => queuePath('', '../x', 'ABC', dflt), /bad queue name/);
});

test('mailQueueEnter creates a file named by its inode, in a hashed directory it makes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mail-queue-test-'));
  try {
    mkdirSync(join(dir, 'deferred'));
    mkdirSync(join(dir, 'incoming'));
    for (const longQueueIds of [false, true]) {
      const e = mailQueueEnter(dir, 'deferred', 0o600, { ...HASH2, longQueueIds });
      try {
        const st = fstatSync(e.fd, { bigint: true });
        const p = parseQueueId(e.queueId);
        assert.ok(p);
        assert.equal(p.longForm, longQueueIds);
        assert.equal(p.inode, st.ino);
        assert.equal(p.usec, e.usec);
        if (longQueueIds) assert.equal(p.sec, e.sec);
        assert.equal(e.path, queuePath(dir, 'deferred', e.queueId, HASH2));
        assert.equal(statSync(e.path).mode & 0o777, 0o600);
      } finally {
        closeSync(e.fd);
      }
    }
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const e = mailQueueEnter(dir, 'incoming', 0o600, { ...HASH2, longQueueIds: false });
      closeSync(e.fd);
      ids.add(e.queueId);
    }
    assert.equal(ids.size, 20);
    assert.equal(readdirSync(join(dir, 'incoming')).length, 20, 'no temporary files left behind');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
