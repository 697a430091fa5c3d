/*
 * mail_copy_test - mailCopy() flags, quoting, line ends, FileSink fsync/truncate; mbox_open and maildir
 *
 * Queue files are written with queue_file_write.ts (the layout cleanup
 * writes); outputs are compared byte for byte with what Postfix's
 * mail_copy() produces for the same flags (format checked against the
 * real local(8) in test/oracle/local_delivery_test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lchownSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { writeQueueFile } from './queue_file_write.js';
import { readQueueFile } from './queue_file_read.js';
import { MAIL_COPY, MAIL_COPY_STAT, fileSink, mailCopy, mboxDate } from './mail_copy.js';
import { mboxOpen } from './mbox_open.js';
import { maildirDeliver } from './maildir.js';
import { dotLockfile } from '../util/dot_lockfile.js';

function tmp(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'postern-mailcopy-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function queued(dir: string, lines: string[], lineLimit = 0): Promise<{ path: string; offset: number }> {
  mkdirSync(join(dir, 'q', 'active'), { recursive: true });
  const w = await writeQueueFile({ queueDir: join(dir, 'q'), queueName: 'active', longQueueIds: false, hashDepth: 1, hashQueues: [] }, { sender: 's@x', recipients: [{ address: 'r@y' }], lines, lineLimit });
  const qf = readQueueFile(w.path);
  assert.ok(qf.ok);
  return { path: w.path, offset: qf.file.size!.dataOffset };
}

async function copyToString(opts: Omit<Parameters<typeof mailCopy>[0], 'out'>): Promise<{ text: string; r: Awaited<ReturnType<typeof mailCopy>> }> {
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  const r = await mailCopy({ ...opts, out });
  return { text: Buffer.concat(chunks).toString('latin1'), r };
}

test('MAIL_COPY flag values are Postfix mail_copy.h', () => {
  assert.deepEqual([MAIL_COPY.QUOTE, MAIL_COPY.TOFILE, MAIL_COPY.FROM, MAIL_COPY.DELIVERED, MAIL_COPY.RETURN_PATH, MAIL_COPY.DOT, MAIL_COPY.BLANK, MAIL_COPY.ORIG_RCPT, MAIL_COPY.MBOX], [1, 2, 4, 8, 16, 32, 64, 128, 0xdf]);
  assert.equal(mboxDate(new Date(2026, 0, 5, 7, 8, 9)), 'Mon Jan  5 07:08:09 2026');
});

test('mbox flags: From_, headers in Postfix order, quoting, blank line; long lines rejoined', async (t) => {
  const d = tmp(t);
  const long = 'x'.repeat(50);
  const q = await queued(d, ['Subject: a', '', 'From here', '.dot', long], 20);
  const now = new Date(2026, 10, 28, 23, 54, 30);
  const { text, r } = await copyToString({ queueFilePath: q.path, dataOffset: q.offset, sender: 'a b@x', origRcpt: 'Orig@y', deliveredTo: 'Rcpt+E@y', flags: MAIL_COPY.MBOX, now });
  assert.ok(r.ok);
  assert.equal(text, `From "a b"@x  Sat Nov 28 23:54:30 2026\nReturn-Path: <"a b"@x>\nX-Original-To: Orig@y\nDelivered-To: Rcpt+E@y\nSubject: a\n\n>From here\n.dot\n${long}\n\n`);
  assert.equal(r.ok && r.bytes, text.length);
});

test('DOT and CRLF for BSMTP-style output; null sender; empty original recipient adds no header', async (t) => {
  const d = tmp(t);
  const q = await queued(d, ['S: 1', '', '.x', 'From y']);
  const { text } = await copyToString({ queueFilePath: q.path, dataOffset: q.offset, sender: '', origRcpt: '', deliveredTo: 'r@y', flags: MAIL_COPY.FROM | MAIL_COPY.RETURN_PATH | MAIL_COPY.ORIG_RCPT | MAIL_COPY.DOT, eol: '\r\n', now: new Date(2026, 0, 1) });
  assert.equal(text, 'From MAILER-DAEMON  Thu Jan  1 00:00:00 2026\r\nReturn-Path: <>\r\nS: 1\r\n\r\n..x\r\nFrom y\r\n');
});

test('a corrupt queue file gives CORRUPT and truncates the file back', async (t) => {
  const d = tmp(t);
  const q = await queued(d, ['Subject: a', '', 'body']);
  const target = join(d, 'mbox');
  writeFileSync(target, 'existing\n');
  const fh = await open(target, 'a');
  const sink = await fileSink(fh);
  // Offset 1 is inside the size record: not content.
  const r = await mailCopy({ queueFilePath: q.path, dataOffset: 0, sender: 's', flags: MAIL_COPY.MBOX, out: sink, origRcpt: 'r', deliveredTo: 'r' });
  await fh.close();
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.stat, MAIL_COPY_STAT.CORRUPT);
  assert.equal(readFileSync(target, 'utf8'), 'existing\n');
  const missing = await copyToString({ queueFilePath: join(d, 'nope'), dataOffset: 1, sender: 's', flags: 0 });
  assert.equal(!missing.r.ok && missing.r.dsn.reason, 'error reading message: No such file or directory');
  assert.equal(!missing.r.ok && missing.r.dsn.status, '5.3.0');
});

test('mbox_open: dotlock held and released, busy lock is 4.2.0, hard links and symlinks refused', async (t) => {
  const d = tmp(t);
  const box = join(d, 'box');
  const mp = await mboxOpen(box, { lockStyle: 'dotlock' });
  assert.ok(mp.ok);
  assert.ok(statSync(`${box}.lock`).isFile());
  const busy = await mboxOpen(box, { lockStyle: 'dotlock', lockTries: 2, lockDelayMs: 20 });
  assert.equal(busy.ok, false);
  assert.deepEqual(!busy.ok && [busy.dsn.status, busy.dsn.reason], ['4.2.0', `unable to create lock file ${box}.lock: File exists`]);
  await mp.release();
  assert.throws(() => statSync(`${box}.lock`));
  linkSync(box, join(d, 'hard'));
  const hard = await mboxOpen(box, { lockStyle: 'dotlock' });
  assert.deepEqual(!hard.ok && [hard.dsn.status, hard.dsn.reason], ['5.2.0', 'file has 2 hard links']);
  // A symlink not owned by root is refused; one owned by root is followed (Postfix safe_open).
  writeFileSync(join(d, 'target'), '');
  symlinkSync(join(d, 'target'), join(d, 'sym'));
  if (process.getuid?.() === 0) {
    const viaRoot = await mboxOpen(join(d, 'sym'), { lockStyle: '' });
    assert.ok(viaRoot.ok);
    await viaRoot.release();
    lchownSync(join(d, 'sym'), 65534, 65534);
  }
  const sym = await mboxOpen(join(d, 'sym'), { lockStyle: '' });
  assert.deepEqual(!sym.ok && [sym.dsn.status, sym.dsn.reason], ['5.2.0', 'file is a symbolic link']);
  // A stale lock (older than stale_lock_time) is removed.
  writeFileSync(`${join(d, 'b2')}.lock`, '');
  const stale = await dotLockfile(join(d, 'b2'), { tries: 3, delayMs: 10, staleSec: -1 });
  assert.ok(stale.ok);
});

test('mbox_open flock: a second holder waits for the first (util-linux flock(1) sees it too)', async (t) => {
  const d = tmp(t);
  const box = join(d, 'box');
  const a = await mboxOpen(box, { lockStyle: 'flock' });
  assert.ok(a.ok);
  // An outside reader using flock(2) cannot get the lock while we hold it.
  const probe = await new Promise<number | null>((res) => spawn('/usr/bin/flock', ['-n', box, 'true']).on('exit', (c) => res(c)));
  assert.equal(probe, 1);
  const b = await mboxOpen(box, { lockStyle: 'flock', lockTries: 1, lockDelayMs: 300 });
  assert.equal(b.ok, false);
  assert.equal(!b.ok && b.dsn.status, '4.2.0');
  await a.release();
  const c = await mboxOpen(box, { lockStyle: 'flock', lockTries: 1, lockDelayMs: 1000 });
  assert.ok(c.ok);
  await c.release();
});

test('maildir: creates tmp/new/cur, unique new/ names, empty tmp/, copy failure leaves nothing', async (t) => {
  const d = tmp(t);
  const q = await queued(d, ['Subject: a', '', 'b']);
  const md = join(d, 'Maildir');
  const names = new Set<string>();
  for (let i = 0; i < 3; i++) {
    const r = await maildirDeliver(md, async (out) => {
      const c = await mailCopy({ queueFilePath: q.path, dataOffset: q.offset, sender: 's@x', deliveredTo: 'r@y', origRcpt: 'r@y', flags: MAIL_COPY.TOFILE | MAIL_COPY.RETURN_PATH | MAIL_COPY.DELIVERED, out });
      return c.ok ? { ok: true } : { ok: false, dsn: c.dsn };
    }, { hostname: 'h/o:st' });
    assert.ok(r.ok);
    names.add(r.path);
    assert.match(r.path, /\/new\/\d+\.V[0-9a-f]+I[0-9a-f]+M\d+\.h\\057o\\072st$/);
  }
  assert.equal(names.size, 3);
  assert.deepEqual(readdirSync(join(md, 'tmp')), []);
  assert.ok(statSync(join(md, 'cur')).isDirectory());
  const bad = await maildirDeliver(md, async () => ({ ok: false, dsn: { status: '4.3.0', reason: 'nope', action: '', dtype: '', dtext: '', mtype: '', mname: '' } }));
  assert.equal(bad.ok, false);
  assert.equal(readdirSync(join(md, 'new')).length, 3);
  assert.deepEqual(readdirSync(join(md, 'tmp')), []);
  assert.equal(readFileSync([...names][0]!, 'utf8'), 'Return-Path: <s@x>\nDelivered-To: r@y\nSubject: a\n\nb\n');
});
