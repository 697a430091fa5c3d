/*
 * postcat_test - the pieces of postcat that need no queue: time stamps,
 * header detection, C number parsing, flush semantics, a tiny input
 *
 * Expected texts were taken from the real postcat 3.7.11 on this machine
 * (TZ=UTC); the full differential test is test/oracle/postcat_compat_test.ts.
 */
process.env.TZ = 'UTC';

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msgSetSinks } from '../util/msg.js';
import { asctimeLocal, atol, isHeader, PC_MASK_PRINT_ALL, PostcatFatal, PostcatOutput, postcatPrint } from './postcat_print.js';

function capture(data: Buffer, flags = PC_MASK_PRINT_ALL, seekable = true): { out: string; warnings: string[]; fatal?: string } {
  const chunks: Buffer[] = [];
  const warnings: string[] = [];
  const out = new PostcatOutput((b) => chunks.push(b));
  msgSetSinks([{ write: (_sev, text) => warnings.push(text) }]);
  let fatal: string | undefined;
  try {
    postcatPrint({ path: 't2', data, seekable }, out, { flags, verbose: 0, startOffset: 0 });
  } catch (err) {
    if (!(err instanceof PostcatFatal)) throw err;
    fatal = err.message;
    out.discard();
  } finally {
    msgSetSinks([]);
  }
  out.flush();
  return { out: Buffer.concat(chunks).toString('latin1'), warnings, fatal };
}

test('asctime() format: day of month padded to two columns', () => {
  assert.equal(asctimeLocal(123), 'Thu Jan  1 00:02:03 1970\n');
  assert.equal(asctimeLocal(1795890131), 'Sat Nov 28 18:22:11 2026\n');
});

test('is_header: a name, optional blanks, a colon', () => {
  assert.ok(isHeader(Buffer.from('Subject: x')));
  assert.ok(isHeader(Buffer.from('Subject : x')));
  assert.ok(isHeader(Buffer.from('X-Empty:')));
  assert.ok(!isHeader(Buffer.from('')));
  assert.ok(!isHeader(Buffer.from(': x')));
  assert.ok(!isHeader(Buffer.from('two words: x')));
  assert.ok(!isHeader(Buffer.from('no colon')));
  assert.ok(!isHeader(Buffer.from('caf\u00e9: x', 'utf8')));
});

test('atol() like C: leading space, sign, digits, else 0', () => {
  assert.equal(atol(' 42abc'), 42);
  assert.equal(atol('-7'), -7);
  assert.equal(atol('abc'), 0);
  assert.equal(atol(''), 0);
});

test('a size record that is not numbers is a warning; output as the real postcat', () => {
  const r = capture(Buffer.from('C\x05abcdeT\x03123', 'latin1'));
  assert.equal(r.out, '*** ENVELOPE RECORDS t2 ***\nmessage_size: abcde\nmessage_arrival_time: Thu Jan  1 00:02:03 1970\n');
  assert.deepEqual(r.warnings, ['invalid size record: abcde']);
  assert.equal(r.fatal, undefined);
});

test('a truncated record is fatal, and unflushed output is lost with it', () => {
  const r = capture(Buffer.from('C\x0512345T\x0A123', 'latin1'));
  assert.equal(r.out, '*** ENVELOPE RECORDS t2 ***\nmessage_size: 12345\n');
  assert.equal(r.fatal, 'record read error');
  assert.deepEqual(r.warnings, ['invalid size record: 12345', 't2: unexpected EOF in data, record type 84 length 10']);
  const one = capture(Buffer.from('C', 'latin1'));
  assert.equal(one.out, '');
  assert.equal(one.fatal, 'record read error');
});

test('input that does not start like a queue file is a warning only', () => {
  const r = capture(Buffer.from('garbage here\n'));
  assert.equal(r.out, '');
  assert.deepEqual(r.warnings, ['t2: input is not a valid queue file']);
});
