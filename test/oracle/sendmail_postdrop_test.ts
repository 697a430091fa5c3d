/*
 * sendmail_postdrop_test - our sendmail+postdrop against the real ones, maildrop file by maildrop file
 *
 * What it does: for each case (options and standard input), runs the
 * real /usr/sbin/sendmail (which runs the real postdrop) against one
 * throwaway configuration and our sendmail (which runs our postdrop)
 * against another, then compares: exit status, standard error and
 * output (the program's own words), whether a maildrop file was made,
 * its mode, and the real postcat's rendering of the two files with
 * queue IDs, paths and the arrival time masked.
 *
 * What it does not do: start any daemon (postdrop's pickup wakeup fails
 * in both, with the same warning), or test -bs/-q (other tests).
 *
 * DIAGNOSTICS
 * Assertion failures show the case name and both sides.
 */
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { commandPath, runProgram, type CommandResult } from '../lib/paths.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, type OracleConfig } from '../lib/postfix_oracle.js';

interface Case {
  name: string;
  args: string[];
  input: string | Buffer;
}

const long = (n: number, ch = 'x'): string => ch.repeat(n);

const CASES: Case[] = [
  { name: 'plain', args: ['a@b.example'], input: 'Subject: hi\n\nbody\n' },
  {
    name: 'dsn and sender options',
    args: ['-f', 'Joe <joe@x.example>', '-F', 'Joe Q. Public', '-N', 'success,delay', '-V', 'envid 1', '-R', 'hdrs', 'a@b.example', 'c@d, Name <e@f>'],
    input: 'Subject: hi\n\nbody\n',
  },
  { name: 'null sender', args: ['-f', '', 'a@b'], input: 'Subject: x\n\nbody\n' },
  { name: 'malformed -f list', args: ['-f', 'a@b, c@d', 'x@y'], input: 'Subject: x\n\nbody\n' },
  { name: '-r sender', args: ['-r', 'bounce@x.example', 'a@b'], input: 'Subject: x\n\nbody\n' },
  { name: '-t To Cc Bcc', args: ['-t'], input: 'To: a@b, Joe <c@d>\nCc: x@y\nBcc: hidden@z\nSubject: t\n\nbody\n' },
  { name: '-t folded To', args: ['-t'], input: 'To: a@b,\n  "Some One" <c@d>,\n\te@f\nSubject: t\n\nbody\n' },
  { name: '-t Resent-To wins', args: ['-t'], input: 'To: a@b\nResent-To: r@s\nCc: x@y\nResent-Cc: rc@s\n\nbody\n' },
  { name: '-t plus command line', args: ['-t', 'extra@q'], input: 'To: a@b\n\nbody\n' },
  { name: '-t long header line', args: ['-t'], input: `To: a@b\nX-Long: ${long(3000)}\nSubject: t\n\nbody\n` },
  { name: '-t no headers', args: ['-t', 'x@y'], input: '\nbody only\n' },
  { name: 'From_ lines and CRLF with -i', args: ['-i', 'a@b'], input: 'From me Sat Nov 28\r\n>From you\r\nSubject: x\r\n\r\nbody\r\n.\r\nafter dot\r\nFrom inside\r\n' },
  { name: 'dot ends input', args: ['a@b'], input: 'Subject: x\n\nline\n..two\n.hidden\n.\nnot read\n' },
  { name: 'dot kept with -oi', args: ['-oi', 'a@b'], input: 'Subject: x\n\nline\n.\nstill read\n' },
  { name: 'long body line', args: ['a@b'], input: `Subject: x\n\n${long(5000)}\n${long(2048, 'y')}\nend\n` },
  { name: 'no trailing newline', args: ['a@b'], input: 'Subject: x\n\nlast line' },
  { name: '8-bit content', args: ['-B', '8BITMIME', 'a@b'], input: Buffer.concat([Buffer.from('Subject: caf\xe9\n\n', 'latin1'), Buffer.from('héllo wörld ✓\n', 'utf8'), Buffer.from([0xff, 0xfe, 0x0a])]) },
  { name: 'empty input', args: ['a@b'], input: '' },
  { name: '-N never, -G', args: ['-N', 'never', '-G', 'a@b'], input: 'Subject: x\n\nbody\n' },
  { name: 'bad -N, bad -R, long -V', args: ['-N', 'bogus', '-R', 'nope', '-V', long(101), 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: '-XV and old -V xy', args: ['-f', 'list@x.example', '-V', '+=', 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: '-XV explicit', args: ['-f', 'list@x.example', '-XV', 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: '-v delivery report', args: ['-v', 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: 'ignored options', args: ['-oem', '-odb', '-m', '-U', '-L', 'tag', '-h', '5', 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: 'empty address argument', args: ['<>', 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: 'no recipients', args: [], input: 'Subject: x\n\nb\n' },
  { name: '-t without recipients', args: ['-t'], input: 'Subject: x\n\nb\n' },
  { name: '-XV with null sender', args: ['-f', '', '-XV', 'a@b'], input: 'Subject: x\n\nb\n' },
  { name: 'bad -B', args: ['-B', 'foo', 'a@b'], input: 'Subject: x\n\nb\n' },
];

/** Cases run this many at a time (each has its own pair of configurations). */
const CONCURRENCY = 4;

interface Side {
  result: CommandResult;
  mode: number | null;
  postcat: string | null;
}

const configs: OracleConfig[] = [];
const outcomes = new Map<string, { real: Side; ours: Side }>();

function env(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  delete e.NAME;
  delete e.MAIL_CONFIG;
  return e;
}

async function postcat(confDir: string, file: string): Promise<string> {
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', confDir, file], { env: env() });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('message_arrival_time:'))
    .map((l) => l.replace(/\*\*\* (.*) \S+ \*\*\*/, '*** $1 FILE ***'))
    .join('\n');
}

async function side(cfg: OracleConfig, run: () => Promise<CommandResult>): Promise<Side> {
  const result = await run();
  const dir = join(cfg.queueDir, 'maildrop');
  const files = readdirSync(dir).map((f) => join(dir, f));
  assert.ok(files.length <= 1, `${dir}: ${files.length} files`);
  if (files.length === 0) return { result, mode: null, postcat: null };
  return { result, mode: statSync(files[0]!).mode & 0o7777, postcat: await postcat(cfg.confDir, files[0]!) };
}

async function runCase(c: Case): Promise<void> {
  const main = { ...ORACLE_MAIN_BASE };
  const real = makeOracleConfig({ prefix: 'postern-sm-real-', main, queueDirs: ['maildrop'] });
  const ours = makeOracleConfig({ prefix: 'postern-sm-ours-', main, queueDirs: ['maildrop'] });
  configs.push(real, ours);
  const [a, b] = await Promise.all([
    side(real, () => runProgram(POSTFIX_PROGRAMS.sendmail, ['-C', real.confDir, ...c.args], { input: c.input, env: env() })),
    side(ours, () => runProgram(process.execPath, [commandPath('sendmail'), '-C', ours.confDir, ...c.args], { input: c.input, env: env() })),
  ]);
  outcomes.set(c.name, { real: a, ours: b });
}

before(async () => {
  const queue = [...CASES];
  const workers = Array.from({ length: CONCURRENCY }, async () => {
    for (let c = queue.shift(); c; c = queue.shift()) await runCase(c);
  });
  await Promise.all(workers);
});

after(async () => {
  for (const cfg of configs) await cfg.cleanup();
});

for (const c of CASES) {
  test(`sendmail oracle: ${c.name}`, () => {
    const o = outcomes.get(c.name);
    assert.ok(o, 'case did not run');
    const { real: a, ours: b } = o;
    const show = `\nreal: ${a.result.status} ${a.result.stderr}\nours: ${b.result.status} ${b.result.stderr}`;
    assert.equal(b.result.status, a.result.status, `exit status${show}`);
    assert.equal(b.result.stderr, a.result.stderr, `stderr${show}`);
    assert.equal(b.result.stdout, a.result.stdout, 'stdout');
    assert.equal(b.mode, a.mode, `maildrop file mode (null: no file)${show}`);
    assert.equal(b.postcat, a.postcat);
  });
}
