/*
 * tables_tempfail_test - a table server that is down makes mail wait, never vanish
 *
 * A whole Postern mail-in instance (smtpd, cleanup, trivial-rewrite)
 * whose smtpd sends recipients in tcp.example through
 * check_recipient_access tcp:127.0.0.1:PORT (a restriction class) and
 * whose cleanup expands recipients through virtual_alias_maps =
 * socketmap:inet:127.0.0.1:PORT2:virtual. Neither server runs at first:
 *  - RCPT TO:<x@tcp.example> gets what the real Postfix 3.7 smtpd
 *    answers when an access table cannot be searched: "451 4.3.5
 *    <x@tcp.example>: Recipient address rejected: Server configuration
 *    error" (not the 4.3.0 "Temporary lookup failure", which Postfix
 *    gives for address-resolution and recipient-table failures), after
 *    dict_tcp's ten connect attempts a second apart, each logged as
 *    "warning: connect to TCP map 127.0.0.1:PORT: Connection refused";
 *  - RCPT TO:<y@other.example> gets the same 451 (smtpd's unlisted
 *    recipient check consults virtual_alias_maps, as Postfix's
 *    check_rcpt_maps does); through a second smtpd without that check
 *    (-o smtpd_reject_unlisted_recipient=no) the message is refused
 *    after DATA with "451 4.3.0 Error: queue file write error"
 *    (cleanup's CLEANUP_STAT_WRITE after "virtual_alias_maps map lookup
 *    problem ... try again later") and nothing is left in the queue: the
 *    client keeps the message.
 * Then both servers start on the same ports, without touching Postern:
 * the tcp table's REJECT now answers the RCPT (554 5.7.1), and the
 * message is accepted with its recipient rewritten by the socketmap.
 *
 * Every expected reply and warning here was first produced by a real
 * Postfix 3.7.11 (postfix_oracle.ts instance, same main.cf settings and
 * sessions, run by hand on 2026-11-29: it answered exactly these texts);
 * the test itself runs only Postern, to stay within the time budget.
 *
 * What it does not do: deliver (no qmgr); dict_net_oracle_test.ts
 * compares the table clients with the real postmap.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import { MAIL_IN_SERVICES, PosternInstance } from '../lib/instance.js';
import { ORACLE_SMTPD_BASE } from '../lib/postfix_oracle.js';
import { SocketmapServer, TcpTableServer } from '../lib/table_servers.js';
import { incomingMessages } from './mail_in_lib.js';

/** One SMTP reply may take dict_tcp's ten connect attempts, a second apart. */
const REPLY_BOUND_MS = 30_000;
/** Postfix's DICT_TCP_MAXTRY. */
const TCP_CONNECT_TRIES = 10;

let inst: PosternInstance;
let tcp: TcpTableServer | null = null;
let smap: SocketmapServer | null = null;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-tables-tempfail-',
    main: {
      ...ORACLE_SMTPD_BASE,
      smtpd_peername_lookup: 'no',
      smtpd_restriction_classes: 'tcp_check',
      tcp_check: 'check_recipient_access tcp:127.0.0.1:${port:tcptable}',
      smtpd_recipient_restrictions: 'check_recipient_access inline:{tcp.example=tcp_check}, permit_mynetworks, reject',
      virtual_alias_maps: 'socketmap:inet:127.0.0.1:${port:socketmap}:virtual',
      // Else virtual_alias_domains ($virtual_alias_maps) fails every address resolution in
      // trivial-rewrite ("virtual_alias_domains lookup failure"), as in Postfix.
      virtual_alias_domains: '',
    },
    ports: ['smtp', 'smtp2', 'tcptable', 'socketmap'],
    masterLines: [...MAIL_IN_SERVICES, '127.0.0.1:${port:smtp2} inet n - n - - smtpd -o smtpd_reject_unlisted_recipient=no'],
  });
  await inst.start();
});

after(async () => {
  await tcp?.stop();
  await smap?.stop();
  await inst?.cleanup();
});

/** A small SMTP dialogue: each command's whole reply, with a bound long enough for table retries. */
class Session {
  private buf = '';
  private waiter: ((reply: string) => void) | null = null;

  private constructor(private readonly sock: ReturnType<typeof connect>) {
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.deliver();
    });
    sock.on('error', () => {});
  }

  static async open(port: number): Promise<Session> {
    const sock = connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    const s = new Session(sock);
    assert.match(await s.send(null), /^220 /);
    return s;
  }

  private deliver(): void {
    const m = /^\d{3} [^\n]*\n/m.exec(this.buf);
    if (!m || !this.waiter) return;
    const end = m.index + m[0].length;
    const reply = this.buf.slice(0, end);
    this.buf = this.buf.slice(end);
    const w = this.waiter;
    this.waiter = null;
    w(reply.trimEnd());
  }

  send(line: string | null): Promise<string> {
    const p = new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${line} within ${REPLY_BOUND_MS} ms`)), REPLY_BOUND_MS);
      this.waiter = (r) => {
        clearTimeout(timer);
        resolve(r);
      };
    });
    if (line !== null) this.sock.write(`${line}\r\n`);
    this.deliver();
    return p;
  }

  async message(from: string, to: string, subject: string): Promise<string> {
    assert.match(await this.send(`MAIL FROM:<${from}>`), /^250 /);
    assert.match(await this.send(`RCPT TO:<${to}>`), /^250 /);
    assert.match(await this.send('DATA'), /^354 /);
    return this.send(`Subject: ${subject}\r\n\r\nbody of ${subject}\r\n.`);
  }

  close(): void {
    this.sock.end('QUIT\r\n');
    this.sock.destroy();
  }
}

/** tcp: access table down: RCPT gets 451 4.3.5 Server configuration error; server back: its answer counts. */
async function tcpAccessCase(): Promise<void> {
  const s = await Session.open(inst.ports.smtp!);
  try {
    assert.match(await s.send('EHLO client.example'), /^250[ -]/);
    assert.match(await s.send('MAIL FROM:<sender@example.com>'), /^250 /);
    assert.equal(await s.send('RCPT TO:<x@tcp.example>'), '451 4.3.5 <x@tcp.example>: Recipient address rejected: Server configuration error');
  } finally {
    s.close();
  }
  await inst.waitLog(/NOQUEUE: reject: RCPT from \S+: 451 4\.3\.5 <x@tcp\.example>: Recipient address rejected: Server configuration error;/);
  const refused = new RegExp(`postfix/smtpd\\[\\d+\\]: warning: connect to TCP map 127\\.0\\.0\\.1:${inst.ports.tcptable}: Connection refused`);
  assert.equal(inst.countLog(refused), TCP_CONNECT_TRIES, inst.log());

  tcp = await TcpTableServer.start(new Map([['x@tcp.example', 'REJECT table is back']]), inst.ports.tcptable);
  const s2 = await Session.open(inst.ports.smtp!);
  try {
    assert.match(await s2.send('EHLO client.example'), /^250[ -]/);
    assert.match(await s2.send('MAIL FROM:<sender@example.com>'), /^250 /);
    assert.equal(await s2.send('RCPT TO:<x@tcp.example>'), '554 5.7.1 <x@tcp.example>: Recipient address rejected: table is back');
  } finally {
    s2.close();
  }
  assert.ok(tcp.requests.includes('x@tcp.example'), `tcp server saw ${JSON.stringify(tcp.requests)}`);
}

/** virtual_alias_maps down: 451 at RCPT or after DATA, nothing queued; server back: accepted and rewritten. */
async function virtualAliasCase(): Promise<void> {
  const before = incomingMessages(inst.queueDir).length;
  // smtpd's unlisted-recipient check asks virtual_alias_maps first (Postfix check_rcpt_maps).
  const s0 = await Session.open(inst.ports.smtp!);
  try {
    assert.match(await s0.send('EHLO client.example'), /^250[ -]/);
    assert.match(await s0.send('MAIL FROM:<sender@example.com>'), /^250 /);
    assert.equal(await s0.send('RCPT TO:<y@other.example>'), '451 4.3.0 <y@other.example>: Temporary lookup failure');
  } finally {
    s0.close();
  }
  // Without that check the recipient passes and cleanup's expansion fails the message.
  const s = await Session.open(inst.ports.smtp2!);
  try {
    assert.match(await s.send('EHLO client.example'), /^250[ -]/);
    assert.equal(await s.message('sender@example.com', 'y@other.example', 'while down'), '451 4.3.0 Error: queue file write error');
  } finally {
    s.close();
  }
  // Shared table code logs under the process's tag: smtpd's, where smtpd runs the cleanup service.
  await inst.waitLog(/postfix\/(cleanup|smtpd)\[\d+\]: warning: table socketmap:inet:127\.0\.0\.1:\d+:virtual lookup error: Connection refused/);
  await inst.waitLog(/postfix\/cleanup\[\d+\]: warning: \w+: virtual_alias_maps map lookup problem for y@other\.example -- message not accepted, try again later/);
  assert.equal(incomingMessages(inst.queueDir).length, before, 'a half-accepted message was left in the queue');

  smap = await SocketmapServer.start(new Map([['virtual', new Map([['y@other.example', 'z@elsewhere.example']])]]), { port: inst.ports.socketmap });
  const s2 = await Session.open(inst.ports.smtp!);
  let reply: string;
  try {
    assert.match(await s2.send('EHLO client.example'), /^250[ -]/);
    reply = await s2.message('sender@example.com', 'y@other.example', 'after restart');
  } finally {
    s2.close();
  }
  const m = /^250 2\.0\.0 Ok: queued as (\w+)$/.exec(reply);
  assert.ok(m, reply);
  const msg = incomingMessages(inst.queueDir).find((x) => x.queueId === m[1]);
  assert.ok(msg, `queue file ${m[1]} not in incoming`);
  assert.equal(msg.subject, 'after restart');
  assert.deepEqual(msg.recipients, ['z@elsewhere.example']);
  assert.ok(smap.requests.includes('y@other.example'), `socketmap server saw ${JSON.stringify(smap.requests)}`);
}

// The tcp: case waits out ten one-second connect attempts: the other case runs meanwhile.
test('table servers down: temporary failures, nothing lost; servers back: normal answers', { timeout: 90_000 }, async () => {
  await Promise.all([tcpAccessCase(), virtualAliasCase()]);
});
