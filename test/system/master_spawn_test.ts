/*
 * master_spawn_test - master(8) starts workers on demand, limits clients,
 * restarts and throttles them
 *
 * What it does: runs the real Postern master on a temporary instance with
 * small echo services on loopback ports and checks: no worker before the
 * first client; one worker serves many clients; maxproc limits concurrent
 * clients (the extra client waits, then gets served) with Postfix's
 * warning; a worker killed with SIGKILL is replaced without throttling;
 * a command that fails at startup is logged and throttled for
 * service_throttle_time, and its waiting client is served once it works;
 * -o overrides and the service name reach the worker; as root, workers
 * of unprivileged services run as mail_owner.
 *
 * What it does not do: reload, idle/use limits, wakeups (other files).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { getpwnam } from '../../src/util/pwd_lookup.js';
import {
  childrenOf,
  Client,
  ECHO_SERVICE,
  flakyService,
  Instance,
  parseGreeting,
  processAlive,
  waitFor,
  whileMasterStopped,
} from './master_harness.js';

describe('master: spawn on demand, maxproc, restart, throttle', () => {
  let inst: Instance;
  let echoPort: number;
  let limitPort: number;
  let flakyPort: number;
  let privPort: number;

  before(async () => {
    inst = await Instance.create({
      main: { service_throttle_time: '1s' },
      files: { 'echo.mjs': ECHO_SERVICE },
      master: [],
    });
    // flaky.mjs needs the instance's out directory, known only now.
    writeFileSync(`${inst.dir}/flaky.mjs`, flakyService(inst.outDir, 2));
    [echoPort, limitPort, flakyPort, privPort] = await inst.startWithPorts(4, (p) => [
      'echo unix n - n - - $DIR/echo.mjs',
      `127.0.0.1:${p[0]} inet n - n - - $DIR/echo.mjs -o echo_greeting=hello`,
      `127.0.0.1:${p[1]} inet n - n - 2 $DIR/echo.mjs`,
      `127.0.0.1:${p[2]} inet n - n - - $DIR/flaky.mjs`,
      `127.0.0.1:${p[3]} inet n n n - - $DIR/echo.mjs`,
    ]);
  });

  after(async () => {
    await inst.stop();
  });

  it('starts no worker before the first client, then one serves many', async () => {
    assert.deepEqual(childrenOf(inst.master!.pid!), []);
    const a = await Client.open(echoPort);
    const ga = parseGreeting(await a.line());
    assert.equal(ga.greeting, 'hello');
    assert.equal(ga.service, `127.0.0.1:${echoPort}`);
    const b = await Client.open(echoPort);
    const gb = parseGreeting(await b.line());
    assert.equal(gb.pid, ga.pid, 'one worker process serves concurrent clients');
    assert.deepEqual(childrenOf(inst.master!.pid!), [ga.pid]);
    a.send('ping');
    assert.equal(await a.line(), 'ping');
    await a.quit();
    await b.quit();
  });

  it('lends the listener to the worker: with master stopped, clients still get served (inet and unix)', async (t) => {
    const echoPath = `${inst.queueDir}/public/echo`;
    for (const where of [echoPort, echoPath]) {
      // The first client starts the worker (master hands it over); then the worker holds the listener.
      const a = await Client.open(where);
      const pid = parseGreeting(await a.line()).pid;
      await a.quit();
      await whileMasterStopped(inst.master!.pid!, (resume) => t.after(resume), async () => {
        const b = await Client.open(where);
        const again = parseGreeting(await b.line(3_000));
        assert.equal(again.pid, pid, `${where}: the same worker accepted without master`);
        await b.quit();
      });
    }
  });

  it('holds the (maxproc+1)th client until one leaves, and warns', async () => {
    const c1 = await Client.open(limitPort);
    const c2 = await Client.open(limitPort);
    parseGreeting(await c1.line());
    parseGreeting(await c2.line());
    const c3 = await Client.open(limitPort);
    assert.equal(await c3.line(700), null, 'third client must wait while two are served');
    await inst.waitLog(new RegExp(`warning: service "127.0.0.1:${limitPort}" \\(127.0.0.1:${limitPort}\\) has reached its process limit "2": new clients may experience noticeable delays`));
    await c1.quit();
    const g3 = parseGreeting(await c3.line(5_000));
    assert.ok(g3.pid > 0);
    await c2.quit();
    await c3.quit();
  });

  it('replaces a worker killed with SIGKILL, without throttling', async () => {
    const a = await Client.open(echoPort);
    const first = parseGreeting(await a.line()).pid;
    await a.quit();
    process.kill(first, 'SIGKILL');
    await waitFor('killed worker to be gone', () => !processAlive(first));
    await inst.waitLog(new RegExp(`warning: process \\S+/echo\\.mjs pid ${first} killed by signal 9`));
    const b = await Client.open(echoPort);
    const second = parseGreeting(await b.line()).pid;
    assert.notEqual(second, first);
    await b.quit();
    assert.equal(inst.countLog(/echo\.mjs: bad command startup/), 0);
  });

  it('throttles a command that fails at startup, then serves the waiting client', async () => {
    const t0 = Date.now();
    const c = await Client.open(flakyPort);
    const g = parseGreeting(await c.line(15_000));
    const elapsed = Date.now() - t0;
    assert.ok(g.pid > 0);
    // Two failed starts, each followed by service_throttle_time (1 s).
    assert.ok(elapsed >= 1_800, `served after ${elapsed} ms, expected two throttle delays`);
    assert.equal(inst.countLog(/warning: process \S+\/flaky\.mjs pid \d+ exit status 1$/), 2);
    assert.equal(inst.countLog(/warning: \S+\/flaky\.mjs: bad command startup -- throttling$/), 2);
    await c.quit();
  });

  it('runs workers as mail_owner when root, unless unprivileged is n', async () => {
    const a = await Client.open(echoPort);
    const b = await Client.open(privPort);
    const ua = parseGreeting(await a.line()).uid;
    const ub = parseGreeting(await b.line()).uid;
    if (process.getuid?.() === 0) {
      assert.equal(ua, getpwnam('postfix')?.uid, 'unprivileged (default) service runs as mail_owner');
      assert.equal(ub, 0, 'unprivileged=n service keeps root');
    } else {
      assert.equal(ua, process.getuid?.());
      assert.equal(ub, process.getuid?.());
    }
    await a.quit();
    await b.quit();
  });
});
