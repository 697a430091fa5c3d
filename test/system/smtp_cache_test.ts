/*
 * smtp_cache_test - smtp(8) connection caching against Postfix's smtp-sink
 *
 * What it does: delivers several requests through one agent's session
 * cache (smtp_harness.ts) to a real smtp-sink and checks, with the sink's
 * own session and QUIT counters and the agent's log lines: requests
 * with qmgr's DEL_REQ_FLAG_CONN_LOAD/STORE share one connection and log
 * conn_use=2, 3, ...; requests without them connect and say QUIT each
 * time; smtp_connection_cache_destinations caches without the flags; an
 * idle session is closed after smtp_connection_cache_time_limit without
 * QUIT; a session the server closed while idle is not reused;
 * smtp_connection_reuse_count_limit ends a session with QUIT; a session
 * whose transaction was rejected is reused.
 *
 * What it does not do: check the exact command sequence on a reused
 * session (smtp_script_test.ts), or qmgr's decision to ask for caching
 * (qmgr tests; mail_out_relay_test.ts sees conn_use end to end).
 *
 * DIAGNOSTICS
 * Assertion failures show the captured log lines.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { DEL_REQ_FLAG, DEL_REQ_FLAG_DEFLT, DEL_STAT } from '../../src/global/deliver_request.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { startSmtpSink, type SmtpSink } from '../lib/peers.js';
import { waitFor } from '../lib/proc.js';
import { makeSmtpHarness, type SmtpHarness } from './smtp_harness.js';

const CACHE_FLAGS = DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
/** Bound on waiting for the sink to see a connection end. */
const CLOSE_WAIT_MS = 10_000;

const open: Array<{ h: SmtpHarness; sink: SmtpSink }> = [];

async function setup(mainCf: Record<string, string> = {}, sinkArgs: string[] = []): Promise<{ h: SmtpHarness; sink: SmtpSink; base: { sessions: number; quits: number } }> {
  const sink = await startSmtpSink({ extraArgs: sinkArgs });
  const h = makeSmtpHarness(mainCf);
  open.push({ h, sink });
  // The start-up probe is a session of its own; wait until the sink has counted it.
  await waitFor('the sink to count its probe', () => sink.sessionCounts().sessions >= 1, CLOSE_WAIT_MS);
  return { h, sink, base: sink.sessionCounts() };
}

/** Queues one message to the sink and delivers it with `flags`; returns the log lines of that request. */
async function send(h: SmtpHarness, sink: SmtpSink, flags: number, n: number): Promise<{ status: number; lines: string[] }> {
  const { req } = await h.queue({ sender: 'alice@postern.test', recipients: [{ address: `rcpt${n}@remote.test` }], lines: ['Subject: cache', '', `message ${n}`] }, `[127.0.0.1]:${sink.port}`);
  req.flags = DEL_REQ_FLAG_DEFLT | flags;
  const reply = await h.deliver(SMTP_MODE.SMTP, req);
  return { status: reply.status, lines: h.logs.filter((l) => l.startsWith(`${req.queueId}: to=<`)) };
}

function connUse(line: string | undefined): number | null {
  const m = /, conn_use=(\d+),/.exec(line ?? '');
  return m ? Number(m[1]) : null;
}

describe('smtp connection cache', () => {
  afterEach(async () => {
    for (const { h, sink } of open.splice(0)) {
      h.close();
      await sink.stop();
    }
  });

  test('requests with the cache flags share one connection and log conn_use', async () => {
    const { h, sink, base } = await setup();
    const uses: Array<number | null> = [];
    for (let i = 1; i <= 3; i++) {
      const r = await send(h, sink, CACHE_FLAGS, i);
      assert.equal(r.status, DEL_STAT.OK, h.logs.join('\n'));
      assert.equal(r.lines.length, 1, h.logs.join('\n'));
      assert.match(r.lines[0]!, /status=sent \(250 /);
      uses.push(connUse(r.lines[0]));
    }
    assert.deepEqual(uses, [null, 2, 3], h.logs.join('\n'));
    // The sink prints its counters after it replies: wait for them.
    assert.equal((await sink.waitForMessages(3)).length, 3);
    assert.deepEqual(sink.sessionCounts(), base, 'the connection is still open');
    assert.equal(h.sessionCache(SMTP_MODE.SMTP).size, 1);
    h.sessionCache(SMTP_MODE.SMTP).closeAll();
    await waitFor('the sink to see the connection end', () => sink.sessionCounts().sessions === base.sessions + 1, CLOSE_WAIT_MS);
    // A cached connection is closed without QUIT, as scache(8) does.
    assert.equal(sink.sessionCounts().quits, base.quits);
  });

  test('without the flags every request connects and says QUIT', async () => {
    const { h, sink, base } = await setup();
    for (let i = 1; i <= 2; i++) {
      const r = await send(h, sink, 0, i);
      assert.equal(r.status, DEL_STAT.OK, h.logs.join('\n'));
      assert.equal(connUse(r.lines[0]), null);
    }
    await waitFor('two sessions with QUIT', () => sink.sessionCounts().quits === base.quits + 2, CLOSE_WAIT_MS);
    assert.equal(h.sessionCache(SMTP_MODE.SMTP).size, 0);
  });

  test('smtp_connection_cache_destinations caches without the flags', async () => {
    const { h, sink } = await setup({ smtp_connection_cache_destinations: '127.0.0.1' });
    await send(h, sink, 0, 1);
    const r = await send(h, sink, 0, 2);
    assert.equal(connUse(r.lines[0]), 2, h.logs.join('\n'));
  });

  test('smtp_connection_cache_on_demand = no ignores the flags', async () => {
    const { h, sink } = await setup({ smtp_connection_cache_on_demand: 'no' });
    await send(h, sink, CACHE_FLAGS, 1);
    const r = await send(h, sink, CACHE_FLAGS, 2);
    assert.equal(connUse(r.lines[0]), null, h.logs.join('\n'));
    assert.equal(h.sessionCache(SMTP_MODE.SMTP).size, 0);
  });

  test('an idle session is closed after smtp_connection_cache_time_limit', async () => {
    const { h, sink, base } = await setup({ smtp_connection_cache_time_limit: '1s' });
    await send(h, sink, CACHE_FLAGS, 1);
    assert.equal(h.sessionCache(SMTP_MODE.SMTP).size, 1);
    await waitFor('the idle session to be closed', () => sink.sessionCounts().sessions === base.sessions + 1, CLOSE_WAIT_MS);
    assert.equal(h.sessionCache(SMTP_MODE.SMTP).size, 0);
    const r = await send(h, sink, CACHE_FLAGS, 2);
    assert.equal(connUse(r.lines[0]), null, 'a new connection');
  });

  test('a session the server closed while idle is not reused', async () => {
    // smtp-sink -t 1: the sink drops a client that says nothing for a second.
    const { h, sink, base } = await setup({ smtp_connection_cache_time_limit: '30s' }, ['-t', '1']);
    await send(h, sink, CACHE_FLAGS, 1);
    await waitFor('the sink to drop the idle session', () => sink.sessionCounts().sessions === base.sessions + 1, CLOSE_WAIT_MS);
    await waitFor('the cache to forget it', () => h.sessionCache(SMTP_MODE.SMTP).size === 0, CLOSE_WAIT_MS);
    const r = await send(h, sink, CACHE_FLAGS, 2);
    assert.equal(r.status, DEL_STAT.OK, h.logs.join('\n'));
    assert.equal(connUse(r.lines[0]), null);
  });

  test('smtp_connection_reuse_count_limit ends a session with QUIT', async () => {
    const { h, sink, base } = await setup({ smtp_connection_reuse_count_limit: '1' });
    const uses: Array<number | null> = [];
    for (let i = 1; i <= 3; i++) uses.push(connUse((await send(h, sink, CACHE_FLAGS, i)).lines[0]));
    // Reused once, then QUIT; the third request connects again.
    assert.deepEqual(uses, [null, 2, null], h.logs.join('\n'));
    await waitFor('one session ended with QUIT', () => sink.sessionCounts().quits === base.quits + 1, CLOSE_WAIT_MS);
  });

  test('a session whose recipient was rejected is reused', async () => {
    // smtp-sink -f RCPT: every RCPT TO gets a 5xx.
    const { h, sink } = await setup({}, ['-f', 'RCPT']);
    const first = await send(h, sink, CACHE_FLAGS, 1);
    assert.match(first.lines[0] ?? '', /status=bounced .*in reply to RCPT TO command/, h.logs.join('\n'));
    const second = await send(h, sink, CACHE_FLAGS, 2);
    assert.equal(connUse(second.lines[0]), 2, h.logs.join('\n'));
  });
});
