/*
 * smtp_content_test - unit tests of the DATA stream writer (smtp_content.ts)
 *
 * What it does: checks CRLF line ends, dot-stuffing at line starts only,
 * smtp_line_length_limit breaking with CRLF SPACE as Postfix's
 * smtp_text_out() counts (continued records included), and sendContent()
 * chunking.
 *
 * What it does not do: read queue files or talk to servers.
 *
 * DIAGNOSTICS
 * Assertion failures show the bytes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type ContentRecord, DataWriter, sendContent } from './smtp_content.js';
import { MIME_REC } from './smtp_mime.js';

test('CRLF and dot-stuffing', () => {
  const w = new DataWriter(998);
  for (const l of ['a', '.b', '..c', '', 'd.']) w.record(MIME_REC.NORM, l);
  assert.equal(w.take().toString(), 'a\r\n..b\r\n...c\r\n\r\nd.\r\n');
});

test('a continued piece starting with a dot is not stuffed', () => {
  const w = new DataWriter(998);
  w.record(MIME_REC.CONT, 'ab');
  w.record(MIME_REC.NORM, '.cd');
  w.record(MIME_REC.CONT, '.x');
  w.record(MIME_REC.NORM, 'y');
  assert.equal(w.take().toString(), 'ab.cd\r\n..xy\r\n');
});

test('smtp_line_length_limit breaks long lines with CRLF SPACE', () => {
  const w = new DataWriter(10);
  w.record(MIME_REC.NORM, '0123456789abcdefghijklmnop');
  w.record(MIME_REC.NORM, '0123456789');
  w.record(MIME_REC.NORM, 'short');
  assert.equal(w.take().toString(), '0123456789\r\n abcdefghi\r\n jklmnop\r\n0123456789\r\nshort\r\n');
});

test('the limit counts across continued records', () => {
  const w = new DataWriter(5);
  w.record(MIME_REC.CONT, 'abc');
  w.record(MIME_REC.CONT, 'def');
  w.record(MIME_REC.NORM, 'g');
  assert.equal(w.take().toString(), 'abcde\r\n fg\r\n');
});

test('sendContent flushes in chunks and ends a trailing continued record', async () => {
  const chunks: Buffer[] = [];
  const records: ContentRecord[] = Array.from({ length: 2000 }, (_, i) => ({ rec: MIME_REC.NORM, text: `line ${i} ${'x'.repeat(60)}` }));
  records.push({ rec: MIME_REC.CONT, text: 'tail' });
  await sendContent(records, { lineLimit: 998, downgrade: false, nestingLimit: 100, headerLimit: 102400 }, async (c) => {
    chunks.push(c);
  });
  assert.ok(chunks.length > 1);
  const all = Buffer.concat(chunks).toString();
  assert.ok(all.endsWith('tail\r\n'));
  assert.equal(all.split('\r\n').length, 2002);
});
