/*
 * pipe_expand_test - pipe(8) macro parsing and argument expansion (pure)
 *
 * What it tests: Postfix's mac_parse syntax ($name, ${name}, $(name), $$),
 * its errors (empty name, unmatched brace, unknown macro with Postfix's
 * warning text), per-recipient expansion and the $user rule (a recipient
 * whose user part is empty is skipped for that argument), the q flag
 * (quote_822_local on the address, not on $user/$mailbox), the h and u
 * folds, and the null sender replacement.
 *
 * What it does not test: running commands (pipe_test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PipeExpandError, expandPipeArgv, messageMacroValues, parseMacros } from './pipe_expand.js';
import { PIPE_OPT, unescape } from './pipe_attr.js';
import { emptyDeliverRequest } from '../global/deliver_request.js';

const input = (flags: number, recipients: Array<{ address: string; origAddress?: string }>) => ({
  service: 'svc',
  configDir: '/etc/postern',
  flags,
  recipientDelimiter: '+-',
  recipients: recipients.map((r) => ({ address: r.address, origAddress: r.origAddress ?? r.address })),
  values: { sender: 'S', nexthop: 'N', size: '9', queue_id: 'QID' },
});

test('parseMacros: the three forms, $$, and errors', () => {
  assert.deepEqual(parseMacros('a$b-${c}$(d)$$e'), [
    { kind: 'text', text: 'a' },
    { kind: 'macro', name: 'b' },
    { kind: 'text', text: '-' },
    { kind: 'macro', name: 'c' },
    { kind: 'macro', name: 'd' },
    { kind: 'text', text: '$e' },
  ]);
  assert.throws(() => parseMacros('x$'), /empty macro name: "x\$"/);
  assert.throws(() => parseMacros('x$-y'), /empty macro name/);
  assert.throws(() => parseMacros('${abc'), /unmatched "\{" in "\$\{abc"/);
});

test('expandPipeArgv: per-recipient words, $user skip, folds and quoting', () => {
  const rcpts = [{ address: 'Joe+List@Example.COM', origAddress: 'Orig@X.Y' }, { address: '+bb@example.com' }, { address: 'a b@example.com' }];
  assert.deepEqual(expandPipeArgv(['cmd', '-s', '$sender', '${recipient}', 'u=$user', 'e=${extension}', 'm=$mailbox', 'd=$domain', 'o=$original_recipient', '$nexthop/$size/$queue_id'], input(0, rcpts)), [
    'cmd', '-s', 'S',
    'Joe+List@Example.COM', '+bb@example.com', 'a b@example.com',
    'u=Joe', 'u=+bb', 'u=a b',
    'e=List', 'e=', 'e=',
    'm=Joe+List', 'm=+bb', 'm=a b',
    'd=Example.COM', 'd=example.com', 'd=example.com',
    'o=Orig@X.Y', 'o=+bb@example.com', 'o=a b@example.com',
    'N/9/QID',
  ]);
  // h folds the domain, u the local part, q quotes whole addresses only.
  assert.deepEqual(expandPipeArgv(['$recipient', '$user', '$domain'], input(PIPE_OPT.FOLD_HOST | PIPE_OPT.FOLD_USER | PIPE_OPT.QUOTE_LOCAL, [rcpts[0]!, rcpts[2]!])), [
    'joe+list@example.com', '"a b"@example.com', 'joe', 'a b', 'example.com', 'example.com',
  ]);
  assert.throws(() => expandPipeArgv(['${nosuch}'], input(0, rcpts)), (e: unknown) => e instanceof PipeExpandError && e.message === 'file /etc/postern/master.cf: service svc: unknown macro name: "nosuch"');
});

test('expandPipeArgv: a word with $user is dropped for a recipient whose user part is empty', () => {
  const inp = { ...input(0, [{ address: '@example.com' }, { address: 'x@example.com' }]), recipientDelimiter: '' };
  assert.deepEqual(expandPipeArgv(['-u', '$user'], inp), ['-u', 'x']);
});

test('messageMacroValues: null sender replacement and q quoting of the sender', () => {
  const req = emptyDeliverRequest({ sender: '', nexthop: 'Host.Example', dataSize: 42, queueId: 'Q1', clientAddr: '192.0.2.9', saslUsername: 'u' });
  assert.equal(messageMacroValues(req, 0, 'MAILER-DAEMON').sender, 'MAILER-DAEMON');
  assert.equal(messageMacroValues(req, PIPE_OPT.QUOTE_LOCAL, '').sender, '');
  const v = messageMacroValues({ ...req, sender: 'a b@x.y' }, PIPE_OPT.QUOTE_LOCAL | PIPE_OPT.FOLD_HOST, 'MAILER-DAEMON');
  assert.equal(v.sender, '"a b"@x.y');
  assert.equal(v.nexthop, 'host.example');
  assert.equal(v.size, '42');
  assert.equal(v.client_address, '192.0.2.9');
  assert.equal(v.sasl_username, 'u');
});

test('unescape: eol= escapes as Postfix', () => {
  assert.equal(unescape('\\r\\n'), '\r\n');
  assert.equal(unescape('\\101\\t\\\\x'), 'A\t\\x');
});
