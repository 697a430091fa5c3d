/*
 * maillog_init_test - the choice between maillog_file and syslog, the tag
 * (syslog_name/service, default "postfix/"), maillog_file_prefixes, an
 * unknown syslog_facility, and an unopenable file (warning on stderr, the
 * records kept on stderr, the file used once it can be opened).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FatalError, msgFatal, msgInfo, msgSetSinks, msgWarn, msgError, setFatalHandler } from '../util/msg.js';
import { createDgramSocket } from '../util/unix_dgram.js';
import { tempDir, waitUntil } from '../../test/lib/temp_dir.js';
import { loadMailConfig } from './mail_conf.js';
import { currentMailLog, initMailLog, initMailLogFromConfig, maillogFileAllowed } from './maillog_init.js';

const STAMP = /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d /;

/** A temporary directory; the test's log sinks are undone before it goes. */
function mailLogTempDir(t: { after(fn: () => void): void }): string {
  return tempDir(t, 'maillog-init-', () => {
    currentMailLog()?.close();
    msgSetSinks([]);
    setFatalHandler(null);
  });
}



function fileLines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').slice(0, -1);
}

test('maillog_file: every severity, tag syslog_name/service, host label, pid', (t) => {
  const dir = mailLogTempDir(t);
  const file = join(dir, 'maillog');
  initMailLog({ syslogName: 'postfix', service: 'smtpd', maillogFile: file, hostname: 'mx1.example.com', stderrIfTty: false });
  msgInfo('connect from localhost[127.0.0.1]');
  msgWarn('w');
  msgError('e');
  const lines = fileLines(file);
  assert.equal(lines.length, 3);
  for (const l of lines) assert.match(l, STAMP);
  assert.deepEqual(
    lines.map((l) => l.replace(STAMP, '')),
    [
      `mx1 postfix/smtpd[${process.pid}]: connect from localhost[127.0.0.1]`,
      `mx1 postfix/smtpd[${process.pid}]: warning: w`,
      `mx1 postfix/smtpd[${process.pid}]: error: e`,
    ],
  );
});

test('fatal goes to the file too', (t) => {
  const dir = mailLogTempDir(t);
  const file = join(dir, 'maillog');
  initMailLog({ syslogName: 'postfix', service: 'qmgr', maillogFile: file, hostname: 'h', stderrIfTty: false });
  setFatalHandler((severity, text) => {
    throw new FatalError(severity, text);
  });
  assert.throws(() => initMailLogFatal(), FatalError);
  assert.match(fileLines(file)[0]!, /h postfix\/qmgr\[\d+\]: fatal: boom$/);
});

function initMailLogFatal(): never {
  return msgFatal('boom');
}

test('calling initMailLog again replaces the sinks (no duplicate records)', (t) => {
  const dir = mailLogTempDir(t);
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  initMailLog({ syslogName: 'postfix', service: 'one', maillogFile: a, stderrIfTty: false });
  initMailLog({ syslogName: 'postfix', service: 'two', maillogFile: b, stderrIfTty: false });
  msgInfo('once');
  assert.equal(readFileSync(a, 'utf8'), '');
  const lines = fileLines(b);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, / postfix\/two\[\d+\]: once$/);
});

test('maillog_file_prefixes: plain string prefix match, else fatal with Postfix text', (t) => {
  const dir = mailLogTempDir(t);
  assert.equal(maillogFileAllowed('/var/log/postfix.log', ['/var', '/dev/stdout']), true);
  assert.equal(maillogFileAllowed('/variable/x', ['/var']), true); // Postfix compares strings, not paths
  assert.equal(maillogFileAllowed('/tmp/x', ['/var', '/dev/stdout']), false);
  setFatalHandler((severity, text) => {
    throw new FatalError(severity, text);
  });
  assert.throws(
    () =>
      initMailLog({
        syslogName: 'postfix',
        service: 'smtpd',
        maillogFile: join(dir, 'x.log'),
        maillogFilePrefixes: ['/var', '/dev/stdout'],
        stderrIfTty: false,
      }),
    { message: `maillog_file value '${join(dir, 'x.log')}' does not match any prefix in maillog_file_prefixes` },
  );
});

test('from main.cf: syslog_name, maillog_file, prefixes, myhostname', (t) => {
  const dir = mailLogTempDir(t);
  const file = join(dir, 'maillog');
  writeFileSync(
    join(dir, 'main.cf'),
    `syslog_name = mypfx\nmaillog_file = ${file}\nmaillog_file_prefixes = /var, ${dir}\nmyhostname = mx2.example.org\n`,
  );
  initMailLogFromConfig(loadMailConfig({ configDir: dir }), 'cleanup');
  msgInfo('ABC123: message-id=<x@y>');
  assert.equal(fileLines(file)[0]!.replace(STAMP, ''), `mx2 mypfx/cleanup[${process.pid}]: ABC123: message-id=<x@y>`);
});

test('from main.cf: the default syslog_name gives "postfix/"', (t) => {
  const dir = mailLogTempDir(t);
  const file = join(dir, 'maillog');
  writeFileSync(join(dir, 'main.cf'), `maillog_file = ${file}\nmaillog_file_prefixes = ${dir}\nmyhostname = vm.localdomain\n`);
  initMailLogFromConfig(loadMailConfig({ configDir: dir }), 'smtpd');
  msgInfo('x');
  assert.equal(fileLines(file)[0]!.replace(STAMP, ''), `vm postfix/smtpd[${process.pid}]: x`);
});

test('from main.cf: maillog_file_permissions sets the mode of a new file (else 0644, as 3.7)', (t) => {
  const dir = mailLogTempDir(t);
  const file = join(dir, 'maillog');
  writeFileSync(join(dir, 'main.cf'), `maillog_file = ${file}\nmaillog_file_prefixes = ${dir}\nmaillog_file_permissions = 0600\n`);
  initMailLogFromConfig(loadMailConfig({ configDir: dir }), 'smtpd', { stderrIfTty: false });
  msgInfo('x');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const other = join(dir, 'maillog2');
  writeFileSync(join(dir, 'main.cf'), `maillog_file = ${other}\nmaillog_file_prefixes = ${dir}\n`);
  const mask = process.umask(0o022);
  try {
    initMailLogFromConfig(loadMailConfig({ configDir: dir }), 'smtpd', { stderrIfTty: false });
    msgInfo('y');
  } finally {
    process.umask(mask);
  }
  assert.equal(statSync(other).mode & 0o777, 0o644);
});

test('from main.cf: an unknown syslog_facility is fatal with Postfix text', (t) => {
  const dir = mailLogTempDir(t);
  writeFileSync(join(dir, 'main.cf'), 'syslog_facility = bogus\n');
  setFatalHandler((severity, text) => {
    throw new FatalError(severity, text);
  });
  assert.throws(() => initMailLogFromConfig(loadMailConfig({ configDir: dir }), 'smtpd'), {
    message: `file ${join(dir, 'main.cf')}: parameter syslog_facility: unrecognized value: bogus`,
  });
});

test('no maillog_file: syslog datagrams with syslog_facility', async (t) => {
  const dir = mailLogTempDir(t);
  const path = join(dir, 'log');
  const got: string[] = [];
  const sock = createDgramSocket((m) => got.push(m.toString()));
  sock.bind(path);
  t.after(() => sock.close());
  initMailLog({ syslogName: 'postfix', service: 'pickup', syslogFacility: 'local1', syslogPath: path, stderrIfTty: false });
  msgWarn('over syslog');
  await waitUntil(() => got.length >= 1);
  assert.equal(got.length, 1);
  assert.match(got[0]!, new RegExp(`^<140>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d postfix/pickup\\[${process.pid}\\]: warning: over syslog$`));
});

test('a file that cannot be opened: warning and records on stderr, then the file once it works', async (t) => {
  const dir = mailLogTempDir(t);
  const sub = join(dir, 'later');
  const file = join(sub, 'maillog');
  const url = new URL('./maillog_init.js', import.meta.url).href;
  const msgUrl = new URL('../util/msg.js', import.meta.url).href;
  const script = `
    import { initMailLog } from ${JSON.stringify(url)};
    import { msgInfo } from ${JSON.stringify(msgUrl)};
    import { mkdirSync } from 'node:fs';
    initMailLog({ syslogName: 'postfix', service: 'smtpd', maillogFile: ${JSON.stringify(file)}, hostname: 'h' });
    msgInfo('first');
    msgInfo('second');
    mkdirSync(${JSON.stringify(sub)});
    msgInfo('third');
  `;
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
  assert.equal(r.code, 0);
  const err = r.stderr.split('\n').filter((l) => l !== '');
  assert.equal(err[0], `postfix/smtpd: warning: open logfile '${file}': cannot create file exclusively: No such file or directory`);
  assert.equal(err.length, 3, r.stderr);
  assert.match(err[1]!, / h postfix\/smtpd\[\d+\]: first$/);
  assert.match(err[2]!, / h postfix\/smtpd\[\d+\]: second$/);
  mkdirSync(sub, { recursive: true });
  const lines = fileLines(file);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, / h postfix\/smtpd\[\d+\]: third$/);
});
