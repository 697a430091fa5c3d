/*
 * smtp_smuggling_test - DATA end-of-data and bare newline handling against the real smtpd
 *
 * What it does: starts a throwaway real Postfix 3.7.11 (its own config,
 * queue and data directories; master, smtpd, cleanup, trivial-rewrite,
 * postlogd; no qmgr, so accepted mail stays in the incoming queue) with
 * three loopback smtpd services, one per smtpd_forbid_bare_newline value
 * (no, normalize, reject; smtpd_forbid_bare_newline_exclusions empty so
 * loopback is not excluded). For every case of the smuggling table in
 * src/util/reader_test_lib.ts it sends the same raw bytes after DATA to
 * each service and then:
 *  - reads the stored content back with Postern's queue_file_read and
 *    checks it equals what Postern's readDotData hands out for the same
 *    bytes over a socket (a bare CR compared as the space Postfix stores),
 *    and equals the table (so the unit table is the oracle's behaviour);
 *  - checks that what Postfix read as commands after the end of data is
 *    what readDotData leaves unread (one reply per leftover line);
 *  - for "reject", checks that Postfix replies 550 ... bare <LF> received
 *    exactly when readDotData counted a bare LF line, and stores nothing.
 * The instance is stopped and its directory removed at the end.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { readDotData } from '../../src/util/dot_reader.js';
import { LineReader } from '../../src/util/line_reader.js';
import { SMUGGLING_CASES, type SmugglingCase, latin1, socketPair } from '../../src/util/reader_test_lib.js';
import { makeOracleConfig, ORACLE_MAIN_BASE, type OracleConfig } from '../lib/postfix_oracle.js';
import { freePort } from '../lib/proc.js';

const MODES = ['no', 'normalize', 'reject'] as const;
type Mode = (typeof MODES)[number];
/** Bound on one SMTP session with the real smtpd. */
const SESSION_MS = 10_000;
const HEADER = 'Subject: t\r\n\r\n';

let oracle: OracleConfig;
const ports = new Map<Mode, number>();

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (const m of MODES) ports.set(m, await freePort());
  oracle = makeOracleConfig({
    prefix: 'postern-smuggling-',
    ownedDirs: ['data'],
    main: {
      ...ORACLE_MAIN_BASE,
      local_recipient_maps: '',
      alias_maps: '',
      inet_interfaces: '127.0.0.1',
      inet_protocols: 'ipv4',
      mynetworks: '127.0.0.0/8',
      smtpd_relay_restrictions: 'permit_mynetworks, reject_unauth_destination',
      smtpd_forbid_bare_newline_exclusions: '',
      smtpd_client_connection_count_limit: '0',
      smtpd_client_connection_rate_limit: '0',
      smtpd_error_sleep_time: '0s',
    },
    master: [
      ...MODES.map((m) => `127.0.0.1:${ports.get(m)} inet n - n - - smtpd -o smtpd_forbid_bare_newline=${m}`),
      'cleanup unix n - n - 0 cleanup',
      'rewrite unix - - n - - trivial-rewrite',
      'anvil unix - - n - 1 anvil',
      'postlog unix-dgram n - n - 1 postlogd',
    ],
  });
  await oracle.start();
});

after(async () => {
  await oracle?.cleanup();
});


interface PostfixOutcome {
  /** Replies after the one that ended DATA. */
  after: string[];
  /** The reply to the end of data. */
  endReply: string;
  /** Stored content after the header block, 'L:' marking a continued record; null when nothing was queued. */
  body: string[] | null;
}

/** One SMTP session: envelope, DATA, the raw bytes, QUIT; bounded by SESSION_MS. */
async function postfixSession(mode: Mode, raw: Buffer): Promise<PostfixOutcome> {
  const sock = connect(ports.get(mode) as number, '127.0.0.1');
  let text = '';
  const closed = new Promise<void>((resolve) => sock.on('close', () => resolve()));
  sock.on('error', () => {});
  /** Final reply lines ("NNN text") received so far. */
  const finals = (): number => text.split('\r\n').filter((l) => /^\d{3} /.test(l)).length;
  const waitReplies = async (n: number): Promise<void> => {
    const t0 = Date.now();
    while (finals() < n) {
      assert.ok(Date.now() - t0 < SESSION_MS, `smtpd (${mode}) sent ${JSON.stringify(text)}\n${oracle.readLog()}`);
      assert.ok(!sock.destroyed, `smtpd closed early: ${JSON.stringify(text)}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  sock.on('data', (d: Buffer) => void (text += d.toString('latin1')));
  const timer = setTimeout(() => sock.destroy(), SESSION_MS);
  try {
    // One command at a time: smtpd delays its reply to improperly pipelined commands.
    const commands = ['EHLO client.example', 'MAIL FROM:<a@example.com>', 'RCPT TO:<c@example.net>', 'DATA'];
    await waitReplies(1);
    for (let k = 0; k < commands.length; k++) {
      sock.write(`${commands[k]}\r\n`);
      await waitReplies(k + 2);
    }
    assert.match(text, /^354 /m, `DATA refused: ${text}`);
    sock.write(Buffer.concat([latin1(HEADER), raw, latin1('QUIT\r\n')]));
    await closed;
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
  const replies = text.split('\r\n').filter((l) => /^\d{3} /.test(l));
  const i = replies.findIndex((l) => l.startsWith('354 '));
  const endReply = replies[i + 1] ?? '';
  const m = /^250 .*queued as ([0-9A-F]+)/.exec(endReply);
  let body: string[] | null = null;
  if (m) {
    const r = readQueueFile(join(oracle.queueDir, 'incoming', m[1] as string), { content: true });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const recs = (r.file.content ?? []).map((t) => `${t.continued ? 'L:' : ''}${t.text.toString('latin1')}`);
    body = recs.slice(recs.indexOf('') + 1);
  }
  return { after: replies.slice(i + 2), endReply, body };
}

/** What Postern's readers make of the same bytes. */
async function posternRead(strict: boolean, raw: Buffer): Promise<{ pieces: string[]; rest: string; bareLfLines: number }> {
  const p = await socketPair();
  try {
    const reader = new LineReader(p.server, { timeoutMs: SESSION_MS, detectBareLf: strict });
    const pieces: string[] = [];
    p.client.end(Buffer.concat([latin1(HEADER), raw]));
    const r = await readDotData(reader, (x) => void pieces.push(`${x.complete ? '' : 'L:'}${x.text.toString('latin1')}`));
    assert.equal(r.status, 'end');
    let rest = '';
    for (let k = 0; k < 1000; k++) {
      const c = await reader.readChunk(4096);
      if (c.status !== 'chunk') break;
      rest += c.data.toString('latin1');
    }
    assert.deepEqual(pieces.slice(0, 2), ['Subject: t', '']);
    return { pieces: pieces.slice(2), rest, bareLfLines: r.bareLfLines };
  } finally {
    await p.close();
  }
}

/** Postfix stores a bare CR as a space. */
const asStored = (s: string): string => s.replace(/\r/g, ' ');
/**
 * Replies smtpd gives after the end of data: one per leftover line, up to
 * and including a QUIT or a line that does not start with a letter (such
 * as "."; the default smtpd_forbidden_commands has /^[^A-Z]/, answered
 * with 221 and a disconnect), then the QUIT we send.
 */
function expectedReplies(rest: string): number {
  const lines = rest.split('\n').slice(0, -1);
  const last = lines.findIndex((l) => /^QUIT\r?$/.test(l) || /^[^A-Za-z\r]/.test(l));
  return last >= 0 ? last + 1 : lines.length + 1;
}

// The cases run at the same time (each smtpd session takes about a second
// of the real smtpd's own, mostly idle, time at RCPT).
describe('DATA bytes: Postern readDotData vs the real smtpd', { concurrency: true }, () => {
  for (const c of SMUGGLING_CASES as readonly SmugglingCase[]) {
    it(c.label, async () => {
      const raw = latin1(c.input);
      const sessions = await Promise.all(MODES.map((mode) => postfixSession(mode, raw)));
      for (const [k, mode] of MODES.entries()) {
        const strict = mode !== 'no';
        const want = strict ? c.strict : c.lenient;
        const pf = sessions[k] as PostfixOutcome;
        const pt = await posternRead(strict, raw);
        const where = `${mode}: ${JSON.stringify(c.input)} -> ${JSON.stringify(pf)}`;
        assert.deepEqual({ pieces: pt.pieces, rest: pt.rest }, want, `Postern vs table, ${where}`);
        // Postfix read every leftover line as a command, then QUIT.
        assert.equal(pf.after.length, expectedReplies(pt.rest), `leftover commands, ${where}`);
        if (mode === 'reject' && pt.bareLfLines > 0) {
          assert.match(pf.endReply, /^550 5\.5\.2 .*Error: bare <LF> received$/, where);
          assert.equal(pf.body, null, where);
          continue;
        }
        assert.match(pf.endReply, /^250 /, where);
        assert.deepEqual(pf.body, pt.pieces.map(asStored), `stored content, ${where}`);
      }
    });
  }
});

describe('command lines: line_length_limit pieces vs the real smtpd', () => {
  it('smtpd warns "request longer than 2048" exactly for the lines LineReader cuts (overflow skip)', async () => {
    // Distinct letters so the log lines can be told apart; around the limit of 2048.
    const commands = [
      `HELO ${'h'.repeat(3000)}`, // far over
      `NOOP ${'i'.repeat(2043)}`, // 2048 bytes, then CRLF: cut
      `NOOP ${'j'.repeat(2042)}`, // 2047 bytes, CR at the limit, LF: whole
      `NOOP ${'k'.repeat(2041)}`, // 2046 bytes + CRLF = 2048: whole
      `NOOP ${'l'.repeat(2042)}\r`, // 2047 bytes + CR + CRLF: cut, ending in CR
    ];
    const wire = commands.map((c) => `${c}\r\n`).join('');
    // Postern: the pieces, read the way smtpd reads commands.
    const p = await socketPair();
    const cut: string[] = [];
    try {
      const reader = new LineReader(p.server, { timeoutMs: SESSION_MS, lineLimit: 2048 });
      p.client.end(wire);
      for (let k = 0; k < commands.length; k++) {
        const r = await reader.readLine({ overflow: 'skip' });
        assert.equal(r.status, 'line');
        if (r.status === 'line' && !r.complete) cut.push(r.line.subarray(0, 30).toString('latin1'));
      }
    } finally {
      await p.close();
    }
    // Postfix: one command at a time, then the warnings from its log.
    const sock = connect(ports.get('no') as number, '127.0.0.1');
    sock.on('error', () => {});
    let text = '';
    sock.on('data', (d: Buffer) => void (text += d.toString('latin1')));
    const replies = (): number => text.split('\r\n').filter((l) => /^\d{3} /.test(l)).length;
    const t0 = Date.now();
    const wait = async (n: number): Promise<void> => {
      while (replies() < n) {
        assert.ok(Date.now() - t0 < SESSION_MS, `smtpd sent ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    try {
      await wait(1);
      for (let k = 0; k < commands.length; k++) {
        sock.write(`${commands[k]}\r\n`);
        await wait(k + 2);
      }
    } finally {
      sock.destroy();
    }
    const re = /request longer than 2048: (.{30})\.\.\./;
    const logged = (): string[] =>
      oracle
        .readLog()
        .split('\n')
        .map((l) => re.exec(l)?.[1])
        .filter((s): s is string => s !== undefined && /^(HELO h|NOOP [ijkl])/.test(s));
    while (logged().length < cut.length && Date.now() - t0 < SESSION_MS) await new Promise((r) => setTimeout(r, 10));
    // A CR inside a logged line is printed as '?'.
    assert.deepEqual(logged(), cut.map((s) => s.replace(/\r/g, '?')));
    assert.equal(cut.length, 3);
  });
});
