/*
 * rewrite_test - unit table for trivial-rewrite's address rewriting
 *
 * Every expected value here was checked against the real Postfix 3.7
 * trivial-rewrite (test/oracle/trivial_rewrite_test.ts queries it through
 * cleanup and through its own protocol with the same settings); this
 * file pins them down without a running instance.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MailConfig } from '../global/mail_conf.js';
import { tokScanAddr } from '../global/tok822_parse.js';
import { REWRITE_CONTEXT, rewriteAddress, rewriteExternal, rewriteInternal, rewriteSettings, rewriteTree } from './rewrite.js';

const NO_DIR = '/nonexistent/postern-rewrite-test';

function config(settings: Record<string, string>): MailConfig {
  return new MailConfig(NO_DIR, [], settings);
}

const BASE = { compatibility_level: '3.6', myorigin: 'origin.example', mydomain: 'dom.example', remote_header_rewrite_domain: 'remote.example' };

/** Internal form in and out, local context, BASE settings (oracle variant 1). */
const LOCAL_CASES: Array<[string, string]> = [
  ['user', 'user@origin.example'],
  ['First.Last', 'First.Last@origin.example'],
  ['user.', 'user.@origin.example'],
  ['user@host', 'user@host'],
  ['user@host.', 'user@host'],
  ['user@host.example.', 'user@host.example'],
  ['user@host..', 'user@host..'],
  ['user@.', 'user@.'],
  ['user@', 'user@'],
  ['user@[192.0.2.1]', 'user@[192.0.2.1]'],
  ['@a.example,@b.example:route@c.example', 'route@c.example'],
  ['@a:routed', 'routed@origin.example'],
  ['@a.example,@b.example:', '@origin.example'],
  ['@lonehost', '@lonehost'],
  ['site!bang', 'bang@site'],
  ['a!b!multibang', 'b!multibang@a'],
  ['site!user%other', 'user%other@site'],
  ['!leadingbang', 'leadingbang@'],
  ['trailingbang!', '@trailingbang'],
  ['pct%site', 'pct@site'],
  ['u%v%multipct', 'u%v@multipct'],
  ['pct%', 'pct@'],
  ['pct%site@host.example', 'pct%site@host.example'],
  ['bang!x@host.example', 'bang!x@host.example'],
  ['quoted local', 'quoted local@origin.example'],
  ['bang!in quotes', 'bang!in quotes@origin.example'],
  ['a@b@host.example', 'a@b@host.example'],
  ['@', '@'],
  ['UPPER@MixedHost', 'UPPER@MixedHost'],
];

test('local context, internal form, default switches', () => {
  const c = config(BASE);
  for (const [input, want] of LOCAL_CASES) assert.equal(rewriteAddress(c, REWRITE_CONTEXT.LOCAL, input), want, input);
});

test('append_dot_mydomain follows compatibility_level when not set', () => {
  const old = config({ ...BASE, compatibility_level: '0' });
  const now = config(BASE);
  assert.equal(rewriteAddress(old, 'local', 'user@host'), 'user@host.dom.example');
  assert.equal(rewriteAddress(now, 'local', 'user@host'), 'user@host');
  assert.equal(rewriteAddress(config({ ...BASE, append_dot_mydomain: 'yes' }), 'local', 'UPPER@MixedHost'), 'UPPER@MixedHost.dom.example');
  assert.equal(rewriteAddress(config({ ...BASE, compatibility_level: '0', append_dot_mydomain: 'no' }), 'local', 'user@host'), 'user@host');
});

test('switches off: swap_bangpath, allow_percent_hack, append_at_myorigin', () => {
  const noSwap = config({ ...BASE, myorigin: 'orig', swap_bangpath: 'no', append_dot_mydomain: 'yes' });
  assert.equal(rewriteAddress(noSwap, 'local', 'site!bang'), 'site!bang@orig.dom.example');
  assert.equal(rewriteAddress(noSwap, 'local', 'site!user%other'), 'site!user@other.dom.example');
  assert.equal(rewriteAddress(noSwap, 'local', 'pct%site'), 'pct@site.dom.example');
  const noPercent = config({ ...BASE, compatibility_level: '0', allow_percent_hack: 'no' });
  assert.equal(rewriteAddress(noPercent, 'local', 'u%v%multipct'), 'u%v%multipct@origin.example');
  assert.equal(rewriteAddress(noPercent, 'local', 'site!user%other'), 'user%other@site.dom.example');
  const none = config({
    ...BASE,
    myorigin: '$mydomain',
    swap_bangpath: 'no',
    allow_percent_hack: 'no',
    append_at_myorigin: 'no',
    append_dot_mydomain: 'yes',
  });
  for (const [input, want] of [
    ['user', 'user'],
    ['@a:routed', 'routed'],
    ['site!bang', 'site!bang'],
    ['pct%site', 'pct%site'],
    ['user@host', 'user@host.dom.example'],
    ['@lonehost', '@lonehost.dom.example'],
    ['quoted local@host', 'quoted local@host.dom.example'],
  ]) {
    assert.equal(rewriteAddress(none, 'local', input!), want, input);
  }
});

test('myorigin = $mydomain is expanded; a dotless myorigin gets .mydomain', () => {
  assert.equal(rewriteAddress(config({ ...BASE, myorigin: '$mydomain' }), 'local', 'user'), 'user@dom.example');
  assert.equal(rewriteAddress(config({ ...BASE, myorigin: 'orig', append_dot_mydomain: 'yes' }), 'local', 'user'), 'user@orig.dom.example');
});

/** External form in and out (the rewrite protocol), both contexts. */
const EXTERNAL_CASES: Array<[string, string, string]> = [
  // [input, local (BASE), remote (BASE)]
  ['', '', ''],
  ['@', '""', '""'],
  ['""', '""', '""'],
  ['""@', '""@', '""@'],
  ['user', 'user@origin.example', 'user@remote.example'],
  ['user.', '"user."@origin.example', '"user."@remote.example'],
  ['@a,@b:user', 'user@origin.example', 'user@remote.example'],
  ['@a,@b:', '@a, @b:""', '@a, @b:""'],
  ['@host', '""@host', '""@host'],
  ['user!', '""@user', '""@user'],
  ['"quoted local"', '"quoted local"@origin.example', '"quoted local"@remote.example'],
  ['"site!user"', 'site!user@origin.example', 'site!user@remote.example'],
  ['a . b @ c', 'a.b@c', 'a.b@c'],
  ['user (comment)', '"user (comment)"@origin.example', '"user (comment)"@remote.example'],
  ['user@host.[192.0.2.1]', 'user@host.[192.0.2.1]', 'user@host.[192.0.2.1]'],
];

test('external form: empty address, lone @, quoting, both contexts', () => {
  const c = config(BASE);
  const local = rewriteSettings(c, 'local');
  const remote = rewriteSettings(c, 'remote');
  for (const [input, wantLocal, wantRemote] of EXTERNAL_CASES) {
    assert.equal(rewriteExternal(local, input), wantLocal, `local ${input}`);
    assert.equal(rewriteExternal(remote, input), wantRemote, `remote ${input}`);
  }
});

test('remote context: remote_header_rewrite_domain is both origin and domain; empty turns appending off', () => {
  const dotless = config({ ...BASE, remote_header_rewrite_domain: 'rdom', append_dot_mydomain: 'yes' });
  // The appended origin has no dot, so append_dot_mydomain appends the domain again.
  assert.equal(rewriteAddress(dotless, 'remote', 'user'), 'user@rdom.rdom');
  assert.equal(rewriteAddress(dotless, 'remote', 'user@host'), 'user@host.rdom');
  const empty = config({ ...BASE, compatibility_level: '0', allow_percent_hack: 'no', remote_header_rewrite_domain: '' });
  for (const [input, want] of [
    ['user', 'user'],
    // Internal "user." is quoted first, so its dot is no token and stays.
    ['user.', 'user.'],
    ['user@host', 'user@host'],
    ['site!user', 'user@site'],
    ['u%v%site', 'u%v%site'],
  ]) {
    assert.equal(rewriteAddress(empty, 'remote', input!), want, input);
  }
  // In external form the dot is a token, and a trailing one goes.
  assert.equal(rewriteExternal(rewriteSettings(empty, 'remote'), 'user.'), 'user');
  // The local context of the same configuration still appends.
  assert.equal(rewriteAddress(empty, 'local', 'user@host'), 'user@host.dom.example');
});

test('rewriteInternal with settings read once equals rewriteAddress', () => {
  const c = config(BASE);
  const s = rewriteSettings(c, 'local');
  for (const [input] of LOCAL_CASES) assert.equal(rewriteInternal(s, input), rewriteAddress(c, 'local', input));
});

test('rewriteTree works on the tree in place', () => {
  const tree = tokScanAddr('site!user');
  rewriteTree(rewriteSettings(config(BASE), 'local'), tree);
  assert.equal(tree.head?.text, 'user');
  assert.equal(tree.tail?.text, 'site');
});
