/*
 * trivial_rewrite_daemon_test - Postern's trivial-rewrite under master, and as the server of a real Postfix cleanup
 *
 * What it does:
 *  1. A Postern instance runs trivial-rewrite under Postern's master
 *     (master.cf "rewrite unix - - n - - trivial-rewrite"); a real Postfix
 *     instance runs with the same main.cf settings and a texthash:
 *     transport table. Postern's resolveClient and rewriteClient ask both
 *     daemons the same questions over their private/rewrite sockets; the
 *     answers must be equal. This shows the worker starts, announces and
 *     serves under master as a real daemon (privileges dropped when root).
 *  2. A real Postfix instance whose master.cf has no rewrite service gets
 *     Postern's trivial-rewrite (in this process) on its
 *     queue/private/rewrite socket; the real sendmail submits a message
 *     (held by header_checks) with several envelope recipients; the real
 *     cleanup asks our daemon to rewrite each one, and the held queue file
 *     must hold what rewriteAddress() gives - the real client accepted
 *     our announcement and replies.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PosternInstance } from '../lib/instance.js';
import { ORACLE_MAIL_SERVICES, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { resolveClient } from '../../src/global/resolve_clnt.js';
import { rewriteClient } from '../../src/global/rewrite_clnt.js';
import { createMailServer, type MailServer } from '../../src/master/mail_server.js';
import { rewriteAddress } from '../../src/trivial-rewrite/rewrite.js';
import { trivialRewriteServer } from '../../src/trivial-rewrite/trivial_rewrite.js';
import { msgSetSinks } from '../../src/util/msg.js';

const OPTS = { timeoutMs: 5_000, giveUpMs: 10_000 };
const HOLD_WAIT_MS = 20_000;

const MAIN: Record<string, string> = {
  compatibility_level: '3.6',
  myhostname: 'oracle.example',
  mydomain: 'dom.example',
  myorigin: '$mydomain',
  mydestination: '$myhostname, localhost',
  inet_interfaces: 'loopback-only',
  inet_protocols: 'ipv4',
  relay_domains: 'relay.example',
  virtual_alias_domains: 'valias.example',
  relayhost: '[smarthost.example]',
};

const TRANSPORT = 'special.example smtp:[special-gw.example]:2525\n.special.example error:5.1.2 no subdomains\nuser@fixed.example local:\n';

const ADDRESSES = [
  '', 'user', 'user@oracle.example', 'user@localhost', 'user@remote.example', 'user@relay.example', 'user@valias.example',
  'user@special.example', 'user@sub.special.example', 'user@fixed.example', 'other@fixed.example', 'user%remote.example@localhost',
  'host!user', 'user@[127.0.0.1]', 'user@bad..example', '"a b"@oracle.example',
];

const cleanups: Array<() => Promise<void>> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('trivial-rewrite under Postern master answers as the real one', async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs Postfix instances and needs root');
  assert.ok(existsSync(POSTFIX_PROGRAMS.postfix), `${POSTFIX_PROGRAMS.postfix} is missing: install the postfix package`);
  const inst = await PosternInstance.create({
    prefix: 'postern-rewrite-master-',
    masterLines: ['rewrite unix - - n - - trivial-rewrite', 'postlog unix-dgram n - n - 1 postlogd'],
    main: { ...MAIN, transport_maps: 'texthash:${root}/transport' },
    files: { transport: TRANSPORT },
  });
  cleanups.push(() => inst.cleanup());
  const oracle = makeOracleConfig({
    prefix: 'postern-rewrite-master-oracle-',
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'data'],
    main: { ...MAIN, transport_maps: 'texthash:$config_directory/transport' },
    master: ['rewrite unix - - n - - trivial-rewrite', 'postlog unix-dgram n - n - 1 postlogd'],
  });
  cleanups.push(() => oracle.cleanup());
  writeFileSync(join(oracle.confDir, 'transport'), TRANSPORT);
  await Promise.all([inst.start(), oracle.startMaster(join(oracle.queueDir, 'private', 'rewrite'))]);

  const ourConfig = loadMailConfig({ configDir: inst.confDir });
  const theirConfig = loadMailConfig({ configDir: oracle.confDir });
  const ours = resolveClient(ourConfig, { ...OPTS, endpoint: join(inst.queueDir, 'private', 'rewrite') });
  const theirs = resolveClient(theirConfig, { ...OPTS, endpoint: join(oracle.queueDir, 'private', 'rewrite') });
  for (const a of ADDRESSES) {
    for (const sender of ['', 's@sender.example']) {
      assert.deepEqual(await ours.resolve(sender, a), await theirs.resolve(sender, a), `resolve <${sender}> <${a}>`);
    }
    assert.deepEqual(await ours.verify('', a), await theirs.verify('', a), `verify <${a}>`);
  }
  const ourRw = rewriteClient(ourConfig, { ...OPTS, endpoint: join(inst.queueDir, 'private', 'rewrite') });
  const theirRw = rewriteClient(theirConfig, { ...OPTS, endpoint: join(oracle.queueDir, 'private', 'rewrite') });
  for (const a of ADDRESSES) {
    for (const context of ['local', 'remote'] as const) assert.equal(await ourRw.rewrite(context, a), await theirRw.rewrite(context, a), `${context} <${a}>`);
  }
});

test('the real cleanup uses our trivial-rewrite for its rewriting', async () => {
  msgSetSinks([{ write: () => undefined }]);
  const recipients = ['user', 'user@host', 'site!user', 'pct%site', 'First.Last', 'user@host.'];
  const oracle: OracleConfig = makeOracleConfig({
    prefix: 'postern-rewrite-client-',
    ownedDirs: ['data'],
    main: { ...MAIN, header_checks: 'regexp:$config_directory/header_checks' },
    // Every mail service but rewrite: that one is ours.
    master: ORACLE_MAIL_SERVICES.filter((l) => !l.startsWith('rewrite ')),
  });
  cleanups.push(() => oracle.cleanup());
  writeFileSync(join(oracle.confDir, 'header_checks'), '/^Subject: held/ HOLD\n');
  const config = loadMailConfig({ configDir: oracle.confDir });
  const server: MailServer = createMailServer('multi', trivialRewriteServer(), { config, serviceName: 'rewrite' });
  await server.init();
  let served = 0;
  const listener: Server = createServer((sock) => {
    served++;
    server.client(sock);
  });
  cleanups.push(async () => {
    server.abort();
    await new Promise<void>((res) => listener.close(() => res()));
  });
  await oracle.start();
  const path = join(oracle.queueDir, 'private', 'rewrite');
  await new Promise<void>((res) => listener.listen(path, res));
  // The real cleanup runs as the postfix user.
  chmodSync(path, 0o666);
  const message = Buffer.from('From: s@sender.example\nSubject: held\n\nbody\n');
  const r = await oracle.run(POSTFIX_PROGRAMS.sendmail, ['-i', '-C', oracle.confDir, '-f', 's@sender.example', '--', ...recipients], { input: message });
  assert.equal(r.status, 0, r.stderr);
  const holdDir = join(oracle.queueDir, 'hold');
  const held = await waitUntil(() => existsSync(holdDir) && readdirSync(holdDir).length > 0, HOLD_WAIT_MS);
  assert.ok(held, `no held message\n${oracle.readLog()}`);
  const q = readQueueFile(join(holdDir, readdirSync(holdDir)[0]!), {});
  assert.ok(q.ok, q.ok ? '' : q.error.message);
  assert.ok(served > 0, 'cleanup connected to our socket');
  const got = q.file.recipients.map((x) => `${x.original} -> ${x.address}`).sort();
  const want = q.file.recipients.map((x) => `${x.original} -> ${rewriteAddress(config, 'local', x.original ?? '')}`).sort();
  assert.equal(got.length, recipients.length);
  assert.deepEqual(got, want);
  assert.ok(q.file.recipients.some((x) => x.address === 'user@dom.example'), 'myorigin was appended by our daemon');
});
