/*
 * mail_conf_test - main.cf parser, $name expansion and MailConfig
 *
 * What it does: checks parseMainCf (continuations, comments, blank lines,
 * errors with file and line), every expansion form through MailConfig.get
 * (expected values were printed by Postfix 3.7.11's postconf -xh on the
 * same fixture, src/postconf/testdata/main_modes/expand.cf), recursion,
 * raw parameters, typed getters, overrides and loadMailConfig.
 *
 * What it does not do: run postconf (test/oracle/postconf_*_test.ts do).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { srcPath } from '../../test/lib/paths.js';
import { FatalError, msgSetSinks, setFatalHandler, type MsgSink } from '../util/msg.js';
import { MailConfig, MainCfError, loadMailConfig, parseMainCf, splitNameval } from './mail_conf.js';
import { expandMacros, referencedNames } from './mail_conf_expand.js';

let logged: string[] = [];
const sink: MsgSink = { write: (sev, text) => logged.push(`${sev}: ${text}`) };

beforeEach(() => {
  logged = [];
  msgSetSinks([sink]);
  setFatalHandler((severity, text) => {
    throw new FatalError(severity, text);
  });
});

afterEach(() => {
  msgSetSinks([]);
  setFatalHandler(null);
});

const norm = (s: string) => s.split(/[ \t\r\n]+/).filter((w) => w !== '').join(' ');

test('continuation lines, comments and blank lines', () => {
  const text = '# head\nmyorigin = a\n    b\n  # indented comment\n\n\tc   \n  \nmydestination=x\n';
  const { entries, warnings } = parseMainCf(text, '/x/main.cf');
  assert.deepEqual(warnings, []);
  assert.deepEqual(
    entries.map((e) => [e.name, norm(e.value), e.line]),
    [
      ['myorigin', 'a b c', 2],
      ['mydestination', 'x', 8],
    ],
  );
});

test('syntax errors name the file and the first line of the logical line', () => {
  assert.throws(
    () => parseMainCf('myorigin = a\nbad line here\n', '/x/main.cf'),
    (e: unknown) =>
      e instanceof MainCfError &&
      e.file === '/x/main.cf' &&
      e.line === 2 &&
      e.message === `/x/main.cf, line 2: missing '=' after attribute name: "bad line here"`,
  );
  assert.throws(
    () => parseMainCf('a = 1\nxx\n  yy zz\n', '/x/main.cf'),
    (e: unknown) => e instanceof MainCfError && e.line === 2 && e.message.endsWith(`: "xx  yy zz"`),
  );
  assert.throws(
    () => parseMainCf('= x\n', '/x/main.cf'),
    (e: unknown) => e instanceof MainCfError && e.message === '/x/main.cf, line 1: missing attribute name: "= x"',
  );
});

test('warnings: leading white space and duplicate entries', () => {
  const r = parseMainCf('  leading = x\nmyorigin = a\nmyorigin = b\n', '/x/main.cf');
  assert.deepEqual(r.warnings, [
    '/x/main.cf: logical line must not start with whitespace: "  leading = x"',
    '/x/main.cf, line 3: overriding earlier entry: myorigin=a',
  ]);
  assert.equal(new MailConfig('/x', r.entries).get('myorigin'), 'b');
});

test('splitNameval follows Postfix split_nameval', () => {
  assert.deepEqual(splitNameval('  a =  b c  '), { name: 'a', value: 'b c' });
  assert.deepEqual(splitNameval('a='), { name: 'a', value: '' });
  assert.deepEqual(splitNameval('a b=c'), { error: "missing '=' after attribute name" });
  assert.deepEqual(splitNameval(' =c'), { error: 'missing attribute name' });
});

/* Printed by `postconf -c DIR -xh tN` (Postfix 3.7.11) for expand.cf, white space normalised. */
const ORACLE_EXPANSIONS: Record<string, string> = {
  t1: 'host.example.com',
  t2: 'host.example.com',
  t3: 'host.example.com',
  t4: 'yes-set',
  t5: '',
  t6: 'was-empty',
  t7: '',
  t8: 'A',
  t9: 'B',
  t10: 'spaced example.com',
  t11: 'fallback',
  t12: 'eq',
  t13: 'eq',
  t14: 'ge le gt',
  t15: 'cost $5 and $example.com',
  t16: 'host.example.comexample.com.example.comx',
  t17: '[example.com]:25',
  t18: 'ahost.example.com',
};

test('every expansion form gives what postconf -x gives', () => {
  const file = srcPath('src', 'postconf', 'testdata', 'main_modes', 'expand.cf');
  const config = new MailConfig('/x', parseMainCf(readFileSync(file, 'utf8'), file).entries);
  for (const [name, want] of Object.entries(ORACLE_EXPANSIONS)) assert.equal(norm(config.get(name)), want, name);
});

test('recursion is reported as Postfix reports it, and is fatal in get()', () => {
  const r = expandMacros('$aa', (n) => (n === 'aa' ? '$bb' : n === 'bb' ? '$aa' : undefined), { recurse: true });
  assert.equal(r.error, true);
  assert.deepEqual([...new Set(r.warnings)], ['unreasonable macro call nesting: "bb"']);
  const config = new MailConfig('/x', parseMainCf('aa = $bb\nbb = $aa\nmyorigin = $aa\n', '/x/main.cf').entries);
  assert.throws(() => config.get('myorigin'), /macro processing error/);
});

test('syntax errors in values', () => {
  const look = () => 'x';
  assert.deepEqual(expandMacros('a $ b', look).warnings, ['empty macro name: "a $ b"']);
  assert.deepEqual(expandMacros('${abc', look).warnings, ['truncated macro reference: "${abc"']);
  assert.deepEqual(expandMacros('${a-b}', look).warnings, ['attribute name syntax error at: "...a>>>-b"']);
  assert.deepEqual(expandMacros('${mydomain?{x}', look).warnings, ['truncated macro reference: "${mydomain?{x}"']);
  assert.deepEqual(expandMacros('${{a} <> {b}?{x}}', look).warnings, [
    '"==" or "!="" or "<"" or "<="" or ">="" or ">" expected at: "...a}>>><> {b}?{x}"',
  ]);
});

test('scan mode lists referenced names, in both branches', () => {
  assert.deepEqual(referencedNames('$a ${b?{$c}:{$d}} $$e ${f:g}').names, ['a', 'b', 'c', 'd', 'f']);
});

test('raw parameters are not expanded; defaults come from the table', () => {
  const config = new MailConfig('/x', parseMainCf('luser_relay = $myhostname\nmyhostname = h.example\n', 'f').entries);
  assert.equal(config.get('luser_relay'), '$myhostname');
  assert.equal(config.get('myorigin'), 'h.example');
  assert.equal(config.raw('myorigin'), undefined);
  assert.equal(config.get('no_such_parameter'), '');
  assert.equal(config.get('config_directory'), '/x');
  assert.equal(config.isSet('config_directory'), true);
});

test('host-dependent defaults follow other settings, as postconf shows them', () => {
  const a = new MailConfig('/x', parseMainCf('myhostname = mail.example.com\n', 'f').entries);
  assert.equal(a.get('mydomain'), 'example.com');
  const b = new MailConfig('/x', parseMainCf('mydomain = ex.org\ninet_interfaces = loopback-only\nmynetworks_style = host\n', 'f').entries);
  const host = hostname();
  assert.equal(b.get('myhostname'), host.includes('.') ? host : `${host}.ex.org`);
  // Postfix 3.7's postconf printed this for the same settings on this host (IPv4 and IPv6 loopback).
  assert.equal(b.get('mynetworks'), '127.0.0.1/32 [::1]/128');
});

test('typed getters', () => {
  const text = 'a_int = 42\na_bool = Yes\nbounce_queue_lifetime = 2\nmaximal_queue_lifetime = 3h\nsmtpd_timeout = 10\nlist = a, b\tc,,d\n';
  const config = new MailConfig('/x', parseMainCf(text, 'f').entries);
  assert.equal(config.getInt('a_int'), 42);
  assert.equal(config.getBool('a_bool'), true);
  assert.equal(config.getTime('bounce_queue_lifetime'), 2 * 86400, 'bare number takes the default unit (d)');
  assert.equal(config.getTime('maximal_queue_lifetime'), 3 * 3600);
  assert.equal(config.getTime('smtpd_timeout'), 10);
  assert.equal(config.getTime('smtp_helo_timeout'), 300);
  assert.deepEqual(config.getList('list'), ['a', 'b', 'c', 'd']);
  assert.equal(config.getInt('default_destination_concurrency_limit'), 20);
  assert.equal(config.getInt('relay_destination_concurrency_limit'), 20, 'per-service name falls back');
  assert.equal(config.getBool('biff'), true, 'postconf -d: biff = yes');
  assert.throws(() => config.getInt('a_bool'), /bad numerical configuration: a_bool = Yes/);
  assert.throws(() => config.getBool('a_int'), /bad boolean configuration: a_int = 42/);
});

test('withOverrides layers master.cf -o values', () => {
  const config = new MailConfig('/x', parseMainCf('myhostname = h.example\n', 'f').entries);
  const o = config.withOverrides({ myhostname: 'o.example', syslog_name: 'postfix/$myhostname' });
  assert.equal(o.get('syslog_name'), 'postfix/o.example');
  assert.equal(config.get('myhostname'), 'h.example');
});

test('loadMailConfig: missing main.cf is empty, a bad one is fatal with file and line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mail-conf-'));
  try {
    const empty = loadMailConfig({ configDir: dir });
    assert.equal(empty.configDir, dir);
    assert.equal(empty.get('mail_name'), 'Postfix');
    writeFileSync(join(dir, 'main.cf'), 'mail_name = Postern\n');
    assert.equal(loadMailConfig({ configDir: dir }).get('mail_name'), 'Postern');
    assert.equal(loadMailConfig({ configDir: dir, overrides: { mail_name: 'X' } }).get('mail_name'), 'X');
    writeFileSync(join(dir, 'main.cf'), 'ok = 1\nnot ok\n');
    assert.throws(() => loadMailConfig({ configDir: dir }), (e: unknown) => {
      return e instanceof FatalError && e.message === `${join(dir, 'main.cf')}, line 2: missing '=' after attribute name: "not ok"`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
