/*
 * postlog_syslog_test - differential test of the syslog path: with
 * maillog_file empty, Postern's postlog and the real Postfix postlog(1)
 * must send the same datagrams to /dev/log (priority from
 * syslog_facility and -p, "tag[pid]: ", severity word, masking, the
 * 2000-byte cap). The machine's /dev/log is never touched: both programs
 * run inside a private mount namespace (unshare -m, as root) whose /dev
 * is a fresh tmpfs holding only null, urandom and a /dev/log socket that
 * a helper script bound. Only the time stamp and the pid are normalised.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { commandPath, runProgram, srcPath } from '../lib/paths.js';
import { makeOracleConfig } from '../lib/postfix_oracle.js';

const REAL_POSTLOG = '/usr/sbin/postlog';
const UNSHARE = '/usr/bin/unshare';
const SYSLOG_STAMP = /^(<\d+>)[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d /;
const HELPER_TIMEOUT_MS = 60_000;

interface Case {
  label: string;
  args: string[];
  mainCf?: Record<string, string>;
}

const cases: Case[] = [
  { label: 'info, default facility mail', args: ['hello', 'syslog'] },
  { label: 'warning', args: ['-p', 'warn', 'w'] },
  { label: 'error', args: ['-p', 'err', 'e'] },
  { label: 'crit is fatal, LOG_CRIT', args: ['-p', 'crit', 'c'] },
  { label: 'facility local3', args: ['fac'], mainCf: { syslog_facility: 'local3' } },
  { label: 'facility daemon, warning', args: ['-p', 'warning', 'd'], mainCf: { syslog_facility: 'daemon' } },
  { label: 'syslog_name', args: ['named'], mainCf: { syslog_name: 'mypfx' } },
  { label: '-t tag', args: ['-t', 'tg', 'tagged'] },
  { label: 'masked control bytes', args: ['a\tb\x01c'] },
  { label: 'text capped at 2000 bytes', args: ['z'.repeat(2100)] },
];

let dir = '';

before(() => {
  assert.ok(existsSync(REAL_POSTLOG), `the oracle ${REAL_POSTLOG} is missing`);
  assert.ok(existsSync(UNSHARE), `${UNSHARE} (util-linux) is needed to give the test its own /dev/log`);
  assert.equal(process.getuid?.(), 0, 'this test needs root for a private mount namespace');
  dir = mkdtempSync(join(tmpdir(), 'postlog-syslog-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/* Runs inside the namespace: binds /dev/log, runs every case with both programs, prints JSON. */
function helperScript(): string {
  const dgram = pathToFileURL(srcPath('dist', 'src', 'util', 'unix_dgram.js')).href;
  return `
import { createDgramSocket } from ${JSON.stringify(dgram)};
import { spawn } from 'node:child_process';
const [realProg, ourProg, casesJson] = process.argv.slice(2);
const jobs = JSON.parse(casesJson);
const got = [];
const sock = createDgramSocket((m) => got.push(m.toString('latin1')));
sock.bind('/dev/log');
const run = (file, args) => new Promise((resolve) => {
  const child = spawn(file, args, { stdio: 'ignore' });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20000);
  child.on('close', (code) => { clearTimeout(timer); resolve(code); });
});
const settle = async (n) => {
  for (let i = 0; i < 200 && got.length < n; i++) await new Promise((r) => setTimeout(r, 10));
};
const out = [];
for (const job of jobs) {
  const before = got.length;
  const realStatus = await run(realProg, ['-c', job.confDir, ...job.args]);
  await settle(before + 1);
  const mid = got.length;
  const ourStatus = await run(process.execPath, [ourProg, '-c', job.confDir, ...job.args]);
  await settle(mid + 1);
  out.push({ realStatus, ourStatus, real: got.slice(before, mid), ours: got.slice(mid) });
}
sock.close();
process.stdout.write(JSON.stringify(out));
`;
}

test('same syslog datagrams as the real postlog', async () => {
  const jobs = cases.map((c, i) => {
    // Only queue_directory and the case's settings: maillog_file stays empty, so postlog uses syslog.
    const { confDir } = makeOracleConfig({
      root: join(dir, `case${i}`),
      confSubdir: '',
      main: { data_directory: null, maillog_file: null, maillog_file_prefixes: null, ...c.mainCf },
    });
    return { confDir, args: c.args };
  });
  const helper = join(dir, 'helper.mjs');
  writeFileSync(helper, helperScript());
  const inner = [
    'mount -t tmpfs tmpfs /dev',
    'mknod -m 666 /dev/null c 1 3',
    'mknod -m 666 /dev/urandom c 1 9',
    'exec "$0" "$@"',
  ].join(' && ');
  const r = await runProgram(
    UNSHARE,
    ['-m', '--propagation', 'private', 'sh', '-c', inner, process.execPath, helper, REAL_POSTLOG, commandPath('postlog'), JSON.stringify(jobs)],
    { timeoutMs: HELPER_TIMEOUT_MS },
  );
  assert.equal(r.status, 0, `helper failed: ${r.stderr}`);
  const results = JSON.parse(r.stdout) as Array<{ realStatus: number; ourStatus: number; real: string[]; ours: string[] }>;
  assert.equal(results.length, cases.length);
  const norm = (d: string): string => d.replace(SYSLOG_STAMP, '$1STAMP ').replace(/\[\d+\]: /, '[PID]: ');
  results.forEach((res, i) => {
    const label = cases[i]!.label;
    assert.equal(res.real.length, 1, `${label}: the real postlog sent one datagram`);
    assert.equal(res.ourStatus, res.realStatus, `${label}: exit status`);
    assert.deepEqual(res.ours.map(norm), res.real.map(norm), label);
    assert.match(res.ours[0]!, SYSLOG_STAMP, `${label}: time stamp shape`);
  });
});
