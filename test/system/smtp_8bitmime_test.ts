/*
 * smtp_8bitmime_test - the quoted-printable downgrade against smtp-sink without 8BITMIME
 *
 * What it does: delivers a multipart message whose text part is 8bit to
 * smtp-sink started with -8 (no 8BITMIME): the 8bit part arrives as
 * quoted-printable with its Content-Transfer-Encoding header replaced,
 * the multipart container's 8bit label becomes 7bit, and Python's email
 * package decodes the part back to the original text.
 *
 * What it does not do: BODY=8BITMIME to a server that has it, or the
 * byte-for-byte comparison with Postfix's smtp (both in
 * test/oracle/smtp_oracle_test.ts; the QP rules are unit-tested in
 * src/smtp/smtp_mime_test.ts).
 *
 * DIAGNOSTICS
 * Assertion failures show the received content.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEL_STAT } from '../../src/global/deliver_request.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { startSmtpSink } from '../lib/peers.js';
import { runProgram } from '../lib/paths.js';
import { makeSmtpHarness } from './smtp_harness.js';

const TEXT = 'Grüße aus Köln = 100% ünïcödé';
const LINES: Buffer[] = [
  'Subject: 8bit',
  'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary="BB"',
  'Content-Transfer-Encoding: 8bit',
  '',
  'preamble',
  '--BB',
  'Content-Type: text/plain; charset=utf-8',
  'Content-Transfer-Encoding: 8bit',
  '',
  TEXT,
  'trailing space ',
  '--BB',
  'Content-Type: text/plain; charset=us-ascii',
  '',
  'plain ascii part',
  '--BB--',
].map((l) => Buffer.from(l, 'utf8'));

const PY = String.raw`
import email, sys, json
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
parts = [p for p in m.walk() if not p.is_multipart()]
print(json.dumps([{"cte": p.get("Content-Transfer-Encoding"), "text": p.get_content()} for p in parts]))
`;

test('8BITMIME: quoted-printable downgrade for a server without 8BITMIME, decodable by Python', async () => {
  const without8 = await startSmtpSink({ extraArgs: ['-8'] });
  const h = makeSmtpHarness();
  try {
    const b = await h.queue({ sender: 'a@postern.test', recipients: [{ address: 'u@remote.test' }], lines: LINES, encoding: '8bit' }, `[127.0.0.1]:${without8.port}`);
    assert.equal((await h.deliver(SMTP_MODE.SMTP, b.req)).status, DEL_STAT.OK, h.logs.join('\n'));
    const [m7] = await without8.waitForMessages(1);
    assert.doesNotMatch(m7!.mailArgs, /BODY=/);
    const body = m7!.content;
    assert.ok(!/[\x80-\xff]/.test(body), `no 8-bit byte left:\n${body}`);
    const lines = body.split('\n');
    // The container says 7bit now, at the end of its header block; the 8bit part says quoted-printable.
    assert.deepEqual(lines.slice(0, 5), ['Subject: 8bit', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="BB"', 'Content-Transfer-Encoding: 7bit', '']);
    assert.deepEqual(lines.slice(7, 10), ['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '']);
    assert.equal(lines[10], 'Gr=C3=BC=C3=9Fe aus K=C3=B6ln =3D 100% =C3=BCn=C3=AFc=C3=B6d=C3=A9');
    assert.equal(lines[11], 'trailing space=20');
    assert.deepEqual(lines.slice(12, 16), ['--BB', 'Content-Type: text/plain; charset=us-ascii', '', 'plain ascii part']);
    const py = await runProgram('python3', ['-c', PY], { input: body, timeoutMs: 20_000 });
    const parts = JSON.parse(py.stdout) as Array<{ cte: string | null; text: string }>;
    assert.equal(parts.length, 2, py.stderr);
    assert.equal(parts[0]!.cte, 'quoted-printable');
    assert.equal(parts[0]!.text, `${TEXT}\ntrailing space `);
    assert.equal(parts[1]!.text, 'plain ascii part');
  } finally {
    h.close();
    await without8.stop();
  }
});
