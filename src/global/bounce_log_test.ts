/*
 * bounce_log_test - per-message log entries written and read as Postfix's bounce(8) does
 *
 * What it does: testdata/bounce_log_postfix_defer.txt is a defer log the
 * real Postfix 3.7.11 wrote (queue_directory/defer/C/..., copied
 * verbatim); it must parse to the expected entry and format back to the
 * same bytes. Also: old-style "<rcpt>: text" entries, mixed entries, the
 * place holders and per-log defaults for missing fields, unknown and
 * malformed lines warned about with Postfix's wording, entries without a
 * final blank line. (test/oracle/bounce_dsn_test checks the formatter
 * against the real bounce daemon's output for entries with every field.)
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { formatBounceLogEntry, parseBounceLog } from './bounce_log.js';
import { dsnMake } from './dsn.js';

const FIXTURE = new URL('../../../src/global/testdata/bounce_log_postfix_defer.txt', import.meta.url);

test('a log written by the real Postfix parses, and formats back to the same bytes', () => {
  const text = readFileSync(FIXTURE, 'utf8');
  const entries = parseBounceLog(text, 'defer');
  assert.deepEqual(entries, [
    {
      rcpt: { origAddress: '', address: 'sender@sender.example', offset: 250, dsnOrcpt: 'rfc822;sender@sender.example', dsnNotify: 0 },
      dsn: dsnMake('4.3.2', 'deferred transport', { action: 'delayed' }),
    },
  ]);
  assert.equal(entries.map((e) => formatBounceLogEntry(e.rcpt, e.dsn, true)).join(''), text);
});

test('formatting: original_recipient only when it differs, no offset 0, quoted local parts, <> for the null address', () => {
  const rcpt = { origAddress: 'a@example.com', address: 'A@example.com', offset: 0, dsnOrcpt: '', dsnNotify: 0 };
  assert.equal(formatBounceLogEntry(rcpt, dsnMake('5.0.0', 'r', { action: 'failed' }), false), '\nrecipient=A@example.com\nstatus=5.0.0\naction=failed\nreason=r\n\n');
  const odd = { origAddress: 'x y@example.com', address: 'a b@example.com', offset: 9, dsnOrcpt: '', dsnNotify: 2 };
  assert.equal(
    formatBounceLogEntry(odd, dsnMake('2.0.0', 'ok', { action: 'delivered', dtype: 'smtp' }), true),
    '\n<"a b"@example.com>: ok\nrecipient="a b"@example.com\noriginal_recipient="x y"@example.com\noffset=9\nnotify_flags=2\nstatus=2.0.0\naction=delivered\nreason=ok\n\n',
  );
  assert.match(formatBounceLogEntry({ ...odd, address: '' }, dsnMake('5.0.0', 'x'), true), /^\n<>: x\nrecipient=<>\n/);
});

test('old-style and mixed entries, place holders and per-log defaults', () => {
  const warnings: string[] = [];
  const text = [
    '<old@example.com>: old style reason', '',
    '<>: bounce of a bounce', '',
    'recipient=new@example.com', 'frobnicate=1', 'garbage line', '',
    'status=4.1.1', '',
    'recipient=last@example.com', 'notify_flags=99', 'offset=-5', 'reason=no final blank line',
  ].join('\n');
  const d = parseBounceLog(text, 'defer', 'defer/X', (m) => warnings.push(m));
  assert.deepEqual(d.map((e) => [e.rcpt.address, e.dsn.status, e.dsn.action, e.dsn.reason, e.rcpt.dsnNotify, e.rcpt.offset]), [
    ['old@example.com', '4.0.0', 'delayed', 'old style reason', 0, -1],
    ['(MAILER-DAEMON)', '4.0.0', 'delayed', 'bounce of a bounce', 0, -1],
    ['new@example.com', '4.0.0', 'delayed', '(description unavailable)', 0, -1],
    ['(recipient address unavailable)', '4.1.1', 'delayed', '(description unavailable)', 0, -1],
    ['last@example.com', '4.0.0', 'delayed', 'no final blank line', 0, -1],
  ]);
  assert.deepEqual(warnings, ['defer/X: unknown attribute name: frobnicate, ignored', "defer/X: malformed record: missing '=' after attribute name"]);
  const b = parseBounceLog('<x@y>: gone\n\n', 'bounce');
  assert.deepEqual([b[0]!.dsn.status, b[0]!.dsn.action], ['5.0.0', 'failed']);
});
