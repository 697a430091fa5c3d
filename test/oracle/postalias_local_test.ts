/*
 * postalias_local_test - local(8) delivering through alias tables built by postalias
 *
 * One aliases(5) source is built twice, by Postfix's real postalias and
 * by Postern's, into two lmdb: tables; Postern's local(8) (run in-process
 * by src/local/local_testlib.ts with real files and processes) delivers
 * the same message through each table in turn. The delivery events
 * (which recipient went where, and why) must be the same for both and
 * must show the expansions aliases(5) promises: lists, upper-case names
 * found through folding, continuation lines, :include:, /file, |command,
 * and an unknown name falling through to the mailbox.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeLocalHarness } from '../../src/local/local_testlib.js';
import { commandPath, runProgram } from '../lib/paths.js';
import { REAL_POSTALIAS } from './postalias_oracle_lib.js';

const MSG = ['Subject: alias test', '', 'body'];

test('local(8) expands aliases alike through the real postalias table and through ours', async (t) => {
  const h = makeLocalHarness(t);
  // Addresses from an :include: file are forwarded through cleanup(8): accept them.
  const forwarded = await h.startCleanup();
  const out = join(h.root, 'out');
  mkdirSync(out);
  chmodSync(out, 0o777);
  writeFileSync(join(h.root, 'etc', 'list.inc'), 'carol\n');
  const source = [
    '# aliases built by both postalias programs',
    'Team: alice,',
    '  bob',
    'incl: :include:@ROOT@/etc/list.inc',
    'tofile: @ROOT@/out/file.mbox',
    'tocmd: "|/bin/sh -c \'cat > @ROOT@/out/cmd.txt\'"',
    'chain: team',
  ].join('\n').replaceAll('@ROOT@', h.root) + '\n';
  const tables: Record<string, string> = {};
  for (const side of ['real', 'ours'] as const) {
    const dir = join(h.root, side);
    mkdirSync(dir);
    writeFileSync(join(dir, 'aliases'), source);
    const argv = ['-c', join(h.root, 'etc'), `lmdb:${join(dir, 'aliases')}`];
    const r = side === 'real'
      ? await runProgram(REAL_POSTALIAS, argv, { timeoutMs: 20_000 })
      : await runProgram(process.execPath, [commandPath('postalias'), ...argv], { timeoutMs: 20_000 });
    assert.equal(r.status, 0, `${side} postalias: ${r.stderr}`);
    tables[side] = join(dir, 'aliases');
  }
  const results: Record<string, string[][]> = {};
  for (const side of ['real', 'ours'] as const) {
    h.writeConf({ alias_maps: `lmdb:${tables[side]}`, alias_database: `lmdb:${tables[side]}` });
    const req = await h.submit({
      rcpts: ['team@host.example.test', 'incl@host.example.test', 'tofile@host.example.test', 'tocmd@host.example.test', 'chain@host.example.test', 'alice@host.example.test'],
      lines: MSG,
    });
    const { reply, events } = await h.run(req);
    assert.equal(reply.status, 0, JSON.stringify(events));
    // The scripted cleanup numbers its queue IDs: the only text that differs by design.
    results[side] = events.map((e) => [e.kind, e.rcpt, e.origRcpt, e.dsn.reason.replace(/forwarded as F\d+/, 'forwarded as QUEUEID')]);
  }
  assert.deepEqual(results.ours, results.real);
  const sent = (results.ours ?? []).filter((e) => e[0] === 'sent').map((e) => `${e[1]} <- ${e[2]}: ${e[3]}`);
  for (const want of [
    'alice@host.example.test <- team@host.example.test: delivered to mailbox',
    'bob@host.example.test <- team@host.example.test: delivered to mailbox',
    `tofile@host.example.test <- tofile@host.example.test: delivered to file: ${out}/file.mbox`,
    'alice@host.example.test <- alice@host.example.test: delivered to mailbox',
  ]) {
    assert.ok(sent.includes(want), `missing "${want}" in\n${sent.join('\n')}`);
  }
  assert.ok(sent.some((s) => s.startsWith('tocmd@host.example.test <- tocmd@host.example.test: delivered to command: ')), sent.join('\n'));
  assert.ok(sent.some((s) => s.startsWith('incl@host.example.test <- incl@host.example.test: ')), sent.join('\n'));
  // One forwarded copy per table, to the address in the :include: file.
  assert.equal(forwarded.length, 2);
  for (const f of forwarded) assert.ok(f.records.some(([, data]) => data === 'carol@host.example.test'), JSON.stringify(f.records));
});
