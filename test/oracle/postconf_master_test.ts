/*
 * postconf_master_test - postconf's master.cf modes against the real postconf
 *
 * What it does: runs Postern's postconf and Postfix's /usr/sbin/postconf
 * with -c on copies of the same configuration (src/postconf/testdata/master_modes, or
 * a small master.cf written by the case) and requires the same standard
 * output byte for byte, the same warnings (as a sorted set of lines, since
 * Postfix reports some of them in hash-table order), the same exit status
 * and, for edits, the same resulting master.cf.
 *
 * What it does not do: test main.cf modes (postconf_*_test.ts of their
 * own) or start any Postfix daemon.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCommand, runProgram, srcPath, type CommandResult } from '../lib/paths.js';
import { backdate } from '../lib/postfix_oracle.js';
import { ORACLE_PARALLEL } from './postconf_oracle_lib.js';

const REAL_POSTCONF = '/usr/sbin/postconf';
const FIXTURE = srcPath('src', 'postconf', 'testdata', 'master_modes');
const RUN_TIMEOUT_MS = 30_000;
/** Cases run side by side; each has its own directories (see ORACLE_PARALLEL). */
const PARALLEL = ORACLE_PARALLEL;

let root = '';

before(() => {
  assert.ok(existsSync(REAL_POSTCONF), `the oracle ${REAL_POSTCONF} is missing: install the postfix package`);
  root = mkdtempSync(join(tmpdir(), 'postern-pcf-master-'));
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

let dirCount = 0;
/** A fresh configuration directory: the fixture, or main.cf + the given master.cf. */
function makeDir(masterCf?: string): string {
  const dir = join(root, `c${dirCount++}`);
  cpSync(FIXTURE, dir, { recursive: true });
  if (masterCf !== undefined) {
    writeFileSync(join(dir, 'main.cf'), '');
    writeFileSync(join(dir, 'master.cf'), masterCf);
  }
  // Postfix treats fresh configuration files as still being edited.
  for (const f of ['main.cf', 'master.cf']) backdate(join(dir, f));
  return dir;
}

/** Warning lines with the directory and the oracle's argv[0] made comparable, sorted. */
function sortedLines(text: string, dir: string): string[] {
  return text
    .split(dir)
    .join('DIR')
    .split(`${REAL_POSTCONF}:`)
    .join('postconf:')
    .split('\n')
    .filter((l) => l !== '')
    .sort();
}

function compare(label: string, real: CommandResult, ours: CommandResult, realDir: string, ourDir: string): void {
  assert.equal(ours.signal, null, `${label}: Postern's postconf was killed (timeout?)`);
  assert.equal(real.signal, null, `${label}: the real postconf was killed (timeout?)`);
  assert.equal(ours.stdout, real.stdout, `${label}: standard output (our stderr: ${ours.stderr.slice(0, 400)})`);
  assert.deepEqual(sortedLines(ours.stderr, ourDir), sortedLines(real.stderr, realDir), `${label}: warnings`);
  assert.equal(ours.status, real.status, `${label}: exit status`);
}

async function runBoth(realDir: string, ourDir: string, args: string[]): Promise<[CommandResult, CommandResult]> {
  const opts = { timeoutMs: RUN_TIMEOUT_MS, env: { ...process.env, MAIL_CONFIG: '' } };
  return Promise.all([
    runProgram(REAL_POSTCONF, ['-c', realDir, ...args], opts),
    runCommand('postconf', ['-c', ourDir, ...args], opts),
  ]);
}

/** Read-only modes: both programs read the same directory. */
async function checkShow(args: string[], masterCf?: string): Promise<void> {
  const dir = makeDir(masterCf);
  const [real, ours] = await runBoth(dir, dir, args);
  compare(args.join(' '), real, ours, dir, dir);
}

/** Edit modes: each program edits its own copy; the files must end up equal. */
async function checkEdit(args: string[], masterCf?: string): Promise<void> {
  const realDir = makeDir(masterCf);
  const ourDir = makeDir(masterCf);
  const [real, ours] = await runBoth(realDir, ourDir, args);
  const label = args.join(' ');
  compare(label, real, ours, realDir, ourDir);
  assert.equal(
    readFileSync(join(ourDir, 'master.cf'), 'latin1'),
    readFileSync(join(realDir, 'master.cf'), 'latin1'),
    `${label}: resulting master.cf`,
  );
  // Postfix leaves master.cf.tmp behind when it stops on an error; we never do.
  const realFiles = readdirSync(realDir).filter((f) => f !== 'master.cf.tmp');
  assert.deepEqual(readdirSync(ourDir).sort(), realFiles.sort(), `${label}: files left behind`);
}

describe('postconf master.cf display modes vs Postfix', { concurrency: PARALLEL }, () => {
  const cases: string[][] = [
    ['-M'],
    ['-Mf'],
    ['-Mx'],
    ['-Mfx'],
    ['-M', 'relay'],
    ['-M', 'relay/unix', 'smtp', 'nosuch/unix'],
    ['-M', '*/inet'],
    ['-M', 'a/b/c'],
    ['-M', '/unix'],
    ['-F'],
    ['-Ff'],
    ['-Fx'],
    ['-F', '*/*/command'],
    ['-Fh', '*/*/process_limit'],
    ['-F', 'relay', 'pickup/unix/wakeup'],
    ['-F', 'relay/unix/maxproc'],
    ['-P'],
    ['-Pf'],
    ['-Px'],
    ['-Ph'],
    ['-P', 'submission/inet/smtpd_client_restrictions', 'relay/*/*'],
    ['-P', 'smtp/inet/nosuch'],
    ['-P', '-o', 'myhostname=other.example', '-x', 'relay'],
    // -H: names without values, as the real postconf prints them.
    ['-FH'],
    ['-FH', 'relay', '*/*/command'],
    ['-FHf', 'smtp/inet'],
    ['-FHh'],
    ['-PH'],
    ['-PH', 'smtp/inet/smtpd_tls_security_level', '*/*/syslog_name'],
    ['-PHx', 'relay'],
    ['-PHf', 'submission/inet'],
  ];
  for (const args of cases) test(args.join(' '), () => checkShow(args));
});

describe('postconf master.cf edit modes vs Postfix', { concurrency: PARALLEL }, () => {
  const cases: string[][] = [
    ['-Me', 'relay/unix=relay unix - - n - 20 smtp -o syslog_name=postfix/relay'],
    ['-Me', 'new/unix=new unix - n n - - pipe flags=R user=nobody argv=/bin/cat'],
    ['-Me', 'relay/unix=relay2 unix - - n - - smtp'],
    ['-Me', 'other/unix=relay unix - - n - - smtp'],
    ['-e', '-M', 'relay/unix=relay unix - - n - - smtp'],
    ['-Me', 'x/unix=x unix - - n - - smtp', 'x/unix=x unix - - n - 7 smtp'],
    ['-Me', 'relay/unix'],
    ['-Me', 'relay/unix=relay unix - -'],
    ['-Me', 'relay/unix=relay unix - - n bad - smtp'],
    ['-MX', '127.0.0.1:10025/inet'],
    ['-MX', '*/unix'],
    ['-MX', 'nosuch/unix'],
    ['-MX', 'relay'],
    ['-MX', 'relay/unix=x'],
    ['-M#', '127.0.0.1:10025/inet', 'spamfilter/unix'],
    ['-M#', '#relay/unix'],
    ['-Fe', 'relay/unix/chroot=n'],
    ['-Fe', '127.0.0.1:10025/inet/process_limit=5'],
    ['-Fe', 'spamfilter/unix/command=pipe flags=q -o a=b argv=/bin/filter ${sender}'],
    ['-Fe', 'relay/unix/wakeup=soon'],
    ['-Fe', 'relay/unix/type=a b'],
    ['-Fe', 'relay/unix/*=x'],
    ['-Fe', 'nosuch/unix/type=inet'],
    ['-Pe', 'relay/unix/syslog_name=postfix/other'],
    ['-Pe', '127.0.0.1:10025/inet/content_filter=smtp:[127.0.0.1]:10026'],
    ['-Pe', 'smtp/inet/smtpd_tls_security_level=may', 'submission/inet/syslog_name=sub'],
    ['-Pe', '*/unix/syslog_name=everyone'],
    ['-Pe', 'smtp/inet/x=two words'],
    ['-PX', '127.0.0.1:10025/inet/smtpd_client_restrictions'],
    ['-PX', 'relay/unix/syslog_name', 'nosuch/unix/x'],
  ];
  for (const args of cases) test(args.join(' '), () => checkEdit(args));
});

describe('postconf master.cf syntax vs Postfix', { concurrency: PARALLEL }, () => {
  const files: Array<[string, string]> = [
    ['bad type', 'smtp inet n - n - - smtpd\nfoo bad n - n - - smtpd\n'],
    ['bad private', 'foo unix x - n - - smtpd\n'],
    ['bad unprivileged', 'foo unix - yy n - - smtpd\n'],
    ['bad chroot', 'foo unix - - 1 - - smtpd\n'],
    ['bad wakeup', 'foo unix - - n 1x - smtpd\n'],
    ['odd wakeups', 'foo unix - - n ? - smtpd\nbar unix - - n -? - smtpd\n'],
    ['bad maxproc', 'foo unix - - n - -1 smtpd\n'],
    ['missing command', 'smtp inet n - n - - smtpd\n\nfoo unix - - n - 1\n'],
    ['entry split over lines', 'foo unix - -\n# comment\n\n  n - 1 smtpd\n'],
    ['leading white space', '  foo unix - - n - 1 smtpd and more and more text\nbar unix - - n - 1 smtpd\n'],
    ['unbalanced brace', 'foo unix - - n - 1 smtpd -o {a = b\n'],
    ['text after brace', 'foo unix - - n - 1 smtpd -o {a = b}x\n'],
    ['braced value without =', 'foo unix - - n - 1 smtpd -o {a b} -o { = b}\n'],
    ['braced arguments', 'foo unix - - n - 1 pipe x {a b {c}} }x{ {} -- {y}\n'],
    ['option forms', 'foo unix - - n - 1 smtpd -o{a=b} -vo{c = d} -oinet_protocols=ipv4 - -o\n'],
    ['tabs and CR', 'foo\tunix\t-\t-\tn\t-\t1\tsmtpd\t-o\ta=b\r\n'],
    ['unterminated last line', 'foo unix - - n - 1 smtpd\n  -o a=b'],
  ];
  // Column errors stop postconf before any mode runs; -P also shows how -o values were read.
  const BRACE_CASES = /brace|option|tabs|unterminated|-o/;
  for (const [label, text] of files) {
    test(label, () => checkShow(BRACE_CASES.test(label) ? ['-Pf'] : ['-Mf'], text));
  }
  const expansions: Array<[string, string]> = [
    ['macro syntax errors', 'a unix - - n - - smtp -o a=${x -o b=$$c -o c=${myhostname:{x y}}\n'],
    ['read-only settings', 'a unix - - n - - /x/smtpd -o a=$service_name -o b=${process_name} -o service_name=z -o process_id=1\n'],
    ['undefined and user-defined names', 'a unix - - n - - smtp -o a=$b -o b=$undefined_here -o c=${d?{x}:{y}} -o e=$a\n'],
  ];
  for (const [label, text] of expansions) {
    test(label, async () => {
      await checkShow(['-Mx'], text);
      await checkShow(['-P'], text);
    });
  }
  test('missing master.cf', async () => {
    const dir = makeDir('');
    rmSync(join(dir, 'master.cf'));
    const [real, ours] = await runBoth(dir, dir, ['-M']);
    compare('-M without master.cf', real, ours, dir, dir);
  });
  test('display modes need main.cf', async () => {
    const dir = makeDir();
    rmSync(join(dir, 'main.cf'));
    const [real, ours] = await runBoth(dir, dir, ['-M']);
    compare('-M without main.cf', real, ours, dir, dir);
  });
  test('edits keep non-ASCII bytes and count columns in bytes', async () => {
    await checkEdit(['-Pe', 'relay/unix/smtp_helo_name=h\u00e9lo.example']);
    await checkEdit(['-Me', '\u00fc/unix=\u00fc unix - - n - - smtp']);
  });
  test('edits keep an unterminated last line', () => checkEdit(['-M#', 'foo/unix'], 'foo unix - - n - 1 smtpd\n  -o a=b'));
  test('edits reject lines they cannot parse', async () => {
    // Postfix stops counting lines after an entry it gathered for -Pe.
    const counted = 'a unix - - n - - smtp\n  -o x=1\n  -o y=2\n# c\nb unix - - n - - smtp\nbad\n';
    // Each check has its own directories: they run side by side (each real postconf sleeps before its fatal exit).
    await Promise.all([
      checkEdit(['-MX', 'a/b'], 'a\n  unix - - n - - smtp\n'),
      checkEdit(['-MX', 'a/b'], 'a=b unix - - n - - smtp\n'),
      checkEdit(['-MX', 'a/b'], 'a b/c - - n - - smtp\n'),
      checkEdit(['-Pe', 'a/unix/x=2'], counted),
      checkEdit(['-MX', 'a/unix'], counted),
    ]);
  });
});
