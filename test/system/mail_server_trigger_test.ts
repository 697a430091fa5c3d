/*
 * mail_server_trigger_test - a trigger service under the real master gets
 * master's wakeups and the real Postfix postkick(1) requests, byte for byte
 *
 * What it does: starts the Postern master on a temporary instance that
 * supervises a few-line trigger service (harness triggerService: it
 * appends every trigger it gets to a file) as a private unix service with
 * a 1-second wakeup, then checks that (a) master's wakeup arrives as
 * exactly "W" NUL, and (b) each run of the real `/usr/sbin/postkick -c DIR
 * private kick X` arrives as exactly "X" NUL — postkick writes the request
 * and the NUL in two write(2) calls and then waits for the server to hang
 * up, so a server that acts on the first chunk splits the request or
 * makes postkick die of a broken pipe — and that postkick exits 0; (c)
 * the same with postkick run under strace(1) that delays its first
 * write, so the request and its NUL certainly arrive in two reads (the
 * case that made a first-chunk reader close early and kill postkick);
 * (d) the service borrowed its socket: with master SIGSTOPped, postkick
 * still reaches it.
 *
 * What it does not do: check the wakeup period (master_idle_test does),
 * or fifo and datagram triggers (master_idle_test).
 *
 * DIAGNOSTICS
 * Failures show postkick's stderr and master's log.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { TRIGGER_SETTLE_MS } from '../../src/global/ipc/trigger_server.js';
import { runCommand, runProgram } from '../lib/paths.js';
import { Instance, triggerService, waitFor, whileMasterStopped } from './master_harness.js';

const REAL_POSTKICK = '/usr/sbin/postkick';
/** How many postkick runs: the two writes race the server's read, so try a few. */
const POSTKICK_RUNS = 4;
/** Bound on one postkick run (it waits for the server to close the connection). */
const POSTKICK_TIMEOUT_MS = 10_000;
/** Postfix pauses while main.cf looks freshly edited; date it this far back. */
const MAIN_CF_AGE_SECONDS = 10;
const STRACE = '/usr/bin/strace';
/**
 * strace(1) delays the return of postkick's first write(2) (the request) by
 * this much, so the request and its NUL arrive in two reads; well under
 * TRIGGER_SETTLE_MS (the longest the reader waits for a NUL after the first
 * bytes).
 */
const WRITE_DELAY_US = 30_000;
const SERVICE = 'kick';
const WAKEUP = 'W\u0000';
const REQUEST = 'X';

function triggers(inst: Instance): string[] {
  const file = join(inst.outDir, `triggers.${SERVICE}`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as string);
}

describe('trigger service under master: wakeup and real postkick', () => {
  let inst: Instance;

  before(async () => {
    assert.ok(existsSync(REAL_POSTKICK), `the oracle ${REAL_POSTKICK} is missing`);
    inst = new Instance();
    writeFileSync(join(inst.dir, 'trig.mjs'), triggerService(inst.outDir));
    inst.writeMain();
    const t = new Date(Date.now() - MAIN_CF_AGE_SECONDS * 1000);
    utimesSync(join(inst.confDir, 'main.cf'), t, t);
    // private (column 3 '-'), wakeup every second, one process.
    inst.writeMaster([`${SERVICE} unix - n n 1 1 $DIR/trig.mjs`]);
    const r = await runCommand('postfix', ['-c', inst.confDir, 'check']);
    assert.equal(r.status, 0, r.stderr);
    await inst.startMaster();
  });

  after(async () => {
    await inst.stop();
  });

  it("receives master's wakeup as W NUL", async () => {
    await waitFor('a wakeup', () => triggers(inst).length > 0, 5_000);
    assert.equal(triggers(inst)[0], WAKEUP);
  });

  it('receives the real postkick request as X NUL, and postkick exits 0', async () => {
    for (let i = 0; i < POSTKICK_RUNS; i++) {
      const r = await runProgram(REAL_POSTKICK, ['-c', inst.confDir, 'private', SERVICE, REQUEST], { timeoutMs: POSTKICK_TIMEOUT_MS });
      assert.equal(r.status, 0, `postkick run ${i + 1}: status ${r.status}, signal ${String(r.signal)}, stderr: ${r.stderr}\nlog:\n${inst.log()}`);
      assert.equal(r.stderr, '');
    }
    const requests = () => triggers(inst).filter((t) => t !== WAKEUP);
    await waitFor(`${POSTKICK_RUNS} postkick requests`, () => requests().length >= POSTKICK_RUNS, 5_000);
    assert.deepEqual(requests(), Array(POSTKICK_RUNS).fill(`${REQUEST}\u0000`));
    assert.equal(inst.countLog(/warning/), 0, inst.log());
  });

  it('waits for the NUL when postkick\'s two writes arrive apart (strace delays the first)', async () => {
    assert.ok(existsSync(STRACE), `${STRACE} is missing (Debian package strace): it splits postkick's writes deterministically`);
    assert.ok(WRITE_DELAY_US / 1000 < TRIGGER_SETTLE_MS / 2, 'the delay must stay well under the settle time');
    const before = triggers(inst).filter((t) => t !== WAKEUP).length;
    const r = await runProgram(
      STRACE,
      ['-f', '-o', '/dev/null', '-e', 'trace=write', '-e', `inject=write:delay_exit=${WRITE_DELAY_US}:when=1`, REAL_POSTKICK, '-c', inst.confDir, 'private', SERVICE, 'Y'],
      { timeoutMs: POSTKICK_TIMEOUT_MS },
    );
    assert.equal(r.status, 0, `postkick under strace: status ${r.status}, signal ${String(r.signal)}, stderr: ${r.stderr}`);
    assert.equal(r.stderr, '');
    const requests = () => triggers(inst).filter((t) => t !== WAKEUP).slice(before);
    await waitFor('the delayed postkick request', () => requests().length >= 1, 5_000);
    // Settle: a server that split the request would log a second trigger "\0" here.
    await new Promise((res) => setTimeout(res, 2 * TRIGGER_SETTLE_MS));
    assert.deepEqual(requests(), ['Y\u0000']);
  });
  it('borrows its socket from master: with master stopped, postkick still gets through', async (t) => {
    const before = triggers(inst).filter((x) => x !== WAKEUP).length;
    await whileMasterStopped(inst.master!.pid!, (resume) => t.after(resume), async () => {
      const r = await runProgram(REAL_POSTKICK, ['-c', inst.confDir, 'private', SERVICE, 'Z'], { timeoutMs: POSTKICK_TIMEOUT_MS });
      assert.equal(r.status, 0, `postkick with master stopped: status ${r.status}, stderr: ${r.stderr}`);
      const requests = () => triggers(inst).filter((x) => x !== WAKEUP).slice(before);
      await waitFor('the request while master is stopped', () => requests().length >= 1, 5_000);
      assert.deepEqual(requests(), ['Z\u0000']);
    });
  });
});
