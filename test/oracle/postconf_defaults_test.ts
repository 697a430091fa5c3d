/*
 * postconf_defaults_test - every parameter's default against Postfix 3.7's postconf -d
 *
 * What it does: checks that the parameter table's name set equals the
 * oracle's `postconf -d` name set (so a Postfix upgrade shows up here),
 * that `postconf -d NAME...` prints the same line for every parameter,
 * that the full -d, -dx, -df and -dh listings are byte-identical, and that
 * a master.cf adds the same per-service names with the same defaults.
 *
 * EXCLUSIONS (named, and why):
 *   process_id - the pid of each postconf process; checked for its form only.
 * Everything else, including the host-dependent myhostname, mydomain and
 * mynetworks and the install paths, must be identical on this host.
 *
 * What it does not do: test main.cf settings (postconf_main_test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAIL_PARAMS } from '../../src/global/mail_params.js';
import { bothPostconf, withoutPid } from './postconf_oracle_lib.js';

/** Names whose -d value legitimately differs between two processes. */
const EXCLUDED = new Set(['process_id']);

const EMPTY = { 'main.cf': null, 'master.cf': null };

function names(listing: string): string[] {
  return listing
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' = ')[0].replace(/ =$/, ''));
}

test('the table holds exactly the parameters postconf -d prints', async () => {
  const { postfix } = await bothPostconf(['-d'], EMPTY);
  assert.equal(postfix.result.status, 0);
  const oracle = names(postfix.result.stdout);
  assert.ok(oracle.length > 800, `oracle printed only ${oracle.length} parameters`);
  assert.deepEqual([...MAIL_PARAMS.keys()].sort(), [...oracle].sort());
});

test('postconf -d NAME for every parameter matches', async () => {
  const all = [...MAIL_PARAMS.keys()].filter((n) => !EXCLUDED.has(n));
  const { postern, postfix } = await bothPostconf(['-d', ...all], EMPTY);
  assert.equal(postern.result.status, postfix.result.status);
  assert.equal(postern.result.stderr, postfix.result.stderr);
  const a = postern.result.stdout.split('\n');
  const b = postfix.result.stdout.split('\n');
  assert.equal(a.length, b.length);
  let compared = 0;
  for (let i = 0; i < b.length; i++) {
    assert.equal(a[i], b[i], `parameter #${i} (${all[i]})`);
    compared++;
  }
  assert.equal(compared - 1, all.length);
});

test('process_id is a number in both', async () => {
  const { postern, postfix } = await bothPostconf(['-d', 'process_id'], EMPTY);
  assert.match(postern.result.stdout, /^process_id = \d+\n$/);
  assert.match(postfix.result.stdout, /^process_id = \d+\n$/);
});

for (const flags of [['-d'], ['-dx'], ['-df'], ['-dxf']]) {
  test(`postconf ${flags.join(' ')} listing is byte-identical`, async () => {
    const { postern, postfix } = await bothPostconf(flags, EMPTY);
    assert.equal(postern.result.status, postfix.result.status);
    assert.equal(postern.result.stderr, postfix.result.stderr);
    assert.equal(withoutPid(postern.result.stdout), withoutPid(postfix.result.stdout));
  });
}

test('a master.cf adds the same per-service parameters', async () => {
  const files = { 'main.cf': null, 'master.cf': 'master.cf' };
  const { postern, postfix } = await bothPostconf(['-d'], files);
  assert.equal(postern.result.stderr, postfix.result.stderr);
  const a = withoutPid(postern.result.stdout);
  const b = withoutPid(postfix.result.stdout);
  assert.ok(b.includes('relay_destination_concurrency_limit = $default_destination_concurrency_limit'));
  assert.ok(b.includes('uucp_time_limit = $command_time_limit'));
  assert.equal(a, b);
});

test('a missing master.cf is a warning in both', async () => {
  const { postern, postfix } = await bothPostconf(['-d', 'mail_name'], { 'main.cf': null });
  assert.equal(postern.result.stdout, postfix.result.stdout);
  assert.equal(postern.result.stderr, postfix.result.stderr);
  assert.match(postfix.result.stderr, /warning: open CONFDIR\/master.cf: No such file or directory/);
});
