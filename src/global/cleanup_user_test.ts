/*
 * cleanup_user_test - cleanup status codes and their texts (values from Postfix's cleanup_user.h / cleanup_strerror.c)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLEANUP_FLAG, CLEANUP_STAT, cleanupStatDetail, cleanupStrerror, cleanupStrflags } from './cleanup_user.js';

test('flag and status values are Postfix\'s', () => {
  assert.equal(CLEANUP_FLAG.MASK_EXTERNAL, 2 | 64 | 16 | 32);
  assert.equal(CLEANUP_FLAG.MASK_INTERNAL, 32);
  assert.deepEqual(
    [CLEANUP_STAT.BAD, CLEANUP_STAT.WRITE, CLEANUP_STAT.SIZE, CLEANUP_STAT.CONT, CLEANUP_STAT.HOPS, CLEANUP_STAT.RCPT, CLEANUP_STAT.PROXY, CLEANUP_STAT.DEFER, CLEANUP_STAT.NOPERM],
    [1, 2, 4, 8, 16, 64, 128, 256, 512],
  );
});

test('the most severe bit wins, in Postfix\'s order', () => {
  assert.deepEqual(cleanupStatDetail(0), { status: 0, smtp: 250, dsn: '2.0.0', text: 'Success' });
  assert.equal(cleanupStrerror(CLEANUP_STAT.HOPS), 'too many hops');
  assert.equal(cleanupStatDetail(CLEANUP_STAT.HOPS).smtp, 554);
  assert.equal(cleanupStatDetail(CLEANUP_STAT.SIZE).dsn, '5.3.4');
  assert.equal(cleanupStrerror(CLEANUP_STAT.SIZE | CLEANUP_STAT.RCPT), 'no recipients specified');
  assert.equal(cleanupStrerror(CLEANUP_STAT.CONT | CLEANUP_STAT.DEFER), 'service unavailable');
  assert.equal(cleanupStatDetail(CLEANUP_STAT.WRITE | CLEANUP_STAT.NOPERM).smtp, 451);
  assert.equal(cleanupStrerror(CLEANUP_STAT.NOPERM), 'service denied');
  assert.equal(cleanupStrerror(CLEANUP_STAT.BAD), 'internal protocol error');
});

test('flag names', () => {
  assert.equal(cleanupStrflags(0), 'none');
  assert.equal(cleanupStrflags(CLEANUP_FLAG.FILTER | CLEANUP_FLAG.MAP_OK), 'enable_header_body_filter enable_address_mapping');
});
