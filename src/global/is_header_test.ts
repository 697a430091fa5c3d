/*
 * is_header_test - header label recognition and header classification
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HDR, HDR_OPT, HeaderOptsTable, headerOptsFind } from './header_opts.js';
import { isHeader } from './is_header.js';

test('isHeader returns the label length', () => {
  assert.equal(isHeader('Subject: x'), 7);
  assert.equal(isHeader('X-Thing  : spaced'), 7);
  assert.equal(isHeader('Subject:'), 7);
  assert.equal(isHeader(Buffer.from('To: a')), 2);
});

test('isHeader refuses what is not a header', () => {
  for (const t of ['', ':x', ' Subject: x', 'no colon here', 'two words: x', 'caf\xe9: x', 'a\x01b: c', 'Subject']) {
    assert.equal(isHeader(t), 0, JSON.stringify(t));
  }
});

test('headerOptsFind is case-insensitive and ignores blanks before the colon', () => {
  assert.equal(headerOptsFind('FROM: a')?.type, HDR.FROM);
  assert.equal(headerOptsFind('message-id : <x>')?.name, 'Message-Id');
  assert.equal(headerOptsFind('X-Other: y'), null);
  assert.equal(headerOptsFind('no colon'), null);
  assert.ok((headerOptsFind('Resent-To: x')!.flags & HDR_OPT.RR) !== 0);
});

test('message_drop_headers sets DROP and adds unknown names', () => {
  assert.ok((headerOptsFind('Bcc: x')!.flags & HDR_OPT.DROP) !== 0);
  assert.ok((headerOptsFind('Return-Path: <x>')!.flags & HDR_OPT.DROP) !== 0);
  assert.equal(headerOptsFind('To: x')!.flags & HDR_OPT.DROP, 0);
  const t = new HeaderOptsTable('x-secret, To');
  assert.deepEqual(t.find('X-Secret: 1'), { name: 'x-secret', type: HDR.OTHER, flags: HDR_OPT.DROP });
  assert.ok((t.find('to: y')!.flags & HDR_OPT.DROP) !== 0);
  assert.equal(t.find('Bcc: z')!.flags & HDR_OPT.DROP, 0);
});
