/*
 * master_postfix_test - postfix(1): check, start, status, reload, flush, stop
 *
 * What it does: drives Postern's postfix command on temporary instances
 * and compares with the real Postfix where it can:
 * - `postfix check` creates the queue directories with the same modes
 *   (and, as root, the same owners) as the real `postfix check` on its
 *   own throwaway config, reports unused main.cf parameters, and, after
 *   the same damage to both trees, gives the same warnings as the real
 *   check (which logs them to its maillog_file); set-permissions repairs;
 * - start / status / start again / reload / stop with Postfix's texts;
 * - `postfix flush` sends qmgr and pickup the same trigger bytes as the
 *   real `postqueue -f` does against the same Postern master;
 * - start-fg runs master in the foreground and SIGINT stops it.
 *
 * What it does not do: start a real Postfix master.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { queueDirNames } from '../../src/global/mail_queue.js';
import { getgrgid, getpwnam, getpwuid } from '../../src/util/pwd_lookup.js';
import { commandPath, runCommand, runProgram } from '../lib/paths.js';
import { childrenOf, Client, ECHO_SERVICE, freePort, Instance, parseGreeting, processAlive, triggerService, waitFor } from './master_harness.js';

const REAL_POSTFIX = '/usr/sbin/postfix';
const REAL_POSTQUEUE = '/usr/sbin/postqueue';

function describeDir(path: string): string {
  const st = statSync(path);
  const mode = (st.mode & 0o7777).toString(8);
  if (process.getuid?.() !== 0) return mode;
  return `${mode} ${getpwuid(st.uid)?.name ?? st.uid}:${getgrgid(st.gid)?.name ?? st.gid}`;
}

function readTriggers(inst: Instance, service: string): string[] {
  try {
    return readFileSync(join(inst.outDir, `triggers.${service}`), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

describe('postfix(1)', () => {
  let inst: Instance;
  let port: number;

  before(async () => {
    port = await freePort();
    inst = new Instance();
    writeFileSync(join(inst.dir, 'echo.mjs'), ECHO_SERVICE);
    writeFileSync(join(inst.dir, 'trig.mjs'), triggerService(inst.outDir));
    inst.writeMain({ bogus_param: '1' });
    inst.writeMaster([
      `127.0.0.1:${port} inet n - n - - $DIR/echo.mjs`,
      'qmgr unix n - n - 1 $DIR/trig.mjs',
      'pickup unix n - n - 1 $DIR/trig.mjs',
    ]);
  });

  after(async () => {
    await runCommand('postfix', ['-c', inst.confDir, 'stop']);
    await inst.stop();
  });

  it('check creates the queue directories like the real postfix check', async () => {
    const r = await runCommand('postfix', ['-c', inst.confDir, 'check']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: ${inst.confDir}/main\\.cf: unused parameter: bogus_param=1`));

    const real = mkdtempSync(join(tmpdir(), 'postern-oracle-'));
    try {
      mkdirSync(join(real, 'conf'));
      mkdirSync(join(real, 'queue')); // the real postfix needs queue_directory to exist
      copyFileSync('/etc/postfix/master.cf', join(real, 'conf', 'master.cf'));
      writeFileSync(
        join(real, 'conf', 'main.cf'),
        `queue_directory = ${real}/queue\ndata_directory = ${real}/data\nmaillog_file = ${real}/maillog\n` +
          `maillog_file_prefixes = ${real}\ncompatibility_level = 3.6\n`,
      );
      const o = await runProgram(REAL_POSTFIX, ['-c', join(real, 'conf'), 'check'], { timeoutMs: 30_000 });
      assert.equal(o.status, 0, `real postfix check: ${o.stderr}`);
      for (const name of queueDirNames()) {
        assert.equal(describeDir(join(inst.queueDir, name)), describeDir(join(real, 'queue', name)), name);
      }
      assert.equal(describeDir(join(inst.dir, 'data')), describeDir(join(real, 'data')), 'data_directory');

      // Break the same things in both trees; both checks must say the same.
      const root = process.getuid?.() === 0;
      for (const base of [inst.dir, real]) {
        chmodSync(join(base, 'queue', 'pid'), 0o777);
        chmodSync(join(base, 'conf', 'main.cf'), 0o666);
        writeFileSync(join(base, 'queue', 'corrupt', 'ABCDEF'), '');
        if (root) {
          chownSync(join(base, 'queue', 'public'), getpwnam('postfix')!.uid, 0);
          chownSync(join(base, 'data'), getpwnam('nobody')!.uid, 0);
        }
      }
      const ours = await runCommand('postfix', ['-c', inst.confDir, 'check']);
      const theirs = await runProgram(REAL_POSTFIX, ['-c', join(real, 'conf'), 'check'], { timeoutMs: 30_000 });
      assert.equal(theirs.status, 0, theirs.stderr);
      const warnings = (text: string, base: string): string[] =>
        text
          .split('\n')
          .filter((l) => / warning: /.test(l) && !/unused parameter/.test(l))
          .map((l) => l.slice(l.indexOf('warning: ')).replaceAll(base, 'DIR'))
          .sort();
      const got = warnings(ours.stderr, inst.dir);
      assert.deepEqual(got, warnings(readFileSync(join(real, 'maillog'), 'utf8'), real));
      assert.ok(got.includes('warning: damaged message: corrupt/ABCDEF'), got.join('\n'));

      // set-permissions repairs what it owns.
      chmodSync(join(inst.confDir, 'main.cf'), 0o644);
      rmSync(join(inst.queueDir, 'corrupt', 'ABCDEF'));
      const sp = await runCommand('postfix', ['-c', inst.confDir, 'set-permissions']);
      assert.equal(sp.status, 0, sp.stderr);
      const clean = await runCommand('postfix', ['-c', inst.confDir, 'check']);
      assert.deepEqual(warnings(clean.stderr, inst.dir), []);
    } finally {
      rmSync(real, { recursive: true, force: true });
    }
  });

  it('start, status, start again, reload', async () => {
    const s = await runCommand('postfix', ['-c', inst.confDir, 'start'], { timeoutMs: 40_000 });
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /^postfix\/postfix-script: starting the Postfix mail system$/m);
    const st = await runCommand('postfix', ['-c', inst.confDir, 'status']);
    assert.equal(st.status, 0);
    const pid = Number(readFileSync(join(inst.queueDir, 'pid', 'master.pid'), 'utf8').trim());
    assert.equal(st.stderr, `postfix/postfix-script: the Postfix mail system is running: PID: ${pid}\n`);
    const c = await Client.open(port);
    parseGreeting(await c.line());
    await c.quit();
    const again = await runCommand('postfix', ['-c', inst.confDir, 'start']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /postfix\/postfix-script: fatal: the Postfix mail system is already running/);
    const r = await runCommand('postfix', ['-c', inst.confDir, 'reload']);
    assert.equal(r.status, 0);
    assert.match(r.stderr, /refreshing the Postfix mail system/);
    await inst.waitLog(/postfix\/master\[\d+\]: reload -- version/);
  });

  it('flush sends the same triggers as the real postqueue -f', async () => {
    const f = await runCommand('postfix', ['-c', inst.confDir, 'flush']);
    assert.equal(f.status, 0, f.stderr);
    await waitFor('our flush triggers', () => readTriggers(inst, 'qmgr').length >= 1 && readTriggers(inst, 'pickup').length >= 1);
    const q = await runProgram(REAL_POSTQUEUE, ['-c', inst.confDir, '-f']);
    assert.equal(q.status, 0, q.stderr);
    await waitFor('postqueue triggers', () => readTriggers(inst, 'qmgr').length >= 2 && readTriggers(inst, 'pickup').length >= 2);
    const [oursQ, realQ] = readTriggers(inst, 'qmgr');
    const [oursP, realP] = readTriggers(inst, 'pickup');
    assert.equal(oursQ, realQ);
    assert.equal(oursP, realP);
    assert.equal(JSON.parse(oursQ), 'FADI\u0000');
  });

  it('stop ends master and its workers; status then says not running', async () => {
    const pid = Number(readFileSync(join(inst.queueDir, 'pid', 'master.pid'), 'utf8').trim());
    const c = await Client.open(port);
    parseGreeting(await c.line());
    const kids = childrenOf(pid);
    assert.ok(kids.length >= 1);
    const s = await runCommand('postfix', ['-c', inst.confDir, 'stop'], { timeoutMs: 30_000 });
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stderr, /stopping the Postfix mail system/);
    assert.equal(processAlive(pid), false);
    await waitFor('workers to be gone', () => kids.every((k) => !processAlive(k)), 5_000);
    const st = await runCommand('postfix', ['-c', inst.confDir, 'status']);
    assert.equal(st.status, 1);
    assert.equal(st.stderr, 'postfix/postfix-script: the Postfix mail system is not running\n');
    const again = await runCommand('postfix', ['-c', inst.confDir, 'stop']);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /fatal: the Postfix mail system is not running/);
    const fl = await runCommand('postfix', ['-c', inst.confDir, 'flush']);
    assert.equal(fl.status, 1);
    assert.match(fl.stderr, /fatal: Cannot flush mail queue - mail system is down/);
  });

  it('check and start refuse a configuration without master.cf', async () => {
    const bare = new Instance();
    try {
      bare.writeMain();
      for (const command of ['check', 'start']) {
        const r = await runCommand('postfix', ['-c', bare.confDir, command]);
        assert.equal(r.status, 1, command);
        assert.match(r.stderr, new RegExp(`postfix/postfix-script: fatal: no ${bare.confDir}/master\\.cf file found`));
      }
    } finally {
      await bare.stop();
    }
  });

  it('start-fg runs master in the foreground; SIGINT stops it', async () => {
    const fg = spawn(process.execPath, [commandPath('postfix'), '-c', inst.confDir, 'start-fg'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    fg.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => fg.on('exit', (code) => resolve(code)));
    try {
      await waitFor('foreground master', async () => (await runCommand('postfix', ['-c', inst.confDir, 'status'])).status === 0, 15_000);
      const c = await Client.open(port);
      parseGreeting(await c.line());
      await c.quit();
      fg.kill('SIGINT');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
      assert.equal(code, 0, err);
      const st = await runCommand('postfix', ['-c', inst.confDir, 'status']);
      assert.equal(st.status, 1);
    } finally {
      if (fg.exitCode === null) fg.kill('SIGKILL');
    }
  });
});
