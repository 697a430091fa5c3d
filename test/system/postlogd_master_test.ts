/*
 * postlogd_master_test - the real Postfix postlog(1) logs through Postern's
 * postlogd running under the real Postern master
 *
 * What it does: starts master on a temporary instance whose master.cf is
 * the postlog entry exactly as conf/master.cf ships it ("postlog
 * unix-dgram ... postlogd"), so master binds queue/public/postlog and
 * hands each datagram to a postlogd worker. The real postlog -c CLIENT
 * runs with a main.cf of its own: the same queue_directory, but its own
 * maillog_file. Its record must land in master's maillog_file (written by
 * postlogd; postlog's own file stays absent, so postlog did not fall back
 * to writing itself), in the line shape E's tests check, and equal —
 * after replacing time stamp and pid — the line the real postlog writes
 * itself when it finds no postlogd.
 *
 * What it does not do: the syslog path without maillog_file, or record
 * size limits (src/postlogd/postlogd_test does those in process).
 *
 * DIAGNOSTICS
 * Failures show postlog's stderr and the instance's maillog.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO_ROOT, runCommand, runProgram } from '../lib/paths.js';
import { childrenOf, Instance, waitFor } from './master_harness.js';

const REAL_POSTLOG = '/usr/sbin/postlog';
/** Postfix pauses while main.cf looks freshly edited; date it this far back. */
const MAIN_CF_AGE_SECONDS = 10;
const POSTLOG_TIMEOUT_MS = 10_000;
const STAMP = /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d /;
const TEXT = 'via postlogd under master';
/** srw-rw-rw-, the mode Postfix's master leaves on public/postlog. */
const POSTLOG_SOCKET_MODE = 0o666;

/** The postlog entry of the shipped conf/master.cf, as written. */
function shippedPostlogEntry(): string {
  const file = join(REPO_ROOT, 'conf', 'master.cf');
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .find((l) => /^postlog\s+unix-dgram\s/.test(l));
  assert.ok(line, `${file}: no enabled "postlog unix-dgram" entry`);
  return line;
}

/** A main.cf for the real postlog, back-dated; returns its directory. */
function clientConfig(dir: string, settings: Record<string, string>): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'main.cf');
  writeFileSync(file, Object.entries(settings).map(([k, v]) => `${k} = ${v}\n`).join(''));
  const t = new Date(Date.now() - MAIN_CF_AGE_SECONDS * 1000);
  utimesSync(file, t, t);
  return dir;
}

function normalise(line: string): string {
  return line.replace(STAMP, 'STAMP ').replace(/\[\d+\]: /, '[PID]: ');
}

describe('postlogd under master: the real postlog logs through it', () => {
  let inst: Instance;

  before(async () => {
    assert.ok(existsSync(REAL_POSTLOG), `the oracle ${REAL_POSTLOG} is missing`);
    inst = new Instance();
    inst.writeMain();
    inst.writeMaster([shippedPostlogEntry()]);
    const r = await runCommand('postfix', ['-c', inst.confDir, 'check']);
    assert.equal(r.status, 0, r.stderr);
    await inst.startMaster();
  });

  after(async () => {
    await inst.stop();
  });

  it('writes the record of the real postlog to maillog_file, as Postfix writes it', async () => {
    const socket = join(inst.queueDir, 'public', 'postlog');
    assert.ok(existsSync(socket), `master did not create ${socket}`);
    assert.equal(statSync(socket).mode & 0o777, POSTLOG_SOCKET_MODE, 'anyone may log, as with Postfix');
    const common = { maillog_file_prefixes: inst.dir, myhostname: 'mx1.example.com' };
    const clientLog = join(inst.dir, 'client.log');
    const client = clientConfig(join(inst.dir, 'client'), { ...common, queue_directory: inst.queueDir, maillog_file: clientLog });
    const r = await runProgram(REAL_POSTLOG, ['-c', client, '-p', 'warn', TEXT], { timeoutMs: POSTLOG_TIMEOUT_MS });
    assert.equal(r.status, 0, `postlog: ${r.stderr}`);
    const line = await waitFor('the record in maillog_file', () => inst.log().split('\n').find((l) => l.endsWith(TEXT)), 5_000);
    assert.match(line, /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mx1 postfix\/postlog\[\d+\]: warning: via postlogd under master$/);
    assert.equal(existsSync(clientLog), false, 'postlog wrote its own file instead of using the socket');
    assert.ok(childrenOf(inst.master!.pid!).length >= 1, 'no postlogd worker under master');

    // The oracle: the same postlog with a queue directory that has no postlogd writes the file itself.
    const directLog = join(inst.dir, 'direct.log');
    const lonelyQueue = join(inst.dir, 'lonely-queue');
    mkdirSync(lonelyQueue);
    const direct = clientConfig(join(inst.dir, 'direct'), { ...common, queue_directory: lonelyQueue, maillog_file: directLog });
    const d = await runProgram(REAL_POSTLOG, ['-c', direct, '-p', 'warn', TEXT], { timeoutMs: POSTLOG_TIMEOUT_MS });
    assert.equal(d.status, 0, `postlog (direct): ${d.stderr}`);
    const directLines = readFileSync(directLog, 'utf8').split('\n').filter(Boolean);
    assert.equal(directLines.length, 1, directLines.join('\n'));
    assert.equal(normalise(line), normalise(directLines[0]!));
    assert.equal(inst.countLog(/warning: (?!via postlogd)/), 0, inst.log());
  });
});
