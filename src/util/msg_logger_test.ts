/*
 * msg_logger_test - the maillog_file record shape for every severity, the
 * length cap, NUL handling, and the host label. Expected shapes come from
 * the real Postfix 3.7 postlog writing to maillog_file:
 *   "Nov 28 18:21:39 vm postfix/postlog[5343]: warning: sev warn"
 * and the cap from a 2100-byte line: 2000 text bytes after the prefix.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Severity } from './msg.js';
import { firstLabel, formatLogRecord, logTimestamp, MSG_LOGGER_RECLEN, recordText } from './msg_logger.js';

// Local-time components, so the test holds in any TZ.
const DAY3 = new Date(2026, 10, 3, 4, 5, 6);
const DAY28 = new Date(2026, 10, 28, 18, 21, 39);

function rec(severity: Severity, text: string | Buffer, utf8 = false): string {
  return formatLogRecord({ date: DAY28, hostname: 'vm.localdomain', tag: 'postfix/postlog', pid: 5343, severity, text, utf8 }).toString('latin1');
}

test('time stamp: %b %d with zero-padded day; syslog variant pads with a space', () => {
  assert.equal(logTimestamp(DAY3), 'Nov 03 04:05:06');
  assert.equal(logTimestamp(DAY3, ' '), 'Nov  3 04:05:06');
  assert.equal(logTimestamp(DAY28), 'Nov 28 18:21:39');
  assert.equal(logTimestamp(new Date(2026, 0, 15, 23, 59, 59)), 'Jan 15 23:59:59');
});

test('every severity', () => {
  const want: Array<[Severity, string]> = [
    ['info', 'Nov 28 18:21:39 vm postfix/postlog[5343]: sev'],
    ['warning', 'Nov 28 18:21:39 vm postfix/postlog[5343]: warning: sev'],
    ['error', 'Nov 28 18:21:39 vm postfix/postlog[5343]: error: sev'],
    ['fatal', 'Nov 28 18:21:39 vm postfix/postlog[5343]: fatal: sev'],
    ['panic', 'Nov 28 18:21:39 vm postfix/postlog[5343]: panic: sev'],
  ];
  for (const [sev, line] of want) assert.equal(rec(sev, 'sev'), line);
});

test('tag and host: first label only, tag as given', () => {
  const line = formatLogRecord({
    date: DAY28,
    hostname: 'mx1.example.com',
    tag: 'mypfx/smtpd',
    pid: 1,
    severity: 'info',
    text: 'x',
    utf8: false,
  }).toString();
  assert.equal(line, 'Nov 28 18:21:39 mx1 mypfx/smtpd[1]: x');
  assert.equal(firstLabel('host'), 'host');
  assert.equal(firstLabel('a.b.c'), 'a');
});

test('length cap: text capped at MSG_LOGGER_RECLEN bytes, prefix not counted', () => {
  assert.equal(MSG_LOGGER_RECLEN, 2000);
  const prefix = 'Nov 28 18:21:39 vm postfix/postlog[5343]: ';
  const info = rec('info', 'x'.repeat(2100));
  assert.equal(info, prefix + 'x'.repeat(2000));
  const warn = rec('warning', 'y'.repeat(2100));
  assert.equal(warn, `${prefix}warning: ${'y'.repeat(2000)}`);
  assert.equal(rec('info', 'z'.repeat(2000)), prefix + 'z'.repeat(2000));
});

test('cap counts bytes: multi-byte text is cut at 2000 bytes, then masked', () => {
  const text = recordText('é'.repeat(1500), false);
  assert.equal(text.length, 2000);
  assert.equal(text.toString('latin1'), '?'.repeat(2000));
});

test('UTF-8 on: a character straddling the cap keeps its first bytes (mask, then cut)', () => {
  // The real postlog at compatibility_level 3.6 writes 1999 'a' and a bare 0xc3.
  const text = recordText(`${'a'.repeat(1999)}é`, true);
  assert.equal(text.length, 2000);
  assert.equal(text[1999], 0xc3);
  assert.equal(recordText(`${'a'.repeat(1999)}é`, false)[1999], 0x3f);
});

test('text ends at a NUL byte, as a C string does', () => {
  assert.equal(rec('info', Buffer.from('before\0after')), 'Nov 28 18:21:39 vm postfix/postlog[5343]: before');
});

test('non-printable bytes masked, UTF-8 kept only when enabled', () => {
  assert.equal(rec('info', 'a\tb é'), 'Nov 28 18:21:39 vm postfix/postlog[5343]: a?b ??');
  const on = formatLogRecord({ date: DAY28, hostname: 'vm', tag: 't', pid: 2, severity: 'info', text: 'é', utf8: true });
  assert.equal(on.toString('utf8'), 'Nov 28 18:21:39 vm t[2]: é');
});
