/*
 * printable_test - the non-printable mask, with cases checked against the
 * real postlog(1) (compatibility_level 0: UTF-8 off; 3.6: UTF-8 on)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printableBytes, printable } from './printable.js';

interface Case {
  label: string;
  input: Buffer;
  utf8: boolean;
  want: Buffer;
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

const cases: Case[] = [
  { label: 'ascii unchanged', input: b('hello world ~!'), utf8: false, want: b('hello world ~!') },
  { label: 'tab and control masked', input: b('ctl\x01x\ttab'), utf8: false, want: b('ctl?x?tab') },
  { label: 'DEL masked', input: b('bad\x7f'), utf8: false, want: b('bad?') },
  { label: 'CR masked', input: b('a\r'), utf8: false, want: b('a?') },
  { label: 'utf8 off: each byte masked', input: Buffer.from('é ü', 'utf8'), utf8: false, want: b('?? ??') },
  { label: 'utf8 on: kept', input: Buffer.from('é 中文 😀', 'utf8'), utf8: true, want: Buffer.from('é 中文 😀', 'utf8') },
  { label: 'utf8 on: lone lead masked', input: b('\xc3 x'), utf8: true, want: b('? x') },
  { label: 'utf8 on: lone continuation masked', input: b('\x80'), utf8: true, want: b('?') },
  { label: 'utf8 on: extra continuations kept (loose test)', input: b('\xc3\xa9\xa9'), utf8: true, want: b('\xc3\xa9\xa9') },
  { label: 'utf8 on: tab still masked', input: b('tab\tx'), utf8: true, want: b('tab?x') },
];

for (const c of cases) {
  test(`printableBytes: ${c.label}`, () => {
    assert.deepEqual(printableBytes(Buffer.from(c.input), c.utf8), c.want);
  });
}

test('printable: string form', () => {
  assert.equal(printable('a\tb'), 'a?b');
  assert.equal(printable('é', true), 'é');
  assert.equal(printable('é', false), '??');
});
