/*
 * smtp_nexthop_test - unit tests of next-hop parsing (smtp_nexthop.ts) and reply parsing (smtp_chat.ts)
 *
 * What it does: destinations as Postfix's smtp_parse_destination() and
 * host_port() take them (domain, domain:port, [host], [host]:port,
 * [ipv6:...], lmtp's unix: and inet:, service names, bad ports), and
 * server replies as smtp_chat_resp() parses them (multi-line, enhanced
 * status codes, class mismatch, garbage).
 *
 * What it does not do: network I/O.
 *
 * DIAGNOSTICS
 * Assertion failures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReply } from './smtp_chat.js';
import { parseDestination, splitSites } from './smtp_nexthop.js';
import { parseEhloReply, xtext } from './smtp_proto.js';

const smtp = { lmtp: false, queueDir: '/q' };
const lmtp = { lmtp: true, queueDir: '/q' };

test('SMTP destinations', () => {
  assert.deepEqual(parseDestination('example.com', 'smtp', smtp), { ok: true, dest: { kind: 'inet', dest: 'example.com', host: 'example.com', port: 25, literal: false } });
  assert.deepEqual(parseDestination('example.com:2525', 'smtp', smtp), { ok: true, dest: { kind: 'inet', dest: 'example.com:2525', host: 'example.com', port: 2525, literal: false } });
  assert.deepEqual(parseDestination('[mx.example.com]', 'smtp', smtp), { ok: true, dest: { kind: 'inet', dest: '[mx.example.com]', host: 'mx.example.com', port: 25, literal: true } });
  assert.deepEqual(parseDestination('[192.0.2.1]:submission', 'smtp', smtp), { ok: true, dest: { kind: 'inet', dest: '[192.0.2.1]:submission', host: '192.0.2.1', port: 587, literal: true } });
  assert.deepEqual(parseDestination('[ipv6:2001:db8::1]:26', 'smtp', smtp), { ok: true, dest: { kind: 'inet', dest: '[ipv6:2001:db8::1]:26', host: '2001:db8::1', port: 26, literal: true } });
  assert.deepEqual(parseDestination('example.com', '2525', smtp), { ok: true, dest: { kind: 'inet', dest: 'example.com', host: 'example.com', port: 2525, literal: false } });
  assert.deepEqual(parseDestination('example.com:0', 'smtp', smtp), { ok: false, error: 'bad network port: 0 for destination: example.com:0' });
  assert.deepEqual(parseDestination('example.com:nosuch', 'smtp', smtp), { ok: false, error: 'unknown service: nosuch/tcp' });
  assert.deepEqual(splitSites('[a]:1, b  c,'), ['[a]:1', 'b', 'c']);
});

test('LMTP destinations', () => {
  assert.deepEqual(parseDestination('unix:/run/dovecot/lmtp', 'lmtp', lmtp), { ok: true, dest: { kind: 'unix', dest: 'unix:/run/dovecot/lmtp', path: '/run/dovecot/lmtp' } });
  assert.deepEqual(parseDestination('unix:private/dovecot-lmtp', 'lmtp', lmtp), { ok: true, dest: { kind: 'unix', dest: 'unix:private/dovecot-lmtp', path: '/q/private/dovecot-lmtp' } });
  assert.deepEqual(parseDestination('inet:127.0.0.1:24', 'lmtp', lmtp), { ok: true, dest: { kind: 'inet', dest: 'inet:127.0.0.1:24', host: '127.0.0.1', port: 24, literal: false } });
  assert.deepEqual(parseDestination('mailhost', 'lmtp', lmtp), { ok: true, dest: { kind: 'inet', dest: 'mailhost', host: 'mailhost', port: 24, literal: false } });
});

test('server replies', () => {
  assert.deepEqual(parseReply(['250-mx.example', '250-PIPELINING', '250 SIZE 1000']), { code: 250, dsn: '2.0.0', str: '250-mx.example\n250-PIPELINING\n250 SIZE 1000', lines: ['mx.example', 'PIPELINING', 'SIZE 1000'] });
  assert.equal(parseReply(['550 5.1.1 <x>: unknown']).dsn, '5.1.1');
  assert.equal(parseReply(['450 5.1.1 class mismatch']).dsn, '4.0.0');
  assert.equal(parseReply(['354 go ahead']).dsn, '5.5.0');
  assert.deepEqual(parseReply(['garbage']), { code: 0, dsn: '5.5.0', str: 'garbage', lines: ['age'] });
  assert.equal(parseReply(['250']).code, 250);
});

test('EHLO keywords and xtext', () => {
  const f = parseEhloReply(parseReply(['250-x', '250-pipelining', '250-SIZE 10240000', '250-8BITMIME', '250-DSN', '250 SMTPUTF8']));
  assert.deepEqual(f, { esmtp: true, pipelining: true, size: 10240000, eightBitMime: true, smtputf8: true, dsn: true });
  assert.equal(parseEhloReply(parseReply(['250-x', '250 SIZE'])).size, 0);
  assert.equal(parseEhloReply(parseReply(['250 x'])).size, -1);
  assert.equal(xtext('a+b=c d'), 'a+2Bb+3Dc+20d');
});
