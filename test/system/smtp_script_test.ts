/*
 * smtp_script_test - smtp(8) against a scripted SMTP server: the cases smtp-sink cannot play
 *
 * What it does: a small loopback SMTP server whose replies each test
 * scripts (per command, per recipient) checks: SIZE= and BODY=8BITMIME,
 * a message over the server's SIZE limit, mixed per-recipient 2xx/4xx/5xx
 * replies without PIPELINING (commands one at a time), PIPELINING (MAIL,
 * RCPT and DATA in one write), a timeout at end of data and a lost
 * connection (Postfix's "conversation with X timed out while ..." and
 * "lost connection with X while ..."), the HELO fallback after a refused
 * EHLO, smtp_bind_address, smtp_helo_name, and SMTPUTF8 required but
 * not offered.
 *
 * What it does not do: DNS (smtp_mx_test.ts) or real MTAs (smtp_sink_test.ts).
 *
 * DIAGNOSTICS
 * Assertion failures show the captured log lines and the server's transcript.
 */
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { BOUNCE_CMD } from '../../src/global/bounce_clnt.js';
import { DEL_REQ_FLAG, DEL_STAT } from '../../src/global/deliver_request.js';
import { SMTP_MODE } from '../../src/smtp/smtp_params.js';
import { SMTPUTF8_FLAG } from '../../src/smtp/smtp_proto.js';
import { makeSmtpHarness, type SmtpHarness } from './smtp_harness.js';

/** A reply, several replies (LMTP), 'hang' (say nothing) or 'close'. */
type Answer = string | string[] | 'hang' | 'close';

interface Script {
  greeting?: string;
  ehlo?: string[];
  /** Called for every command (and '.' at end of data); default answers 250/354. */
  answer?(cmd: string, conn: ConnInfo): Answer | undefined;
}

interface ConnInfo {
  remoteAddress: string;
  /** Each chunk of bytes the client sent, as received. */
  chunks: string[];
  commands: string[];
  data: string;
}

class ScriptServer {
  server: Server;
  port = 0;
  conns: ConnInfo[] = [];
  script: Script = {};
  #sockets = new Set<Socket>();

  constructor() {
    this.server = createServer((sock) => this.#serve(sock));
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as { port: number }).port;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  #serve(sock: Socket): void {
    this.#sockets.add(sock);
    sock.on('close', () => this.#sockets.delete(sock));
    sock.on('error', () => undefined);
    const info: ConnInfo = { remoteAddress: sock.remoteAddress ?? '', chunks: [], commands: [], data: '' };
    this.conns.push(info);
    const s = this.script;
    sock.write(`${s.greeting ?? '220 script.test ESMTP'}\r\n`);
    let buf = '';
    let inData = false;
    const send = (a: Answer | undefined, dflt: string): void => {
      if (a === 'hang') return;
      if (a === 'close') {
        sock.destroy();
        return;
      }
      for (const line of ([] as string[]).concat(a ?? dflt)) sock.write(`${line}\r\n`);
    };
    sock.on('data', (b: Buffer) => {
      info.chunks.push(b.toString('latin1'));
      buf += b.toString('latin1');
      for (let nl = buf.indexOf('\r\n'); nl >= 0 && !sock.destroyed; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        if (inData) {
          if (line === '.') {
            inData = false;
            info.commands.push('.');
            send(s.answer?.('.', info), '250 2.0.0 Ok: queued as SCRIPT1');
          } else info.data += `${line}\n`;
          continue;
        }
        info.commands.push(line);
        const verb = line.split(' ')[0]!.toUpperCase();
        const a = s.answer?.(line, info);
        if (verb === 'EHLO') send(a, ['250-script.test', ...(s.ehlo ?? ['250 PIPELINING'])].join('\r\n'));
        else if (verb === 'DATA') {
          send(a, '354 go ahead');
          if ((a ?? '354').toString().startsWith('354')) inData = true;
        } else if (verb === 'QUIT') {
          send(a, '221 bye');
          sock.end();
        } else send(a, '250 2.1.0 Ok');
      }
    });
  }
}

const BODY = ['Subject: script', '', 'body text'];

function records(h: SmtpHarness, service: string): Array<[string, string, string]> {
  return h.statusLog
    .filter((s) => s.service === service && s.req.command === BOUNCE_CMD.APPEND)
    .map((s) => {
      const r = s.req as { rcpt: { address: string }; dsn: { status: string; reason: string } };
      return [r.rcpt.address, r.dsn.status, r.dsn.reason];
    });
}

describe('smtp against a scripted server', () => {
  const srv = new ScriptServer();
  let h: SmtpHarness;
  before(async () => {
    await srv.listen();
  });
  after(async () => {
    await srv.close();
  });
  const fresh = (mainCf: Record<string, string> = {}): SmtpHarness => {
    srv.conns = [];
    h = makeSmtpHarness({ smtp_helo_name: 'helo.postern.test', ...mainCf });
    return h;
  };
  const dest = (): string => `[127.0.0.1]:${srv.port}`;

  test('SIZE= and BODY=8BITMIME in MAIL FROM; smtp_helo_name', async () => {
    srv.script = { ehlo: ['250-SIZE 1000000', '250-8BITMIME', '250 PIPELINING'] };
    const h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'r@remote.test' }], lines: BODY, encoding: '8bit' }, dest());
      assert.equal((await h.deliver(SMTP_MODE.SMTP, req)).status, DEL_STAT.OK, h.logs.join('\n'));
      const c = srv.conns[0]!;
      assert.equal(c.commands[0], 'EHLO helo.postern.test');
      assert.equal(c.commands[1], `MAIL FROM:<s@postern.test> SIZE=${req.dataSize} BODY=8BITMIME`);
    } finally {
      h.close();
    }
  });

  test('a message over the server\'s SIZE limit bounces before MAIL FROM', async () => {
    srv.script = { ehlo: ['250 SIZE 10'] };
    const h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'r@remote.test' }], lines: BODY }, dest());
      await h.deliver(SMTP_MODE.SMTP, req);
      assert.deepEqual(records(h, 'bounce'), [['r@remote.test', '5.3.4', `message size ${req.dataSize} exceeds size limit 10 of server 127.0.0.1[127.0.0.1]`]]);
      assert.ok(!srv.conns[0]!.commands.some((c) => c.startsWith('MAIL')));
    } finally {
      h.close();
    }
  });

  test('mixed per-recipient replies without PIPELINING: one command at a time', async () => {
    srv.script = {
      ehlo: ['250 8BITMIME'],
      answer: (cmd) => (cmd.includes('<bad@') ? '550 5.1.1 <bad@remote.test>: Recipient address rejected' : cmd.includes('<tmp@') ? '451 4.7.1 try later' : undefined),
    };
    const h = fresh();
    try {
      const { req, path } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'ok@remote.test' }, { address: 'bad@remote.test' }, { address: 'tmp@remote.test' }], lines: BODY }, dest());
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.status, DEL_STAT.DEFER);
      assert.equal(reply.hop, null);
      assert.deepEqual(records(h, 'bounce'), [['bad@remote.test', '5.1.1', 'host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <bad@remote.test>: Recipient address rejected (in reply to RCPT TO command)']]);
      assert.deepEqual(records(h, 'defer'), [['tmp@remote.test', '4.7.1', 'host 127.0.0.1[127.0.0.1] said: 451 4.7.1 try later (in reply to RCPT TO command)']]);
      assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [true, true, false]);
      const c = srv.conns[0]!;
      // Without PIPELINING every command travels alone.
      assert.ok(c.chunks.every((ch) => !/RCPT TO.*\r\n.+/s.test(ch)), c.chunks.join('|'));
      assert.equal(c.commands.filter((x) => x.startsWith('RCPT')).length, 3);
      assert.equal(c.data, 'Subject: script\n\nbody text\n');
      assert.ok(h.logs.some((l) => l.startsWith(`${req.queueId}: to=<ok@remote.test>, relay=127.0.0.1[127.0.0.1]:${srv.port}, `) && l.endsWith('status=sent (250 2.0.0 Ok: queued as SCRIPT1)')), h.logs.join('\n'));
    } finally {
      h.close();
    }
  });

  test('PIPELINING: MAIL, RCPT and DATA in one write', async () => {
    srv.script = { ehlo: ['250 PIPELINING'] };
    const h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'a@remote.test' }, { address: 'b@remote.test' }], lines: BODY }, dest());
      assert.equal((await h.deliver(SMTP_MODE.SMTP, req)).status, DEL_STAT.OK);
      assert.ok(srv.conns[0]!.chunks.includes('MAIL FROM:<s@postern.test>\r\nRCPT TO:<a@remote.test>\r\nRCPT TO:<b@remote.test>\r\nDATA\r\n'), srv.conns[0]!.chunks.join('|'));
    } finally {
      h.close();
    }
  });

  test('no reply to end of data: timed out, deferred, destination throttled', async () => {
    srv.script = { answer: (cmd) => (cmd === '.' ? 'hang' : undefined) };
    const h = fresh({ smtp_data_done_timeout: '1s' });
    try {
      const { req, path } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'a@remote.test' }], lines: BODY }, dest());
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      const why = 'conversation with 127.0.0.1[127.0.0.1] timed out while sending end of data -- message may be sent more than once';
      assert.equal(reply.status, DEL_STAT.DEFER);
      assert.deepEqual([reply.hop?.status, reply.hop?.reason], ['4.4.2', why]);
      assert.deepEqual(records(h, 'defer'), [['a@remote.test', '4.4.2', why]]);
      assert.deepEqual(h.reread(path).recipients.map((r) => r.done), [false]);
    } finally {
      h.close();
    }
  });

  test('connection lost after RCPT TO', async () => {
    srv.script = { ehlo: ['250 8BITMIME'], answer: (cmd) => (cmd.startsWith('RCPT') ? 'close' : undefined) };
    const h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'a@remote.test' }], lines: BODY }, dest());
      const reply = await h.deliver(SMTP_MODE.SMTP, req);
      assert.equal(reply.hop?.reason, 'lost connection with 127.0.0.1[127.0.0.1] while sending RCPT TO');
    } finally {
      h.close();
    }
  });

  test('EHLO refused: HELO instead', async () => {
    srv.script = { greeting: '220 old.test SMTP', answer: (cmd) => (cmd.startsWith('EHLO') ? '502 5.5.2 Error: command not recognized' : undefined) };
    const h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'a@remote.test' }], lines: BODY }, dest());
      assert.equal((await h.deliver(SMTP_MODE.SMTP, req)).status, DEL_STAT.OK, h.logs.join('\n'));
      assert.deepEqual(srv.conns[0]!.commands.slice(0, 2), ['EHLO helo.postern.test', 'HELO helo.postern.test']);
    } finally {
      h.close();
    }
  });

  test('an address probe (sendmail -bv) stops at RCPT TO: RSET instead of DATA', async () => {
    srv.script = { ehlo: ['250 PIPELINING'] };
    const h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'a@remote.test' }], lines: BODY }, dest());
      req.flags |= DEL_REQ_FLAG.USR_VRFY;
      assert.equal((await h.deliver(SMTP_MODE.SMTP, req)).status, DEL_STAT.OK, h.logs.join('\n'));
      const c = srv.conns[0]!;
      assert.deepEqual(c.commands.slice(1, 4), ['MAIL FROM:<s@postern.test>', 'RCPT TO:<a@remote.test>', 'RSET']);
      assert.equal(c.data, '');
      assert.deepEqual(h.statusLog.map((x) => x.service), ['trace']);
    } finally {
      h.close();
    }
  });

  test('smtp_bind_address', async () => {
    srv.script = {};
    const h = fresh({ smtp_bind_address: '127.0.0.3' });
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'a@remote.test' }], lines: BODY }, dest());
      assert.equal((await h.deliver(SMTP_MODE.SMTP, req)).status, DEL_STAT.OK, h.logs.join('\n'));
      assert.equal(srv.conns[0]!.remoteAddress, '127.0.0.3');
    } finally {
      h.close();
    }
  });

  test('SMTPUTF8 required but not offered: bounced 5.6.7; offered: MAIL FROM ... SMTPUTF8', async () => {
    srv.script = { ehlo: ['250 PIPELINING'] };
    let h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'ü@remote.test' }], lines: BODY, smtputf8: SMTPUTF8_FLAG.REQUESTED | SMTPUTF8_FLAG.RECIPIENT }, dest());
      await h.deliver(SMTP_MODE.SMTP, req);
      assert.deepEqual(records(h, 'bounce').map((r) => [r[1], r[2]]), [['5.6.7', 'SMTPUTF8 is required, but was not offered by host 127.0.0.1[127.0.0.1]']]);
    } finally {
      h.close();
    }
    srv.script = { ehlo: ['250-SMTPUTF8', '250 PIPELINING'] };
    h = fresh();
    try {
      const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: 'x@remote.test' }], lines: BODY, smtputf8: SMTPUTF8_FLAG.REQUESTED | SMTPUTF8_FLAG.HEADER }, dest());
      assert.equal((await h.deliver(SMTP_MODE.SMTP, req)).status, DEL_STAT.OK);
      assert.equal(srv.conns[0]!.commands.find((c) => c.startsWith('MAIL')), 'MAIL FROM:<s@postern.test> SMTPUTF8');
    } finally {
      h.close();
    }
  });
  test('a cached session: no greeting or EHLO on reuse, RSET after a refused transaction, no QUIT', async () => {
    let refused = false;
    srv.script = {
      ehlo: ['250 PIPELINING'],
      answer: (cmd) => {
        if (cmd.includes('<refused@')) {
          refused = true;
          return '550 5.1.1 no such user';
        }
        if (cmd === 'DATA' && refused) {
          refused = false;
          return '554 5.5.1 Error: no valid recipients';
        }
        return undefined;
      },
    };
    const h = fresh();
    try {
      for (const rcpt of ['one@remote.test', 'refused@remote.test', 'three@remote.test']) {
        const { req } = await h.queue({ sender: 's@postern.test', recipients: [{ address: rcpt }], lines: BODY }, dest());
        req.flags |= DEL_REQ_FLAG.CONN_LOAD | DEL_REQ_FLAG.CONN_STORE;
        await h.deliver(SMTP_MODE.SMTP, req);
      }
      assert.equal(srv.conns.length, 1, 'one connection for three requests');
      assert.deepEqual(srv.conns[0]!.commands, [
        'EHLO helo.postern.test',
        'MAIL FROM:<s@postern.test>',
        'RCPT TO:<one@remote.test>',
        'DATA',
        '.',
        'MAIL FROM:<s@postern.test>',
        'RCPT TO:<refused@remote.test>',
        'DATA',
        // The server refused DATA (no valid recipients): the transaction is reset before the session is cached.
        'RSET',
        'MAIL FROM:<s@postern.test>',
        'RCPT TO:<three@remote.test>',
        'DATA',
        '.',
      ]);
      assert.ok(h.logs.some((l) => /to=<three@remote\.test>, .*conn_use=3, .*status=sent/.test(l)), h.logs.join('\n'));
    } finally {
      h.close();
    }
  });
});
