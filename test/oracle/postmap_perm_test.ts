/*
 * postmap_perm_test - owner and permissions of a built table, as the real postmap(1) gives them
 *
 * What it does: builds tables from sources with various permission
 * bits (new tables inherit the source's group/other read bits under
 * umask 022; -p gives 0644; an existing table keeps its mode), and, as
 * root, from a source owned by another user: by default the table is
 * built as that user (and a directory that user cannot write makes the
 * build fail with the same error), with -o as root. The real
 * /usr/sbin/postmap and Postern's give the same modes, owners, statuses
 * and messages.
 *
 * What it does not do: compare table contents (postmap_build_test.ts).
 */
import { strict as assert } from 'node:assert';
import { chmodSync, chownSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makePostmapPair, putBoth, runBoth, runBothInProcess, show } from './postmap_oracle_lib.js';

/** An unprivileged account every Debian system has. */
const NOBODY = { uid: 65534, gid: 65534 };

function tableStat(dir: string, name: string): string {
  const st = statSync(join(dir, `${name}.lmdb`));
  return `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
}

test('postmap: a new table takes the source\'s read bits (umask 022), -p gives 0644, an old table keeps its mode', async (t) => {
  const pair = makePostmapPair(t);
  const modes = [0o600, 0o640, 0o664, 0o604, 0o755, 0o400];
  for (const mode of modes) {
    const name = `m${mode.toString(8)}`;
    putBoth(pair, name, 'a b\n', mode);
    const r = await runBothInProcess(pair, [`lmdb:${name}`]);
    assert.equal(show(r.ours), show(r.real), name);
    assert.equal(tableStat(pair.ours, name), tableStat(pair.real, name), name);
  }
  putBoth(pair, 'p', 'a b\n', 0o600);
  const p = await runBothInProcess(pair, ['-p', 'lmdb:p']);
  assert.equal(show(p.ours), show(p.real));
  assert.equal(tableStat(pair.ours, 'p'), tableStat(pair.real, 'p'));
  assert.match(tableStat(pair.real, 'p'), /^644 /);
  // Rebuilt with a different source mode: the existing table keeps its mode.
  for (const dir of [pair.real, pair.ours]) chmodSync(join(dir, 'm600'), 0o644);
  const again = await runBothInProcess(pair, ['lmdb:m600']);
  assert.equal(show(again.ours), show(again.real));
  assert.equal(tableStat(pair.ours, 'm600'), tableStat(pair.real, 'm600'));
});

test('postmap as root: built as the source file\'s owner unless -o', async (t) => {
  assert.equal(process.getuid?.(), 0, 'the tests run as root');
  const pair = makePostmapPair(t);
  // A directory the owner may write, one it may not.
  for (const dir of [pair.real, pair.ours]) {
    mkdirSync(join(dir, 'w'));
    chownSync(join(dir, 'w'), NOBODY.uid, NOBODY.gid);
    mkdirSync(join(dir, 'ro'));
  }
  putBoth(pair, 'w/src', 'a b\n', 0o640);
  putBoth(pair, 'ro/src', 'a b\n', 0o644);
  putBoth(pair, 'w/osrc', 'a b\n', 0o644);
  for (const dir of [pair.real, pair.ours]) {
    for (const f of ['w/src', 'ro/src', 'w/osrc']) chownSync(join(dir, f), NOBODY.uid, NOBODY.gid);
  }
  const [owned, denied, asRoot] = await Promise.all([
    runBoth(pair, ['lmdb:w/src']),
    runBoth(pair, ['lmdb:ro/src']),
    runBoth(pair, ['-o', 'lmdb:w/osrc']),
  ]);
  assert.equal(show(owned.ours), show(owned.real));
  assert.equal(tableStat(pair.ours, 'w/src'), tableStat(pair.real, 'w/src'));
  assert.equal(tableStat(pair.real, 'w/src'), `640 ${NOBODY.uid}:${NOBODY.gid}`);
  // Postern's lmdb: adds a note about its lock file to the same text.
  assert.equal(denied.ours.status, denied.real.status);
  assert.equal(denied.real.stderr, 'postmap: fatal: open database ro/src.lmdb: Permission denied\n');
  assert.ok(denied.ours.stderr.startsWith(denied.real.stderr.trimEnd()), denied.ours.stderr);
  assert.equal(show(asRoot.ours), show(asRoot.real));
  assert.equal(tableStat(pair.ours, 'w/osrc'), tableStat(pair.real, 'w/osrc'));
  assert.equal(tableStat(pair.real, 'w/osrc'), '644 0:0');
  for (const dir of [pair.real, pair.ours]) rmSync(join(dir, 'w'), { recursive: true, force: true });
});
