/*
 * postlog_test - differential test: Postern's postlog against the real
 * Postfix postlog(1) writing to a maillog_file in a temp config directory
 * (queue_directory points into the temp dir, so the real postlog finds no
 * postlogd and writes the file itself). Records are compared byte for
 * byte after replacing only the time stamp and the pid; our time stamp is
 * checked on its own against the "%b %d %H:%M:%S" shape.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { commandPath, runCommand, runProgram, type CommandResult } from '../lib/paths.js';
import { makeOracleConfig } from '../lib/postfix_oracle.js';

const REAL_POSTLOG = '/usr/sbin/postlog';
/** Cases run side by side, each in its own config directory. */
const CONCURRENCY = 4;
const STAMP = /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d /;

let dir = '';
let caseCount = 0;

/** A config directory of its own for one case, so cases can run side by side. */
function caseDir(extra: MainCfExtra = {}): { confDir: string; logFile: string } {
  const confDir = join(dir, `case${++caseCount}`);
  // queue_directory in the case directory: the real postlog finds no postlogd there.
  const { maillog } = makeOracleConfig({
    root: confDir,
    confSubdir: '',
    main: { myhostname: 'mx1.example.com', ...(typeof extra === 'function' ? extra(confDir) : extra) },
  });
  return { confDir, logFile: maillog };
}

function takeLog(logFile: string): string | null {
  if (!existsSync(logFile)) return null;
  const text = readFileSync(logFile, 'latin1');
  unlinkSync(logFile);
  return text;
}

function normalise(text: string | null): string | null {
  if (text === null) return null;
  return text
    .split('\n')
    .map((line) => line.replace(STAMP, 'STAMP ').replace(/\[\d+\]: /, '[PID]: '))
    .join('\n');
}

/** Settings added to main.cf; a function gets the case's config directory. */
type MainCfExtra = Record<string, string> | ((confDir: string) => Record<string, string>);

interface Case {
  label: string;
  args: string[];
  input?: Buffer | string;
  mainCf?: MainCfExtra;
}

interface Outcome {
  confDir: string;
  real: CommandResult;
  ours: CommandResult;
  realLog: string | null;
  ourLog: string | null;
}

async function both(c: Case): Promise<Outcome> {
  const { confDir, logFile } = caseDir(c.mainCf);
  const args = ['-c', confDir, ...c.args];
  const real = await runProgram(REAL_POSTLOG, args, { input: c.input ?? '' });
  const realLog = takeLog(logFile);
  const ours = await runCommand('postlog', args, { input: c.input ?? '' });
  const ourLog = takeLog(logFile);
  return { confDir, real, ours, realLog, ourLog };
}

before(() => {
  assert.ok(existsSync(REAL_POSTLOG), `the oracle ${REAL_POSTLOG} is missing: install the postfix package`);
  dir = mkdtempSync(join(tmpdir(), 'postlog-oracle-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const long = 'x'.repeat(2100);
const cases: Case[] = [
  { label: 'text from arguments', args: ['hello', 'world'] },
  { label: 'empty argument keeps its spaces', args: ['a', '', 'b'] },
  { label: '-p warn', args: ['-p', 'warn', 'w'] },
  { label: '-p warning', args: ['-p', 'warning', 'w'] },
  { label: '-p error', args: ['-p', 'error', 'e'] },
  { label: '-p err, attached value', args: ['-perr', 'e'] },
  { label: '-p is case-insensitive', args: ['-p', 'WARN', 'w'] },
  { label: '-p crit is fatal', args: ['-p', 'crit', 'c'] },
  { label: '-t tag', args: ['-t', 'mytag', 'tagged'] },
  { label: '-t empty tag', args: ['-t', '', 'untagged'] },
  { label: '-i is accepted and ignored', args: ['-i', 'with pid'] },
  { label: '-v -i combined', args: ['-vi', 'verbose'] },
  { label: 'options end at the first word', args: ['hello', '-p', 'warn', 'x'] },
  { label: '-- ends options', args: ['--', '-dash'] },
  { label: 'long argument text is capped', args: [long] },
  { label: 'long warning text is capped after "warning: "', args: ['-p', 'warn', long] },
  { label: 'stdin: one record per line, empty lines, no final newline', args: [], input: 'line one\nline two\n\nlast no nl' },
  { label: 'stdin: empty input logs nothing', args: [], input: '' },
  { label: 'stdin: control bytes, CR, tab, DEL masked', args: [], input: Buffer.from('ctl\x01x\ttab\x7f a\r\n', 'latin1') },
  { label: 'stdin: NUL ends the record text', args: [], input: Buffer.from('before\0after\nnext\n', 'latin1') },
  { label: 'stdin: invalid UTF-8 bytes', args: [], input: Buffer.from('bad \x80 \xc3 \xff\n', 'latin1') },
  { label: 'stdin: UTF-8 masked at compatibility_level 0', args: [], input: 'valid é ünï 中文\n' },
  {
    label: 'stdin: UTF-8 kept when smtputf8_enable is on (compatibility_level 3.6)',
    args: [],
    input: Buffer.concat([Buffer.from('valid é ünï 中文 😀 '), Buffer.from('\xc3 \x80 \xc3\xa9\xa9\n', 'latin1')]),
    mainCf: { compatibility_level: '3.6' },
  },
  { label: 'stdin: a very long line is capped, the next line still logged', args: ['-p', 'error'], input: `${'y'.repeat(5000)}\nshort\n` },
  {
    label: 'stdin: UTF-8 character straddling the cap',
    args: [],
    input: `${'a'.repeat(1999)}é\n${'b'.repeat(1998)}中\n`,
    mainCf: { compatibility_level: '3.6' },
  },
  { label: 'syslog_name from main.cf', args: ['named'], mainCf: { syslog_name: 'mypfx' } },
  { label: '-t overrides syslog_name', args: ['-t', 'other', 'x'], mainCf: { syslog_name: 'mypfx' } },
];

describe('same records as the real postlog', { concurrency: CONCURRENCY }, () => {
  for (const c of cases) {
    test(c.label, async () => {
      const { real, ours, realLog, ourLog } = await both(c);
      assert.equal(ours.status, real.status, `exit status (ours stderr: ${ours.stderr})`);
      assert.equal(normalise(ourLog), normalise(realLog));
      for (const line of (ourLog ?? '').split('\n').slice(0, -1)) {
        assert.match(line, STAMP, 'time stamp shape');
      }
    });
  }
});

interface ErrorCase {
  label: string;
  args: string[];
  mainCf?: MainCfExtra;
  /** Our fatal text on stderr (the real one goes to syslog when stderr is no terminal). */
  stderr: (d: string) => string;
}

const errorCases: ErrorCase[] = [
  { label: 'bad severity', args: ['-p', 'bogus', 'x'], stderr: () => 'postfix/postlog: fatal: bad severity: "bogus"' },
  {
    label: 'unknown option',
    args: ['-x', 'x'],
    stderr: () => 'postfix/postlog: fatal: usage: postlog [-c config_dir] [-i] [-p priority] [-t tag] [-v] [text]',
  },
  {
    label: 'maillog_file outside maillog_file_prefixes',
    args: ['x'],
    mainCf: { maillog_file_prefixes: '/var, /dev/stdout' },
    stderr: (d) => `postfix/postlog: fatal: maillog_file value '${join(d, 'maillog')}' does not match any prefix in maillog_file_prefixes`,
  },
  {
    label: 'maillog_file in a missing directory',
    args: ['x'],
    mainCf: (d) => ({ maillog_file: join(d, 'no-such-dir', 'x.log') }),
    stderr: (d) =>
      `postfix/postlog: fatal: open logfile '${join(d, 'no-such-dir', 'x.log')}': cannot create file exclusively: No such file or directory`,
  },
  {
    label: 'unknown syslog_facility',
    args: ['x'],
    mainCf: { syslog_facility: 'bogus' },
    stderr: (d) => `postfix/postlog: fatal: file ${join(d, 'main.cf')}: parameter syslog_facility: unrecognized value: bogus`,
  },
];

describe('fails like the real postlog', { concurrency: CONCURRENCY }, () => {
  for (const c of errorCases) {
    test(c.label, async () => {
      const { confDir, real, ours, realLog, ourLog } = await both(c);
      assert.equal(real.status, 1);
      assert.equal(ours.status, 1);
      assert.equal(ourLog, realLog);
      assert.ok(ours.stderr.split('\n').includes(c.stderr(confDir)), `stderr was: ${ours.stderr}`);
    });
  }
});

/*
 * With stderr on a terminal, postlog also shows "tag: text" there. The
 * terminal comes from util-linux script(1); its CRLF line ends are
 * normalised. Both programs run in one script session each.
 */
const SCRIPT = '/usr/bin/script';

test('stderr on a terminal shows the records as the real postlog does', async () => {
  assert.ok(existsSync(SCRIPT), `${SCRIPT} (util-linux) is needed for the terminal test`);
  const { confDir, logFile } = caseDir();
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const session = (prog: string): string =>
    [`${prog} -c ${quote(confDir)} -p warn on a tty`, `${prog} -c ${quote(confDir)} -t tg tagged`].join('; ');
  const ourProg = `${quote(process.execPath)} ${quote(commandPath('postlog'))}`;
  const real = await runProgram(SCRIPT, ['-qec', session(REAL_POSTLOG), '/dev/null']);
  const realLog = takeLog(logFile);
  const ours = await runProgram(SCRIPT, ['-qec', session(ourProg), '/dev/null']);
  const ourLog = takeLog(logFile);
  const tty = (s: string): string => s.replace(/\r\n/g, '\n');
  assert.equal(tty(real.stdout), 'postfix/postlog: warning: on a tty\ntg: tagged\n');
  assert.equal(tty(ours.stdout), tty(real.stdout));
  assert.equal(normalise(ourLog), normalise(realLog));
});
