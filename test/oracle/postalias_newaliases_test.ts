/*
 * postalias_newaliases_test - sendmail -bi / -I against the real Postfix sendmail -bi
 *
 * Two configuration trees that differ only in their directory: the real
 * /usr/sbin/sendmail -C REAL -bi (which runs Postfix's postalias) and
 * Postern's sendmail -C OURS -bi (which runs Postern's postalias) must
 * build the same tables from alias_database (several tables, commas and
 * blanks), give the same exit status and the same messages (with the
 * directory names replaced), for: a normal rebuild, -oA overriding
 * alias_database, a missing source, an empty alias_database, and a
 * recipient on the command line.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeMainCf } from '../lib/postfix_oracle.js';
import { commandPath, runProgram, type CommandResult } from '../lib/paths.js';
import { rawTable } from './postalias_oracle_lib.js';

const REAL_SENDMAIL = '/usr/sbin/sendmail';
/** Debian's newaliases: a link to sendmail, which picks its mode from the name. */
const REAL_NEWALIASES = '/usr/bin/newaliases';
const TIMEOUT_MS = 20_000;

interface Side {
  dir: string;
  run(args: string[]): Promise<CommandResult>;
}

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.MAIL_CONFIG;
  return e;
}

function makeSides(t: { after(fn: () => void): void }, aliasDatabase: (dir: string) => string): { real: Side; ours: Side } {
  const root = mkdtempSync(join(tmpdir(), 'postern-newaliases-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const make = (name: 'real' | 'ours'): Side => {
    const dir = join(root, name);
    mkdirSync(dir);
    writeMainCf(dir, { myhostname: 'oracle.example', default_database_type: 'lmdb', alias_database: aliasDatabase(dir) });
    writeFileSync(join(dir, 'aliases'), 'Root: admin\nadmin: alice,\n  bob\nbad line\n');
    writeFileSync(join(dir, 'second'), 'postmaster: root\n');
    return {
      dir,
      run: (args) =>
        name === 'real'
          ? runProgram(REAL_SENDMAIL, ['-C', dir, ...args], { env: env(), timeoutMs: TIMEOUT_MS })
          : runProgram(process.execPath, [commandPath('sendmail'), '-C', dir, ...args], { env: env(), timeoutMs: TIMEOUT_MS }),
    };
  };
  return { real: make('real'), ours: make('ours') };
}

function shown(r: CommandResult, dir: string): string {
  return `status=${r.status}\n${r.stdout}--\n${r.stderr.split(dir).join('DIR')}`;
}

async function same(sides: { real: Side; ours: Side }, args: (dir: string) => string[]): Promise<void> {
  const [real, ours] = await Promise.all([sides.real.run(args(sides.real.dir)), sides.ours.run(args(sides.ours.dir))]);
  assert.equal(shown(ours, sides.ours.dir), shown(real, sides.real.dir), args('DIR').join(' '));
}

test('sendmail -bi and -I rebuild every alias_database table as Postfix does', async (t) => {
  const sides = makeSides(t, (dir) => `lmdb:${dir}/aliases,  ${dir}/second`);
  await same(sides, () => ['-bi']);
  for (const name of ['aliases', 'second']) {
    assert.deepEqual(rawTable(join(sides.ours.dir, `${name}.lmdb`)), rawTable(join(sides.real.dir, `${name}.lmdb`)), name);
  }
  writeFileSync(join(sides.real.dir, 'aliases'), 'changed: entry\n');
  writeFileSync(join(sides.ours.dir, 'aliases'), 'changed: entry\n');
  await same(sides, () => ['-I']);
  assert.deepEqual(rawTable(join(sides.ours.dir, 'aliases.lmdb')), rawTable(join(sides.real.dir, 'aliases.lmdb')));
  // The name newaliases (a link to sendmail, as Postfix installs it).
  writeFileSync(join(sides.real.dir, 'aliases'), 'renamed: entry\n');
  writeFileSync(join(sides.ours.dir, 'aliases'), 'renamed: entry\n');
  const link = join(sides.ours.dir, 'newaliases');
  symlinkSync(commandPath('sendmail'), link);
  const [real, ours] = await Promise.all([
    runProgram(REAL_NEWALIASES, ['-C', sides.real.dir], { env: env(), timeoutMs: TIMEOUT_MS }),
    runProgram(process.execPath, [link, '-C', sides.ours.dir], { env: env(), timeoutMs: TIMEOUT_MS }),
  ]);
  assert.equal(shown(ours, sides.ours.dir), shown(real, sides.real.dir));
  assert.deepEqual(rawTable(join(sides.ours.dir, 'aliases.lmdb')), rawTable(join(sides.real.dir, 'aliases.lmdb')));
  assert.match(rawTable(join(sides.ours.dir, 'aliases.lmdb')).join('\n'), /"renamed\\u0000"/);
});

test('sendmail -bi: -oA override, missing source, recipient given, empty alias_database', async (t) => {
  const sides = makeSides(t, (dir) => `lmdb:${dir}/aliases`);
  await same(sides, (dir) => [`-oAlmdb:${dir}/second`, '-bi']);
  assert.deepEqual(rawTable(join(sides.ours.dir, 'second.lmdb')), rawTable(join(sides.real.dir, 'second.lmdb')));
  await same(sides, (dir) => [`-oA${dir}/nonexistent`, '-bi']);
  await same(sides, () => ['-bi', 'root']);
  const empty = makeSides(t, () => '');
  await same(empty, () => ['-bi']);
});
