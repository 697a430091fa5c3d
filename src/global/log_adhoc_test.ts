/*
 * log_adhoc_test - the delivery log line and Postfix's delay precision
 *
 * Every expected value below is what the real Postfix 3.7.11 discard(8)
 * logged for the same time stamps (test/system/discard_postfix_test.ts
 * runs those requests against the real agent and compares whole lines).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { dsnMake } from './dsn.js';
import { computeDelays, formatLogAdhoc, formatTv } from './log_adhoc.js';
import { loadMailConfig } from './mail_conf.js';

const SEC = 1_000_000;

function tv(seconds: number): [number, number] {
  const us = Math.round(seconds * SEC);
  return [Math.floor(us / SEC), us % SEC];
}

test('formatTv: two significant digits, at most delay_logging_resolution_limit decimals, whole seconds when large', () => {
  const cases: Array<[number, number, string]> = [
    [0.0004, 2, '0'],
    [0.011945, 2, '0.01'],
    [1.5, 2, '1.5'],
    [12.3456, 2, '12'],
    [9.95, 2, '10'],
    [1.395601, 2, '1.4'],
    [123.456, 2, '123'],
    [0.544, 2, '0.54'],
    [76.495001, 2, '76'],
    [200.5, 2, '201'],
    [0.05, 2, '0.05'],
    [0.0123, 0, '0'],
    [1.5477, 0, '2'],
    [10.93, 0, '11'],
    [0.000123, 6, '0.00012'],
    [0.1233333, 6, '0.12'],
    [2.8765448, 6, '2.9'],
    [3.0000015, 6, '3'],
    [0.000001, 6, '0.000001'],
    [0, 2, '0'],
  ];
  for (const [s, res, want] of cases) {
    const [sec, usec] = tv(s);
    assert.equal(formatTv(sec, usec, 2, res), want, `${s} with resolution ${res}`);
  }
  assert.throws(() => formatTv(1, 0, 0, 2), RangeError);
  assert.throws(() => formatTv(1, 0, 2, 7), RangeError);
});

test('delays: missing time stamps as Postfix (no network client, no agent, no qmgr), clocks going back clamp to 0', () => {
  const t0 = 1_700_000_000_000;
  const noConn = computeDelays({ incomingArrival: t0, activeArrival: t0 + 1000, agentHandoff: t0 + 1500, connSetupDone: 0, deliverDone: t0 + 4000, reuseCount: 0 }, 0);
  assert.deepEqual([noConn.delay.sec, noConn.pdelay.sec, noConn.adelay.usec, noConn.sdelay.sec, noConn.xdelay.usec, noConn.xdelay.sec], [4, 1, 500000, 0, 500000, 2]);
  const noAgent = computeDelays({ incomingArrival: t0, activeArrival: t0 + 1000, agentHandoff: 0, connSetupDone: 0, deliverDone: 0, reuseCount: 0 }, t0 + 3000);
  assert.deepEqual([noAgent.delay.sec, noAgent.pdelay.sec, noAgent.adelay.sec, noAgent.xdelay.sec], [3, 1, 2, 0]);
  const noQmgr = computeDelays({ incomingArrival: t0, activeArrival: 0, agentHandoff: 0, connSetupDone: 0, deliverDone: 0, reuseCount: 0 }, t0 + 7000);
  assert.deepEqual([noQmgr.delay.sec, noQmgr.pdelay.sec, noQmgr.adelay.sec], [7, 7, 0]);
  const back = computeDelays({ incomingArrival: t0, activeArrival: t0 + 1500, agentHandoff: t0 + 1250, connSetupDone: t0 + 1000, deliverDone: t0 + 1000.001, reuseCount: 0 }, 0);
  assert.deepEqual([back.adelay, back.sdelay, back.xdelay], [{ sec: 0, usec: 0 }, { sec: 0, usec: 0 }, { sec: 0, usec: 1 }]);
});

test('formatLogAdhoc: orig_to only when it differs ignoring case, conn_use, external address form', () => {
  const dir = mkdtempSync(join(tmpdir(), 'log-adhoc-'));
  try {
    writeFileSync(join(dir, 'main.cf'), '');
    const ext = loadMailConfig({ configDir: dir });
    const base = 1_700_000_000_000.25;
    const stats = (t: [number, number, number | null, number], reuse = 0) => ({
      incomingArrival: base,
      activeArrival: base + t[0] * 1000,
      agentHandoff: base + t[1] * 1000,
      connSetupDone: t[2] === null ? 0 : base + t[2] * 1000,
      deliverDone: base + t[3] * 1000,
      reuseCount: reuse,
    });
    const rcpt = (address: string, origAddress: string) => ({ address, origAddress, offset: 1, dsnOrcpt: '', dsnNotify: 0 });
    const sent = (i: number) => dsnMake('2.0.0', `next hop ${i}`);
    assert.equal(
      formatLogAdhoc({ config: ext }, 'Q1', stats([0.999999, 10.949999, null, 12.3456]), rcpt('a2@example.com', 'A2@Example.COM'), 'none', sent(1), 'sent'),
      'Q1: to=<a2@example.com>, relay=none, delay=12, delays=1/10/0/1.4, dsn=2.0.0, status=sent (next hop 1)',
    );
    assert.equal(
      formatLogAdhoc({ config: ext }, 'Q1', stats([123.456, 124.0, 124.004999, 200.5], 2), rcpt('a3@example.com', 'other@example.com'), 'none', sent(2), 'sent'),
      'Q1: to=<a3@example.com>, orig_to=<other@example.com>, relay=none, conn_use=3, delay=201, delays=123/0.54/0/76, dsn=2.0.0, status=sent (next hop 2)',
    );
    assert.equal(
      formatLogAdhoc({ config: ext }, 'Q1', stats([0.05, 0.1, 0.1, 0.1]), rcpt('john doe@example.com', 'john doe@example.com'), 'none', sent(7), 'sent'),
      'Q1: to=<"john doe"@example.com>, relay=none, delay=0.1, delays=0.05/0.05/0/0, dsn=2.0.0, status=sent (next hop 7)',
    );
    writeFileSync(join(dir, 'main.cf'), 'info_log_address_format = internal\ndelay_logging_resolution_limit = 6\n');
    const int = loadMailConfig({ configDir: dir });
    assert.equal(
      formatLogAdhoc({ config: int }, 'Q1', stats([0.05, 0.1, 0.1, 0.1]), rcpt('john doe@example.com', 'x y@example.com'), 'none', sent(8), 'sent'),
      'Q1: to=<john doe@example.com>, orig_to=<x y@example.com>, relay=none, delay=0.1, delays=0.05/0.05/0/0, dsn=2.0.0, status=sent (next hop 8)',
    );
    assert.equal(
      formatLogAdhoc({ config: int }, 'Q1', stats([0.000123, 0.0001234, 0.1234567, 3.0000015]), rcpt('a6@example.com', 'a6@example.com'), 'none', sent(5), 'sent'),
      'Q1: to=<a6@example.com>, relay=none, delay=3, delays=0.00012/0/0.12/2.9, dsn=2.0.0, status=sent (next hop 5)',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
