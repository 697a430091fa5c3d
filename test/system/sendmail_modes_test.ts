/*
 * sendmail_modes_test - the sendmail command's other modes, and maildrop to incoming
 *
 * What it does: runs the compiled sendmail against a temporary
 * configuration: -bs (a whole SMTP dialogue through smtpd -S into
 * maildrop), -q (the qmgr and pickup wakeups, caught on sockets of our
 * own; and the "mail system is down" error without them), the modes
 * that are not there yet (a clear fatal error), and the path of local
 * mail while the mail system is down: the message waits in maildrop,
 * and pickup hands it to cleanup at its next wakeup.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { commandPath, runProgram } from '../lib/paths.js';
import { tempDir } from '../lib/temp_dir.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { pickupScan } from '../../src/pickup/pickup.js';
import { msgSetSinks } from '../../src/util/msg.js';

function setup(t: { after(fn: () => void): void }): { conf: string; queue: string } {
  const root = tempDir(t, 'postern-sendmail-');
  const conf = join(root, 'etc');
  const queue = join(root, 'queue');
  for (const d of ['maildrop', 'incoming', 'public']) mkdirSync(join(queue, d), { recursive: true });
  mkdirSync(conf);
  writeFileSync(join(conf, 'main.cf'), `queue_directory = ${queue}\nmyhostname = test.example\nmydestination =\ncompatibility_level = 3.6\n`);
  return { conf, queue };
}

const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env };
  delete e.MAIL_CONFIG;
  delete e.NAME;
  return e;
};

const sendmail = (conf: string, args: string[], input = ''): ReturnType<typeof runProgram> =>
  runProgram(process.execPath, [commandPath('sendmail'), '-C', conf, ...args], { input, env: env(), timeoutMs: 20_000 });

test('sendmail -bs: an SMTP dialogue on stdin/stdout lands in maildrop', async (t) => {
  const { conf, queue } = setup(t);
  const r = await sendmail(conf, ['-bs'], 'HELO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^220 /);
  assert.match(r.stdout, /\r\n250 2\.0\.0 Ok: queued as [0-9A-F]+\r\n221 /);
  assert.equal(readdirSync(join(queue, 'maildrop')).length, 1);
});

function listen(path: string, got: Buffer[]): Promise<Server> {
  const server = createServer((s) => {
    s.on('data', (b: Buffer) => got.push(b));
    s.on('end', () => s.end());
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

test('sendmail -q: wakes up qmgr (F, A, D, I) and pickup (W), as the real one does through postqueue', async (t) => {
  const { conf, queue } = setup(t);
  const qmgr: Buffer[] = [];
  const pickup: Buffer[] = [];
  const servers = [await listen(join(queue, 'public', 'qmgr'), qmgr), await listen(join(queue, 'public', 'pickup'), pickup)];
  t.after(() => servers.forEach((s) => s.close()));
  const r = await sendmail(conf, ['-q']);
  assert.equal(r.status, 0, r.stderr);
  // A unix-socket trigger ends with a NUL, as Postfix's unix_trigger sends it.
  assert.equal(Buffer.concat(qmgr).toString(), 'FADI\0');
  assert.equal(Buffer.concat(pickup).toString(), 'W\0');
});

test('sendmail -q: says when the mail system is down', async (t) => {
  const { conf } = setup(t);
  const r = await sendmail(conf, ['-q']);
  assert.equal(r.status, 69);
  // Postfix's sendmail -q runs postqueue, which is the one that complains.
  assert.match(r.stderr, /postqueue: fatal: Cannot flush mail queue - mail system is down\n$/);
});

test('sendmail while the mail system is down: the message waits in maildrop, pickup takes it later', async (t) => {
  const { conf, queue } = setup(t);
  const r = await sendmail(conf, ['-f', 'me@test.example', 'you@x.example'], 'Subject: later\n\nbody\n');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /postdrop: warning: unable to look up public\/pickup: No such file or directory/);
  assert.equal(readdirSync(join(queue, 'maildrop')).length, 1);
  // The system comes up: cleanup on public/cleanup, pickup wakes up.
  const config = loadMailConfig({ configDir: conf });
  const service = cleanupService(config, { triggerQmgr: false });
  const server = createServer((s) => void service.serve(s));
  await new Promise<void>((res) => server.listen(join(queue, 'public', 'cleanup'), () => res()));
  t.after(() => server.close());
  const logs: string[] = [];
  msgSetSinks([{ write: (_s, text) => void logs.push(text) }]);
  try {
    assert.equal(await pickupScan(config), 1, logs.join('\n'));
  } finally {
    msgSetSinks([]);
  }
  assert.deepEqual(readdirSync(join(queue, 'maildrop')), []);
  assert.equal(readdirSync(join(queue, 'incoming')).length, 1);
  assert.ok(logs.some((l) => /^[0-9A-F]+: uid=\d+ from=<me@test\.example>$/.test(l)), logs.join('\n'));
});
