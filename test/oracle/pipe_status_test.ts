/*
 * pipe_status_test - pipe(8) outcomes compared with the real Postfix pipe(8)
 *
 * What it tests: the same commands (exit 0 with output, sysexits 75 and
 * 67, exit 1, "4.x.x text" output, death by signal, a program that does
 * not exist, the time limit) run by the real Postfix 3.7 pipe(8) (a
 * throwaway instance, mail routed by transport_maps, results read from
 * its maillog) and by Postern's pipe(8) in-process; the delivery status
 * notation, the status word and the reason text of each log line must be
 * the same.
 *
 * What it does not test: delays (they differ by nature) or the bounce
 * messages (test/oracle/bounce_*).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeOracleConfig, ORACLE_MAIN_BASE, ORACLE_MAIL_SERVICES } from '../lib/postfix_oracle.js';
import { AgentHarness } from '../../src/global/agent_harness_test_lib.js';
import { createPipeDeliver, pipeService } from '../../src/pipe/pipe.js';

const PY = '/usr/bin/python3';
/** Bound on waiting for the oracle's log lines. */
const ORACLE_WAIT_MS = 30_000;

interface Case {
  transport: string;
  /** The python program (one argument), or null for `argv`. */
  script: string | null;
  argv?: string[];
}

const CASES: Case[] = [
  { transport: 'p0', script: 'import sys; sys.stdin.read(); print("hello out"); sys.exit(0)' },
  { transport: 'p75', script: 'import sys; sys.stdin.read(); print("busy now"); sys.exit(75)' },
  { transport: 'p67', script: 'import sys; sys.stdin.read(); sys.exit(67)' },
  { transport: 'p1', script: 'import sys; sys.stdin.read(); print("oops"); sys.exit(1)' },
  { transport: 'pdsn', script: 'import sys; sys.stdin.read(); print("4.7.1 try later"); sys.exit(1)' },
  { transport: 'psig', script: 'import os, sys; sys.stdin.read(); os.kill(os.getpid(), 9)' },
  { transport: 'phang', script: 'import time; time.sleep(30)' },
  { transport: 'pnoexec', script: null, argv: ['/nonexistent/prog', 'x'] },
];

function rcptOf(c: Case): string {
  return `${c.transport}@t.test`;
}

/** "dsn=X, status=Y (reason)" of a log line. */
function outcome(line: string): string {
  const m = /, dsn=(\S+), status=(\w+) \((.*)\)$/.exec(line);
  return m ? `${m[1]} ${m[2]} (${m[3]})` : `unparsed: ${line}`;
}

async function oracleOutcomes(): Promise<Map<string, string>> {
  const o = makeOracleConfig({
    prefix: 'postern-pipe-oracle-',
    ownedDirs: ['data'],
    main: {
      ...ORACLE_MAIN_BASE,
      alias_maps: '',
      local_recipient_maps: '',
      transport_maps: `inline:{ ${CASES.map((c) => `${rcptOf(c)}=${c.transport}`).join(', ')} }`,
      phang_time_limit: '2s',
    },
    master: [
      ...ORACLE_MAIL_SERVICES,
      ...CASES.map((c) => `${c.transport} unix - n n - - pipe user=nobody argv=${c.script !== null ? `${PY} -c {${c.script}}` : c.argv!.join(' ')}`),
    ],
  });
  try {
    await o.start();
    const r = await o.run('/usr/sbin/sendmail', ['-f', 's@x.test', ...CASES.map(rcptOf)], { input: 'Subject: t\n\nbody\n' });
    assert.equal(r.status, 0, r.stderr);
    const found = new Map<string, string>();
    const deadline = Date.now() + ORACLE_WAIT_MS;
    while (found.size < CASES.length && Date.now() < deadline) {
      for (const line of o.readLog().split('\n')) {
        const m = / to=<([^>]+)>, relay=p/.exec(line);
        if (m) found.set(m[1]!, outcome(line));
      }
      if (found.size < CASES.length) await new Promise((res) => setTimeout(res, 200));
    }
    assert.equal(found.size, CASES.length, o.readLog());
    return found;
  } finally {
    await o.cleanup();
  }
}

async function posternOutcome(h: AgentHarness, c: Case): Promise<string> {
  const args = ['user=nobody', ...(c.script !== null ? [`argv=${PY}`, '-c', c.script] : [`argv=${c.argv![0]}`, ...c.argv!.slice(1)])];
  const ctx = { config: h.config, serviceName: c.transport, serviceType: 'unix', programName: 'pipe', args, signal: new AbortController().signal };
  const q = await h.enqueue({ sender: 's@x.test', recipients: [{ address: rcptOf(c) }], lines: ['Subject: t', '', 'body'] });
  await h.deliver(createPipeDeliver(pipeService(ctx)), h.request(q, { nexthop: c.transport }), { name: c.transport, args });
  const line = h.logLines(new RegExp(`^${q.queueId}: to=<`));
  assert.equal(line.length, 1, h.logs.join('\n'));
  return outcome(line[0]!);
}

test('pipe: every outcome as the real Postfix pipe(8) logs it', async () => {
  const h = new AgentHarness({ phang_time_limit: '2s' });
  try {
    const [oracle, ours] = await Promise.all([oracleOutcomes(), Promise.all(CASES.map((c) => posternOutcome(h, c)))]);
    CASES.forEach((c, i) => assert.equal(ours[i], oracle.get(rcptOf(c)), `transport ${c.transport}`));
  } finally {
    h.close();
  }
});
