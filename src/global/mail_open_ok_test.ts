/*
 * mail_open_ok_test - finished files pass; files being written, odd names and non-files do not
 */
import assert from 'node:assert/strict';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { mailOpenOk } from './mail_open_ok.js';

const HASH = { hashDepth: 1, hashQueues: ['deferred'] };

test('mailOpenOk follows Postfix: mode 0700 regular files only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mail-open-ok-'));
  try {
    mkdirSync(join(dir, 'incoming'));
    mkdirSync(join(dir, 'deferred', 'A'), { recursive: true });
    const done = join(dir, 'incoming', 'ABCDE123');
    writeFileSync(done, 'x', { mode: 0o600 });
    assert.deepEqual(mailOpenOk(dir, 'incoming', 'ABCDE123', HASH).ok, false, 'still being written');
    chmodSync(done, 0o700);
    const v = mailOpenOk(dir, 'incoming', 'ABCDE123', HASH);
    assert.equal(v.ok, true);
    assert.equal(v.path, done);
    assert.deepEqual(v.warnings, []);
    chmodSync(done, 0o744);
    assert.equal(mailOpenOk(dir, 'incoming', 'ABCDE123', HASH).ok, true, 'group/other bits do not matter (maildrop files are 0744)');

    writeFileSync(join(dir, 'deferred', 'A', 'ABCDE9'), 'x', { mode: 0o700 });
    assert.equal(mailOpenOk(dir, 'deferred', 'ABCDE9', HASH).ok, true, 'found in its hash directory');

    assert.deepEqual(mailOpenOk(dir, 'incoming', 'NOSUCH', HASH), { ok: false, path: join(dir, 'incoming', 'NOSUCH'), warnings: [] });
    assert.deepEqual(mailOpenOk(dir, 'incoming', 'bad.name', HASH), { ok: false, warnings: [] });
    assert.deepEqual(mailOpenOk(dir, '../x', 'ABC', HASH).warnings, ['bad mail queue name: ../x']);

    mkdirSync(join(dir, 'incoming', 'ADIR'));
    const d = mailOpenOk(dir, 'incoming', 'ADIR', HASH);
    assert.equal(d.ok, false);
    assert.match(d.warnings[0] ?? '', /ADIR: uid \d+: not a regular file$/);

    linkSync(done, join(dir, 'incoming', 'LINKED'));
    assert.deepEqual(mailOpenOk(dir, 'incoming', 'LINKED', HASH).warnings, [], 'a fresh second link is not worth a warning');
    const later = mailOpenOk(dir, 'incoming', 'LINKED', HASH, Date.now() / 1000 + 3600);
    assert.equal(later.ok, true);
    assert.match(later.warnings[0] ?? '', /LINKED: uid \d+: file has 2 links$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
