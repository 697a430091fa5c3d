/*
 * master_idle_test - workers end after max_idle / max_use; wakeups arrive
 *
 * What it does: with the real Postern master on a temporary instance,
 * checks that a worker exits max_idle seconds after its last client and
 * a new one serves the next client; that a worker with max_use 2 hands
 * over to a new process at the third client; that a trigger service gets
 * master's wakeup "W" every wakeup seconds (unix socket, and fifo), that
 * a "?" wakeup starts only after the service was first used, and that a
 * fifo trigger written by a client reaches the worker, and that each
 * datagram sent to a unix-dgram service reaches its worker as a trigger.
 *
 * What it does not do: check the exact wakeup period beyond "more than
 * one within a few periods" (timers on a loaded machine drift).
 */
import assert from 'node:assert/strict';
import { closeSync, constants, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../lib/paths.js';
import { createDgramSocket } from '../../src/util/unix_dgram.js';
import { unixTrigger } from '../../src/util/unix_trigger.js';
import { Client, ECHO_SERVICE, Instance, parseGreeting, processAlive, triggerService, waitFor } from './master_harness.js';

function triggers(inst: Instance, service: string): string[] {
  try {
    return readFileSync(join(inst.outDir, `triggers.${service}`), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as string);
  } catch {
    return [];
  }
}

describe('master: max_idle, max_use, wakeup', () => {
  let inst: Instance;
  let idlePort: number;
  let usePort: number;

  before(async () => {
    inst = new Instance();
    writeFileSync(join(inst.dir, 'echo.mjs'), ECHO_SERVICE);
    writeFileSync(join(inst.dir, 'trig.mjs'), triggerService(inst.outDir));
    inst.writeMain();
    inst.writeMaster([]);
    const r = await runCommand('postfix', ['-c', inst.confDir, 'check']);
    assert.equal(r.status, 0, r.stderr);
    [idlePort, usePort] = await inst.startWithPorts(2, (p) => [
      `127.0.0.1:${p[0]} inet n - n - - $DIR/echo.mjs -o max_idle=1`,
      // max_use counts per maxproc slot: with one slot, the third client gets a new process.
      `127.0.0.1:${p[1]} inet n - n - 1 $DIR/echo.mjs -o max_use=2`,
      'tick unix n - n 1 1 $DIR/trig.mjs',
      'later unix n - n 1? 1 $DIR/trig.mjs',
      'pipe fifo n - n 1 1 $DIR/trig.mjs',
      'quiet fifo n - n - 1 $DIR/trig.mjs',
      'postlog unix-dgram n - n - 1 $DIR/trig.mjs',
    ]);
  });

  after(async () => {
    await inst.stop();
  });

  it('ends a worker max_idle seconds after its last client', async () => {
    const a = await Client.open(idlePort);
    const first = parseGreeting(await a.line()).pid;
    await a.quit();
    const t0 = Date.now();
    await waitFor('idle worker to exit', () => !processAlive(first), 5_000);
    assert.ok(Date.now() - t0 >= 700, 'not before max_idle');
    const b = await Client.open(idlePort);
    assert.notEqual(parseGreeting(await b.line()).pid, first);
    await b.quit();
  });

  it('ends a worker after max_use clients; the next client gets a new one', async () => {
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const c = await Client.open(usePort);
      pids.push(parseGreeting(await c.line()).pid);
      await c.quit();
    }
    assert.equal(pids[0], pids[1]);
    assert.notEqual(pids[2], pids[0]);
    await waitFor('used-up worker to exit', () => !processAlive(pids[0]), 5_000);
  });

  it('wakes a unix trigger service every wakeup seconds, first at once', async () => {
    await waitFor('two wakeups for tick', () => triggers(inst, 'tick').length >= 2, 5_000);
    // unix_trigger sends the request and a NUL, as Postfix does.
    assert.equal(triggers(inst, 'tick')[0], 'W\u0000');
  });

  it('wakes a fifo service, and passes on what a client writes to the fifo', async () => {
    await waitFor('a wakeup for pipe', () => triggers(inst, 'pipe').includes('W'), 5_000);
    const fd = openSync(join(inst.queueDir, 'public', 'quiet'), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(fd, 'I');
    closeSync(fd);
    await waitFor('fifo trigger for quiet', () => triggers(inst, 'quiet').includes('I'), 5_000);
  });

  it('hands each datagram of a unix-dgram service to its worker', async () => {
    const sock = createDgramSocket();
    try {
      const msg = Buffer.from('<22>Nov 28 12:00:00 postfix/smtpd[1]: hello');
      await new Promise<void>((resolve, reject) =>
        sock.send(msg, 0, msg.length, join(inst.queueDir, 'public', 'postlog'), (err?: Error) => (err ? reject(err) : resolve())),
      );
      await waitFor('datagram at the worker', () => triggers(inst, 'postlog').includes(msg.toString('latin1')), 5_000);
    } finally {
      sock.close();
    }
  });

  it('starts a "?" wakeup only after the service was used', async () => {
    await new Promise((r) => setTimeout(r, 1_500));
    assert.deepEqual(triggers(inst, 'later'), [], 'no wakeup before first use');
    assert.ok(await unixTrigger(join(inst.queueDir, 'public', 'later'), 'X', 2_000));
    await waitFor('first use and a wakeup', () => {
      const t = triggers(inst, 'later');
      return t.includes('X\u0000') && t.includes('W\u0000');
    }, 5_000);
  });
});
