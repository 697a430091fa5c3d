/*
 * dict_oracle_keys - the lookup keys the dict oracle test sends to both implementations
 *
 * What it does: oracleKeys() returns a fixed, deterministic list of
 * several hundred distinct keys as byte strings (one character per
 * byte): addresses built from local parts (upper case, extensions,
 * quoted local parts, owner-/-request, empty) and domains, IPv4 and
 * IPv6 addresses in and around the fixture networks, the empty key,
 * keys aimed at particular rules of the fixture tables, non-ASCII
 * UTF-8 keys, invalid UTF-8, and punctuation; then the tricky sets:
 * IPv6 in every notation (full, compressed, upper case, leading zeros,
 * IPv4-mapped and -compatible, zone ids, brackets, prefixes, malformed),
 * quoted local parts, address extensions, 8-bit bytes (Latin-1,
 * overlong and surrogate UTF-8, C0/C1 controls), and very long keys
 * (64 to 4000 bytes, around LMDB's 511-byte key limit).
 *
 * What it does not do: hold keys with a newline or a tab (postmap -q -
 * reads one key per line and prints key TAB value), or duplicates.
 *
 * DIAGNOSTICS
 * None.
 */

const utf8 = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');

const LOCALS = [
  'user', 'User', 'USER', 'postmaster', 'Postmaster', 'user+foo', 'user+foo+bar', 'user-ext',
  'owner-list', 'list-request', '"quoted user"', '"a\\" b"', '""', '.dot', 'a.b', 'joe.joe', 'x+',
];
const DOMAINS = [
  'example.com', 'EXAMPLE.COM', 'example.net', 'Example.Net', 'sub.example.org', 'example.de',
  'example.fr', '[10.1.2.3]', 'localhost',
];

const SPECIAL = [
  '', 'user', '@example.com', 'example.net', '.example.net', 'abd', 'abcd', 'abcdd', 'xz', 'xyz', 'x',
  'reject', 'deferred', 'rejected', 'a'.repeat(39), 'b'.repeat(40), 'word x', 'wordy', 'back\\slash',
  '.dot', '\\dot', 'd', '\\d', 'tab x', 'tabx', 'if-a', 'if-ab', 'if-c', 'if-cb', 'if-x', 'if-', 'SpOnGe',
  'sponge', 'after-endif', 'brexx', 'bre(x){2}', 'bree', 'bre+', 'bre', 'm1', 'M1', 'za', 'zb', 'z',
  ']', '-', '#hash', 'a.b', 'a.b*c', 'aXb*c', 'lazyaaa', 'greedyaaa', 'MIXEDCASE', 'mixedcase',
  'MIXEDcase', 'joe.joe@x.com', 'JOE.joe@x.com', 'hexAB', 'hexab', 'brace{,2}', 'braceee', 'brace',
  'anchor', 'xanchor', 'the end', 'endE', 'the endE', 'v1.2', 'v1.2.3', 'ab@sub.foo.org',
  'nores', 'one', 'dotXall', 'nodotXall', 'xy', 'x # comment', '12-abc', '12-ab1', '123456789',
  'abcdefghi', 'ABCDEFGHI', 'abcdefgh', 'novalue', 'continued', 'key:', 'key', '10.1.2.3', '[10.1.2.3]',
  '"unbalanced', 'owner-list@example.com', 'list-request@example.com', 'q', 'Q',
  utf8('école@example.fr'), utf8('ÉCOLE@example.fr'), utf8('Straße@example.de'), utf8('STRASSE@example.de'),
  utf8('strasse@EXAMPLE.DE'), utf8('ünïcödé'), utf8('日本@example.jp'),
  '\xff\xfe', 'abc\xc3', 'a b', 'a,b', '<user@example.com>', 'user@@example.com', 'us%er@example.com',
  'a!b', 'x"y', '"', '\\', '${1}', '$$', '%s%n', 'user@example.com.', 'USER@EXAMPLE.COM', ' ', '  x  ',
  'user@', '@', '@@', 'rej', 'def', 'DEFER', 'Reject-Me', 'nine', 'a@b@c', 'user@sub.sub.example.com', 'lngab', 'lngabc', 'lng2xyz', 'lng2xyzz', 'lng2xz',
  'braa', 'bra{2}', 'brbabab', 'brb', 'brc', 'brd', 'brc|brd', '*bre', 'bre', 'brfff', 'brf+', 'brg^h', 'bri$j',
  'brmn', 'brmmn', 'brm?n', 'rp)', 'XdX', 'xdx', 'YQY', 'yqy', 'root', 'ROOT', 'daemon', 'postfix', 'nobody', 'mail', 'Mail', 'nogroup', 'adm', 'sys',
];

const IPS = [
  '10.1.2.3', '10.255.255.255', '11.0.0.1', '192.168.1.1', '192.168.1.2', '192.168.2.1', '172.16.1.1',
  '172.32.0.1', '100.64.1.5', '100.64.2.5', '100.64.3.5', '100.127.0.1', '2001:db8::1', '2001:DB8::1',
  '2001:db8:1::5', '::1', '::2', '::ffff:1.2.3.4', '1.2.3.4', '1.2.3.5', 'fe80::1', 'FE80::abcd',
  'fe80::1%eth0', '010.1.2.3', '1.2.3', '256.1.1.1', '127.0.0.1', '127.1.2.3', '128.0.0.1',
  '255.255.255.255', '0.0.0.0', '::', '2001:db8::', '2001:0db8:0000::1', ' 10.0.0.1', '10.0.0.1 ',
  '1:2:3:4:5:6:7:8', '1::2::3', '::ffff:10.1.2.3', '2002::1', '1.2.3.4.5', '[::1]', '10.0.0.01',
];

/** Deterministic extra addresses: a spread over the fixture networks. */
function generatedIps(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 40; i++) {
    const a = [10, 100, 127, 172, 192, 64, 200, 1][i % 8]!;
    const b = [0, 64, 65, 16, 168, 31, 255, 2][(i * 3) % 8]!;
    out.push(`${a}.${b}.${(i * 37) % 256}.${(i * 91) % 256}`);
  }
  for (let i = 0; i < 20; i++) {
    const head = ['2001:db8', 'fe80', 'fec0', '2001:db9', 'ff02', '::ffff'][i % 6]!;
    out.push(head.startsWith('::') ? `${head}:${i}.${i * 7}.1.2` : `${head}::${(i * 4099).toString(16)}`);
  }
  return out;
}

/** IPv6 addresses in all notations, and near-misses. */
const IPV6 = [
  '2001:0db8:0000:0000:0000:0000:0000:0001', '2001:DB8:0:0:0:0:0:1', '2001:db8:0:0::1', '2001:0DB8::0001',
  '2001:db8::0:1', '2001:db8:1::', '2001:db8:1:0:0:0:0:0', '2001:db8:0001::5', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff',
  '2001:db9::1', '2001:db7:ffff::1', '0:0:0:0:0:0:0:1', '0000:0000:0000:0000:0000:0000:0000:0001', '::0:1', '::0001',
  '0::1', '::', '0:0:0:0:0:0:0:0', '::ffff:192.168.1.1', '::FFFF:192.168.1.1', '::ffff:c0a8:101', '0:0:0:0:0:ffff:1.2.3.4',
  '::ffff:0102:0304', '::1.2.3.4', '::10.1.2.3', '::ffff:0:10.0.0.1', 'fe80::1%lo', 'fe80::1%25eth0', 'FE80:0:0:0:0:0:0:1',
  'fe80::', 'febf:ffff::1', 'fec0::1', 'ff02::1', 'FF02::2', '[2001:db8::1]', '[IPv6:2001:db8::1]', 'IPv6:2001:db8::1',
  '2001:db8::1/64', '2001:db8::/32', ':::', '2001:db8:::1', '12345::1', 'g::1', '2001:db8::1.2.3.4', '1:2:3:4:5:6:7:8:9',
  '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::8', '1:0:0:0:0:0:0:8', ':1::', '2001:db8::1 ', ' 2001:db8::1',
];

/** Quoted local parts, extensions and odd address shapes, each with a few domains. */
const ODD_LOCALS = [
  '"a b"', '"A B"', '"user@x"', '"a\\b"', '"@"', '"a,b"', '"a.b."', '" "', '"user+ext"', '"\"', '"\""', '"a"b',
  'user+', 'user++', '+user', 'user+ext+more', 'USER+EXT', 'user-ext', 'user--', 'a+b-c', 'user%host', 'user!host',
  'owner-owner-list', 'Owner-List', 'LIST-REQUEST', '.user', 'user.', 'us..er', 'a=b', "o'brien", 'user#x',
];
const ODD_DOMAINS = ['example.com', 'Example.COM', '[IPv6:2001:db8::1]', '[10.1.2.3]', 'EXAMPLE.NET.', 'x'];

/** Bytes outside ASCII: Latin-1, broken and unusual UTF-8, control characters. */
const EIGHT_BIT = [
  '\xe9cole@example.fr', '\xc9COLE@example.fr', 'stra\xdfe@example.de', '\x80', '\xa0', '\xc0\xaf', '\xe0\x80\xaf',
  '\xed\xa0\x80', '\xf4\x90\x80\x80', '\xf0\x9f\x98\x80@example.com', '\xef\xbb\xbfuser@example.com',
  utf8('ÄÖÜ@example.de'), utf8('äöü@example.de'), utf8('Σίσυφος@example.gr'), utf8('σίσυφος@example.gr'),
  utf8('İstanbul@example.tr'), utf8('ǅ@example.com'), utf8('ﬃ@example.com'), utf8('user@bücher.example'),
  utf8('user@BÜCHER.example'), utf8('ffi@example.com'), utf8('FFI@example.com'), utf8('ǆ@example.com'), utf8('Ǆ@example.com'),
  utf8('i̇stanbul@example.tr'), utf8('istanbul@example.tr'), utf8('kelvink@example.com'), utf8('KELVINK@example.com'), utf8('kelvin\u212a@example.com'), utf8('STRAẞE@example.de'), utf8('user@xn--bcher-kva.example'), '\x01ctl', 'del\x7f', 'esc\x1b[0m', '\x9bcsi',
  'cr\rkey', 'vt\x0bkey', 'ff\x0ckey',
];

/** Very long keys, some just under and over LMDB's 511-byte key limit (Postfix stores a trailing null). */
function longKeys(): string[] {
  const out = [
    `${'a'.repeat(64)}@example.com`, `${'a'.repeat(65)}@example.com`, `user@${'d'.repeat(63)}.example.com`,
    `user@${'sub.'.repeat(60)}example.com`, 'x'.repeat(255), 'X'.repeat(256), 'k'.repeat(509), 'k'.repeat(510),
    'k'.repeat(511), 'k'.repeat(512), `${'L'.repeat(1000)}@example.com`, 'z'.repeat(4000),
    `${'long'.repeat(100)}+ext@example.com`, '1.'.repeat(200),
  ];
  return out;
}

/** Every key, distinct, in a fixed order. */
export function oracleKeys(): string[] {
  const keys = new Set<string>();
  for (const l of LOCALS) for (const d of DOMAINS) keys.add(`${l}@${d}`);
  for (const l of LOCALS) keys.add(l);
  for (const d of DOMAINS) keys.add(`@${d}`);
  for (const k of [...SPECIAL, ...IPS, ...generatedIps()]) keys.add(k);
  for (const l of ODD_LOCALS) {
    keys.add(l);
    for (const d of ODD_DOMAINS) keys.add(`${l}@${d}`);
  }
  for (const k of [...IPV6, ...EIGHT_BIT, ...longKeys()]) keys.add(k);
  return [...keys].filter((k) => !k.includes('\n') && !k.includes('\t'));
}
