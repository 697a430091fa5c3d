/*
 * postlogd_test - records sent to the postlog socket are appended whole,
 * one per line, including those the REAL Postfix postlog(1) sends when it
 * finds a postlog socket in its queue directory; without maillog_file
 * they are passed on to syslog (a socket the test binds).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram } from '../../test/lib/paths.js';
import { tempDir, waitUntil } from '../../test/lib/temp_dir.js';
import { makeOracleConfig } from '../../test/lib/postfix_oracle.js';
import { createDgramSocket } from '../util/unix_dgram.js';
import { splitRecord, startPostlogd } from './postlogd.js';

const REAL_POSTLOG = '/usr/sbin/postlog';

test('datagrams become lines; the socket is world-writable', async (t) => {
  const dir = tempDir(t, 'postlogd-');
  const socketPath = join(dir, 'postlog');
  const file = join(dir, 'maillog');
  const server = startPostlogd({ socketPath, maillogFile: file });
  t.after(() => server.close());
  assert.equal(statSync(socketPath).mode & 0o777, 0o666);
  const client = createDgramSocket();
  const records = ['Nov 28 18:22:54 vm postfix/smtpd[1]: one', 'Nov 28 18:22:54 vm postfix/qmgr[2]: two\n', `Nov 28 18:22:54 vm t[3]: ${'z'.repeat(2000)}`];
  for (const r of records) client.send(Buffer.from(r), 0, Buffer.byteLength(r), socketPath);
  client.close();
  await waitUntil(() => server.received === records.length);
  assert.equal(readFileSync(file, 'utf8'), records.map((r) => r.replace(/\n$/, '')).join('\n') + '\n');
});

test('the real Postfix postlog logs through our postlogd', async (t) => {
  assert.ok(existsSync(REAL_POSTLOG), `the oracle ${REAL_POSTLOG} is missing`);
  const oracle = makeOracleConfig({ prefix: 'postlogd-', confSubdir: '', queueDirs: ['public'], main: { data_directory: null, myhostname: 'mx1.example.com' } });
  t.after(() => oracle.cleanup());
  const dir = oracle.root;
  const queue = oracle.queueDir;
  const maillog = oracle.maillog;
  const viaServer = join(dir, 'via-postlogd.log');
  // Our postlogd writes a different file, to prove the record came through it.
  const server = startPostlogd({ socketPath: join(queue, 'public', 'postlog'), maillogFile: viaServer });
  t.after(() => server.close());
  const r = await runProgram(REAL_POSTLOG, ['-c', dir, '-p', 'warn', 'through', 'the', 'socket']);
  assert.equal(r.status, 0, r.stderr);
  await waitUntil(() => server.received === 1);
  assert.equal(existsSync(maillog), false, 'the real postlog used the socket, not the file');
  assert.match(readFileSync(viaServer, 'utf8'), /^[A-Z][a-z]{2} \d\d \d\d:\d\d:\d\d mx1 postfix\/postlog\[\d+\]: warning: through the socket\n$/);
});

test('without maillog_file, records go on to syslog with date and host stripped', async (t) => {
  const dir = tempDir(t, 'postlogd-');
  const syslogPath = join(dir, 'devlog');
  const got: string[] = [];
  const syslog = createDgramSocket((m) => got.push(m.toString()));
  syslog.bind(syslogPath);
  t.after(() => syslog.close());
  const socketPath = join(dir, 'postlog');
  const server = startPostlogd({ socketPath, maillogFile: '', syslogPath, syslogFacility: 'local0' });
  t.after(() => server.close());
  const client = createDgramSocket();
  const rec = Buffer.from('Nov 28 18:22:54 vm postfix/smtpd[77]: warning: passed on');
  client.send(rec, 0, rec.length, socketPath);
  client.close();
  await waitUntil(() => got.length === 1);
  assert.match(got[0]!, new RegExp(`^<134>[A-Z][a-z]{2} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d postfix/smtpd\\[77\\]\\[${process.pid}\\]: warning: passed on$`));
});

test('splitRecord', () => {
  const s = splitRecord(Buffer.from('Nov  3 01:02:03 vm postfix/smtpd[12]: text: more'));
  assert.equal(s?.tag, 'postfix/smtpd[12]');
  assert.equal(s?.text.toString(), 'text: more');
  assert.equal(splitRecord(Buffer.from('garbage')), null);
});
