/*
 * smtp_mime_test - unit tests of the 8-bit to quoted-printable downgrade (smtp_mime.ts)
 *
 * What it does: feeds content records to MimeDowngrade and checks the
 * output against Postfix's mime_state rules: which entities are
 * converted, the Content-Transfer-Encoding replacement at the end of the
 * header block, =XX escapes, the soft line break after 72 output
 * characters, trailing white space, continued records, message/rfc822
 * nesting and untouched 7bit/base64 parts.
 *
 * What it does not do: talk to a server (test/system/smtp_8bitmime_test.ts).
 *
 * DIAGNOSTICS
 * Assertion failures show the output lines.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIME_REC, MimeDowngrade, type MimeRec } from './smtp_mime.js';

function run(records: Array<[MimeRec, string] | string>): string[] {
  const out: string[] = [];
  let partial = '';
  const m = new MimeDowngrade((rec, text) => {
    if (rec === MIME_REC.CONT) partial += text;
    else {
      out.push(partial + text);
      partial = '';
    }
  });
  for (const r of records) {
    if (typeof r === 'string') m.update(MIME_REC.NORM, r);
    else m.update(r[0], r[1]);
  }
  m.end();
  if (partial) out.push(partial);
  return out;
}

const latin = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

test('a single 8bit text entity: CTE replaced at the end of the headers, body encoded', () => {
  const out = run(['Subject: x', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: 8bit', 'X-After: y', '', latin('Grüße = ok'), 'tab\tand space ', '']);
  assert.deepEqual(out, ['Subject: x', 'Content-Type: text/plain; charset=utf-8', 'X-After: y', 'Content-Transfer-Encoding: quoted-printable', '', 'Gr=C3=BC=C3=9Fe =3D ok', 'tab\tand space=20', '']);
});

test('7bit, base64 and quoted-printable entities pass unchanged', () => {
  const input = ['Content-Transfer-Encoding: base64', '', 'QUJD', latin('ü stays')];
  assert.deepEqual(run(input), input);
  const seven = ['Subject: a', '', latin('8bit data in a 7bit body stays')];
  assert.deepEqual(run(seven), seven);
});

test('soft line breaks once the output passes 72 characters', () => {
  const long = 'x'.repeat(100);
  const out = run(['Content-Transfer-Encoding: 8bit', '', long]);
  assert.deepEqual(out.slice(2), [`${'x'.repeat(73)}=`, 'x'.repeat(27)]);
  const esc = run(['Content-Transfer-Encoding: 8bit', '', '='.repeat(30)]);
  // 25 escapes make 75 characters; the break comes when the line is longer than 72 before the next character.
  assert.deepEqual(esc.slice(2), [`${'=3D'.repeat(25)}=`, '=3D'.repeat(5)]);
});

test('continued records are one line', () => {
  const out = run(['Content-Transfer-Encoding: 8bit', '', [MIME_REC.CONT, 'ab'], [MIME_REC.CONT, latin('ü')], [MIME_REC.NORM, 'cd ']]);
  assert.deepEqual(out.slice(2), ['ab=C3=BCcd=20']);
});

test('multipart: the container says 7bit, leaf parts are converted separately, boundaries kept', () => {
  const out = run([
    'Content-Type: multipart/mixed; boundary=zz',
    'Content-Transfer-Encoding: 8bit',
    '',
    '--zz',
    'Content-Type: message/rfc822',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Subject: inner',
    'Content-Transfer-Encoding: 8bit',
    '',
    latin('inner ä'),
    '--zz',
    'Content-Transfer-Encoding: 7bit',
    '',
    'seven',
    '--zz--',
    latin('epilogue ö'),
  ]);
  assert.deepEqual(out, [
    'Content-Type: multipart/mixed; boundary=zz',
    'Content-Transfer-Encoding: 7bit',
    '',
    '--zz',
    'Content-Type: message/rfc822',
    'Content-Transfer-Encoding: 7bit',
    '',
    'Subject: inner',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    'inner =C3=A4',
    '--zz',
    'Content-Transfer-Encoding: 7bit',
    '',
    'seven',
    '--zz--',
    latin('epilogue ö'),
  ]);
});

test('"name : value" headers are normalised to "name: value"; folded headers keep their lines', () => {
  const out = run(['Subject : hello', 'X-Folded: a', '\tb', '', 'body']);
  assert.deepEqual(out, ['Subject: hello', 'X-Folded: a', '\tb', '', 'body']);
});
