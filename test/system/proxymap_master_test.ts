/*
 * proxymap_master_test - Postern's proxymap and proxywrite under Postern's master, used by real and Postern clients
 *
 * What it does: a Postern instance runs master with Postfix's default
 * entries "proxymap unix - - n - - proxymap" and "proxywrite unix - - n
 * - 1 proxymap" (workers drop to mail_owner when the test runs as root).
 * The real Postfix postmap -q through private/proxymap must give what
 * the real postmap gives reading the same texthash: file through the
 * real proxymap semantics (here: the file's own keys, folded by the
 * client); Postern's proxy: client reads the same; through proxywrite
 * our client adds and deletes entries of an lmdb: table (built by the
 * real postmap, owned by mail_owner) and the real postmap -s of the file
 * shows the result; the real postmap -d through proxywrite deletes.
 * Postern's smtpd uses a proxy: access table (REJECT with its text) and
 * turns a proxied table that cannot be opened into a 451 4.3.x reply,
 * never "not found".
 *
 * DIAGNOSTICS
 * Assertion failures show the maillog.
 */
import assert from 'node:assert/strict';
import { chownSync, existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MAIL_IN_SERVICES, PosternInstance } from '../lib/instance.js';
import { SmtpTestClient } from '../lib/smtp_client.js';
import { runProgram } from '../lib/paths.js';
import { postfixIds } from '../lib/postfix_oracle.js';
import { dictCacheClear, dictOpen } from '../../src/global/dict.js';
import { dictProxyClientsClose } from '../../src/global/dict_proxy.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { msgSetSinks } from '../../src/util/msg.js';

const POSTMAP = '/usr/sbin/postmap';
const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  msgSetSinks([]);
  dictProxyClientsClose();
  for (const c of cleanups.reverse()) await c();
});

test('proxymap and proxywrite under master serve the real postmap and our client', async () => {
  assert.ok(existsSync(POSTMAP), `${POSTMAP} is missing: install the postfix package`);
  const inst = await PosternInstance.create({
    prefix: 'postern-proxymap-master-',
    masterLines: [...MAIL_IN_SERVICES, 'proxymap unix - - n - - proxymap', 'proxywrite unix - - n - 1 proxymap'],
    ports: ['smtp'],
    main: {
      compatibility_level: '3.6',
      mydestination: '',
      proxy_read_maps: 'proxy:texthash:${root}/aliases proxy:lmdb:${root}/data/rw proxy:texthash:${root}/access proxy:texthash:${root}/gone',
      smtpd_recipient_restrictions:
        'check_recipient_access proxy:texthash:${root}/access, check_sender_access proxy:texthash:${root}/gone, permit',
      proxy_write_maps: 'proxy:lmdb:${root}/data/rw',
    },
    files: { aliases: 'postmaster root\nuser@example.com local-user\n', access: 'blocked@example.com REJECT nope\n' },
  });
  cleanups.push(() => inst.cleanup());
  const rw = join(inst.dataDir, 'rw');
  const built = await runProgram(POSTMAP, ['-c', inst.confDir, '-i', `lmdb:${rw}`], { input: 'a 1\nb 2\nc 3\n' });
  assert.equal(built.status, 0, built.stderr);
  if (userInfo().uid === 0) {
    const ids = postfixIds();
    chownSync(`${rw}.lmdb`, ids.uid, ids.gid);
  }
  await inst.start();
  const text = `texthash:${join(inst.root, 'aliases')}`;
  const q = (key: string) => runProgram(POSTMAP, ['-c', inst.confDir, '-q', key, `proxy:${text}`]);
  const found = await q('User@Example.com');
  assert.deepEqual([found.status, found.stdout, found.stderr], [0, 'local-user\n', ''], inst.log());
  const notFound = await q('nobody');
  assert.deepEqual([notFound.status, notFound.stdout], [1, '']);

  const warnings: string[] = [];
  msgSetSinks([{ write: (sev, t) => void warnings.push(`${sev}: ${t}`) }]);
  dictCacheClear();
  const config = loadMailConfig({ configDir: inst.confDir });
  assert.equal(await dictOpen(`proxy:${text}`, { config }).lookup('POSTMASTER'), 'root');

  const writer = dictOpen(`proxy:lmdb:${rw}`, { config, mode: 'write' });
  await writer.update!('D', '4');
  assert.equal(await writer.delete!('a'), true);
  // Postern's master counts proxywrite's process limit (1) as concurrent clients: hang up so postmap gets in at once.
  dictProxyClientsClose();
  const del = await runProgram(POSTMAP, ['-c', inst.confDir, '-d', 'B', `proxy:lmdb:${rw}`]);
  assert.equal(del.status, 0, del.stderr + inst.log());
  const dump = await runProgram(POSTMAP, ['-c', inst.confDir, '-s', `lmdb:${rw}`]);
  assert.deepEqual(dump.stdout.split('\n').filter((l) => l).sort(), ['c\t3', 'd\t4']);
  assert.deepEqual(warnings, []);

  // smtpd's access table through proxymap: a match, and a table that cannot be opened (temporary failure).
  const smtp = await SmtpTestClient.open(Number(inst.address('smtp').split(':').pop()));
  assert.match((await smtp.send(null)) ?? '', /^220 /);
  assert.match((await smtp.send('HELO client.example\r\n')) ?? '', /^250 /);
  assert.match((await smtp.send('MAIL FROM:<>\r\n')) ?? '', /^250 /);
  assert.equal(await smtp.send('RCPT TO:<blocked@example.com>\r\n'), '554 5.7.1 <blocked@example.com>: Recipient address rejected: nope\r\n');
  assert.match((await smtp.send('RSET\r\n')) ?? '', /^250 /);
  assert.match((await smtp.send('MAIL FROM:<s@example.com>\r\n')) ?? '', /^250 /);
  // A temporary failure (which 4.3.x text is smtpd's business), never "not found" (250).
  assert.match((await smtp.send('RCPT TO:<other@example.com>\r\n')) ?? '', /^451 4\.3\.\d /);
  smtp.close();
  const proxymapLog = inst.log().split('\n').filter((l) => /postfix\/proxymap\[/.test(l));
  assert.deepEqual(proxymapLog.filter((l) => /warning|fatal|panic/.test(l)).map((l) => l.replace(/^.*\]: /, '')), [
    `warning: texthash:${join(inst.root, 'gone')} is unavailable. open database ${join(inst.root, 'gone')}: No such file or directory`,
  ]);
});
