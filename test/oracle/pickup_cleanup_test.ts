/*
 * pickup_cleanup_test - our pickup against the real pickup(8), same maildrop file
 *
 * What it does: starts a throwaway real Postfix (pickup, cleanup,
 * trivial-rewrite; no qmgr, so queue files stay in incoming). For each
 * maildrop file (built record by record, as sendmail/postdrop or
 * postsuper -r leave them) it lets the real pickup take a copy and, with
 * the same bytes and time stamp, our pickupScan() take another, sending
 * to the same real cleanup(8); then it compares the two incoming files
 * with the real postcat (queue IDs, create time, Message-Id time
 * masked). Then it does the same with our pickup feeding our cleanup
 * (cleanupService in-process on a socket of its own) and compares that
 * incoming file with the real one. Bad files (unexpected record, no
 * sender) must be removed by both with no queue file made, and a file
 * still being written must stay. Checks our log line "uid=N from=<...>".
 *
 * What it does not do: test delivery (no qmgr).
 *
 * DIAGNOSTICS
 * Assertion failures name the case and show both postcat outputs.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runProgram } from '../lib/paths.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, writeMainCf, type OracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { encodeRecord } from '../../src/global/record.js';
import { pickupScan } from '../../src/pickup/pickup.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { msgSetSinks } from '../../src/util/msg.js';

const WAIT_MS = 30_000;
const FILE_TIME = 1_790_000_000;

type Rec = [string, string | Buffer];

const R = (t: string, d: string | Buffer = ''): Rec => [t, d];

interface Case {
  name: string;
  records: Rec[];
  /** Expect a queue file (false: the file is refused and removed). */
  good: boolean;
}

const base = (extra: Rec[] = [], content: Rec[] = [R('N', 'Subject: hi'), R('N', ''), R('N', 'body')], extracted: Rec[] = []): Rec[] => [
  R('T', `${FILE_TIME} 123456`),
  R('A', 'rewrite_context=local'),
  R('F', 'Joe Q'),
  R('S', 'joe@x.example'),
  ...extra,
  R('R', 'a@b.example'),
  R('M'),
  ...content,
  R('X'),
  ...extracted,
  R('E'),
];

const CASES: Case[] = [
  { name: 'plain submission', records: base(), good: true },
  { name: 'dsn attributes', records: [R('A', 'envelope_id=e1'), R('A', 'ret_flags=2'), ...base([R('A', 'notify_flags=10')])], good: true },
  { name: 'no time record', records: base().filter(([t]) => t !== 'T'), good: true },
  { name: 'content starts with white space', records: base([], [R('N', ' folded'), R('N', 'Subject: x'), R('N', ''), R('N', 'b')]), good: true },
  { name: 'extracted recipients', records: base([], undefined, [R('A', 'notify_flags=4'), R('R', 'x1@y'), R('A', 'junk=1'), R('R', 'x2@y')]), good: true },
  { name: 'long and 8-bit lines', records: base([], [R('N', 'Subject: x'), R('N', ''), R('L', 'a'.repeat(2048)), R('N', 'tail'), R('N', Buffer.from('caf\xe9 \xff', 'latin1')), R('L', 'no newline')]), good: true },
  { name: 'old filter and redirect records', records: base([R('L', 'smtp:[10.0.0.1]'), R('>', 'elsewhere@x')]), good: true },
  { name: 'unexpected record type', records: base([R('Z', 'what')]), good: false },
  { name: 'no sender', records: base().filter(([t]) => t !== 'S'), good: false },
  { name: 'record too long', records: base([], [R('N', 'x'.repeat(3000))]), good: false },
];

let real: OracleConfig;
let stage: string;
let stageConfig: MailConfig;
let oursQueue: OracleConfig;
let oursConfig: MailConfig;
let cleanupServer: Server;
const logs: string[] = [];

/** The file of case `i`: its envelope recipient is made unique (case<i>@b.example) to find its queue file. */
function fileBytes(records: Rec[], i = 0): Buffer {
  return Buffer.concat(
    records.map(([t, d]) => {
      const data = t === 'R' && d === 'a@b.example' ? `case${i}@b.example` : d;
      return encodeRecord(t.charCodeAt(0), typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    }),
  );
}

function incoming(queueDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(join(d, e.name));
    }
  };
  walk(join(queueDir, 'incoming'));
  return out.sort();
}

/** Places a maildrop file as postdrop would leave it, with a fixed time stamp. */
function placeMaildrop(queueDir: string, name: string, bytes: Buffer, mode = 0o744): string {
  const path = join(queueDir, 'maildrop', name);
  writeFileSync(path, bytes, { mode });
  chmodSync(path, mode);
  utimesSync(path, FILE_TIME, FILE_TIME);
  return path;
}

async function postcat(file: string): Promise<string> {
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', real.confDir, file], { env: real.env });
  assert.equal(r.status, 0, r.stderr);
  const ids = new Set<string>();
  for (const m of r.stdout.matchAll(/\b[0-9A-F]{10,12}\b/g)) ids.add(m[0]);
  let text = r.stdout;
  for (const id of ids) text = text.split(id).join('QUEUEID');
  return text
    .split('\n')
    .filter((l) => !l.startsWith('create_time:') && !l.startsWith('*** '))
    .map((l) => l.replace(/^Message-Id: <\d{14}\./, 'Message-Id: <TIME.'))
    .join('\n');
}

before(async () => {
  real = makeOracleConfig({
    prefix: 'postern-pickup-real-',
    ownedDirs: ['data'],
    main: { ...ORACLE_MAIN_BASE },
    master: ['pickup unix n - n 60 1 pickup', 'cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', 'postlog unix-dgram n - n - 1 postlogd'],
  });
  await real.start();
  const stageCfg = makeOracleConfig({ prefix: 'postern-pickup-stage-', main: { ...ORACLE_MAIN_BASE }, queueDirs: ['maildrop'] });
  stage = stageCfg.queueDir;
  stageConfig = loadMailConfig({ configDir: stageCfg.confDir });
  oursQueue = makeOracleConfig({ prefix: 'postern-pickup-ours-', main: { ...ORACLE_MAIN_BASE }, queueDirs: ['maildrop', 'incoming', 'public'] });
  writeMainCf(oursQueue.confDir, { ...ORACLE_MAIN_BASE, queue_directory: oursQueue.queueDir, maillog_file: '' });
  oursConfig = loadMailConfig({ configDir: oursQueue.confDir });
  const service = cleanupService(oursConfig, { triggerQmgr: false });
  cleanupServer = createServer((s) => void service.serve(s));
  await new Promise<void>((r) => cleanupServer.listen(join(oursQueue.queueDir, 'public', 'cleanup'), () => r()));
  (globalThis as { __stageCleanup?: OracleConfig }).__stageCleanup = stageCfg;
  msgSetSinks([{ write: (sev, text) => void logs.push(`${sev}: ${text}`) }]);
  await runAll();
});

after(async () => {
  msgSetSinks([]);
  await new Promise<void>((r) => (cleanupServer ? cleanupServer.close(() => r()) : r()));
  await real?.cleanup();
  await oursQueue?.cleanup();
  await (globalThis as { __stageCleanup?: OracleConfig }).__stageCleanup?.cleanup();
});

interface Outcome {
  real?: string;
  ours?: string;
  own?: string;
}
const outcomes: Outcome[] = CASES.map(() => ({}));
let oursLog: string[] = [];

/**
 * Maps the queue files made since `before` to their case by the unique
 * recipient; with `ids`, only the files of those queue IDs (the others
 * belong to the other pickup, which ran at the same time).
 */
async function assign(queueDir: string, before: string[], side: keyof Outcome, want: number, ids?: (id: string) => boolean): Promise<void> {
  let files: string[] = [];
  const fresh = (): string[] => incoming(queueDir).filter((f) => !before.includes(f) && (!ids || ids(f.slice(f.lastIndexOf('/') + 1))));
  await waitUntil(() => (files = fresh()).length >= want, WAIT_MS);
  // cleanup drops the files of sessions that were given up.
  await waitUntil(() => (files = fresh()).length === want, WAIT_MS);
  assert.equal(files.length, want, `${side}: queue files ${files.join(' ')}\n${real.readLog()}`);
  for (const f of files) {
    const text = await postcat(f);
    const m = /^recipient: case(\d+)@b\.example$/m.exec(text);
    assert.ok(m, `${f}: no case recipient\n${text}`);
    const o = outcomes[Number(m[1])]!;
    assert.equal(o[side], undefined, `two queue files for case ${m[1]}`);
    o[side] = text;
  }
}

function placeAll(queueDir: string): string[] {
  return CASES.map((c, i) => placeMaildrop(queueDir, `ABCDEF${String(i).padStart(5, '0')}`, fileBytes(c.records, i)));
}

async function runAll(): Promise<void> {
  const good = CASES.filter((c) => c.good).length;
  // The real pickup (one scan for every file) and ours, both to the real cleanup, at the same time.
  const realBefore = incoming(real.queueDir);
  const realPaths = placeAll(real.queueDir);
  const paths = placeAll(stage);
  logs.length = 0;
  const kick = await real.run('/usr/sbin/postkick', ['-c', real.confDir, 'public', 'pickup', 'W']);
  assert.equal(kick.status, 0, kick.stderr);
  assert.equal(await pickupScan(stageConfig, { cleanupEndpoint: join(real.queueDir, 'public', 'cleanup') }), CASES.length, logs.join('\n'));
  assert.ok(paths.every((p) => !existsSync(p)));
  oursLog = [...logs];
  assert.ok(await waitUntil(() => realPaths.every((p) => !existsSync(p)), WAIT_MS), `real pickup left files\n${real.readLog()}`);
  // Our queue IDs are in our log lines; the rest are the real pickup's.
  const ourIds = new Set(oursLog.map((l) => /^(?:info|warning): ([0-9A-F]+): /.exec(l)?.[1]).filter((x): x is string => !!x));
  await assign(real.queueDir, realBefore, 'real', good, (id) => !ourIds.has(id));
  await assign(real.queueDir, realBefore, 'ours', good, (id) => ourIds.has(id));
  // Ours, to our cleanup.
  const before3 = incoming(oursQueue.queueDir);
  placeAll(stage);
  assert.equal(await pickupScan(stageConfig, { cleanupEndpoint: join(oursQueue.queueDir, 'public', 'cleanup') }), CASES.length, logs.join('\n'));
  await assign(oursQueue.queueDir, before3, 'own', good);
}

CASES.forEach((c, i) => {
  test(`pickup oracle: ${c.name}`, () => {
    const o = outcomes[i]!;
    if (!c.good) {
      assert.deepEqual(o, {}, 'a refused file made a queue file');
      return;
    }
    assert.ok(o.real, 'the real pickup made no queue file');
    assert.equal(o.ours, o.real, 'our pickup + real cleanup');
    assert.equal(o.own, o.real, 'our pickup + our cleanup');
  });
});

test('pickup: log lines of our pickup', () => {
  // Every file with a sender and a clean envelope is logged, also the one whose content is bad.
  const good = CASES.filter((c) => c.good).length + 1;
  assert.equal(oursLog.filter((l) => /^info: [0-9A-F]+: uid=\d+ from=<joe@x\.example>$/.test(l)).length, good, oursLog.join('\n'));
  assert.ok(oursLog.some((l) => l === 'warning: uid=0: unexpected or malformed record type 90'), oursLog.join('\n'));
  assert.ok(oursLog.some((l) => /^warning: [0-9A-F]+: uid=0: no envelope sender$/.test(l)), oursLog.join('\n'));
});

test('pickup: a file still being written stays in maildrop', async () => {
  const path = placeMaildrop(stage, 'BCDEF000001', fileBytes(base(), 99), 0o644);
  assert.equal(await pickupScan(stageConfig, { cleanupEndpoint: join(oursQueue.queueDir, 'public', 'cleanup') }), 0);
  assert.ok(existsSync(path));
});

test('pickup: cleanup down keeps the file for the next wakeup', async () => {
  const path = placeMaildrop(stage, 'BCDEF000002', fileBytes(base(), 98));
  assert.equal(await pickupScan(stageConfig, { cleanupEndpoint: join(stage, 'public', 'nosuch') }), 0);
  assert.ok(existsSync(path));
  mkdirSync(join(stage, 'public'), { recursive: true });
});

async function waitFor(get: () => string[], n: number): Promise<string[]> {
  let got: string[] = [];
  await waitUntil(() => (got = get()).length >= n, WAIT_MS);
  assert.equal(got.length, n, `expected ${n} new queue file(s)\n${real.readLog()}`);
  return got;
}
