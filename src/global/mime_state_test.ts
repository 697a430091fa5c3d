/*
 * mime_state_test - MimeState structure, limits and errors
 *
 * Events are recorded in the form of Postfix's own mime_state test
 * driver ("MAIN 0|Subject: x", "HEADER END", "BODY N 0|text", "BODY
 * END"); the expectations follow Postfix 3.7.11's mime_state.c and what
 * test/oracle/cleanup_checks_oracle_test.ts saw the real cleanup do.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIME_ERR, MimeState, type MimeStateOptions, isHeaderText, isMimeHeader, mimeStateDetail, mimeStateError } from './mime_state.js';
import { REC_TYPE } from './rec_type.js';

const N = REC_TYPE.NORM;
const L = REC_TYPE.CONT;

const BASE: MimeStateOptions = { disableMime: false, headerSizeLimit: 102400, nestingLimit: 100, boundaryLengthLimit: 2048 };

async function run(records: Array<[number, string] | string>, opts: Partial<MimeStateOptions> = {}): Promise<{ ev: string[]; errors: number; reported: string[] }> {
  const ev: string[] = [];
  const reported: string[] = [];
  const kinds = { primary: 'MAIN', multipart: 'MULT', nested: 'NEST' } as const;
  const m = new MimeState(
    { ...BASE, ...opts },
    {
      header: async (kind, text, offset) => void ev.push(`${kinds[kind]} ${offset}|${text}`),
      headerEnd: async () => void ev.push('HEADER END'),
      body: async (type, text, offset) => void ev.push(`BODY ${String.fromCharCode(type)} ${offset}|${text}`),
      bodyEnd: async () => void ev.push('BODY END'),
      error: (code, text) => void reported.push(`${mimeStateError(code)}: ${text}`),
    },
  );
  for (const r of records) {
    if (typeof r === 'string') await m.update(N, r);
    else await m.update(r[0], r[1]);
  }
  await m.finish();
  return { ev, errors: m.errors, reported };
}

test('isHeaderText: name, optional blanks, colon; nothing else', () => {
  assert.equal(isHeaderText('Subject: x'), 7);
  assert.equal(isHeaderText('Subject :x'), 7);
  assert.equal(isHeaderText('Subject'), 0);
  assert.equal(isHeaderText(' Subject: x'), 0);
  assert.equal(isHeaderText(': x'), 0);
  assert.equal(isHeaderText('Sub ject: x'), 0);
  assert.equal(isHeaderText('Sub\xe9ject: x'), 0);
  assert.ok(isMimeHeader('content-TYPE: text/plain'));
  assert.ok(isMimeHeader('MIME-Version : 1.0'));
  assert.ok(!isMimeHeader('Subject: x'));
});

test('primary headers: folded lines joined with \\n, "name :" normalised, offsets count bytes', async () => {
  const { ev } = await run(['Subject : hello', '\tworld', ' again', 'To: a@b', '', 'body 1', 'body 2']);
  assert.deepEqual(ev, [
    'MAIN 0|Subject: hello\n\tworld\n again',
    'MAIN 29|To: a@b',
    'HEADER END',
    'BODY N 0|',
    'BODY N 1|body 1',
    'BODY N 8|body 2',
    'BODY END',
  ]);
});

test('multipart: part headers are MULT, message/rfc822 headers are NEST, boundaries are body lines', async () => {
  const { ev } = await run([
    'Content-Type: multipart/mixed; boundary="b1"',
    '',
    'preamble',
    '--b1',
    'Content-Type: message/rfc822',
    '',
    'Subject: inner',
    '',
    'inner body',
    '--b1',
    'X-Part: two',
    '',
    'two',
    '--b1--',
    'epilogue',
  ]);
  assert.deepEqual(ev, [
    'MAIN 0|Content-Type: multipart/mixed; boundary="b1"',
    'HEADER END',
    'BODY N 0|',
    'BODY N 1|preamble',
    'BODY N 10|--b1',
    'MULT 0|Content-Type: message/rfc822',
    'BODY N 0|',
    'NEST 0|Subject: inner',
    'BODY N 0|',
    'BODY N 1|inner body',
    'BODY N 12|--b1',
    'MULT 0|X-Part: two',
    'BODY N 0|',
    'BODY N 1|two',
    'BODY N 0|--b1--',
    'BODY N 7|epilogue',
    'BODY END',
  ]);
});

test('multipart/digest parts default to message/rfc822; message/partial is not entered', async () => {
  const digest = await run(['Content-Type: multipart/digest; boundary=D', '', '--D', '', 'Subject: in digest', '', 'x', '--D--']);
  assert.ok(digest.ev.includes('NEST 0|Subject: in digest'));
  const partial = await run(['Content-Type: message/partial; id=1', '', 'Subject: not a header here']);
  assert.ok(partial.ev.includes('BODY N 1|Subject: not a header here'));
  const all = await run(['Content-Type: message/partial; id=1', '', 'Subject: seen'], { recurseAllMessage: true });
  assert.ok(all.ev.includes('NEST 0|Subject: seen'));
});

test('disable_mime_input_processing: everything after the primary headers is body', async () => {
  const { ev } = await run(['Content-Type: multipart/mixed; boundary=q', '', '--q', 'Content-Type: text/plain', '', 'x'], { disableMime: true });
  assert.deepEqual(ev.slice(2), ['BODY N 0|', 'BODY N 1|--q', 'BODY N 5|Content-Type: text/plain', 'BODY N 30|', 'BODY N 31|x', 'BODY END']);
});

test('garbage in the primary header block: one empty body line, then body; none in a part', async () => {
  const p = await run(['Subject: x', 'not a header', 'X-Later: y']);
  assert.deepEqual(p.ev, ['MAIN 0|Subject: x', 'HEADER END', 'BODY N 0|', 'BODY N 0|not a header', 'BODY N 13|X-Later: y', 'BODY END']);
  const m = await run(['Content-Type: multipart/mixed; boundary=g', '', '--g', 'not a header', '--g--']);
  assert.deepEqual(m.ev.slice(4), ['BODY N 0|not a header', 'BODY N 0|--g--', 'BODY END'], 'a closing boundary starts a new body segment');
});

test('L records: a header continues across pieces; no boundary match at a continued piece; pending piece ends with an empty N', async () => {
  const { ev } = await run([[L, 'Subject: a'], [N, 'b'], 'Content-Type: multipart/mixed; boundary=c', '', [L, 'x'], [N, '--c'], [L, 'tail']]);
  assert.deepEqual(ev, [
    'MAIN 0|Subject: ab',
    'MAIN 12|Content-Type: multipart/mixed; boundary=c',
    'HEADER END',
    'BODY N 0|',
    'BODY L 1|x',
    'BODY N 3|--c',
    'BODY L 7|tail',
    'BODY N 12|',
    'BODY END',
  ]);
});

test('header_size_limit: no more lines are added once the header reached the limit', async () => {
  const { ev, errors } = await run(['X-Long: 12345', '\tabcdef', '\tghijkl', '\tmnopqr', 'Next: 1'], { headerSizeLimit: 20 });
  assert.deepEqual(ev.slice(0, 2), ['MAIN 0|X-Long: 12345\n\tabcdef', 'MAIN 22|Next: 1']);
  assert.equal(errors, 0, 'truncation is only reported when asked');
  const rep = await run(['X-Long: 12345', '\tabcdef', '\tghijkl'], { headerSizeLimit: 20, reportTruncHeader: true });
  assert.equal(rep.errors, MIME_ERR.TRUNC_HEADER);
});

test('mime_boundary_length_limit: a boundary is stored truncated and still recognised', async () => {
  const { ev } = await run(['Content-Type: multipart/mixed; boundary=abcdefghij', '', '--abcdeXXXX', 'X-Part: 1', '', 'x'], { boundaryLengthLimit: 5 });
  assert.ok(ev.includes('MULT 0|X-Part: 1'));
});

test('mime_nesting_limit: reported when more than limit + 1 boundaries are open (as Postfix 3.7.11 does)', async () => {
  const nest = (depth: number): string[] => {
    const r = ['Content-Type: multipart/mixed; boundary=n1', ''];
    for (let i = 1; i <= depth; i++) r.push(`--n${i}`, `Content-Type: multipart/mixed; boundary=n${i + 1}`, '');
    r.push(`--n${depth + 1}`, '', 'deep');
    return r;
  };
  assert.equal((await run(nest(2), { nestingLimit: 1, reportNesting: true })).errors, 0);
  const deep = await run(nest(3), { nestingLimit: 1, reportNesting: true });
  assert.equal(deep.errors, MIME_ERR.NESTING);
  assert.deepEqual(deep.reported, ['MIME nesting exceeds safety limit: Content-Type: multipart/mixed; boundary=n4']);
  assert.equal((await run(nest(3), { nestingLimit: 1 })).errors, 0, 'not reported unless asked');
});

test('8-bit data: in a header, in a 7-bit body, allowed in an 8bit part; each error once', async () => {
  const h = await run(['Subject: caf\xe9', 'X: \xe9', '', 'body'], { strict8bitmime: true });
  assert.equal(h.errors, MIME_ERR['8BIT_IN_HEADER']);
  assert.deepEqual(h.reported, ['improper use of 8-bit data in message header: Subject: caf\xe9']);
  const b = await run(['Subject: x', '', 'caf\xe9', 'more \xe9'], { report8bitIn7bitBody: true });
  assert.equal(b.errors, MIME_ERR['8BIT_IN_7BIT_BODY']);
  assert.equal(b.reported.length, 1);
  const ok = await run(['Content-Transfer-Encoding: 8bit', '', 'caf\xe9'], { strict8bitmime: true });
  assert.equal(ok.errors, 0);
});

test('encoding domain: multipart and message/rfc822 need 7bit/8bit/binary; partial needs 7bit', async () => {
  const opts = { reportEncodingDomain: true };
  assert.equal((await run(['Content-Type: multipart/mixed; boundary=e', 'Content-Transfer-Encoding: base64', '', 'x'], opts)).errors, MIME_ERR.ENCODING_DOMAIN);
  assert.equal((await run(['Content-Type: message/rfc822', 'Content-Transfer-Encoding: quoted-printable', '', 'x'], opts)).errors, MIME_ERR.ENCODING_DOMAIN);
  assert.equal((await run(['Content-Type: message/partial', 'Content-Transfer-Encoding: 8bit', '', 'x'], opts)).errors, MIME_ERR.ENCODING_DOMAIN);
  assert.equal((await run(['Content-Type: multipart/mixed; boundary=e', 'Content-Transfer-Encoding: 8bit', '', 'x'], opts)).errors, 0);
  assert.equal((await run(['Content-Type: text/plain', 'Content-Transfer-Encoding: base64', '', 'x'], opts)).errors, 0);
  const r = await run(['Content-Type: multipart/mixed; boundary=e', 'Content-Transfer-Encoding: (comment) BASE64', '', 'x'], opts);
  assert.deepEqual(r.reported, ['invalid message/* or multipart/* encoding domain: base64']);
});

test('Content-Type parsing: comments, quoted boundaries, several boundaries, odd input', async () => {
  const q = await run(['Content-Type: (c) multipart/mixed (c);', ' boundary="a b"; boundary=second', '', '--second', 'X-B: 2', '', '--a b', 'X-A: 1', '', '--second', 'X-C: 3']);
  assert.ok(q.ev.includes('MULT 0|X-B: 2'));
  assert.ok(q.ev.includes('MULT 0|X-A: 1'));
  assert.ok(q.ev.includes('BODY N 10|X-C: 3'), 'matching the outer boundary closed the inner one');
  for (const ct of ['Content-Type:', 'Content-Type: ;', 'Content-Type: "', 'Content-Type: (unclosed', 'Content-Type: multipart']) {
    const r = await run([ct, '', '--x', 'X: 1']);
    assert.ok(r.ev.includes('BODY N 5|X: 1'), ct);
  }
});

test('an empty message and a message without a blank line', async () => {
  assert.deepEqual((await run([])).ev, ['HEADER END', 'BODY END']);
  assert.deepEqual((await run(['Subject: x'])).ev, ['MAIN 0|Subject: x', 'HEADER END', 'BODY END']);
});

test('mimeStateDetail: most serious error first, DSN 5.6.0', () => {
  assert.deepEqual(mimeStateDetail(MIME_ERR.ENCODING_DOMAIN | MIME_ERR.NESTING), {
    code: MIME_ERR.NESTING,
    dsn: '5.6.0',
    text: 'MIME nesting exceeds safety limit',
  });
  assert.equal(mimeStateDetail(0), null);
});
