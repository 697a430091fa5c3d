/*
 * cleanup_real_clients_test - the real Postfix smtpd talks to Postern's cleanup
 *
 * What it does: a throwaway real Postfix master runs two smtpd listeners
 * on loopback ports, the real cleanup, trivial-rewrite and postlogd. The
 * first smtpd uses the real cleanup; the second has
 * "-o cleanup_service_name=pcleanup", and public/pcleanup is Postern's
 * cleanup service, listening in this process with the same main.cf and
 * queue directory. The same message (without Date: and Message-ID:, so
 * cleanup adds them) goes to both with swaks. Both replies are
 * "250 2.0.0 Ok: queued as ID" with the id the cleanup announced, and
 * the real postcat prints the same queue file for both ids once queue
 * ids, client and server ports, dates and the generated Message-Id time stamp are
 * masked (the size record too: its offsets depend on those lengths).
 * This shows that a real Postfix client speaks the cleanup protocol with
 * Postern's cleanup unchanged.
 *
 * The master is stopped at the end and the temporary directory removed.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { runProgram } from '../lib/paths.js';
import { runSwaks } from '../lib/peers.js';
import { ORACLE_MAIN_BASE, POSTFIX_PROGRAMS, type OracleConfig, makeOracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';

let oracle: OracleConfig | undefined;
let server: Server | undefined;
let portReal = 0;
let portOurs = 0;

before(async () => {
  assert.equal(userInfo().uid, 0, 'this test starts a real Postfix master, which needs root');
  portReal = await freePort();
  portOurs = await freePort();
  oracle = makeOracleConfig({
    prefix: 'postern-cleanup-clients-',
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'queue/incoming', 'data'],
    main: {
      ...ORACLE_MAIN_BASE,
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      in_flow_delay: '0s',
      smtpd_peername_lookup: 'no',
      // No proxymap, anvil or local recipient checks in this instance.
      local_recipient_maps: '',
      alias_maps: '',
      smtpd_client_connection_count_limit: '0',
      smtpd_client_connection_rate_limit: '0',
    },
    master: [
      `127.0.0.1:${portReal} inet n - n - - smtpd`,
      `127.0.0.1:${portOurs} inet n - n - - smtpd -o cleanup_service_name=pcleanup`,
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  msgSetSinks([{ write: () => undefined }]);
  const svc = cleanupService(loadMailConfig({ configDir: oracle.confDir }), { triggerQmgr: false });
  const path = join(oracle.queueDir, 'public', 'pcleanup');
  server = createServer((sock) => void svc.serve(sock));
  await new Promise<void>((r) => server!.listen(path, r));
  // The real smtpd runs as the postfix user.
  chmodSync(path, 0o666);
  await oracle.startMaster(join(oracle.queueDir, 'public', 'cleanup'));
});

after(async () => {
  msgSetSinks([]);
  server?.close();
  await oracle?.cleanup();
});

const DATA = [
  'From: Sender <sender@example.org>',
  'To: rcpt@example.com',
  'Subject: through a real smtpd',
  '',
  'hello',
  '.',
  '',
].join('\r\n');

async function deliver(port: number): Promise<string> {
  const r = await runSwaks({ server: `127.0.0.1:${port}`, from: 'sender@example.org', to: 'rcpt@example.com', ehlo: 'client.example', data: DATA });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const queued = r.replies.map((l) => /^250 2\.0\.0 Ok: queued as (\w+)/.exec(l)?.[1]).find((x) => x !== undefined);
  assert.ok(queued, r.replies.join('\n'));
  return queued;
}

async function dump(id: string): Promise<string> {
  const file = join(oracle!.queueDir, 'incoming', id);
  assert.ok(existsSync(file), file);
  const r = await runProgram(POSTFIX_PROGRAMS.postcat, ['-c', oracle!.confDir, file], { timeoutMs: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout
    .split(file)
    .join('FILE')
    .split(id)
    .join('QUEUEID')
    .replace(/^message_size: .*$/m, 'message_size: MASKED')
    .replace(/^(message_arrival_time|create_time): .*$/gm, '$1: MASKED')
    .replace(/(client|server)_port=\d+/g, '$1_port=PORT')
    .replace(/\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/g, 'DATE')
    .replace(/<\d{14}\.QUEUEID@/g, '<STAMP.QUEUEID@');
}

test('the real smtpd queues through Postern\'s cleanup, and the file equals the real cleanup\'s', async () => {
  const theirs = await deliver(portReal);
  const ours = await deliver(portOurs);
  const a = await dump(ours);
  const b = await dump(theirs);
  assert.match(b, /Message-Id: <STAMP\.QUEUEID@oracle\.example>/);
  assert.equal(a, b);
});
