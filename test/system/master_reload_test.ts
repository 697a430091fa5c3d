/*
 * master_reload_test - SIGHUP reload, the pid file and lock, clean stop
 *
 * What it does: with the real Postern master on a temporary instance:
 * master.pid holds the pid in Postfix's format (checked against a real
 * Postfix master.pid: right-aligned in 32 columns, newline); master -t
 * says whether a master runs; a second master on the same queue is
 * refused with Postfix's message; SIGHUP rereads main.cf and master.cf
 * while a client stays connected (it still gets its replies from the old
 * worker, which exits once that client leaves), a new client gets a new
 * worker with the new main.cf, an added service opens and a removed one
 * closes; SIGTERM stops master, its workers, and removes the pid file
 * and sockets, leaving no process behind.
 *
 * What it does not do: test postfix(1) (master_postfix_test.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { commandPath, runCommand, runProgram } from '../lib/paths.js';
import { childrenOf, Client, ECHO_SERVICE, freePort, Instance, parseGreeting, processAlive, waitFor } from './master_harness.js';

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.on('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.on('error', () => resolve(true));
  });
}

describe('master: reload, lock, stop', () => {
  let inst: Instance;
  let keepPort: number;
  let gonePort: number;
  let newPort: number;

  before(async () => {
    inst = await Instance.create({ main: { echo_greeting: 'old' }, files: { 'echo.mjs': ECHO_SERVICE }, master: [] });
    [keepPort, gonePort, newPort] = await inst.startWithPorts(3, (p) => [
      `127.0.0.1:${p[0]} inet n - n - - $DIR/echo.mjs`,
      `127.0.0.1:${p[1]} inet n - n - - $DIR/echo.mjs`,
      'local-echo unix - - n - - $DIR/echo.mjs',
    ]);
  });

  after(async () => {
    await inst.stop();
  });

  it('writes master.pid as Postfix does: pid in 32 columns and a newline', () => {
    const text = readFileSync(join(inst.queueDir, 'pid', 'master.pid'), 'latin1');
    assert.equal(text.length, 33);
    assert.equal(text, `${String(inst.master!.pid).padStart(32)}\n`);
  });

  it('master -t exits 1 while a master runs', async () => {
    const r = await runCommand('master', ['-c', inst.confDir, '-t']);
    assert.equal(r.status, 1);
  });

  it('refuses a second master on the same queue', async () => {
    const r = await runProgram(process.execPath, [commandPath('master'), '-c', inst.confDir, '-d'], { timeoutMs: 10_000 });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      new RegExp(`fatal: open lock file ${inst.queueDir}/pid/master\\.pid: unable to set exclusive lock: Resource temporarily unavailable`),
    );
  });

  it('reloads on SIGHUP without cutting an open connection', async () => {
    const a = await Client.open(keepPort);
    const old = parseGreeting(await a.line());
    assert.equal(old.greeting, 'old');
    inst.writeMain({ echo_greeting: 'new' });
    inst.writeMaster([
      `127.0.0.1:${keepPort} inet n - n - - $DIR/echo.mjs`,
      `127.0.0.1:${newPort} inet n - n - - $DIR/echo.mjs`,
      'local-echo unix - - n - - $DIR/echo.mjs',
    ]);
    const before = inst.countLog(/reload -- version/);
    process.kill(inst.master!.pid!, 'SIGHUP');
    await waitFor('reload log line', () => inst.countLog(/reload -- version \S+, configuration /) > before);
    await waitFor('removed service to close', () => refused(gonePort));
    a.send('still there');
    assert.equal(await a.line(), 'still there', 'open client is served by its old worker');
    const b = await Client.open(keepPort);
    const fresh = parseGreeting(await b.line());
    assert.equal(fresh.greeting, 'new');
    assert.notEqual(fresh.pid, old.pid);
    const c = await Client.open(newPort);
    assert.equal(parseGreeting(await c.line()).greeting, 'new');
    assert.ok(processAlive(old.pid), 'old worker stays while its client is connected');
    await a.quit();
    await waitFor('old worker to exit after its last client', () => !processAlive(old.pid), 5_000);
    await b.quit();
    await c.quit();
  });

  it('stops on SIGTERM: workers gone, pid file and sockets removed', async () => {
    const c = await Client.open(keepPort);
    parseGreeting(await c.line());
    const sock = join(inst.queueDir, 'private', 'local-echo');
    assert.ok(existsSync(sock));
    const kids = childrenOf(inst.master!.pid!);
    assert.ok(kids.length >= 1);
    inst.master!.kill('SIGTERM');
    assert.equal(await inst.waitMasterExit(10_000), 0);
    for (const pid of kids) assert.equal(processAlive(pid), false, `worker ${pid} left behind`);
    assert.equal(existsSync(join(inst.queueDir, 'pid', 'master.pid')), false);
    assert.equal(existsSync(sock), false);
    assert.match(inst.log(), /postfix\/master\[\d+\]: terminating on signal 15/);
    const t = await runCommand('master', ['-c', inst.confDir, '-t']);
    assert.equal(t.status, 0);
    writeFileSync(join(inst.outDir, 'done'), '');
  });
});
