/*
 * postconf_edit_test - postconf -e, -X, -# and option errors against Postfix 3.7
 *
 * What it does: runs each edit through Postern's and Postfix's postconf
 * on separate copies of src/postconf/testdata/main_modes, then requires
 * the same resulting main.cf (byte for byte, comments and order kept),
 * the same stdout, stderr and exit status. Also the command-line errors
 * (bad options, incompatible options, bad -o) and a missing main.cf.
 *
 * What it does not do: master.cf edits (engineer B's tests).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ORACLE_PARALLEL, bothPostconf } from './postconf_oracle_lib.js';

const EDITS: string[][] = [
  ['-e', 'myorigin = $myhostname', 'zzz_new=1'],
  ['-e', 'mydestination=foo'],
  ['mydestination=foo', 'relayhost = [x]'],
  ['-e', 'smtpd_recipient_restrictions=permit', 'notify_classes = bounce'],
  ['-X', 'mydestination', 'relayhost', 'nosuch'],
  ['-X', 'smtpd_recipient_restrictions'],
  ['-#', 'mydestination', 'smtpd_recipient_restrictions'],
  ['-#', 'unknown_setting_here'],
  ['-e', 'myorigin=a', 'myorigin=b'],
  ['-e', 'bad'],
  ['-e', '=x'],
  ['-X', 'a=b'],
  ['-X', ''],
  ['-e', 'a=b\nc'],
  ['-e', '# x=y'],
  ['-e'],
  ['-X'],
  ['-#'],
];

const ERRORS: string[][] = [
  ['-Q'],
  ['-o'],
  ['-dn'],
  ['-Mn'],
  ['-Fd'],
  ['-eX', 'a'],
  ['-ex', 'a=b'],
  ['-hH', 'mail_name'],
  ['-o', 'foo', 'mail_name'],
  ['-o', '=x', 'mail_name'],
  ['-do', 'a=b', 'mail_name'],
  ['-n', '-e', 'a=b'],
  ['-fd', 'mail_name'],
];

describe('editing main.cf', { concurrency: ORACLE_PARALLEL }, () => {
  for (const args of EDITS) {
    test(`postconf ${JSON.stringify(args)}`, async () => {
      const { postern, postfix } = await bothPostconf(args);
      assert.equal(postern.result.status, postfix.result.status, postern.result.stderr);
      assert.equal(postern.result.stdout, postfix.result.stdout);
      assert.equal(postern.result.stderr, postfix.result.stderr);
      assert.deepEqual(postern.files, postfix.files);
    });
  }
});

describe('command-line errors', { concurrency: ORACLE_PARALLEL }, () => {
  for (const args of ERRORS) {
    test(`postconf ${JSON.stringify(args)}`, async () => {
      const { postern, postfix } = await bothPostconf(args);
      assert.equal(postern.result.status, postfix.result.status, postern.result.stderr);
      assert.equal(postern.result.stdout, postfix.result.stdout);
      assert.equal(postern.result.stderr, postfix.result.stderr);
    });
  }
});

/*
 * Postfix 3.7 appends new settings in hash-table order, which changes
 * from run to run; Postern sorts them (as later Postfix releases do).
 * So the appended block is compared as a set, everything before it exactly.
 */
test('several new settings are appended after the existing text', async () => {
  const { postern, postfix } = await bothPostconf(['-e', 'zzz_new=1', 'aaa_new = 2', 'mmm_new=3']);
  assert.equal(postern.result.status, postfix.result.status);
  assert.equal(postern.result.stderr, postfix.result.stderr);
  const split = (text: string) => {
    const lines = text.split('\n');
    const tail = lines.splice(lines.length - 4, 3);
    return { head: lines.join('\n'), tail };
  };
  const a = split(postern.files['main.cf']);
  const b = split(postfix.files['main.cf']);
  assert.equal(a.head, b.head);
  assert.deepEqual([...a.tail].sort(), [...b.tail].sort());
  assert.deepEqual(a.tail, ['aaa_new = 2', 'mmm_new = 3', 'zzz_new = 1']);
});

test('editing a missing main.cf fails the same way', async () => {
  for (const args of [['-e', 'a=1'], ['-X', 'a']]) {
    const { postern, postfix } = await bothPostconf(args, { 'master.cf': null });
    assert.equal(postern.result.status, 1);
    assert.equal(postern.result.status, postfix.result.status);
    assert.equal(postern.result.stderr, postfix.result.stderr);
    assert.deepEqual(postern.files, postfix.files);
  }
});

test('showing with a missing main.cf is fatal in both', async () => {
  const { postern, postfix } = await bothPostconf(['-n'], { 'master.cf': null });
  assert.equal(postern.result.status, 1);
  assert.equal(postern.result.status, postfix.result.status);
  assert.equal(postern.result.stderr, postfix.result.stderr);
});

test('the edit really changed the file and kept its comments', async () => {
  const { postern } = await bothPostconf(['-e', 'relayhost = [relay.example]']);
  const text = postern.files['main.cf'];
  assert.match(text, /^relayhost = \[relay.example\]$/m);
  assert.match(text, /^# A list continued over several lines/m);
  assert.match(text, /^ {2}# this indented comment is skipped$/m);
  assert.ok(!('main.cf.tmp' in postern.files), 'temporary file left behind');
});
