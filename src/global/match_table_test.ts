/*
 * match_table_test - any table type in a pattern list (mynetworks = cidr:..., relay_domains = texthash:...)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchListInit, MATCH_FLAG, hasMatchTableOpener } from '../util/match_list.js';
import { matchHostname } from '../util/match_ops.js';
import { dictCacheClear } from './dict.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';
import './match_table.js';
import { namadrListInit } from './namadr_list.js';

test('importing match_table registers the opener', () => {
  assert.equal(hasMatchTableOpener(), true);
});

test('mynetworks-style list with cidr: and regexp: tables, in order with negation', (t) => {
  dictCacheClear();
  const cidr = tableFile(t, 'nets.cidr', '10.0.0.0/8 OK\n10.9.0.0/16 REJECT\n2001:db8::/32 x\n');
  const regexp = tableFile(t, 'names.regexp', '/\\.example\\.com$/ OK\n');
  const list = namadrListInit('mynetworks', 0, `!10.9.9.9 cidr:${cidr} regexp:${regexp} 192.168.1.1`);
  const cases: Array<[string, string, boolean]> = [
    ['unknown', '10.1.2.3', true],
    ['unknown', '10.9.9.9', false],
    // A cidr: value (even REJECT) is a hit: lists only ask whether the key is there.
    ['unknown', '10.9.1.1', true],
    ['unknown', '2001:DB8::5', true],
    ['unknown', '11.0.0.1', false],
    ['mail.example.com', '11.0.0.1', true],
    ['MAIL.EXAMPLE.COM', '11.0.0.2', true],
    ['example.com', '11.0.0.1', false],
    ['unknown', '192.168.1.1', true],
  ];
  for (const [name, addr, want] of cases) {
    assert.equal(list.match(name, addr), want, `${name}[${addr}]`);
    assert.equal(list.error, null);
  }
});

test('domain list with a texthash: table searches parent domains per the PARENT flag', (t) => {
  dictCacheClear();
  const file = tableFile(t, 'relay', 'example.com OK\n.example.net OK\n');
  const parent = matchListInit('relay_domains', MATCH_FLAG.PARENT, `texthash:${file}`, [matchHostname]);
  assert.equal(parent.match('example.com'), true);
  assert.equal(parent.match('A.B.Example.COM'), true);
  assert.equal(parent.match('x.example.net'), false);
  const dotted = matchListInit('relay_domains', MATCH_FLAG.NONE, `texthash:${file}`, [matchHostname]);
  assert.equal(dotted.match('a.example.com'), false);
  assert.equal(dotted.match('x.example.net'), true);
  assert.equal(dotted.match('example.net'), false);
  assert.equal(dotted.error, null);
});

test('a table that cannot be opened fails the match with an error, not a silent miss', async (t) => {
  dictCacheClear();
  const dir = tableFile(t, 'x', '');
  const { result: list, lines } = await captureWarnings(() =>
    namadrListInit('mynetworks', 0, `texthash:${dir}.missing 127.0.0.1`));
  assert.match(lines.join('\n'), /texthash:.*\.missing is unavailable/);
  assert.equal(list.match('unknown', '127.0.0.1'), false);
  assert.match(list.error ?? '', /^mynetworks: texthash:.*\.missing: table lookup problem: .*unavailable/);
});

test('a table that answers only asynchronously (tcp:) sets the error (temporary failure)', () => {
  dictCacheClear();
  const list = namadrListInit('smtpd_authorized_xclient_hosts', 0, 'tcp:127.0.0.1:9 10.0.0.1');
  assert.equal(list.match('unknown', '10.0.0.1'), false);
  assert.match(list.error ?? '', /tcp:127\.0\.0\.1:9: .*cannot be searched without waiting \(type tcp\)/);
});

test('things that are not table types are refused at init time', () => {
  assert.throws(() => namadrListInit('mynetworks', 0, '2001:db8::/32'), /mynetworks: unsupported table type "2001"/);
  assert.throws(() => namadrListInit('mynetworks', 0, 'INLINE:{x=1}'), /mynetworks: unsupported table type "INLINE"/);
  // inline: and static: still come from util's own reader.
  const list = namadrListInit('mynetworks', 0, 'inline:{10.1.1.1=x} static:{}');
  assert.equal(list.match('unknown', '10.1.1.1'), true);
});

test('matchAsync asks tables that must wait; match() reports them as errors', async () => {
  dictCacheClear();
  // unionmap: has no lookupSync (it awaits its components), like a network table.
  const list = namadrListInit('mynetworks', MATCH_FLAG.PARENT,
    '!unionmap:{inline:{10.0.0.9=x}} unionmap:{inline:{example.com=x, 10.0.0.1=y}} 192.168.0.1');
  assert.equal(list.match('unknown', '10.0.0.1'), false);
  assert.match(list.error ?? '', /cannot be searched without waiting \(type unionmap\)/);
  assert.equal(await list.matchAsync('unknown', '10.0.0.1'), true);
  assert.equal(await list.matchAsync('mail.Example.COM', '11.1.1.1'), true);
  assert.equal(await list.matchAsync('unknown', '10.0.0.9'), false);
  assert.equal(list.error, null);
  assert.equal(await list.matchAsync('unknown', '192.168.0.1'), true);
  assert.equal(await list.matchAsync('unknown', '192.168.0.2'), false);
  assert.equal(list.error, null);
  // Concurrent calls do not mix their answers.
  const r = await Promise.all(['10.0.0.1', '10.0.0.9', '10.0.0.2', '192.168.0.1'].map((a) => list.matchAsync('unknown', a)));
  assert.deepEqual(r, [true, false, false, true]);
});

test('matchAsync: a table that cannot be opened fails with its reason', async (t) => {
  dictCacheClear();
  const dir = tableFile(t, 'y', '');
  const { result } = await captureWarnings(async () => {
    const list = namadrListInit('mynetworks', 0, `unionmap:{texthash:${dir}.missing} 127.0.0.1`);
    return { hit: await list.matchAsync('unknown', '127.0.0.1'), error: list.error };
  });
  assert.equal(result.hit, false);
  assert.match(result.error ?? '', /^mynetworks: unionmap:\{texthash:.*\.missing\}: table lookup problem: texthash:.*\.missing lookup error: /);
});
