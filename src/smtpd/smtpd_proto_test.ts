/*
 * smtpd_proto_test - Postern's smtpd in-process against a fake cleanup server
 *
 * The record streams expected here are the ones the real Postfix 3.7.11
 * smtpd wrote to its cleanup socket for the same dialogs (captured with
 * strace from a throwaway instance): same record types, order and
 * attribute texts; only the queue id, time and client port differ.
 * The replies for cleanup's answers follow Postfix's data_cmd().
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REC_TYPE } from '../global/rec_type.js';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { type FakeCleanup, open, sharedLogs, startFakeCleanup, startSmtpd, talk, testConfig, type TestSmtpd } from './smtpd_test_lib.js';
import { escapeBytes, statsText } from './smtpd_proto.js';
import { SmtpdState } from './smtpd_state.js';

let fc: FakeCleanup;
let t: TestSmtpd;
let tx: TestSmtpd;

const BASE = { myhostname: 'oracle.example', mynetworks: '127.0.0.0/8', inet_interfaces: '127.0.0.1', inet_protocols: 'ipv4' };

before(async () => {
  fc = await startFakeCleanup();
  t = await startSmtpd(testConfig(BASE), { cleanupEndpoint: fc.path });
  tx = await startSmtpd(testConfig({ ...BASE, smtpd_authorized_xforward_hosts: '127.0.0.1', smtpd_timeout: '1s' }), { cleanupEndpoint: fc.path });
});

after(async () => {
  await t.close();
  await tx.close();
  fc.close();
});

const letter = (type: number): string => String.fromCharCode(type);

/** The records as "T:text" with per-run values masked. */
function shape(records: Array<{ type: number; text: string }>, queueId: string): string[] {
  return records.map((r) =>
    `${letter(r.type)}:${r.text}`
      .replaceAll(queueId, 'QID')
      .replace(/^T:\d+ \d+$/, 'T:TIME')
      .replace(/(client_port|server_port|log_client_port)=\d+/, '$1=N')
      .replace(/\w{3}, [ \d]\d \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/, 'DATE'),
  );
}

async function lastMessage(n: number): Promise<{ queueId: string; flags: number; records: Array<{ type: number; text: string }> }> {
  for (let i = 0; i < 200 && fc.messages.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  const m = fc.messages[n - 1];
  assert.ok(m, `no message ${n}`);
  return m;
}

describe('records sent to cleanup', () => {
  it('sends what Postfix 3.7 smtpd sends for HELO, DSN RET/ENVID and one recipient', async () => {
    const before = fc.messages.length;
    const { sock } = await open(t.port);
    await talk(sock, 'HELO h\r\nMAIL FROM:<a@b.c> RET=HDRS ENVID=abc+2Bd\r\nRCPT TO:<x@y.z>\r\nDATA\r\n', 4);
    const r = await talk(sock, 'Subject: hi\r\n\r\nbody\r\n.\r\nQUIT\r\n', 2);
    assert.match(r[0]!, /^250 2\.0\.0 Ok: queued as FAKE[0-9A-F]+$/);
    const m = await lastMessage(before + 1);
    assert.equal(m.flags, 178);
    assert.deepEqual(shape(m.records, m.queueId), [
      'T:TIME',
      'A:log_ident=QID',
      'A:rewrite_context=local',
      'A:envelope_id=abc+d',
      'A:ret_flags=2',
      'S:a@b.c',
      'A:log_client_name=unknown',
      'A:log_client_address=127.0.0.1',
      'A:log_client_port=N',
      'A:log_message_origin=unknown[127.0.0.1]',
      'A:log_helo_name=h',
      'A:log_protocol_name=SMTP',
      'A:client_name=unknown',
      'A:reverse_client_name=unknown',
      'A:client_address=127.0.0.1',
      'A:client_port=N',
      'A:server_address=127.0.0.1',
      'A:server_port=N',
      'A:helo_name=h',
      'A:protocol_name=SMTP',
      'A:client_address_type=2',
      'A:dsn_orig_rcpt=rfc822;x@y.z',
      'R:x@y.z',
      'M:',
      'N:Received: from h (unknown [127.0.0.1])',
      'N:\tby oracle.example (Postfix) with SMTP id QID',
      'N:\tfor <x@y.z>; DATE',
      'N:Subject: hi',
      'N:',
      'N:body',
      'X:',
      'E:',
    ]);
  });

  it('sends SMTPUTF8/8BITMIME, NOTIFY/ORCPT, From_ and leading-space lines as Postfix', async () => {
    const before = fc.messages.length;
    const { sock } = await open(t.port);
    await talk(sock, 'EHLO  foo.bar  baz\r\nMAIL FROM:<a@b.c> SMTPUTF8 BODY=8BITMIME\r\nRCPT TO:<x@y.z> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;X+40y.z\r\nRCPT TO:<r2@y.z>\r\nDATA\r\n', 5);
    await talk(sock, 'From me\r\n leading\r\n.\r\nQUIT\r\n', 2);
    const m = await lastMessage(before + 1);
    assert.equal(m.flags, 178 | 256);
    const s = shape(m.records, m.queueId);
    assert.deepEqual(s.slice(3, 5), ['S:a@b.c', 'A:encoding=8bit']);
    assert.ok(s.includes('A:log_helo_name=foo.bar?baz'));
    assert.deepEqual(s.slice(s.indexOf('A:notify_flags=10')), [
      'A:notify_flags=10',
      'A:dsn_orig_rcpt=rfc822;X@y.z',
      'R:x@y.z',
      'A:dsn_orig_rcpt=rfc822;r2@y.z',
      'R:r2@y.z',
      'M:',
      'N:Received: from foo.bar?baz (unknown [127.0.0.1])',
      'N:\tby oracle.example (Postfix) with UTF8SMTP id QID;',
      'N:\tDATE',
      'N:X-Mailbox-Line: From me',
      'N:',
      'N: leading',
      'X:',
      'E:',
    ]);
  });

  it('splits long lines into CONT records and keeps 8-bit bytes and bare CR', async () => {
    const before = fc.messages.length;
    const { sock } = await open(t.port);
    await talk(sock, 'EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n', 4);
    const long = 'z'.repeat(5000);
    await talk(sock, Buffer.concat([Buffer.from(`s: x\r\n\r\n${long}\r\n\xe9t\xe9 a\rb\r\n.\r\nQUIT\r\n`, 'latin1')]), 2);
    const m = await lastMessage(before + 1);
    const content = m.records.slice(m.records.findIndex((r) => r.type === REC_TYPE.MESG) + 4);
    assert.deepEqual(
      content.map((r) => [letter(r.type), r.text.length]),
      [['N', 4], ['N', 0], ['L', 2048], ['L', 2048], ['N', 904], ['N', 7], ['X', 0], ['E', 0]],
    );
    assert.equal(content[5]!.text, '\xe9t\xe9 a\rb');
  });

  it('sends XFORWARD attributes as the log_* ones and logs orig_client', async () => {
    const before = fc.messages.length;
    const { sock } = await open(tx.port);
    await talk(sock, 'EHLO x\r\nXFORWARD NAME=up.example ADDR=192.0.2.1 PROTO=SMTP HELO=uphelo IDENT=ABC SOURCE=REMOTE PORT=25\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n', 5);
    await talk(sock, 'x: y\r\n\r\n.\r\nQUIT\r\n', 2);
    const m = await lastMessage(before + 1);
    const s = shape(m.records, m.queueId);
    assert.deepEqual(s.slice(1, 3), ['A:log_ident=ABC', 'A:rewrite_context=remote']);
    assert.deepEqual(s.filter((l) => l.startsWith('A:log_')).slice(1), [
      'A:log_client_name=up.example',
      'A:log_client_address=192.0.2.1',
      'A:log_client_port=N',
      'A:log_message_origin=up.example[192.0.2.1]',
      'A:log_helo_name=uphelo',
      'A:log_protocol_name=SMTP',
    ]);
    assert.ok(sharedLogs.includes(`${m.queueId}: client=unknown[127.0.0.1], orig_queue_id=ABC, orig_client=up.example[192.0.2.1]`), sharedLogs.join('\n'));
  });
});

describe("cleanup's answer", () => {
  const cases: Array<[number, string, string]> = [
    [CLEANUP_STAT.CONT, '', '550 5.7.1 Error: message content rejected'],
    [CLEANUP_STAT.CONT, '5.7.1 Spam not wanted', '550 5.7.1 Spam not wanted'],
    [CLEANUP_STAT.CONT, '554 5.7.0 body rule', '554 5.7.0 body rule'],
    [CLEANUP_STAT.DEFER, '', '451 4.7.1 Error: service unavailable'],
    [CLEANUP_STAT.DEFER, '4.3.0 try later', '451 4.3.0 try later'],
    [CLEANUP_STAT.SIZE, '', '552 5.3.4 Error: message file too big'],
    [CLEANUP_STAT.HOPS, '', '554 5.4.0 Error: too many hops'],
    [CLEANUP_STAT.WRITE, '', '451 4.3.0 Error: queue file write error'],
    [CLEANUP_STAT.BAD, '', '451 4.3.0 Error: internal error 1'],
  ];
  for (const [status, reason, reply] of cases) {
    it(`status ${status} reason "${reason}" -> "${reply}"`, async () => {
      fc.reply = { status, reason };
      try {
        const { sock } = await open(t.port);
        await talk(sock, 'EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n', 4);
        const r = await talk(sock, 'x: y\r\n\r\n.\r\nMAIL FROM:<a@b.c>\r\nQUIT\r\n', 3);
        assert.deepEqual(r, [reply, '250 2.1.0 Ok', '221 2.0.0 Bye']);
      } finally {
        fc.reply = { status: 0, reason: '' };
      }
    });
  }
});

describe('sessions', () => {
  it('accepts a 2 MB message pipelined with its envelope in one write, intact', async () => {
    const before = fc.messages.length;
    const { sock } = await open(t.port);
    const lines: string[] = [];
    for (let i = 0; i < 20000; i++) lines.push(`line ${i} ${'x'.repeat(90)}`);
    const body = `Subject: big\r\n\r\n${lines.join('\r\n')}\r\n`;
    const r = await talk(sock, `EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n${body}.\r\nQUIT\r\n`, 6, 20_000);
    assert.match(r[r.length - 2]!, /^250 2\.0\.0 Ok: queued as /);
    const m = await lastMessage(before + 1);
    const content = m.records.filter((x) => x.type === REC_TYPE.NORM).map((x) => x.text).slice(5);
    assert.deepEqual(content, lines);
  });

  it('logs lost connection and timeout with the command and DATA byte count', async () => {
    const { sock } = await open(tx.port);
    await talk(sock, 'EHLO x\r\nMAIL FROM:<a@b.c>\r\n', 2);
    sock.destroy();
    const c2 = await open(tx.port);
    await talk(c2.sock, 'EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nDATA\r\n', 4);
    const r = await talk(c2.sock, 'hello\r\n', 1, 5000);
    assert.deepEqual(r, ['421 4.4.2 oracle.example Error: timeout exceeded']);
    await tx.idle();
    assert.ok(sharedLogs.includes('lost connection after MAIL from unknown[127.0.0.1]'), sharedLogs.join('\n'));
    assert.ok(sharedLogs.includes('timeout after DATA (7 bytes) from unknown[127.0.0.1]'), sharedLogs.join('\n'));
    assert.ok(sharedLogs.includes('disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=0/1 commands=3/4'));
  });

  it('aborts the cleanup stream of an unfinished message', async () => {
    const before = fc.aborted;
    const { sock } = await open(t.port);
    await talk(sock, 'EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\nRSET\r\n', 4);
    for (let i = 0; i < 100 && fc.aborted === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(fc.aborted, before + 1);
    sock.destroy();
  });
});

describe('local errors', () => {
  it('answers 421 4.3.0 "Server local data error" when a check fails unexpectedly', async () => {
    const ok = async (): Promise<null> => null;
    const checks = {
      checkClient: ok,
      checkHelo: ok,
      checkMail: ok,
      checkRcpt: async (): Promise<string | null> => {
        throw new Error('table down');
      },
      checkData: ok,
      checkEod: ok,
      checkEtrn: ok,
      checkSize: (): null => null,
    };
    const srv = await startSmtpd(testConfig(BASE), { cleanupEndpoint: fc.path, checks });
    try {
      const { sock } = await open(srv.port);
      const r = await talk(sock, 'EHLO x\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@y.z>\r\n', 3);
      assert.equal(r[r.length - 1], '421 4.3.0 oracle.example Server local data error');
      await srv.idle();
      assert.ok(sharedLogs.includes('NOQUEUE: reject: RCPT from unknown[127.0.0.1]: 421 4.3.0 oracle.example Server local data error'));
    } finally {
      await srv.close();
    }
  });
});

describe('helpers', () => {
  it('escapes early input as Postfix escape()', () => {
    assert.equal(escapeBytes(Buffer.from('EHLO x\r\nA\\\x01\x7f\xff', 'latin1')), 'EHLO x\\r\\nA\\\\\\001\\177\\377');
  });
  it('formats the disconnect statistics in command table order', () => {
    const st = new SmtpdState(testConfig({}));
    st.countCommand('quit', true);
    st.countCommand('unknown');
    st.countCommand('ehlo', true);
    st.countCommand('ehlo');
    st.countCommand('mail', true);
    assert.equal(statsText(st), 'ehlo=1/2 mail=1 quit=1 unknown=0/1 commands=3/5');
    assert.equal(statsText(new SmtpdState(testConfig({}))), 'commands=0');
  });
});
