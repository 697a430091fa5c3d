/*
 * master_cf_test - the master.cf parser: syntax forms, errors, defaults
 *
 * Error texts here were checked against Postfix 3.7's postconf (the
 * postconf-style ones) and master_ent.c (the resolveMasterEntry ones).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  MasterCfError,
  extractBraced,
  parseInetServiceName,
  parseMasterCf,
  readLogicalLines,
  readMasterCf,
  resolveMasterEntry,
  splitMasterWords,
  splitNameValue,
  type MasterEntry,
} from './master_cf.js';

const FILE = '/etc/postfix/master.cf';

function parse(text: string, warnings: string[] = []): MasterEntry[] {
  return parseMasterCf(text, FILE, { warn: (w) => warnings.push(w) });
}

function parseError(text: string): MasterCfError {
  try {
    parse(text);
  } catch (e) {
    assert.ok(e instanceof MasterCfError, `expected MasterCfError, got ${String(e)}`);
    return e;
  }
  assert.fail(`no error for ${JSON.stringify(text)}`);
}

describe('logical lines', () => {
  test('continuation, comments and blank lines inside an entry', () => {
    const lines = readLogicalLines('# head\n\na b\n  c\n# note\n\n\td\ne f\n', FILE, () => assert.fail('warned'));
    assert.deepEqual(lines, [
      { text: 'a b  c\td', firstLine: 3, lastLine: 7 },
      { text: 'e f', firstLine: 8, lastLine: 8 },
    ]);
  });
  test('a first line that starts with white space is dropped with a warning', () => {
    const warnings: string[] = [];
    const lines = readLogicalLines('  foo unix - - n - 1 smtpd and more and more text\n  more\nbar x\n', FILE, (w) =>
      warnings.push(w),
    );
    assert.deepEqual(lines, [{ text: 'bar x', firstLine: 3, lastLine: 3 }]);
    assert.deepEqual(warnings, [`${FILE}: logical line must not start with whitespace: "  foo unix - - n - 1 smtpd and..."`]);
  });
  test('an unterminated last line is read', () => {
    assert.deepEqual(readLogicalLines('a\n b', FILE), [{ text: 'a b', firstLine: 1, lastLine: 2 }]);
  });
});

describe('words and braces', () => {
  test('braces keep blanks inside one word, nested and unbalanced', () => {
    assert.deepEqual(splitMasterWords('a {b c} x{d {e f}}y }g{ {h'), ['a', '{b c}', 'x{d {e f}}y', '}g{ {h']);
    assert.deepEqual(splitMasterWords('}g {h'), ['}g', '{h']);
  });
  test('extractBraced strips blanks and reports Postfix errors', () => {
    assert.deepEqual(extractBraced('{ a = b }'), { text: 'a = b' });
    assert.deepEqual(extractBraced('{a = b'), { text: 'a = b', error: `missing '}' in "{a = b"` });
    assert.deepEqual(extractBraced('{a = b}x'), { text: 'a = b', error: `syntax error after '}' in "{a = b}x"` });
  });
  test('splitNameValue', () => {
    assert.deepEqual(splitNameValue(' a = b c '), { name: 'a', value: 'b c' });
    assert.deepEqual(splitNameValue('a='), { name: 'a', value: '' });
    assert.deepEqual(splitNameValue('a b'), { error: "missing '=' after attribute name" });
    assert.deepEqual(splitNameValue(' = b'), { error: 'missing attribute name' });
  });
});

describe('parseMasterCf', () => {
  test('columns as written, arguments unwrapped, overrides found', () => {
    const [e] = parse('relay unix - - n 60? 10 smtp -vo syslog_name=x\n  -o { smtp_helo_name = a b } -oy=1 -- {not an option}\n');
    assert.equal(e.service, 'relay');
    assert.equal(e.type, 'unix');
    assert.deepEqual([e.private, e.unpriv, e.chroot, e.wakeup, e.maxproc, e.command], ['-', '-', 'n', '60?', '10', 'smtp']);
    assert.deepEqual(e.args, ['-vo', 'syslog_name=x', '-o', 'smtp_helo_name = a b', '-oy=1', '--', 'not an option']);
    assert.deepEqual(e.overrides, [
      { name: 'syslog_name', value: 'x' },
      { name: 'smtp_helo_name', value: 'a b' },
      { name: 'y', value: '1' },
    ]);
    assert.equal(e.file, FILE);
    assert.equal(e.line, 1);
    assert.equal(e.disabled, undefined);
  });
  test('overrides stop at the first non-option; pipe arguments stay arguments', () => {
    const [e] = parse('p unix - n n - - pipe flags=R -o a=b argv=/bin/x ${recipient}\n');
    assert.deepEqual(e.overrides, []);
    assert.deepEqual(e.args, ['flags=R', '-o', 'a=b', 'argv=/bin/x', '${recipient}']);
  });
  test('a malformed -o value is a warning, not an override', () => {
    const warnings: string[] = [];
    const [e] = parse('s unix - - n - - smtpd -o {a b} -o c=d\n', warnings);
    assert.deepEqual(e.overrides, [{ name: 'c', value: 'd' }]);
    assert.deepEqual(warnings, [`master.cf: missing '=' after attribute name: "a b"`]);
  });
  test('inet service names and all service types', () => {
    const text = [
      'smtp inet n - y - - smtpd',
      '127.0.0.1:10025 inet n - n - - smtpd',
      '[::1]:2525 inet n - n - - smtpd',
      '2526 inet n - n - - smtpd',
      'postlog unix-dgram n - n - 1 postlogd',
      'pickup fifo n - n 60 1 pickup',
      'smtpd pass - - y - - smtpd',
    ].join('\n');
    const entries = parse(text);
    assert.deepEqual(
      entries.map((e) => `${e.service}/${e.type}@${e.line}`),
      ['smtp/inet@1', '127.0.0.1:10025/inet@2', '[::1]:2525/inet@3', '2526/inet@4', 'postlog/unix-dgram@5', 'pickup/fifo@6', 'smtpd/pass@7'],
    );
  });
  test('commented-out entries only on request', () => {
    const text =
      'a unix - - n - - smtp\n#b unix - - n - - smtp\n#  -o x=1\n# plain comment text\nc unix - - n - - smtp\n#  -o y=1\n';
    assert.deepEqual(parse(text).map((e) => e.service), ['a', 'c']);
    const all = parseMasterCf(text, FILE, { keepDisabled: true });
    assert.deepEqual(all.map((e) => [e.service, e.line, e.disabled ?? false]), [
      ['a', 1, false],
      ['b', 2, true],
      ['c', 5, false],
    ]);
    assert.deepEqual(all[1].overrides, [{ name: 'x', value: '1' }]);
    assert.deepEqual(all[1].args, ['-o', 'x=1']);
  });
});

describe('parseMasterCf errors name file and line', () => {
  const cases: Array<[string, string, number, string]> = [
    ['bad field count', 'smtp inet n - n - - smtpd\n\nfoo unix - -\n  n - 1\n', 3, 'bad field count'],
    ['bad type', 'foo bad n - n - - smtpd\n', 1, 'invalid type field "bad" in "foo bad n - n - - smtpd"'],
    ['bad private', 'a unix - - n - - x\nfoo unix x - n - - smtpd\n', 2, 'invalid private field "x" in "foo unix x - n - - smtpd"'],
    ['bad unprivileged', 'foo unix - yy n - - smtpd\n', 1, 'invalid unprivileged field "yy" in "foo unix - yy n - - smtpd"'],
    ['bad chroot', 'foo unix - - 1 - - smtpd\n', 1, 'invalid chroot field "1" in "foo unix - - 1 - - smtpd"'],
    ['bad wakeup', 'foo unix - - n 1x - smtpd\n', 1, 'invalid wakeup field "1x" in "foo unix - - n 1x - smtpd"'],
    ['bad wakeup ??', 'foo unix - - n 10?? - smtpd\n', 1, 'invalid wakeup field "10??" in "foo unix - - n 10?? - smtpd"'],
    ['bad maxproc', 'foo unix - - n - -1 smtpd\n', 1, 'invalid process_limit field "-1" in "foo unix - - n - -1 smtpd"'],
  ];
  for (const [label, text, line, reason] of cases) {
    test(label, () => {
      const e = parseError(text);
      assert.equal(e.file, FILE);
      assert.equal(e.line, line);
      assert.equal(e.reason, reason);
      assert.equal(e.message, `${FILE}: line ${line}: ${reason}`);
    });
  }
  test('the postconf text of a field count error names the file', () => {
    assert.equal(parseError('foo unix - - n - 1\n').postconfText, `file ${FILE}: line 1: bad field count`);
  });
  test('a "?" wakeup is valid syntax, as postconf says', () => {
    assert.deepEqual(parse('a unix - - n ? - x\nb unix - - n -? - x\n').map((e) => e.wakeup), ['?', '-?']);
  });
});

describe('resolveMasterEntry', () => {
  const one = (line: string): MasterEntry => parse(line)[0];
  test("Postfix 3.7 defaults for '-'", () => {
    assert.deepEqual(resolveMasterEntry(one('a unix - - - - - x'), { processLimit: 100 }), {
      private: true,
      unpriv: true,
      chroot: false,
      wakeupSeconds: 0,
      wakeupOnlyWhenUsed: false,
      maxproc: 100,
    });
  });
  test('explicit values and the ? suffix', () => {
    assert.deepEqual(resolveMasterEntry(one('a unix n n y 1000? 0 x'), { processLimit: 100 }), {
      private: false,
      unpriv: false,
      chroot: true,
      wakeupSeconds: 1000,
      wakeupOnlyWhenUsed: true,
      maxproc: 0,
    });
    assert.equal(resolveMasterEntry(one('a unix n n y 0? 1 x'), { processLimit: 1 }).wakeupOnlyWhenUsed, false);
  });
  test("master(8)'s stricter checks", () => {
    assert.throws(() => resolveMasterEntry(one('a unix - - n ? - x'), { processLimit: 1 }), {
      reason: 'field "wakeup_time": bad value: "?"',
    });
    assert.throws(() => resolveMasterEntry(one('a unix - - n - - -'), { processLimit: 1 }), {
      reason: 'field "command" has no default value',
    });
    assert.throws(() => resolveMasterEntry(one('smtp inet - - n - - smtpd'), { processLimit: 1 }), {
      reason: 'inet service cannot be private',
      line: 1,
    });
  });
});

describe('parseInetServiceName', () => {
  test('forms', () => {
    assert.deepEqual(parseInetServiceName('smtp'), { host: '', port: 'smtp' });
    assert.deepEqual(parseInetServiceName('127.0.0.1:10025'), { host: '127.0.0.1', port: '10025' });
    assert.deepEqual(parseInetServiceName('[::1]:2525'), { host: '::1', port: '2525' });
    assert.deepEqual(parseInetServiceName('host.example:smtp'), { host: 'host.example', port: 'smtp' });
    assert.ok('error' in parseInetServiceName('127.0.0.1:'));
    assert.ok('error' in parseInetServiceName('[::1'));
  });
});

test('readMasterCf reads configDir/master.cf', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-master-cf-'));
  try {
    writeFileSync(join(dir, 'master.cf'), 'smtp inet n - n - - smtpd\n');
    const [e] = readMasterCf(dir);
    assert.equal(e.file, join(dir, 'master.cf'));
    assert.equal(e.command, 'smtpd');
    assert.throws(() => readMasterCf(join(dir, 'nonexistent')), { code: 'ENOENT' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
