/*
 * msg_syslog_test - the syslog datagram shape for every severity and for
 * syslog_facility, the length cap, congestion handling and that logging
 * never keeps a process alive. Each test binds its own datagram socket in
 * a temp directory; nothing is sent to the machine's /dev/log. Expected
 * datagrams were captured from the real postlog(1) (glibc syslog(3)):
 *   "<22>Nov 28 18:22:13 postfix/postlog[6409]: hello syslog"
 *   "<20>... warning: w", "<19>... error: e", "<18>... fatal: f",
 *   "<18>... panic: p", facility local3: "<158>...".
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Severity } from './msg.js';
import { formatSyslogDatagram, syslogFacilityCode, syslogMsgSink, MSG_SYSLOG_RECLEN } from './msg_syslog.js';
import { createDgramSocket, type DgramSocket } from './unix_dgram.js';
import { tempDir, waitUntil } from '../../test/lib/temp_dir.js';

const WHEN = new Date(2026, 10, 28, 18, 22, 13);
const EARLY = new Date(2026, 10, 3, 4, 5, 6);



function listen(path: string): { sock: DgramSocket; got: Buffer[]; wait(n: number): Promise<void> } {
  const got: Buffer[] = [];
  const sock = createDgramSocket((msg) => got.push(msg));
  sock.bind(path);
  return {
    sock,
    got,
    async wait(n: number) {
      await waitUntil(() => got.length >= n);
    },
  };
}

test('datagram shape for every severity (mail facility)', () => {
  const want: Array<[Severity, string]> = [
    ['info', '<22>Nov 28 18:22:13 postfix/postlog[6409]: hello'],
    ['warning', '<20>Nov 28 18:22:13 postfix/postlog[6409]: warning: hello'],
    ['error', '<19>Nov 28 18:22:13 postfix/postlog[6409]: error: hello'],
    ['fatal', '<18>Nov 28 18:22:13 postfix/postlog[6409]: fatal: hello'],
    ['panic', '<18>Nov 28 18:22:13 postfix/postlog[6409]: panic: hello'],
  ];
  for (const [severity, line] of want) {
    const d = formatSyslogDatagram({ date: WHEN, facility: 2, severity, tag: 'postfix/postlog', pid: 6409, text: 'hello', utf8: false });
    assert.equal(d.toString(), line);
  }
});

test('day of month is space padded like syslog(3); text capped at 2000 bytes', () => {
  const d = formatSyslogDatagram({ date: EARLY, facility: 2, severity: 'info', tag: 't', pid: 1, text: 'z'.repeat(2100), utf8: false });
  assert.equal(d.toString(), `<22>Nov  3 04:05:06 t[1]: ${'z'.repeat(MSG_SYSLOG_RECLEN)}`);
});

test('facility names as Postfix accepts them on Linux', () => {
  assert.equal(syslogFacilityCode('mail'), 2);
  assert.equal(syslogFacilityCode('local3'), 19);
  assert.equal(syslogFacilityCode('local7'), 23);
  assert.equal(syslogFacilityCode('authpriv'), 10);
  assert.equal(syslogFacilityCode('security'), undefined);
  assert.equal(syslogFacilityCode('bogus'), undefined);
  assert.equal(syslogFacilityCode('toString'), undefined);
});

test('sink sends one datagram per record to the socket it is given', async (t) => {
  const path = join(tempDir(t, 'msg-syslog-'), 'log');
  const server = listen(path);
  t.after(() => server.sock.close());
  const sink = syslogMsgSink({ tag: 'mypfx/smtpd', facility: 'local3', path, now: () => WHEN });
  sink.write('info', 'connect from localhost[127.0.0.1]');
  sink.write('warning', 'tab\there');
  sink.writeRaw('error', Buffer.from('raw\0cut'));
  await server.wait(3);
  assert.deepEqual(
    server.got.map((b) => b.toString()),
    [
      `<158>Nov 28 18:22:13 mypfx/smtpd[${process.pid}]: connect from localhost[127.0.0.1]`,
      `<156>Nov 28 18:22:13 mypfx/smtpd[${process.pid}]: warning: tab?here`,
      `<155>Nov 28 18:22:13 mypfx/smtpd[${process.pid}]: error: raw`,
    ],
  );
  sink.close();
});

test('nobody listening: records are dropped without an exception', (t) => {
  const path = join(tempDir(t, 'msg-syslog-'), 'absent');
  const complaints: string[] = [];
  const sink = syslogMsgSink({ tag: 't', path, complain: (l) => complaints.push(l) });
  sink.write('info', 'lost');
  sink.close();
  assert.equal(sink.pendingCount, 0);
});

function runNode(script: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

test('a process that logged to syslog still exits by itself', async (t) => {
  const dir = tempDir(t, 'msg-syslog-');
  const path = join(dir, 'log');
  const server = listen(path);
  t.after(() => server.sock.close());
  const url = new URL('./msg_syslog.js', import.meta.url).href;
  const script = `
    import { syslogMsgSink } from ${JSON.stringify(url)};
    const sink = syslogMsgSink({ tag: 'postfix/test', path: process.argv[1] });
    for (let i = 0; i < 5; i++) sink.write('info', 'record ' + i);
    setTimeout(() => sink.write('info', 'later'), 20);
  `;
  const r = await runNode(script, [path], 10_000);
  assert.equal(r.code, 0, `exited by itself (stderr: ${r.stderr})`);
  await server.wait(6);
  assert.equal(server.got.length, 6);
});

test('a congested syslog daemon: records wait and all arrive in order', async (t) => {
  const dir = tempDir(t, 'msg-syslog-');
  const path = join(dir, 'log');
  const go = join(dir, 'go');
  const total = 3000;
  // The receiver binds, says so, and reads nothing until the go file appears.
  const url = new URL('./unix_dgram.js', import.meta.url).href;
  const receiver = `
    import { createDgramSocket } from ${JSON.stringify(url)};
    import { existsSync } from 'node:fs';
    const [path, want, go] = [process.argv[1], Number(process.argv[2]), process.argv[3]];
    let n = 0, bad = 0;
    const sock = createDgramSocket((msg) => {
      const m = / seq (\\d+)$/.exec(msg.toString());
      if (!m || Number(m[1]) !== n) bad++;
      n++;
      if (n === want) { console.log('got ' + n + ' bad ' + bad); sock.close(); }
    });
    sock.bind(path);
    console.log('ready');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    for (let i = 0; i < 1000 && !existsSync(go); i++) Atomics.wait(nap, 0, 0, 10);
    setTimeout(() => { console.log('got ' + n + ' bad ' + bad); process.exit(1); }, 10000).unref();
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', receiver, path, String(total), go], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  t.after(() => {
    clearTimeout(killer);
    child.kill('SIGKILL');
  });
  let out = '';
  const done = new Promise<void>((resolve) => child.on('close', () => resolve()));
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready')) resolve();
    });
  });
  const complaints: string[] = [];
  const sink = syslogMsgSink({ tag: 't', path, complain: (l) => complaints.push(l) });
  for (let i = 0; i < total; i++) sink.write('info', `${'p'.repeat(200)} seq ${i}`);
  assert.ok(sink.pendingCount > 0, 'the receiver queue filled and records were held');
  writeFileSync(go, '');
  await done;
  assert.match(out, new RegExp(`got ${total} bad 0`));
  assert.deepEqual(complaints, []);
  sink.close();
});
