/*
 * line_reader_test - LineReader over real loopback sockets
 *
 * Line splitting and CR stripping follow what the real Postfix 3.7.11
 * smtpd stored for the same bytes (see test/oracle/smtp_smuggling_test.ts,
 * which checks the DATA side against it): with detectBareLf off every CR
 * before LF goes, with it on exactly one; a piece of lineLimit bytes
 * ending in CR followed by LF is a complete line. Each small input is also
 * delivered split at every byte boundary, with the same expected result.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineReader, type LineReaderOptions, type LineResult, type ReadLineOptions } from './line_reader.js';
import { latin1, socketPair, splits, writeSplit } from './reader_test_lib.js';

type Got = string;

/** Renders a result: "line|text" (text latin1, with flags), "eof|partial", "timeout", "error". */
function show(r: LineResult): Got {
  switch (r.status) {
    case 'line':
      return `${r.complete ? 'N' : 'L'}${r.bareLf ? '!' : ''}${r.skipped ? `+${r.skipped}` : ''}:${r.line.toString('latin1')}`;
    case 'eof':
      return `eof:${r.partial.toString('latin1')}`;
    default:
      return r.status;
  }
}

/** Sends input (in the given parts), closes the client, and reads every result up to eof. */
async function readAll(parts: Buffer[], opts: LineReaderOptions, rl: ReadLineOptions = {}): Promise<Got[]> {
  const p = await socketPair();
  try {
    const reader = new LineReader(p.server, { timeoutMs: 5000, ...opts });
    const got: Got[] = [];
    const reading = (async () => {
      for (let i = 0; i < 10_000; i++) {
        const r = await reader.readLine(rl);
        got.push(show(r));
        if (r.status !== 'line') return;
      }
    })();
    await writeSplit(p.client, parts, () => reader.consumed + reader.buffered);
    p.client.end();
    await reading;
    return got;
  } finally {
    await p.close();
  }
}


async function checkEverySplit(input: string, opts: LineReaderOptions, want: Got[], rl: ReadLineOptions = {}): Promise<void> {
  for (const parts of splits(input)) {
    const got = await readAll(parts, opts, rl);
    assert.deepEqual(got, want, `split ${JSON.stringify(parts.map((b) => b.toString('latin1')))}`);
  }
}

describe('LineReader line endings', () => {
  const input = 'HELO a\r\nMAIL FROM:<x>\n\r\nfoo\rbar\r\r\n.\r\n';
  it('lenient (smtpd_forbid_bare_newline = no): LF ends a line, all CRs before it go', async () => {
    await checkEverySplit(input, { lineLimit: 100 }, ['N:HELO a', 'N!:MAIL FROM:<x>', 'N:', 'N:foo\rbar', 'N:.', 'eof:']);
  });
  it('detecting bare LF: one CR goes, a missing CR is reported', async () => {
    await checkEverySplit(input, { lineLimit: 100, detectBareLf: true }, ['N:HELO a', 'N!:MAIL FROM:<x>', 'N:', 'N:foo\rbar\r', 'N:.', 'eof:']);
  });
  it('CR alone never ends a line', async () => {
    await checkEverySplit('a\r.\rb\r\n', { lineLimit: 100 }, ['N:a\r.\rb', 'eof:']);
  });
  it('end of input mid-line is eof with the partial line', async () => {
    await checkEverySplit('QUIT\r\nHELO x', { lineLimit: 100 }, ['N:QUIT', 'eof:HELO x']);
  });
});

describe('LineReader long lines (line_length_limit)', () => {
  // Limit 8 here; the same shapes at 2048 were checked against Postfix.
  const opts = { lineLimit: 8 };
  it('a line of limit-2 bytes plus CRLF is one line', async () => {
    await checkEverySplit('xxxxxx\r\n', opts, ['N:xxxxxx', 'eof:']);
  });
  it('limit-1 bytes plus CRLF: the piece ends in CR, the LF completes it', async () => {
    await checkEverySplit('xxxxxxx\r\n', opts, ['N:xxxxxxx', 'eof:']);
  });
  it('limit bytes plus CRLF: a full piece, then an empty line', async () => {
    await checkEverySplit('xxxxxxxx\r\n', opts, ['L:xxxxxxxx', 'N:', 'eof:']);
  });
  it('limit+1 bytes: a full piece and the rest', async () => {
    await checkEverySplit('xxxxxxxxy\r\n', opts, ['L:xxxxxxxx', 'N:y', 'eof:']);
  });
  it('limit-1 bytes, CR, CR, LF: the piece keeps its CR', async () => {
    await checkEverySplit('xxxxxxx\r\r\n', opts, ['L:xxxxxxx\r', 'N:', 'eof:']);
    await checkEverySplit('xxxxxxx\r\r\n', { ...opts, detectBareLf: true }, ['L:xxxxxxx\r', 'N:', 'eof:']);
  });
  it('a very long line comes in pieces of the limit', async () => {
    const got = await readAll([latin1('z'.repeat(8 * 5 + 3) + '\r\nNEXT\r\n')], opts);
    assert.deepEqual(got, ['L:zzzzzzzz', 'L:zzzzzzzz', 'L:zzzzzzzz', 'L:zzzzzzzz', 'L:zzzzzzzz', 'N:zzz', 'N:NEXT', 'eof:']);
  });
  it('overflow skip (commands): the first piece, the rest of the line discarded and counted', async () => {
    await checkEverySplit('NOOP abcdefgh\r\nQUIT\r\n', opts, ['L+6:NOOP abc', 'N:QUIT', 'eof:'], { overflow: 'skip' });
  });
  it('overflow skip across many reads', async () => {
    const got = await readAll([latin1('NOOP '), latin1('y'.repeat(100_000)), latin1('\r\nQUIT\r\n')], opts, { overflow: 'skip' });
    assert.deepEqual(got, [`L+${100_000 + 5 - 8 + 1}:NOOP yyy`, 'N:QUIT', 'eof:']);
  });
});

describe('LineReader pipelining and backpressure', () => {
  it('tells whether the client sent ahead, and shows what', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 5000 });
      p.client.write('EHLO a\r\n');
      let r = await reader.readLine();
      assert.equal(show(r), 'N:EHLO a');
      assert.equal(reader.hasBufferedInput(), false);
      p.client.write('MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n');
      r = await reader.readLine();
      assert.equal(show(r), 'N:MAIL FROM:<a@b>');
      const t0 = Date.now();
      while (reader.buffered < 'RCPT TO:<c@d>\r\nDATA\r\n'.length && Date.now() - t0 < 2000) await new Promise((res) => setTimeout(res, 2));
      assert.equal(reader.hasBufferedInput(), true);
      assert.equal(reader.peekBuffered().toString('latin1'), 'RCPT TO:<c@d>\r\nDATA\r\n');
      assert.equal(reader.peekBuffered(4).toString('latin1'), 'RCPT');
      assert.equal(show(await reader.readLine()), 'N:RCPT TO:<c@d>');
      assert.equal(show(await reader.readLine()), 'N:DATA');
      assert.equal(reader.hasBufferedInput(), false);
      assert.equal(await reader.pendingInput(), false);
      p.client.write('QUIT\r\n');
      const t1 = Date.now();
      while (!(await reader.pendingInput())) assert.ok(Date.now() - t1 < 2000, 'QUIT never arrived');
      assert.equal(reader.peekBuffered().toString('latin1'), 'QUIT\r\n');
    } finally {
      await p.close();
    }
  });

  it('a client that floods pipelined commands: read-ahead stays bounded, nothing is lost', async () => {
    const p = await socketPair();
    try {
      const bufferLimit = 16 * 1024;
      const reader = new LineReader(p.server, { timeoutMs: 5000, bufferLimit });
      // 1000-byte lines, 20 MB: more than the kernel's loopback buffers hold.
      const text = `NOOP ${'p'.repeat(993)}`;
      const line = `${text}\r\n`;
      const count = 20_000;
      let writerDone = false;
      const writing = (async () => {
        const block = line.repeat(100);
        for (let i = 0; i < count / 100; i++) {
          if (!p.client.write(block)) await new Promise((r) => p.client.once('drain', r));
        }
        p.client.end();
        writerDone = true;
      })();
      // Do not read for a while: the client fills the socket buffers, not our memory.
      await new Promise((r) => setTimeout(r, 200));
      let maxBuffered = reader.buffered;
      assert.ok(!writerDone, 'the writer should be blocked by backpressure');
      let n = 0;
      for (;;) {
        maxBuffered = Math.max(maxBuffered, reader.buffered);
        const r = await reader.readLine();
        if (r.status !== 'line') {
          assert.equal(show(r), 'eof:');
          break;
        }
        assert.equal(r.line.toString('latin1'), text);
        n += 1;
        assert.ok(n <= count, 'more lines than sent');
      }
      await writing;
      assert.equal(n, count);
      // One stream chunk (64 KiB at most on a socket) may arrive past the limit.
      assert.ok(maxBuffered <= bufferLimit + 64 * 1024, `buffered ${maxBuffered}`);
    } finally {
      await p.close();
    }
  });
});

describe('LineReader timeouts and disconnects', () => {
  it('a client that stalls mid-line times out', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 100 });
      p.client.write('HEL');
      const t0 = Date.now();
      const r = await reader.readLine();
      assert.equal(show(r), 'timeout');
      assert.ok(Date.now() - t0 >= 90, 'not before the limit');
      // The partial line is still there for a later read.
      p.client.write('O x\r\n');
      assert.equal(show(await reader.readLine()), 'N:HELO x');
    } finally {
      await p.close();
    }
  });

  it('per-read limit: a slow drip is fine, unless the deadline is for the whole line', async () => {
    for (const deadline of [false, true]) {
      const p = await socketPair();
      try {
        const reader = new LineReader(p.server, { timeoutMs: 150, deadline });
        const reading = reader.readLine();
        for (const ch of 'HELO x\r\n') {
          await new Promise((r) => setTimeout(r, 40));
          if (!p.client.destroyed) p.client.write(ch);
        }
        assert.equal(show(await reading), deadline ? 'timeout' : 'N:HELO x');
      } finally {
        await p.close();
      }
    }
  });

  it('a client that disconnects mid-line (FIN or reset)', async () => {
    for (const how of ['end', 'destroy'] as const) {
      const p = await socketPair();
      try {
        const reader = new LineReader(p.server, { timeoutMs: 5000 });
        p.client.write('HELO x');
        const t0 = Date.now();
        while (reader.buffered < 6 && Date.now() - t0 < 2000) await new Promise((res) => setTimeout(res, 2));
        if (how === 'end') p.client.end();
        else p.client.resetAndDestroy();
        const r = await reader.readLine();
        assert.ok(r.status === 'eof' || r.status === 'error', show(r));
        if (r.status === 'eof') assert.equal(r.partial.toString('latin1'), 'HELO x');
      } finally {
        await p.close();
      }
    }
  });

  it('two reads at once is a programming error', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 50 });
      const first = reader.readLine();
      assert.throws(() => reader.readLine(), /another read is pending/);
      assert.equal(show(await first), 'timeout');
    } finally {
      await p.close();
    }
  });

  it('bad limits are rejected', () => {
    assert.throws(() => new LineReader(process.stdin, { lineLimit: 0 }), RangeError);
  });
});

describe('LineReader readChunk and detach', () => {
  it('hands out raw bytes up to a maximum, then the rest on detach', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 5000 });
      p.client.write('BDAT 5\r\nab\r\ncREST');
      assert.equal(show(await reader.readLine()), 'N:BDAT 5');
      let got = '';
      while (got.length < 5) {
        const r = await reader.readChunk(5 - got.length);
        assert.equal(r.status, 'chunk');
        if (r.status === 'chunk') got += r.data.toString('latin1');
      }
      assert.equal(got, 'ab\r\nc');
      const t0 = Date.now();
      while (reader.buffered < 4 && Date.now() - t0 < 2000) await new Promise((res) => setTimeout(res, 2));
      assert.equal(reader.detach().toString('latin1'), 'REST');
    } finally {
      await p.close();
    }
  });
});
