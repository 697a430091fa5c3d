/*
 * postconf_master_ent_test - postconf's view of master.cf entries, in process
 *
 * Expected values were produced by Postfix 3.7's postconf -M / -F on the
 * same input (test/oracle/postconf_master_test.ts checks the same things
 * against the real program end to end).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attachParams, normalizeDaemonArgs, parseServicePattern, type PcfMasterEnt } from './postconf_master_ent.js';
import { formatMasterEntry, formatMasterField } from './postconf_master_print.js';
import { formatLine } from './postconf_print.js';

const COLUMNS = ['x', 'unix', '-', '-', 'n', '-', '-', 'smtpd'];

function normalized(args: string[]): string[] {
  const argv = [...COLUMNS, ...args];
  normalizeDaemonArgs(argv);
  return argv.slice(COLUMNS.length);
}

describe('normalizeDaemonArgs', () => {
  test('-o forms', () => {
    assert.deepEqual(normalized(['-o{ a = b }', '-vo', 'c=d', '-oe=f', 'g', '-o', 'h=i']), [
      '-o', 'a=b', '-v', '-o', 'c=d', '-o', 'e=f', 'g', '-o', 'h=i',
    ]);
  });
  test("Postfix splits an option word at every later 'o'", () => {
    assert.deepEqual(normalized(['-oinet_protocols=ipv6', '-v']), ['-o', 'inet_pr', '-o', 't', '-o', 'c', '-o', 'ls=ipv6', '-v']);
  });
  test('braces around non-option arguments are removed', () => {
    assert.deepEqual(normalized(['--', '{ a b }', '{c}']), ['--', 'a b', 'c']);
  });
});

describe('layout', () => {
  test('columns, a wide service name, braces around values with blanks', () => {
    const argv = ['127.0.0.1:10025', 'inet', 'n', '-', 'n', '-', '-', 'smtpd', '-o', 'a=b c', 'x y'];
    assert.equal(formatMasterEntry(argv, { fold: false }), '127.0.0.1:10025 inet n   -       n       -       -       smtpd -o {a=b c} x y\n');
    assert.equal(formatMasterEntry(argv, { fold: true }), '127.0.0.1:10025 inet n   -       n       -       -       smtpd\n    -o {a=b c}\n    x y\n');
  });
  test('-F field lines', () => {
    const argv = ['pickup2', 'fifo', 'n', '-', 'n', '60?', '1', 'pickup', '-v', '-o', 'foo=bar'];
    assert.equal(formatMasterField(argv, 5, { fold: false }), 'pickup2/fifo/wakeup = 60?\n');
    assert.equal(formatMasterField(argv, 7, { fold: true }), 'pickup2/fifo/command = pickup -v\n    -o foo=bar\n');
    assert.equal(formatMasterField(argv, 6, { fold: false, hideName: true }), '1\n');
  });
  test('-P lines normalize white space', () => {
    assert.equal(formatLine('relay/unix/x = ', false), 'relay/unix/x =\n');
    assert.equal(formatLine('a  =  b\tc', false), 'a = b c\n');
  });
});

describe('patterns and parameters', () => {
  test('service patterns', () => {
    assert.deepEqual(parseServicePattern('relay', 1, 3), ['relay', '*', '*']);
    assert.deepEqual(parseServicePattern('a//b', 1, 2), ['a', 'b']);
    assert.equal(parseServicePattern('/a', 1, 2), null);
    assert.equal(parseServicePattern('a*', 1, 2), null);
    assert.equal(parseServicePattern('a/b/c', 1, 2), null);
  });
  test('entries with the same name/type share one parameter table', () => {
    const mk = (args: string[]): PcfMasterEnt => ({ argv: [...COLUMNS, ...args], nameSpace: 'x/unix', allParams: null, line: 1 });
    const entries = [mk([]), mk(['-o', 'a=1']), mk(['-o', 'b=2', 'z', '-o', 'c=3'])];
    attachParams(entries);
    assert.equal(entries[0].allParams, null);
    assert.equal(entries[1].allParams, entries[2].allParams);
    assert.deepEqual([...(entries[2].allParams ?? [])], [['a', '1'], ['b', '2']]);
  });
});
