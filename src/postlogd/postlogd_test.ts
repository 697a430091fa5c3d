/*
 * postlogd_test - postlogd in process (the skeleton without master): each
 * trigger becomes one line of maillog_file, including the records the REAL
 * Postfix postlog(1) sends to a postlog socket (here a datagram socket the
 * test binds and forwards from, as master does); without maillog_file
 * records are passed on to syslog (a socket the test binds). The same
 * daemon under the real master: test/system/postlogd_master_test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram } from '../../test/lib/paths.js';
import { tempDir, waitUntil } from '../../test/lib/temp_dir.js';
import { makeOracleConfig } from '../../test/lib/postfix_oracle.js';
import { loadMailConfig } from '../global/mail_conf.js';
import { createDgramSocket } from '../util/unix_dgram.js';
import { createPostlogd, POSTLOGD_MAX_RECORD, splitRecord } from './postlogd.js';

const REAL_POSTLOG = '/usr/sbin/postlog';
const STOP_MS = 2_000;

function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([p, new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`timeout: ${what}`)), ms).unref())]);
}

test('each trigger becomes one line; a trailing newline is not doubled; long records are cut', async (t) => {
  const dir = tempDir(t, 'postlogd-');
  const file = join(dir, 'maillog');
  const config = loadMailConfig({ configDir: dir, overrides: { maillog_file: file, maillog_file_prefixes: dir } });
  const { server, options } = createPostlogd(config);
  await server.init();
  const records = ['Nov 28 18:22:54 vm postfix/smtpd[1]: one', 'Nov 28 18:22:54 vm postfix/qmgr[2]: two\n', `Nov 28 18:22:54 vm t[3]: ${'z'.repeat(2000)}`];
  const long = `Nov 28 18:22:54 vm t[4]: ${'y'.repeat(POSTLOGD_MAX_RECORD)}`;
  await Promise.all([...records, long].map((r) => server.trigger(Buffer.from(r))));
  assert.equal(options.sink?.received, 4);
  server.stop();
  await within(server.done, STOP_MS, 'stop');
  const expected = [...records.map((r) => r.replace(/\n$/, '')), long.slice(0, POSTLOGD_MAX_RECORD)];
  assert.equal(readFileSync(file, 'utf8'), expected.join('\n') + '\n');
});

test('the real Postfix postlog logs through postlogd', async (t) => {
  assert.ok(existsSync(REAL_POSTLOG), `the oracle ${REAL_POSTLOG} is missing`);
  const oracle = makeOracleConfig({ prefix: 'postlogd-', confSubdir: '', queueDirs: ['public'], main: { data_directory: null, myhostname: 'mx1.example.com' } });
  t.after(() => oracle.cleanup());
  const dir = oracle.root;
  // postlogd writes a different file, to prove the record came through it.
  const viaServer = join(dir, 'via-postlogd.log');
  const config = loadMailConfig({ configDir: dir, overrides: { maillog_file: viaServer } });
  const { server, options } = createPostlogd(config);
  await server.init();
  // What master does for a unix-dgram service: one datagram, one trigger.
  const sock = createDgramSocket((msg) => void server.trigger(msg));
  const bound = new Promise<void>((resolve, reject) => {
    sock.once('listening', () => resolve());
    sock.once('error', reject);
  });
  sock.bind(join(oracle.queueDir, 'public', 'postlog'));
  await bound;
  t.after(() => {
    sock.close();
    server.abort();
  });
  const r = await runProgram(REAL_POSTLOG, ['-c', dir, '-p', 'warn', 'through', 'the', 'socket']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(await waitUntil(() => options.sink?.received === 1), 'no record reached postlogd');
  assert.equal(existsSync(oracle.maillog), false, 'the real postlog used the socket, not the file');
  assert.match(readFileSync(viaServer, 'utf8'), /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mx1 postfix\/postlog\[\d+\]: warning: through the socket\n$/);
});

test('without maillog_file, records go on to syslog with date and host stripped', async (t) => {
  const dir = tempDir(t, 'postlogd-');
  const syslogPath = join(dir, 'devlog');
  const got: string[] = [];
  const syslog = createDgramSocket((m) => got.push(m.toString()));
  syslog.bind(syslogPath);
  t.after(() => syslog.close());
  const config = loadMailConfig({ configDir: dir, overrides: { maillog_file: '', syslog_facility: 'local0' } });
  const { server } = createPostlogd(config, { syslogPath });
  await server.init();
  t.after(() => server.abort());
  await server.trigger(Buffer.from('Nov 28 18:22:54 vm postfix/smtpd[77]: warning: passed on'));
  assert.ok(await waitUntil(() => got.length === 1), 'nothing reached syslog');
  assert.match(got[0]!, new RegExp(`^<134>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d postfix/smtpd\\[77\\]\\[${process.pid}\\]: warning: passed on$`));
});

test('splitRecord', () => {
  const s = splitRecord(Buffer.from('Nov  3 01:02:03 vm postfix/smtpd[12]: text: more'));
  assert.equal(s?.tag, 'postfix/smtpd[12]');
  assert.equal(s?.text.toString(), 'text: more');
  assert.equal(splitRecord(Buffer.from('garbage')), null);
});
