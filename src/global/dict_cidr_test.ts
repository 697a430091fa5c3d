/*
 * dict_cidr_test - cidr: tables (expected values checked with postmap -q)
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dictCacheClear, dictOpen } from './dict.js';
import { captureWarnings, tableFile } from './dict_test_lib.js';

test('IPv4, IPv6, negation, if/endif and Postfix warnings', async (t) => {
  dictCacheClear();
  const f = tableFile(t, 'c', [
    '10.0.0.0/8 ten', '10.1.0.1/8 bad', '192.168.1.1 single', '!192.168.0.0/16 not-192-168', 'if 172.16.0.0/12',
    '172.16.1.0/24 in-1', 'endif', '2001:db8::/32 v6doc', '[::1] loop6', '1.2.3.0/24', 'junk value', 'endif',
    'IF 5.0.0.0/8', '5.5.0.0/16 five', ''].join('\n'));
  const { result: d, lines } = await captureWarnings(() => dictOpen(`cidr:${f}`));
  assert.deepEqual(lines, [
    `warning: cidr map ${f}, line 2: non-null host address bits in "10.1.0.1/8", perhaps you should use "10.0.0.0/8" instead: skipping this rule`,
    `warning: cidr map ${f}, line 10: no lookup result: skipping this rule`,
    `warning: cidr map ${f}, line 11: bad address pattern: "junk": skipping this rule`,
    `warning: cidr map ${f}, line 12: ENDIF without IF: skipping this rule`,
    `warning: cidr map ${f}, line 13: IF has no matching ENDIF`,
  ]);
  assert.equal(await d.lookup('10.1.2.3'), 'ten');
  assert.equal(await d.lookup('192.168.1.1'), 'single');
  assert.equal(await d.lookup('192.168.1.2'), null);
  assert.equal(await d.lookup('11.0.0.1'), 'not-192-168');
  assert.equal(await d.lookup('2001:DB8::1'), 'v6doc');
  assert.equal(await d.lookup('::1'), 'loop6');
  assert.equal(await d.lookup('::2'), null);
  assert.equal(await d.lookup('[10.1.2.3]'), null);
  assert.equal(await d.lookup('junk'), null);
  assert.equal(d.pattern, true);
});
