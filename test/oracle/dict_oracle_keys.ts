/*
 * dict_oracle_keys - the lookup keys the dict oracle test sends to both implementations
 *
 * What it does: oracleKeys() returns a fixed, deterministic list of
 * several hundred distinct keys as byte strings (one character per
 * byte): addresses built from local parts (upper case, extensions,
 * quoted local parts, owner-/-request, empty) and domains, IPv4 and
 * IPv6 addresses in and around the fixture networks, the empty key,
 * keys aimed at particular rules of the fixture tables, non-ASCII
 * UTF-8 keys, invalid UTF-8, and punctuation.
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

/** Every key, distinct, in a fixed order. */
export function oracleKeys(): string[] {
  const keys = new Set<string>();
  for (const l of LOCALS) for (const d of DOMAINS) keys.add(`${l}@${d}`);
  for (const l of LOCALS) keys.add(l);
  for (const d of DOMAINS) keys.add(`@${d}`);
  for (const k of [...SPECIAL, ...IPS, ...generatedIps()]) keys.add(k);
  return [...keys].filter((k) => !k.includes('\n') && !k.includes('\t'));
}
