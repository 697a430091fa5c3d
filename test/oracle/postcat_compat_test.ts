/*
 * postcat_compat_test - queue files and postcat against the real Postfix, both directions
 *
 * (a) Postern writes a queue file (several recipients, an original
 *     recipient, named attributes, a crossed-off recipient, a line longer
 *     than line_length_limit split into L + N, 8-bit content); the real
 *     /usr/sbin/postcat must read it without complaint and print exactly
 *     what Postern's postcat prints, for every option set.
 * (b) A throwaway real Postfix instance (own config dir, queue_directory,
 *     data_directory, maillog_file; long queue IDs; hold hashed two deep)
 *     queues a message that header_checks puts on hold, and a maildrop
 *     file written by postdrop after the instance stopped. Postern's
 *     reader must parse them, its queuePath() must find them where Postfix
 *     put them, the queue ID must carry the file's inode and arrival time,
 *     and both postcats must print the same, also for -q.
 * (c) Truncated and garbage input: the same stdout, stderr text and exit
 *     status from both.
 *
 * Needs root (to run a Postfix instance) and the postfix package; fails
 * loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import { runCommand, runProgram } from '../lib/paths.js';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE, type OracleConfig, writeMainCf } from '../lib/postfix_oracle.js';
import { postcatMain } from '../../src/postcat/postcat.js';
import { FatalError, msgInit, msgSetSinks, msgSetVerbose, setFatalHandler, severityPrefix } from '../../src/util/msg.js';
import { deliverCompleted } from '../../src/global/deliver_completed.js';
import { parseQueueId, queuePath } from '../../src/global/mail_queue.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { QUEUE_ATTR, writeQueueFile } from '../../src/global/queue_file_write.js';
import { encodeRecord } from '../../src/global/record.js';
import { REC_TYPE, formatWarnRecord } from '../../src/global/rec_type.js';

const REAL_POSTCAT = '/usr/sbin/postcat';
const POSTFIX = '/usr/sbin/postfix';
const SENDMAIL = '/usr/sbin/sendmail';
const WAIT_STEP_MS = 100;
const WAIT_STEPS = 150;
const OPTION_SETS = [[], ['-o'], ['-v'], ['-ov'], ['-d'], ['-e'], ['-h'], ['-b'], ['-bh'], ['-eh'], ['-eb'], ['-odv'], ['-r'], ['-rv'], ['-s', '0'], ['-bho']];
const TZ = 'America/New_York';
const ENV = { ...process.env, TZ, LANG: 'C' };
// Our postcat runs in this process (a Node start per run is too slow for
// this many comparisons); its time stamps use this process's zone.
process.env.TZ = TZ;

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/*
 * The instance: long queue IDs, hold hashed two deep, header_checks
 * holding the test message; main.cf and master.cf are written in before().
 */
let oracle: OracleConfig;
let root: string;
let conf: string;
/*
 * The postcats read this one: the instance's queue settings without
 * maillog_file, because with maillog_file a Postfix command that logs a
 * warning waits about a second for postlogd.
 */
let pcConf: string;
let queueDir: string;

/** Real postcat -v adds library chatter on stderr; only our own lines matter. */
function mainLines(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => /: (warning|fatal|error): /.test(l) || /invalid option|requires an argument/.test(l))
    .map((l) => l.replace(/^\S*postcat: /, 'postcat: ').replace(/usage: \S*postcat /, 'usage: postcat '))
    .join('\n');
}

function runReal(args: string[], input?: Buffer): Run {
  const r = spawnSync(REAL_POSTCAT, ['-c', pcConf, ...args], { env: ENV, input: input ?? Buffer.alloc(0), timeout: 20_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

/** The same without blocking: Postfix sleeps a second before a fatal exit, so cases run side by side. */
function runRealAsync(args: string[], input?: Buffer): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(REAL_POSTCAT, ['-c', pcConf, ...args], { env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? Buffer.alloc(0));
  });
}

interface Case {
  args: string[];
  label: string;
  input?: Buffer;
}

/** Runs every case's real postcat at once, then compares each with ours in turn. */
async function assertSameAll(cases: Case[]): Promise<Run[]> {
  const reals = await Promise.all(cases.map((c) => runRealAsync(c.args, c.input)));
  for (let i = 0; i < cases.length; i++) {
    const c = cases[i]!;
    compareRuns(reals[i]!, await runOurs(c.args, c.input), c.args, c.label);
  }
  return reals;
}

function compareRuns(real: Run, ours: Run, args: string[], label: string): void {
  assert.ok(ours.stdout.equals(real.stdout), `${label}: stdout of postcat ${args.join(' ')}\n--- real\n${real.stdout.toString('latin1')}\n--- ours\n${ours.stdout.toString('latin1')}`);
  assert.equal(ours.status, real.status, `${label}: exit status of postcat ${args.join(' ')}`);
  assert.equal(mainLines(ours.stderr), mainLines(real.stderr), `${label}: diagnostics of postcat ${args.join(' ')}`);
}

/** Postern's postcat in this process: fatal errors throw instead of exiting, diagnostics are captured. */
async function runOurs(args: string[], input?: Buffer): Promise<Run> {
  const out: Buffer[] = [];
  const err: string[] = [];
  msgInit('postcat');
  msgSetSinks([{ write: (sev, text) => err.push(`postcat: ${severityPrefix(sev)}${text}\n`) }]);
  setFatalHandler((sev, text) => {
    throw new FatalError(sev, text);
  });
  let status = 0;
  try {
    status = await postcatMain(['-c', pcConf, ...args], {
      write: (b) => out.push(Buffer.from(b)),
      stdin: () => ({ data: input ?? Buffer.alloc(0), seekable: false }),
    });
  } catch (e) {
    if (!(e instanceof FatalError)) throw e;
    status = 1;
  } finally {
    msgSetSinks([]);
    setFatalHandler(null);
    msgSetVerbose(0);
  }
  return { status, stdout: Buffer.concat(out), stderr: err.join('') };
}

/** The compiled command, as a separate process: exit status and stdout/stderr as a user sees them. */
async function assertSameCli(args: string[], label: string): Promise<void> {
  const [real, ours] = await Promise.all([runRealAsync(args), runCommand('postcat', ['-c', pcConf, ...args], { env: ENV })]);
  assert.equal(ours.stdout, real.stdout.toString('utf8'), `${label}: stdout`);
  assert.equal(ours.status, real.status, `${label}: exit status`);
  assert.equal(mainLines(ours.stderr), mainLines(real.stderr), `${label}: stderr`);
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Files under a queue directory, relative to queue_directory. */
function queueFiles(queue: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, depth: number): void => {
    if (depth > 4 || !existsSync(dir)) return;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name), depth + 1);
      else out.push(relative(queueDir, join(dir, e.name)));
    }
  };
  walk(join(queueDir, queue), 0);
  return out;
}

async function waitForFile(queue: string): Promise<string> {
  for (let i = 0; i < WAIT_STEPS; i++) {
    const files = queueFiles(queue);
    if (files.length > 0) return files[0]!;
    await sleep(WAIT_STEP_MS);
  }
  throw new Error(`no file appeared in ${queue} within ${(WAIT_STEPS * WAIT_STEP_MS) / 1000}s; see ${join(root, 'maillog')}`);
}

const MESSAGE = Buffer.concat([
  Buffer.from('From: Alice <alice@example.org>\nTo: bob@example.net\nSubject: please hold this\nX-Folded: first\n\tsecond\n\n'),
  Buffer.from('Body line\n' + 'x'.repeat(3000) + '\n'),
  Buffer.from('caf\u00e9 \u00fcber\n', 'utf8'),
  Buffer.from([0xe9, 0x0a]),
  Buffer.from('.dot\n'),
]);

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (const p of [REAL_POSTCAT, POSTFIX, SENDMAIL]) assert.ok(existsSync(p), `${p} is missing: install the postfix package`);
  oracle = makeOracleConfig({
    prefix: 'postcat-compat-',
    ownedDirs: ['data'],
    main: {
      ...ORACLE_MAIN_BASE,
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      enable_long_queue_ids: 'yes',
      hash_queue_names: 'deferred, defer, hold',
      hash_queue_depth: '2',
      header_checks: 'regexp:$config_directory/header_checks',
    },
    master: [...ORACLE_MAIL_SERVICES],
  });
  root = oracle.root;
  conf = oracle.confDir;
  queueDir = oracle.queueDir;
  writeFileSync(join(conf, 'header_checks'), '/^Subject:.*hold/ HOLD\n');
  pcConf = join(root, 'postcat-conf');
  writeMainCf(pcConf, { queue_directory: queueDir, hash_queue_names: 'deferred, defer, hold', hash_queue_depth: '2' });
  await oracle.start();
});

after(async () => {
  await oracle?.cleanup();
});

test('(a) the real postcat reads a queue file Postern wrote, and prints what Postern prints', async () => {
  const ours = join(root, 'postern-queue');
  mkdirSync(join(ours, 'incoming'), { recursive: true });
  const eightBit = Buffer.from('caf\u00e9 \u00fcber', 'utf8');
  const { path, queueId } = await writeQueueFile(
    { queueDir: ours, queueName: 'incoming', longQueueIds: false, hashDepth: 1, hashQueues: ['deferred'] },
    {
      sender: 'alice@example.org',
      fullName: 'Alice Example',
      attrs: [
        [QUEUE_ATTR.RWR_CONTEXT, 'remote'],
        [QUEUE_ATTR.LOG_CLIENT_NAME, 'client.example'],
        [QUEUE_ATTR.LOG_CLIENT_ADDR, '127.0.0.1'],
      ],
      recipients: [
        { address: 'bob@example.net', original: 'Bob@example.net', dsnOrcpt: 'rfc822;Bob@example.net' },
        { address: 'carol@example.net', original: 'carol@example.net' },
        { address: 'dave@example.net', dsnNotify: 2 },
      ],
      lines: ['Received: from client.example', '\tby oracle.example', 'Subject: test', '', 'body', 'z'.repeat(5000), eightBit, Buffer.from([0xff, 0x00, 0x41]), '', 'end'],
      lineLimit: 2048,
      arrival: { sec: 1700000000, usec: 5 },
    },
  );
  const parsed = readQueueFile(path);
  assert.ok(parsed.ok);
  assert.deepEqual(await deliverCompleted(path, parsed.file.recipients[1]!.offset), { ok: true });
  const reals = await assertSameAll([
    ...OPTION_SETS.map((opts) => ({ args: [...opts, path], label: 'postern file' })),
    // Standard input (a pipe cannot seek) gives the same too.
    { args: [], label: 'postern file on stdin', input: readFileSync(path) },
    { args: ['-bh'], label: 'postern file on stdin, no envelope', input: readFileSync(path) },
  ]);
  for (const real of reals.slice(0, OPTION_SETS.length)) {
    assert.equal(real.status, 0);
    assert.equal(mainLines(real.stderr), '', `the real postcat complains about our file: ${real.stderr}`);
  }
  const real = runReal([path]).stdout.toString('latin1');
  assert.match(real, /^done_recipient: carol@example\.net$/m);
  assert.match(real, /^original_recipient: Bob@example\.net$/m);
  assert.match(real, /^named_attribute: dsn_orig_rcpt=rfc822;Bob@example\.net$/m);
  assert.match(real, /^message_arrival_time: Tue Nov 14 17:13:20 2023$/m);
  assert.ok(real.includes(`${'z'.repeat(5000)}\n`), 'L + N records join into one line');
  assert.ok(real.includes(`${eightBit.toString('latin1')}\n\xff`), '8-bit content comes out unchanged');
  await assertSameCli([path], 'postern file, as a command');
  assert.ok(queueId.length > 5);
});

test('(a) every record type prints with the name and format of the real postcat', async () => {
  const envelope: Array<[number, string]> = [
    [REC_TYPE.TIME, '1700000000 17'],
    [REC_TYPE.CTIME, '1700000001'],
    [REC_TYPE.FULL, 'Full Name'],
    [REC_TYPE.INSP, 'inspector:host'],
    [REC_TYPE.FILT, 'smtp:[127.0.0.1]:10025'],
    [REC_TYPE.FROM, 'sender@example'],
    [REC_TYPE.DONE, 'done@example'],
    [REC_TYPE.DRCP, 'canceled@example'],
    [REC_TYPE.ORCP, 'orig@example'],
    [REC_TYPE.RCPT, 'rcpt@example'],
    [REC_TYPE.WARN, formatWarnRecord(1700003600)],
    [REC_TYPE.ATTR, 'create_time=1700000002'],
    [REC_TYPE.ATTR, '  spaced  =  value  '],
    [REC_TYPE.ATTR, 'no equals sign'],
    [REC_TYPE.KILL, 'killed'],
    [REC_TYPE.RDR, 'redirect@example'],
    [REC_TYPE.FLGS, '1'],
    [REC_TYPE.DELAY, '2'],
    [REC_TYPE.VERP, '+='],
    [REC_TYPE.DSN_RET, '1'],
    [REC_TYPE.DSN_ENVID, 'envid'],
    [REC_TYPE.DSN_ORCPT, 'rfc822;o@example'],
    [REC_TYPE.DSN_NOTIFY, '6'],
    [REC_TYPE.MILT_COUNT, '3'],
    [REC_TYPE.PTR, '0'],
    [REC_TYPE.DTXT, 'padding text'],
    [REC_TYPE.PRIO, '5'],
    [REC_TYPE.RRTO, 'rr@example'],
    [REC_TYPE.ERTO, 'et@example'],
    [0x01, 'unknown type'],
    [REC_TYPE.FROM, Buffer.from('nul\0after', 'latin1').toString('latin1')],
  ];
  const buf = Buffer.concat([
    ...envelope.map(([t, v]) => encodeRecord(t, Buffer.from(v, 'latin1'))),
    encodeRecord(REC_TYPE.MESG),
    encodeRecord(REC_TYPE.NORM, 'Subject: x'),
    encodeRecord(REC_TYPE.CONT, 'partial '),
    encodeRecord(REC_TYPE.NORM, 'line'),
    encodeRecord(REC_TYPE.CONT, 'dangling'),
    encodeRecord(REC_TYPE.XTRA),
    encodeRecord(REC_TYPE.RRTO, 'rr2@example'),
    encodeRecord(REC_TYPE.END),
  ]);
  const f = join(root, 'all-types');
  writeFileSync(f, buf);
  await assertSameAll(
    [[], ['-v'], ['-o'], ['-d'], ['-ov'], ['-bh'], ['-bhv'], ['-r'], ['-rv'], ['-e']].map((opts) => ({ args: [...opts, f], label: 'all record types' })),
  );
});

test('(b) Postern reads a queue file the real Postfix wrote, and both postcats agree', async () => {
  const send = await runProgram(SENDMAIL, ['-C', conf, '-f', 'alice@example.org', 'bob@example.net', 'Carol@Example.NET', 'dave@example.net'], {
    input: MESSAGE,
  });
  assert.equal(send.status, 0, send.stderr);
  const rel = await waitForFile('hold');
  const full = join(queueDir, rel);
  const id = rel.split('/').pop()!;
  assert.equal(statSync(full).mode & 0o777, 0o700, 'Postfix marks complete files with 0700');

  // Where Postfix put it, and what its ID says.
  assert.equal(queuePath(queueDir, 'hold', id, { hashDepth: 2, hashQueues: ['deferred', 'defer', 'hold'] }), full);
  const pid = parseQueueId(id);
  assert.ok(pid && pid.longForm, `long queue ID expected: ${id}`);
  assert.equal(pid.inode, statSync(full, { bigint: true }).ino);

  // Postern's reader.
  const r = readQueueFile(full, { content: true });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  const qf = r.file;
  assert.equal(qf.sender, 'alice@example.org');
  // Locally submitted mail keeps postdrop's arrival time; the ID is made a moment later by cleanup.
  assert.ok(Math.abs((qf.arrival?.sec ?? 0) - pid.sec!) <= 10, 'the long ID carries the time of queueing');
  assert.deepEqual(
    qf.recipients.map((x) => [x.address, x.original, x.dsnOrcpt, x.done]),
    [
      ['bob@example.net', 'bob@example.net', 'rfc822;bob@example.net', false],
      ['Carol@Example.NET', 'Carol@Example.NET', 'rfc822;Carol@Example.NET', false],
      ['dave@example.net', 'dave@example.net', 'rfc822;dave@example.net', false],
    ],
  );
  assert.ok(qf.size);
  assert.equal(qf.size.rcptCount, 3);
  assert.equal(qf.size.dataOffset, qf.contentOffset);
  assert.equal(qf.size.contentSize, qf.extractedOffset - qf.contentOffset);
  assert.ok(qf.content!.some((t) => t.continued), 'the 3000-byte line was split by Postfix');

  await assertSameAll([
    ...OPTION_SETS.map((opts) => ({ args: [...opts, full], label: 'postfix file' })),
    { args: ['-q', id], label: 'postfix file by queue ID' },
    { args: ['-q', '-o', id], label: 'postfix file by queue ID' },
    { args: ['-q', 'NOSUCHID'], label: 'missing queue ID' },
    { args: ['-q', 'bad/id'], label: 'malformed queue ID' },
  ]);

  // Crossing off a recipient in a copy: the real postcat sees it done.
  const copy = join(root, 'copy-of-postfix-file');
  copyFileSync(full, copy);
  assert.deepEqual(await deliverCompleted(copy, qf.recipients[0]!.offset), { ok: true });
  const after = runReal(['-e', copy]).stdout.toString('latin1');
  assert.match(after, /^done_recipient: bob@example\.net$/m);
  assert.match(after, /^recipient: dave@example\.net$/m);
});

test('(b) a maildrop file from the real postdrop reads the same in both', async () => {
  const stop = await oracle.stop();
  assert.ok(stop, 'the instance was running');
  assert.equal(stop.status, 0, stop.stderr);
  const send = await runProgram(SENDMAIL, ['-C', conf, '-f', 'erin@example.org', 'frank@example.net'], { input: MESSAGE });
  assert.equal(send.status, 0, send.stderr);
  const rel = await waitForFile('maildrop');
  const full = join(queueDir, rel);
  const r = readQueueFile(full, { content: true });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(r.file.sender, 'erin@example.org');
  assert.deepEqual(r.file.recipients.map((x) => x.address), ['frank@example.net']);
  assert.equal(r.file.size, undefined, 'postdrop writes no size record');
  await assertSameAll([
    ...OPTION_SETS.map((opts) => ({ args: [...opts, full], label: 'maildrop file' })),
    { args: ['-q', rel.split('/').pop()!], label: 'maildrop file by queue ID' },
  ]);
});

test('(c) truncated and garbage input: same output, diagnostics and exit status', async () => {
  const src = queueFiles('hold').map((f) => join(queueDir, f))[0];
  assert.ok(src, 'the held message from the earlier test is needed');
  const whole = readFileSync(src);
  const cuts = [0, 1, 2, 50, 97, 98, 120, 300, whole.length - 3, whole.length - 2, whole.length - 1];
  const cases: Case[] = [];
  for (const cut of cuts) {
    const f = join(root, `cut-${cut}`);
    writeFileSync(f, whole.subarray(0, cut));
    for (const opts of [[], ['-e'], ['-bh']]) cases.push({ args: [...opts, f], label: `cut at ${cut}` });
    const r = readQueueFile(f);
    assert.equal(r.ok, false, `Postern's reader accepts a file cut at ${cut}`);
    if (!r.ok) assert.ok(r.error.message.startsWith(`${f}: `), r.error.message);
  }
  const garbage = join(root, 'garbage');
  writeFileSync(garbage, 'this is not a queue file\n');
  const badLen = join(root, 'bad-length');
  writeFileSync(badLen, Buffer.from([0x54, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  cases.push(
    { args: [garbage], label: 'garbage' },
    { args: [badLen], label: 'bad length' },
    { args: [join(root, 'no-such-file')], label: 'missing file' },
    { args: ['-x'], label: 'bad option' },
    { args: ['-s', 'abc', garbage], label: 'bad offset' },
    { args: ['-s', '100000'], label: 'skip past the end of stdin', input: Buffer.from('T\x011') },
    { args: [], label: 'empty stdin' },
    { args: [join(root, 'cut-0'), src], label: 'an empty file, then a good one' },
    { args: [join(root, 'cut-98'), src], label: 'a broken file stops before the next' },
    { args: ['-bh', src, src], label: 'two files, content only' },
  );
  const reals = await assertSameAll(cases);
  assert.match(reals[cases.length - 10]!.stderr, /input is not a valid queue file/);
  assert.equal(reals[cases.length - 9]!.status, 1);
  await Promise.all([
    assertSameCli(['-x'], 'bad option, as a command'),
    assertSameCli([badLen], 'bad length, as a command'),
    assertSameCli([join(root, 'no-such-file')], 'missing file, as a command'),
  ]);
});
