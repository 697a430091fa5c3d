/*
 * postconf_main_test - postconf's main.cf display modes against Postfix 3.7
 *
 * What it does: runs Postern's and Postfix's postconf on the same main.cf
 * and master.cf from src/postconf/testdata (continuations, comments,
 * $name, ${name?..}, ${name:..}, {} and logical forms, per-service names,
 * a user-defined restriction class, an unknown parameter) and requires
 * byte-identical stdout, the same exit status, and the same warnings.
 * Warnings are compared as sorted lines, because Postfix prints its
 * "unused parameter" and "undefined parameter" warnings in hash-table
 * order, which changes from run to run.
 *
 * What it does not do: editing (postconf_edit_test.ts), -d defaults
 * (postconf_defaults_test.ts), master.cf modes (engineer B's tests).
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { runCommand, runProgram, type CommandResult } from '../lib/paths.js';
import { ORACLE_PARALLEL, bothPostconf, makeConfDir, oracleEnv, sortedLines, withoutPid } from './postconf_oracle_lib.js';
import { backdate } from '../lib/postfix_oracle.js';

const NAMED = [
  'myorigin',
  'mydestination',
  'relayhost',
  'smtpd_banner',
  'smtp_helo_name',
  'virtual_alias_domains',
  'relay_destination_concurrency_limit',
  'slowsmtp_destination_rate_delay',
  'slowsmtp_destination_concurrency_limit',
  'uucp_time_limit',
  'local_destination_concurrency_limit',
  'partners',
  'mailbox_command',
  'mynetworks',
  'mydomain',
  'smtpd_recipient_restrictions',
  'nosuch_parameter',
  'unknown_setting_here',
  'relay_target',
];

const CASES: string[][] = [
  [],
  ['-n'],
  ['-x'],
  ['-nx'],
  ['-nf'],
  ['-nxf'],
  ['-xf'],
  ['-nh'],
  ['-nH'],
  ['-xH', ...NAMED],
  NAMED,
  ['-x', ...NAMED],
  ['-h', ...NAMED],
  ['-hx', ...NAMED],
  ['-fx', ...NAMED],
  ['-d', ...NAMED],
  ['-o', 'relayhost=[other.example]', '-o', 'mydomain=example.org', '-nx'],
  ['-o', 'inet_interfaces=all', '-x', 'mynetworks'],
  ['-o', 'mynetworks_style=subnet', '-o', 'inet_interfaces=all', '-x', 'mynetworks'],
  ['-o', 'mynetworks_style=class', '-x', 'mynetworks'],
  ['-o', 'compatibility_level=0', '-x', 'smtpd_banner', 'mynetworks_style', 'smtputf8_enable'],
  ['-o', 'new_user_param=1', '-n'],
];

describe('display modes', { concurrency: ORACLE_PARALLEL }, () => {
for (const args of CASES) {
  test(`postconf ${args.join(' ') || '(no arguments)'}`, async () => {
    const { postern, postfix } = await bothPostconf(args);
    assert.equal(postern.result.status, postfix.result.status, postern.result.stderr);
    assert.equal(withoutPid(postern.result.stdout), withoutPid(postfix.result.stdout));
    assert.deepEqual(sortedLines(postern.result.stderr), sortedLines(postfix.result.stderr));
  });
}
});

test('the fixture is not trivial: warnings and expansions are exercised', async () => {
  const { postfix } = await bothPostconf(['-nx']);
  assert.match(postfix.result.stderr, /unused parameter: unknown_setting_here=42/);
  assert.match(postfix.result.stderr, /undefined parameter: nosuch_param/);
  assert.match(postfix.result.stderr, /ldap:CONFDIR\/ldap-aliases.cf: unused parameter: no_such_ldap_setting=1/);
  assert.match(postfix.result.stderr, /unused parameter: ldapsrc_not_an_ldap_setting=1/);
  assert.doesNotMatch(postfix.result.stderr, /unused parameter: ldapsrc_server_host/);
  assert.match(postfix.result.stderr, /master.cf: unused parameter: zz_unused_in_master=1/);
  assert.match(postfix.result.stderr, /master.cf: read-only parameter assignment: service_name=readonly/);
  assert.match(postfix.result.stdout, /^relayhost = \[smarthost.example.net\]:25$/m);
  assert.match(postfix.result.stdout, /^mydestination = mail.example.com, localhost.example.com, localhost$/m);
});

const BAD_MAIN_CF: Array<[string, string, string[]?]> = [
  ['missing equals', 'myorigin = a\nbad line here\n'],
  ['missing name', 'myorigin = a\n= x\n'],
  ['continued bad line', 'myorigin = a\nxx\n  yy zz\n'],
  ['leading white space', '  leading = x\nmyorigin = a\n'],
  ['duplicate entry', 'myorigin = a\nmyorigin = b\n', ['-n']],
  ['duplicate entry with -x', 'myorigin = a\nmyorigin = b\n'],
  ['read-only assignment', 'process_id = 7\nmyorigin = a\n'],
  ['recursion', 'aa = $bb\nbb = $aa\nmyorigin = $aa\n'],
  ['empty macro name', 'myorigin = $ x\n'],
  ['unbalanced braces', 'myorigin = ${mydomain?{x}\n'],
  ['logical operator', 'myorigin = ${{a} <> {b}?{x}}\n'],
];

/* Files are aged first: Postfix re-reads a fresh main.cf and repeats its warnings. */
describe('bad main.cf', { concurrency: ORACLE_PARALLEL }, () => {
for (const [label, text, mode] of BAD_MAIN_CF) {
  test(`bad main.cf: ${label}`, async () => {
    const results: CommandResult[] = [];
    for (const which of ['postern', 'postfix']) {
      const dir = makeConfDir({ 'master.cf': null });
      try {
        writeFileSync(join(dir, 'main.cf'), text);
        backdate(join(dir, 'main.cf'));
        const env = oracleEnv();
        const args = ['-c', dir, ...(mode ?? ['-x', 'myorigin'])];
        const r = which === 'postern' ? await runCommand('postconf', args, { env }) : await runProgram('postconf', args, { env });
        results.push({ ...r, stdout: r.stdout.split(dir).join('D'), stderr: r.stderr.split(dir).join('D') });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const [a, b] = results;
    assert.equal(a.status, b.status, `${a.stderr}\n---\n${b.stderr}`);
    assert.equal(a.stdout, b.stdout);
    assert.deepEqual(sortedLines(a.stderr), sortedLines(b.stderr));
  });
}
});
