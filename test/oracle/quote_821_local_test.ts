/*
 * quote_821_local_test - Postern's RFC 821 quoting against the real Postfix smtp client
 *
 * A throwaway real Postfix instance (own config, queue and data
 * directories; relayhost a loopback SMTP listener run by this test)
 * receives one message through its sendmail, with a sender and
 * recipients whose local parts need RFC 821 quoting. Its smtp client
 * quotes each envelope address with quote_821_local in MAIL FROM and
 * RCPT TO; the listener records the commands. Postern's quote821Local,
 * applied to the addresses in internal form (as Postern's own parser
 * finds them on sendmail's command line), must give the same text.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE, type OracleConfig, POSTFIX_PROGRAMS } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { quote821Local } from '../../src/global/quote_821_local.js';
import { headerAddresses } from '../../src/global/tok822_rewrite.js';

const DELIVERY_WAIT_MS = 20_000;
/** Bound on what the listener keeps from one connection. */
const MAX_SESSION_BYTES = 64 * 1024;

/** Sender and recipients in external form, as given on sendmail's command line. */
const SENDER = '"s p"@example.com';
const RECIPIENTS = [
  'plain.name@example.com',
  '"a b"@example.com',
  '"a..b"@example.com',
  '".lead"@example.com',
  '"trail."@example.com',
  '"q\\"x"@example.com',
  '"b\\\\s"@example.com',
  '"a@b"@example.com',
  '"(paren)"@example.com',
  '"x,y;z:w"@example.com',
  '"<angle>"@example.com',
  'user+tag=x/y{z}@example.com',
];

let oracle: OracleConfig;
let server: Server;
const commands: string[] = [];
const sockets = new Set<Socket>();
let messageDone = false;

/** A minimal SMTP server: no extensions, accepts everything, records MAIL and RCPT. */
function startListener(): Promise<number> {
  server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    let inData = false;
    let seen = 0;
    sock.write('220 listener.test ESMTP\r\n');
    sock.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > MAX_SESSION_BYTES) {
        sock.destroy();
        return;
      }
      buf += chunk.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            messageDone = true;
            sock.write('250 2.0.0 queued\r\n');
          }
          continue;
        }
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'MAIL' || verb === 'RCPT') commands.push(line);
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 listener.test\r\n');
        else if (verb === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') {
          sock.end('221 bye\r\n');
        } else sock.write('250 2.0.0 ok\r\n');
      }
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (const p of [POSTFIX_PROGRAMS.postfix, POSTFIX_PROGRAMS.sendmail]) assert.ok(existsSync(p), `${p} is missing: install the postfix package`);
  const port = await startListener();
  oracle = makeOracleConfig({
    prefix: 'postern-quote821-',
    ownedDirs: ['data'],
    main: {
      ...ORACLE_MAIN_BASE,
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      relayhost: `[127.0.0.1]:${port}`,
      smtp_tls_security_level: 'none',
    },
    master: [...ORACLE_MAIL_SERVICES],
  });
  await oracle.start();
  const message = Buffer.from('Subject: quote_821_local test\n\nbody\n');
  const r = await oracle.run(POSTFIX_PROGRAMS.sendmail, ['-i', '-C', oracle.confDir, '-f', SENDER, '--', ...RECIPIENTS], { input: message });
  assert.equal(r.status, 0, `sendmail failed: ${r.stderr}`);
  const done = await waitUntil(() => messageDone, DELIVERY_WAIT_MS);
  assert.ok(done, `the smtp client did not deliver in time\n${oracle.readLog()}`);
});

after(async () => {
  await oracle?.cleanup();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

/** The internal form Postern finds for one command-line address. */
function internal(external: string): string {
  const found = headerAddresses(external).addresses;
  assert.equal(found.length, 1, `one address expected in ${external}`);
  return found[0]!.internal;
}

test('MAIL FROM: the smtp client quotes the sender as quote821Local does', () => {
  const mail = commands.filter((c) => c.toUpperCase().startsWith('MAIL'));
  assert.equal(mail.length, 1, commands.join('\n'));
  assert.equal(mail[0], `MAIL FROM:<${quote821Local(internal(SENDER))}>`);
});

test('RCPT TO: the smtp client quotes each recipient as quote821Local does', () => {
  const rcpt = commands.filter((c) => c.toUpperCase().startsWith('RCPT')).sort();
  const ours = RECIPIENTS.map((r) => `RCPT TO:<${quote821Local(internal(r))}>`).sort();
  assert.deepEqual(rcpt, ours);
});
