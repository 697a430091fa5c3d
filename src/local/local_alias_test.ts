/*
 * local_alias_test - local(8) aliases, :include:, |command, /file, owner- lists, extensions, .forward and loops
 *
 * Everything runs through localDeliver() with real files and processes:
 * commands run as default_privs (nobody) or as the .forward owner, files
 * are read back, forwarded copies are caught by a scripted cleanup
 * service on queue_directory/public/cleanup.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeLocalHarness, type LocalHarness } from './local_testlib.js';

const MSG = ['Subject: t', '', 'body'];

function setup(t: { after(fn: () => void): void }, aliases: string[], conf: Record<string, string> = {}): { h: LocalHarness; out: string; bin: string } {
  const h = makeLocalHarness(t);
  const out = join(h.root, 'out');
  mkdirSync(out);
  chmodSync(out, 0o777);
  const bin = join(h.root, 'bin');
  mkdirSync(bin, { mode: 0o755 });
  // Records who ran it and the environment, then the message.
  writeFileSync(join(bin, 'record.sh'), '#!/bin/sh\n{ echo "uid=$(id -u) RECIPIENT=$RECIPIENT EXTENSION=$EXTENSION USER=$USER SENDER=$SENDER PATH=$PATH"; cat; } > "$1"\n', { mode: 0o755 });
  writeFileSync(join(bin, 'exit.sh'), '#!/bin/sh\ncat >/dev/null\n[ -n "$2" ] && echo "$2 text"\nexit $1\n', { mode: 0o755 });
  // texthash: format is "key value" (Postfix's texthash, not aliases(5) syntax); keys are local parts.
  writeFileSync(join(h.root, 'etc', 'aliases'), aliases.map((l) => l.replace(/^([^:\s]+):\s*/, '$1 ')).join('\n').replaceAll('@ROOT@', h.root) + '\n');
  h.writeConf({ alias_maps: `texthash:${join(h.root, 'etc', 'aliases')}`, ...conf });
  return { h, out, bin };
}

test('alias to local users, a file and a command (default_privs, environment, no shell for safe text)', async (t) => {
  const { h, out } = setup(t, ['team: alice, bob', 'tofile: @ROOT@/out/file.mbox', 'tocmd: "|@ROOT@/bin/record.sh @ROOT@/out/cmd.txt"']);
  const req = await h.submit({ rcpts: ['team@host.example.test', 'tofile@host.example.test', 'tocmd+x@host.example.test'], lines: MSG });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(
    events.map((e) => [e.kind, e.rcpt, e.origRcpt, e.dsn.reason]),
    [
      ['sent', 'alice@host.example.test', 'team@host.example.test', 'delivered to mailbox'],
      ['sent', 'bob@host.example.test', 'team@host.example.test', 'delivered to mailbox'],
      ['sent', 'tofile@host.example.test', 'tofile@host.example.test', `delivered to file: ${out}/file.mbox`],
      ['sent', 'tocmd+x@host.example.test', 'tocmd+x@host.example.test', `delivered to command: ${h.root}/bin/record.sh ${out}/cmd.txt`],
    ],
  );
  // The alias name is the Delivered-To (frozen_delivered_to = yes).
  assert.match(readFileSync(join(h.spool, 'alice'), 'utf8'), /\nX-Original-To: team@host\.example\.test\nDelivered-To: team@host\.example\.test\n/);
  const file = readFileSync(join(out, 'file.mbox'), 'utf8');
  assert.match(file, /^From sender@remote\.test  /);
  assert.match(file, /\nDelivered-To: tofile@host\.example\.test\n/);
  const cmd = readFileSync(join(out, 'cmd.txt'), 'utf8');
  assert.equal(cmd.split('\n')[0], `uid=${h.account.uid} RECIPIENT=tocmd+x@host.example.test EXTENSION=x USER=tocmd SENDER=sender@remote.test PATH=/usr/bin:/bin`);
  assert.match(cmd, /\nFrom sender@remote\.test  .*\nReturn-Path: <sender@remote\.test>\nX-Original-To: tocmd\+x@host\.example\.test\nDelivered-To: tocmd\+x@host\.example\.test\nSubject: t\n\nbody\n$/);
});

test('shell metacharacters: the command runs through /bin/sh; address text reaches it only censored', async (t) => {
  const { h, out } = setup(t, ['shcmd: "|echo \\"R=$RECIPIENT E=$EXTENSION\\" > @ROOT@/out/sh.txt"'], { command_execution_directory: '@ROOT@/out' });
  h.writeConf({ alias_maps: `texthash:${join(h.root, 'etc', 'aliases')}`, command_execution_directory: out });
  const req = await h.submit({ rcpts: ['shcmd+a;b`touch${IFS}pwned`$(touch${IFS}pwned2)\'x\'@host.example.test'], lines: MSG });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0, JSON.stringify(events));
  const txt = readFileSync(join(out, 'sh.txt'), 'utf8');
  assert.equal(txt, 'R=shcmd+a_b_touch__IFS_pwned___touch__IFS_pwned2__x_@host.example.test E=a_b_touch__ifs_pwned___touch__ifs_pwned2__x_\n');
  assert.equal(existsSync(join(out, 'pwned')), false);
  assert.equal(existsSync(join(out, 'pwned2')), false);
});

test('command exit status: sysexits mapping, enhanced status in output, plain failure, time limit', async (t) => {
  const { h } = setup(
    t,
    ['tempfail: "|@ROOT@/bin/exit.sh 75"', 'nouser: "|@ROOT@/bin/exit.sh 67"', 'plain: "|@ROOT@/bin/exit.sh 1 oops"', 'dsn: "|@ROOT@/bin/exit.sh 1 5.7.1"', 'slow: "|/bin/sleep 5"'],
    { command_time_limit: '1s' },
  );
  const req = await h.submit({ rcpts: ['tempfail@host.example.test', 'nouser@host.example.test', 'plain@host.example.test', 'dsn@host.example.test', 'slow@host.example.test'], lines: MSG });
  const t0 = Date.now();
  const { reply, events } = await h.run(req);
  assert.ok(Date.now() - t0 < 4000, 'time limit enforced');
  assert.equal(reply.status, 1);
  const cmd = (a: string): string => `${h.root}/bin/exit.sh ${a}`;
  assert.deepEqual(
    events.map((e) => [e.kind, e.rcpt, e.dsn.status, e.dsn.reason, e.dsn.dtype]),
    [
      ['defer', 'tempfail@host.example.test', '4.3.0', 'temporary failure', 'x-unix'],
      ['bounce', 'nouser@host.example.test', '5.1.1', 'user unknown', 'x-unix'],
      ['bounce', 'plain@host.example.test', '5.3.0', `Command died with status 1: "${cmd('1 oops')}". Command output: oops text `, 'x-unix'],
      ['bounce', 'dsn@host.example.test', '5.7.1', 'text ', 'x-unix'],
      ['bounce', 'slow@host.example.test', '5.3.0', 'Command time limit exceeded: "/bin/sleep 5"', 'x-unix'],
    ],
  );
});

test(':include: recipients are forwarded through cleanup; commands in :include: are restricted', async (t) => {
  const { h } = setup(t, ['inc: :include:@ROOT@/etc/list.txt']);
  writeFileSync(join(h.root, 'etc', 'list.txt'), '# members\ncarol, bob\n"|/bin/true"\n');
  const got = await h.startCleanup();
  const req = await h.submit({ rcpts: ['inc@host.example.test'], lines: MSG });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(
    events.map((e) => [e.kind, e.rcpt, e.dsn.status, e.dsn.reason]),
    [
      ['bounce', 'inc@host.example.test', '5.7.1', 'mail to command is restricted'],
      ['sent', 'inc@host.example.test', '2.0.0', 'forwarded as F00001'],
    ],
  );
  assert.equal(got.length, 1);
  const recs = got[0]!.records;
  assert.deepEqual(recs.filter(([k]) => k === 'S' || k === 'R' || k === 'O'), [['S', 'sender@remote.test'], ['O', 'inc@host.example.test'], ['R', 'carol@host.example.test'], ['O', 'inc@host.example.test'], ['R', 'bob@host.example.test']]);
  const body = recs.filter(([k]) => k === 'N').map(([, v]) => v);
  assert.match(body[0]!, /^Received: by host\.example\.test \(Postfix\)$/);
  assert.match(body[1]!, /^\tid F00001; /);
  assert.deepEqual(body.slice(2), ['Delivered-To: inc@host.example.test', 'Subject: t', '', 'body']);
  assert.equal(recs[recs.length - 1]![0], 'E');
});

test('owner- alias: the expansion is resubmitted with the owner as sender', async (t) => {
  const { h } = setup(t, ['biglist: alice, bob', 'owner-biglist: carol']);
  const got = await h.startCleanup();
  const req = await h.submit({ rcpts: ['biglist@host.example.test'], lines: MSG });
  const { events } = await h.run(req);
  assert.deepEqual(events.map((e) => [e.kind, e.dsn.reason]), [['sent', 'forwarded as F00001']]);
  const recs = got[0]!.records;
  assert.deepEqual(recs.filter(([k]) => k === 'S' || k === 'R'), [['S', 'owner-biglist@host.example.test'], ['R', 'alice@host.example.test'], ['R', 'bob@host.example.test']]);
});

test('address extensions: alias fallback to the bare name, propagate_unmatched_extensions', async (t) => {
  const { h } = setup(t, ['team: alice']);
  let req = await h.submit({ rcpts: ['team+foo@host.example.test'], lines: MSG });
  let r = await h.run(req);
  assert.deepEqual(r.events.map((e) => [e.rcpt, e.dsn.reason]), [['alice@host.example.test', 'delivered to mailbox']]);
  h.writeConf({ alias_maps: `texthash:${join(h.root, 'etc', 'aliases')}`, propagate_unmatched_extensions: 'canonical, virtual, alias' });
  req = await h.submit({ rcpts: ['team+foo@host.example.test'], lines: MSG });
  r = await h.run(req);
  assert.deepEqual(r.events.map((e) => [e.rcpt, e.dsn.reason]), [['alice+foo@host.example.test', 'delivered to mailbox']]);
});

test('mail forwarding loop: a recipient already in Delivered-To: bounces 5.4.6', async (t) => {
  const { h } = setup(t, []);
  const req = await h.submit({ rcpts: ['alice@host.example.test', 'bob@host.example.test'], lines: ['Delivered-To: Alice@host.example.test', 'Subject: t', '', 'Delivered-To: bob@host.example.test'] });
  const { events } = await h.run(req);
  assert.deepEqual(events.map((e) => [e.kind, e.rcpt, e.dsn.status, e.dsn.reason]), [
    ['bounce', 'alice@host.example.test', '5.4.6', 'mail forwarding loop for alice@host.example.test'],
    ['sent', 'bob@host.example.test', '2.0.0', 'delivered to mailbox'],
  ]);
});

test('.forward: self-reference goes to the mailbox, other users are forwarded, commands run as the user', async (t) => {
  const { h, out } = setup(t, []);
  const fwd = join(h.home('bob'), '.forward');
  writeFileSync(fwd, `bob\ncarol\n"|${h.root}/bin/record.sh ${out}/fwd.txt"\n`);
  chownSync(fwd, h.account.uid, h.account.gid);
  const got = await h.startCleanup();
  const req = await h.submit({ rcpts: ['bob@host.example.test'], lines: MSG });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(events.map((e) => [e.kind, e.rcpt, e.dsn.reason]), [
    ['sent', 'bob@host.example.test', 'delivered to mailbox'],
    ['sent', 'bob@host.example.test', `delivered to command: ${h.root}/bin/record.sh ${out}/fwd.txt`],
    ['sent', 'bob@host.example.test', 'forwarded as F00001'],
  ]);
  assert.equal(readFileSync(join(out, 'fwd.txt'), 'utf8').split('\n')[0]!.split(' ')[0], `uid=${h.account.uid}`);
  assert.deepEqual(got[0]!.records.filter(([k]) => k === 'R'), [['R', 'carol@host.example.test']]);
  // allow_mail_to_commands without "forward" refuses the command.
  h.writeConf({ allow_mail_to_commands: 'alias' });
  const req2 = await h.submit({ rcpts: ['bob@host.example.test'], lines: MSG });
  const r2 = await h.run(req2);
  assert.ok(r2.events.some((e) => e.kind === 'bounce' && e.dsn.reason === 'mail to command is restricted'));
});

test('forward_path: .forward+EXTENSION is used for user+extension, plain mailbox otherwise; NOTIFY=SUCCESS gives an "expanded" trace', async (t) => {
  const { h, out } = setup(t, []);
  const fwd = join(h.home('bob'), '.forward+cmd');
  writeFileSync(fwd, `"|${h.root}/bin/record.sh ${out}/ext.txt"\n`);
  chownSync(fwd, h.account.uid, h.account.gid);
  const req = await h.submit({ rcpts: [{ address: 'bob+cmd@host.example.test', notify: 2 /* SUCCESS */ }, 'bob+other@host.example.test'], lines: MSG });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(events.map((e) => [e.kind, e.rcpt, e.dsn.action, e.dsn.reason]), [
    ['sent', 'bob+cmd@host.example.test', 'delivered', `delivered to command: ${h.root}/bin/record.sh ${out}/ext.txt`],
    ['trace', 'bob+cmd@host.example.test', 'expanded', 'alias expanded'],
    ['sent', 'bob+other@host.example.test', 'delivered', 'delivered to mailbox'],
  ]);
  assert.match(readFileSync(join(out, 'ext.txt'), 'utf8'), /^uid=\d+ RECIPIENT=bob\+cmd@host\.example\.test EXTENSION=cmd USER=bob /);
});
