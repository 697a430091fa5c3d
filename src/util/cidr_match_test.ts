/*
 * cidr_match_test - network pattern parsing and matching, address parsing
 * (messages as Postfix's cidr_match.c words them, inet_ntop output as
 * glibc's, checked with python's socket.inet_ntop; the 127.0.0.1/8 one was
 * seen from the real smtpd in test/oracle/namadr_list_test.ts)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CidrMatchError, cidrMatchExecute, cidrMatchParse, formatInetAddr, parseInetAddr } from './cidr_match.js';

const hits: Array<[string, string, boolean]> = [
  ['10.0.0.0/8', '10.1.2.3', true],
  ['10.0.0.0/8', '11.0.0.0', false],
  ['10.0.0.0/8', '9.255.255.255', false],
  ['192.168.1.128/25', '192.168.1.200', true],
  ['192.168.1.128/25', '192.168.1.127', false],
  ['0.0.0.0/0', '203.0.113.9', true],
  ['0.0.0.0/0', '::1', false],
  ['1.2.3.4', '1.2.3.4', true],
  ['1.2.3.4', '1.2.3.5', false],
  ['1.2.3.4/32', '1.2.3.4', true],
  ['[::1]', '::1', true],
  ['[::1]', '0:0:0:0:0:0:0:1', true],
  ['::1', '0::1', true],
  ['[fd00::]/64', 'fd00::1234:5678', true],
  ['[fd00::]/64', 'fd00:0:0:1::1', false],
  ['[fd00::/64]', 'fd00::1', true],
  ['fe80::/10', 'febf::1', true],
  ['fe80::/10', 'fec0::1', false],
  ['[::ffff:0.0.0.0]/96', '::ffff:192.0.2.1', true],
  ['[::]/0', '2001:db8::1', true],
  ['[::]/0', '1.2.3.4', false],
  ['10.0.0.0/8', 'not-an-address', false],
  ['10.0.0.0/8', '10.01.0.1', false],
  ['!10.0.0.0/8', '10.0.0.1', false],
  ['!10.0.0.0/8', '11.0.0.1', true],
];

test('cidrMatchExecute hits and misses', () => {
  for (const [pattern, addr, want] of hits) {
    assert.equal(cidrMatchExecute(cidrMatchParse(pattern), addr), want, `${addr} ~ ${pattern}`);
  }
});

const errors: Array<[string, string]> = [
  ['10.0.0.1/8', 'non-null host address bits in "10.0.0.1/8", perhaps you should use "10.0.0.0/8" instead'],
  ['127.0.0.1/8', 'non-null host address bits in "127.0.0.1/8", perhaps you should use "127.0.0.0/8" instead'],
  ['[fd00::1]/64', 'non-null host address bits in "fd00::1/64", perhaps you should use "fd00::/64" instead'],
  ['10.0.0.0/33', 'bad net/mask pattern: "10.0.0.0/33"'],
  ['10.0.0.0/x', 'bad net/mask pattern: "10.0.0.0/x"'],
  ['10.0.0/8', 'bad net/mask pattern: "10.0.0/8"'],
  ['[::1', 'missing \']\' character after "[::1"'],
  ['[::1]x', 'garbage after "[::1]"'],
  ['1.2.3.256', 'bad address pattern: "1.2.3.256"'],
  ['dead.beef', 'bad address pattern: "dead.beef"'],
  ['!', 'no pattern'],
];

test('cidrMatchParse errors use Postfix wording', () => {
  for (const [pattern, message] of errors) {
    assert.throws(() => cidrMatchParse(pattern), (e: unknown) => e instanceof CidrMatchError && e.message === message, pattern);
  }
});

test('an empty mask is /0 as atoi makes it', () => {
  assert.equal(cidrMatchParse('0.0.0.0/').maskShift, 0);
  assert.throws(() => cidrMatchParse('1.0.0.0/'), CidrMatchError);
});

test('parseInetAddr is as strict as inet_pton', () => {
  const good = ['0.0.0.0', '255.255.255.255', '::', '::1', '1::', '1:2:3:4:5:6:7:8', '::ffff:1.2.3.4', 'FD00::aB'];
  const bad = ['1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', ' 1.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'fe80::1%eth0', '1.2.3.4::', ':1', '1:2:3:4:5:6:7::8:9'];
  for (const a of good) assert.ok(parseInetAddr(a), a);
  for (const a of bad) assert.equal(parseInetAddr(a), null, a);
});

test('formatInetAddr prints as inet_ntop', () => {
  const cases: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:1', '::1'],
    ['fd00:0:0:0:0:0:0:0', 'fd00::'],
    ['1:0:0:2:0:0:0:3', '1:0:0:2::3'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'],
    ['10.0.0.1', '10.0.0.1'],
    ['::ffff:c000:201', '::ffff:192.0.2.1'],
    ['::c000:201', '::192.0.2.1'],
    ['::2', '::2'],
  ];
  for (const [input, want] of cases) assert.equal(formatInetAddr(parseInetAddr(input)!), want);
});
