/*
 * local_mailbox_test - local(8) mailbox delivery: mbox in the spool and in home, Maildir, unknown users
 *
 * Checks the output with real readers: Python's mailbox module (mbox with
 * ">From " quoting, Maildir) and Dovecot's doveadm (Maildir listing).
 * Runs as root with the recipients mapped to the "nobody" account, so the
 * files must come out owned by that account.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { srcPath } from '../../test/lib/paths.js';
import { makeLocalHarness } from './local_testlib.js';

/** Debian's interpreter: the pyenv shim on PATH costs seconds per start. */
const PYTHON = '/usr/bin/python3';
const READER = srcPath('src', 'local', 'testdata', 'read_mailbox.py');
const BODY = ['Subject: hello', 'From: Sender <sender@remote.test>', '', 'line one', 'From the start of a line', '>From already quoted', '.dot line', 'last line'];

function readBox(kind: 'mbox' | 'maildir', path: string): Array<Record<string, unknown>> {
  return JSON.parse(execFileSync(PYTHON, [READER, kind, path], { encoding: 'utf8' })) as Array<Record<string, unknown>>;
}

test('mbox delivery to mail_spool_directory: headers, From_ line, >From quoting, owner', async (t) => {
  const h = makeLocalHarness(t);
  const req = await h.submit({ rcpts: ['alice@host.example.test'], lines: BODY });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(events.map((e) => [e.kind, e.rcpt, e.relay, e.dsn.status, e.dsn.reason]), [['sent', 'alice@host.example.test', 'local', '2.0.0', 'delivered to mailbox']]);
  const path = join(h.spool, 'alice');
  const raw = readFileSync(path, 'latin1');
  assert.match(raw, /^From sender@remote\.test  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\n/);
  assert.match(raw, /\nReturn-Path: <sender@remote\.test>\nX-Original-To: alice@host\.example\.test\nDelivered-To: alice@host\.example\.test\nSubject: hello\n/);
  assert.ok(raw.includes('\n>From the start of a line\n'));
  // Postfix quotes only "From " (mboxo), so a ">From " line stays as it is.
  assert.ok(raw.includes('\n>From already quoted\n'));
  assert.ok(raw.endsWith('last line\n\n'));
  const msgs = readBox('mbox', path);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0]!.return_path, '<sender@remote.test>');
  assert.deepEqual(msgs[0]!.delivered_to, ['alice@host.example.test']);
  assert.equal(msgs[0]!.x_original_to, 'alice@host.example.test');
  // Python's mbox reader drops the separating empty line and does not unquote.
  assert.equal(msgs[0]!.body, 'line one\n>From the start of a line\n>From already quoted\n.dot line\nlast line\n');
  const st = statSync(path);
  assert.equal(st.uid, h.account.uid);
  assert.equal(st.mode & 0o777, 0o600);
  // The dotlock is gone, and a second message appends.
  assert.equal(readdirSync(h.spool).filter((n) => n.endsWith('.lock')).length, 0);
  const req2 = await h.submit({ sender: '', rcpts: ['alice+ext@host.example.test'], lines: ['Subject: second', '', 'body two'] });
  const r2 = await h.run(req2);
  assert.equal(r2.reply.status, 0);
  const msgs2 = readBox('mbox', path);
  assert.equal(msgs2.length, 2);
  assert.equal(msgs2[1]!.return_path, '<>');
  assert.match(String(msgs2[1]!.from_), /^MAILER-DAEMON /);
  assert.deepEqual(msgs2[1]!.delivered_to, ['alice+ext@host.example.test']);
});

test('home_mailbox Maildir/ is read by Python mailbox and listed by doveadm', async (t) => {
  const h = makeLocalHarness(t);
  h.writeConf({ home_mailbox: 'Maildir/' });
  const req = await h.submit({ rcpts: ['bob@host.example.test', 'Bob@host.example.test'], lines: BODY });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(events.map((e) => [e.kind, e.dsn.reason]), [['sent', 'delivered to maildir'], ['sent', 'delivered to maildir']]);
  const md = join(h.home('bob'), 'Maildir');
  for (const sub of ['tmp', 'new', 'cur']) assert.ok(statSync(join(md, sub)).isDirectory(), sub);
  assert.equal(readdirSync(join(md, 'tmp')).length, 0);
  const names = readdirSync(join(md, 'new'));
  assert.equal(names.length, 2);
  for (const n of names) assert.match(n, /^\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\./);
  assert.equal(statSync(join(md, 'new', names[0]!)).uid, h.account.uid);
  const msgs = readBox('maildir', md);
  assert.equal(msgs.length, 2);
  for (const m of msgs) {
    assert.equal(m.return_path, '<sender@remote.test>');
    assert.equal(m.subject, 'hello');
    // Maildir: no From_ quoting, no trailing blank line.
    assert.equal(m.body, 'line one\nFrom the start of a line\n>From already quoted\n.dot line\nlast line\n');
  }
  // Dovecot lists both messages (run as the mailbox owner, config in a temp dir).
  const dove = join(h.home('bob'), 'dovecot');
  mkdirSync(dove);
  chownSync(dove, h.account.uid, h.account.gid);
  const cfg = join(h.root, 'dovecot.conf');
  writeFileSync(cfg, [`base_dir = ${dove}/run`, `state_dir = ${dove}/state`, 'log_path = /dev/stderr', 'ssl = no', `mail_uid = ${h.account.uid}`, `mail_gid = ${h.account.gid}`, `mail_location = maildir:${md}:INDEX=${dove}/index`, ''].join('\n'));
  chmodSync(cfg, 0o644);
  const r = spawnSync('doveadm', ['-c', cfg, 'fetch', 'hdr.subject hdr.delivered-to', 'mailbox', 'INBOX'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, USER: 'bob', HOME: h.home('bob') } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal((r.stdout.match(/hdr\.subject: hello/g) ?? []).length, 2, r.stdout);
  assert.match(r.stdout, /hdr\.delivered-to: bob@host\.example\.test/);
});

test('mail_spool_directory ending in / delivers Maildir per user', async (t) => {
  const h = makeLocalHarness(t);
  h.writeConf({ mail_spool_directory: `${h.spool}/` });
  const req = await h.submit({ rcpts: ['carol@host.example.test'], lines: ['Subject: s', '', 'x'] });
  const { events } = await h.run(req);
  assert.deepEqual(events.map((e) => e.dsn.reason), ['delivered to maildir']);
  assert.equal(readBox('maildir', join(h.spool, 'carol')).length, 1);
});

test('unknown users bounce with Postfix text, postmaster is discarded, luser_relay redirects', async (t) => {
  const h = makeLocalHarness(t);
  const req = await h.submit({ rcpts: ['nosuch@host.example.test', 'postmaster@host.example.test'], lines: ['Subject: s', '', 'x'] });
  const { reply, events } = await h.run(req);
  assert.equal(reply.status, 0);
  assert.deepEqual(events.map((e) => [e.kind, e.dsn.status, e.dsn.reason]), [
    ['bounce', '5.1.1', 'unknown user: "nosuch"'],
    ['sent', '2.0.0', 'discarded'],
  ]);
  h.writeConf({ luser_relay: 'carol' });
  const req2 = await h.submit({ rcpts: ['nosuch@host.example.test'], lines: ['Subject: s', '', 'x'] });
  const r2 = await h.run(req2);
  assert.deepEqual(r2.events.map((e) => [e.kind, e.rcpt, e.origRcpt, e.dsn.reason]), [['sent', 'carol@host.example.test', 'nosuch@host.example.test', 'delivered to mailbox']]);
  assert.equal(readBox('mbox', join(h.spool, 'carol')).length, 1);
});

test('a mailbox not owned by the recipient is deferred (strict_mailbox_ownership)', async (t) => {
  const h = makeLocalHarness(t);
  // Writable by the recipient but owned by root: Postfix defers (a root-owned 0644 file would bounce: cannot open).
  writeFileSync(join(h.spool, 'alice'), '');
  chmodSync(join(h.spool, 'alice'), 0o666);
  const req = await h.submit({ rcpts: ['alice@host.example.test'], lines: ['Subject: s', '', 'x'] });
  const { reply, events } = await h.run(req);
  assert.equal(events.length, 1, JSON.stringify(events));
  assert.equal(reply.status, 1);
  assert.equal(events[0]!.kind, 'defer');
  assert.equal(events[0]!.dsn.status, '4.2.0');
  assert.equal(events[0]!.dsn.reason, `cannot update mailbox ${join(h.spool, 'alice')} for user alice. destination ${join(h.spool, 'alice')} is not owned by recipient`);
});

test('mailbox_size_limit: an over-size append bounces 5.2.2 and the mailbox is truncated back', async (t) => {
  const h = makeLocalHarness(t);
  h.writeConf({ mailbox_size_limit: '300' });
  const small = await h.submit({ rcpts: ['alice@host.example.test'], lines: ['Subject: s', '', 'x'] });
  assert.equal((await h.run(small)).reply.status, 0);
  const path = join(h.spool, 'alice');
  const before = readFileSync(path);
  const big = await h.submit({ rcpts: ['alice@host.example.test'], lines: ['Subject: big', '', 'y'.repeat(400)] });
  const { events } = await h.run(big);
  assert.deepEqual(events.map((e) => [e.kind, e.dsn.status, e.dsn.reason]), [['bounce', '5.2.2', `cannot update mailbox ${path} for user alice. error writing message: File too large`]]);
  assert.deepEqual(readFileSync(path), before);
});

test('unprivileged mode delivers as the invoking process: no chown, no ownership check', async (t) => {
  const h = makeLocalHarness(t);
  writeFileSync(join(h.spool, 'alice'), '');
  chmodSync(join(h.spool, 'alice'), 0o666);
  const req = await h.submit({ rcpts: ['alice@host.example.test', 'bob@host.example.test'], lines: ['Subject: s', '', 'x'] });
  const { reply, events } = await h.run(req, { privileged: false });
  assert.equal(reply.status, 0);
  assert.deepEqual(events.map((e) => e.dsn.reason), ['delivered to mailbox', 'delivered to mailbox']);
  assert.equal(statSync(join(h.spool, 'bob')).uid, process.getuid!());
});
