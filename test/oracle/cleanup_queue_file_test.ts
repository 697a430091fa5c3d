/*
 * cleanup_queue_file_test - Postern's cleanup(8) writes the queue file the real cleanup writes
 *
 * What it does: starts a throwaway real Postfix master with cleanup,
 * trivial-rewrite and postlogd only (no qmgr, so every queue file stays
 * where cleanup put it) and, in this process, Postern's cleanup service
 * on UNIX sockets under its own queue directory, both configured from
 * the same main.cf. Several cleanup services with -o overrides (always
 * adding missing headers, a small message_size_limit, delay warnings)
 * exist on both sides. Each case sends the same record stream (as smtpd,
 * pickup or sendmail -t would: time, attributes, sender, recipients, 'M',
 * content lines, 'X', extracted records, 'E') with the same flags over
 * the real cleanup's socket and over ours (the client is Postern's
 * cleanup_clnt.ts), then compares the replies (status and reason) and
 * the real postcat's dump of both queue files (incoming or hold), after
 * masking queue ids, the create_time attribute and the time stamp in a
 * generated Message-Id. When the two queue ids differ in length the size
 * record is masked too (its offsets depend on the id's length). A
 * rejected message must leave no file on either side. The log lines each
 * side writes about the message (message-id=, warnings) must be equal.
 *
 * The master is stopped at the end and every temporary directory removed.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanupOpen } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_FLAG } from '../../src/global/cleanup_user.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { type MsgSink, msgSetSinks } from '../../src/util/msg.js';
import { ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, type OracleConfig, makeOracleConfig } from '../lib/postfix_oracle.js';
import { runProgram } from '../lib/paths.js';
import { CASES, type Rec } from './cleanup_queue_file_cases.js';

const START_WAIT_MS = 10_000;
const IO_TIMEOUT_MS = 10_000;
const LOG_WAIT_MS = 3_000;

/** Services on both sides: name -> main.cf overrides. */
export const VARIANTS: Record<string, Record<string, string>> = {
  cleanup: {},
  cleanup_add: { always_add_missing_headers: 'yes' },
  cleanup_small: { message_size_limit: '4000' },
  cleanup_warn: { delay_warning_time: '4h' },
  cleanup_hops: { hopcount_limit: '5' },
  cleanup_map: {
    virtual_alias_maps: 'inline:{virt@example.com=x1@example.com,self@example.com=self@example.com}',
    canonical_maps: 'inline:{joe@example.org=joseph@example.org}',
    masquerade_domains: 'sub.example.net',
    always_bcc: 'archive@example.com',
  },
  cleanup_hdr: { header_size_limit: '1000' },
  cleanup_noorcpt: { enable_original_recipient: 'no' },
  cleanup_obs: { header_from_format: 'obsolete' },
  cleanup_hbc: { header_checks: 'regexp:$config_directory/header_checks', body_checks: 'regexp:$config_directory/body_checks' },
};

/** header_checks and body_checks for the cleanup_hbc service. */
const HEADER_CHECKS = [
  '/^X-Reject:/ REJECT no thanks',
  '/^X-Defer:/ REJECT 4.7.1 later',
  '/^X-Drop:/ IGNORE',
  '/^X-Prepend:/ PREPEND X-Added: yes',
  '/^X-Replace: (.*)/ REPLACE X-Replaced: $1',
  '/^X-Hold:/ HOLD held',
  '/^X-Discard:/ DISCARD gone',
  '/^X-Filter:/ FILTER smtp:[127.0.0.1]:10025',
  '/^X-Redirect:/ REDIRECT other@example.com',
  '/^X-Bcc:/ BCC copy@example.com',
  '/^X-Warn:/ WARN watch this',
  '',
].join('\n');
const BODY_CHECKS = ['/^BODY-REJECT/ REJECT bad body', '/^BODY-DROP/ IGNORE', '/^BODY-REPLACE/ REPLACE replaced body line', ''].join('\n');

let oracle: OracleConfig | undefined;
let ourRoot = '';
const servers: Server[] = [];
const logs: string[] = [];

function masterLine(name: string, o: Record<string, string>): string {
  return [`${name} unix n - n - 0 cleanup`, ...Object.entries(o).map(([k, v]) => `-o ${k}=${v}`)].join(' ');
}

before(async () => {
  assert.equal(userInfo().uid, 0, 'this test starts a real Postfix master, which needs root');
  oracle = makeOracleConfig({
    prefix: 'postern-cleanup-oracle-',
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'queue/incoming', 'queue/hold', 'data'],
    main: {
      ...ORACLE_MAIN_BASE,
      myorigin: 'origin.example',
      undisclosed_recipients_header: 'To: undisclosed-recipients:;',
      // Without qmgr there are no in_flow tokens: do not wait for them.
      in_flow_delay: '0s',
    },
    master: [
      ...Object.entries(VARIANTS).map(([n, o]) => masterLine(n, o)),
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  writeFileSync(join(oracle.confDir, 'header_checks'), HEADER_CHECKS);
  writeFileSync(join(oracle.confDir, 'body_checks'), BODY_CHECKS);
  await oracle.startMaster(join(oracle.queueDir, 'private', 'rewrite'));
  for (const n of Object.keys(VARIANTS)) {
    const p = join(oracle.queueDir, 'public', n);
    const t0 = Date.now();
    while (!existsSync(p)) {
      assert.ok(Date.now() - t0 < START_WAIT_MS, `no ${p}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  ourRoot = join(oracle.root, 'ours');
  for (const d of ['incoming', 'hold', 'public']) mkdirSync(join(ourRoot, d), { recursive: true });
  const base = loadMailConfig({ configDir: oracle.confDir, overrides: { queue_directory: ourRoot } });
  for (const [n, o] of Object.entries(VARIANTS)) {
    const svc = cleanupService(base.withOverrides(o), { triggerQmgr: false });
    const server = createServer((sock) => void svc.serve(sock));
    await new Promise<void>((r) => server.listen(join(ourRoot, 'public', n), r));
    servers.push(server);
  }
  const sink: MsgSink = { write: (sev, text) => void logs.push(`${sev}: ${text}`) };
  msgSetSinks([sink]);
});

after(async () => {
  msgSetSinks([]);
  for (const s of servers) await new Promise((r) => s.close(r));
  await oracle?.cleanup();
});

interface Outcome {
  queueId: string;
  status: number;
  reason: string;
  file: string | null;
}

async function send(queueDir: string, service: string, flags: number, recs: Rec[]): Promise<Outcome> {
  const r = await cleanupOpen({ queueDir, flags, endpoint: join(queueDir, 'public', service), timeoutMs: IO_TIMEOUT_MS });
  if (!r.ok) assert.fail(r.reason);
  const s = r.session;
  for (const [type, data] of recs) s.record(type, data);
  const reply = await s.end();
  let file: string | null = null;
  for (const q of ['incoming', 'hold']) {
    const p = join(queueDir, q, s.queueId);
    if (existsSync(p)) file = p;
  }
  return { queueId: s.queueId, status: reply.status, reason: reply.reason, file };
}

async function postcat(file: string): Promise<string> {
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', oracle!.confDir, file], { timeoutMs: IO_TIMEOUT_MS });
  assert.equal(r.status, 0, `postcat ${file}: ${r.stderr}`);
  return r.stdout;
}

/** Log lines about one queue id: "[warning: ]QUEUEID: text", generated Message-Id stamps masked. */
function logLines(lines: string[], id: string): string[] {
  return lines
    .filter((l) => l.includes(`${id}: `))
    .map((l) => l.split(id).join('QUEUEID').replace(/<\d{14}\.QUEUEID@/g, '<STAMP.QUEUEID@'));
}

/** The real cleanup's lines for a queue id, as "[warning: ]ID: text", once there are `want` of them (bounded wait). */
async function theirLog(id: string, want: number): Promise<string[]> {
  const t0 = Date.now();
  for (;;) {
    const lines = oracle!
      .readLog()
      .split('\n')
      .map((l) => /postfix\/cleanup\w*\[\d+\]: (.*)$/.exec(l)?.[1] ?? '')
      .filter((l) => l !== '');
    const mine = logLines(lines, id);
    if (mine.length >= want || Date.now() - t0 > LOG_WAIT_MS) return mine;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function mask(text: string, o: Outcome, maskSize: boolean): string {
  let t = text.split(o.file!).join('FILE').split(o.queueId).join('QUEUEID');
  t = t.replace(/^create_time: .*$/m, 'create_time: MASKED').replace(/<\d{14}\.QUEUEID@/g, '<STAMP.QUEUEID@');
  if (maskSize) t = t.replace(/^message_size: .*$/m, 'message_size: MASKED');
  return t;
}

describe('cleanup queue files equal the real cleanup\'s', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const service = c.service ?? 'cleanup';
      const flags = c.flags ?? CLEANUP_FLAG.MASK_EXTERNAL;
      const theirs = await send(oracle!.queueDir, service, flags, c.records);
      logs.length = 0;
      const ours = await send(ourRoot, service, flags, c.records);
      try {
        assert.deepEqual({ status: ours.status, reason: ours.reason }, { status: theirs.status, reason: theirs.reason }, 'reply');
        if (c.expectStatus !== undefined) assert.equal(ours.status, c.expectStatus, 'status');
        const ourLog = logLines(logs.map((l) => l.replace(/^info: /, '')), ours.queueId);
        assert.deepEqual(ourLog, await theirLog(theirs.queueId, ourLog.length), 'log lines');
        assert.equal(ours.file === null, theirs.file === null, `file left: ours ${ours.file} theirs ${theirs.file}`);
        if (ours.file && theirs.file) {
          assert.equal(ours.file.includes('/hold/'), theirs.file.includes('/hold/'), 'queue');
          const maskSize = ours.queueId.length !== theirs.queueId.length;
          const a = mask(await postcat(ours.file), ours, maskSize);
          const b = mask(await postcat(theirs.file), theirs, maskSize);
          assert.equal(a, b);
        }
      } finally {
        for (const f of [ours.file, theirs.file]) if (f) rmSync(f, { force: true });
      }
    });
  }

  it('left no stray files behind', () => {
    for (const q of ['incoming', 'hold']) assert.deepEqual(readdirSync(join(ourRoot, q)), [], q);
  });
});

