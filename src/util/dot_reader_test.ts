/*
 * dot_reader_test - readDotData over real loopback sockets: end of data, smuggling, caps
 *
 * The expected pieces and end-of-data positions of the smuggling table
 * are what the real Postfix 3.7.11 smtpd stored and did for the same
 * bytes (smtpd_forbid_bare_newline = no for "lenient", = normalize for
 * "strict"; test/oracle/smtp_smuggling_test.ts re-checks them against a
 * live instance), except that Postfix stores a bare CR as a space further
 * down the line, where here it is still a CR. Every case is also fed split
 * at every byte boundary.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type DataPiece, type DotDataResult, type DotReaderOptions, readDotData } from './dot_reader.js';
import { LineReader, type LineReaderOptions } from './line_reader.js';
import { END, SMUGGLING_CASES as CASES, latin1, socketPair, splits, writeSplit } from './reader_test_lib.js';

interface Outcome {
  status: DotDataResult['status'];
  pieces: string[];
  /** Bytes left after the end of data (what smtpd reads as the next commands). */
  rest: string;
  result: DotDataResult;
}

function showPiece(p: DataPiece): string {
  return `${p.complete ? '' : 'L:'}${p.text.toString('latin1')}`;
}

async function runData(parts: Buffer[], ropts: LineReaderOptions, dopts: DotReaderOptions = {}, closeAfter = true): Promise<Outcome> {
  const p = await socketPair();
  try {
    const reader = new LineReader(p.server, { timeoutMs: 5000, ...ropts });
    const pieces: string[] = [];
    const reading = readDotData(reader, (piece) => void pieces.push(showPiece(piece)), dopts);
    await writeSplit(p.client, parts, () => reader.consumed + reader.buffered);
    if (closeAfter) p.client.end();
    const result = await reading;
    let rest = '';
    if (result.status === 'end') {
      for (let i = 0; i < 1000; i++) {
        const c = await reader.readChunk(4096);
        if (c.status !== 'chunk') break;
        rest += c.data.toString('latin1');
      }
    }
    return { status: result.status, pieces, rest, result };
  } finally {
    await p.close();
  }
}


describe('readDotData smuggling table (every split)', () => {
  for (const c of CASES) {
    for (const mode of ['lenient', 'strict'] as const) {
      it(`${mode}: ${c.label}`, async () => {
        for (const parts of splits(c.input)) {
          const o = await runData(parts, { lineLimit: 100, detectBareLf: mode === 'strict' });
          const where = `${JSON.stringify(parts.map((b) => b.toString('latin1')))}`;
          assert.equal(o.status, 'end', where);
          assert.deepEqual({ pieces: o.pieces, rest: o.rest }, c[mode], where);
        }
      });
    }
  }
});

describe('readDotData counts', () => {
  it('counts bare LF lines and dropped dots (for smtpd_forbid_bare_newline = reject)', async () => {
    const o = await runData([latin1(`a\n.\nb\r\nc\n\r\n${END}`)], { detectBareLf: true });
    assert.equal(o.result.status, 'end');
    assert.equal(o.result.bareLfLines, 3);
    assert.equal(o.result.droppedDots, 1);
    assert.deepEqual(o.pieces, ['a', 'b', 'c', '']);
    const clean = await runData([latin1(`a\r\nb\r\n${END}`)], { detectBareLf: true });
    assert.equal(clean.result.bareLfLines, 0);
  });
});

describe('readDotData long lines', () => {
  const ropts = { lineLimit: 8 };
  it('unstuffs only the first piece of a line; a dot piece in mid-line is not the end', async () => {
    for (const parts of splits(`.xxxxxxxx\r\nxxxxxxxx.\r\n${END}`)) {
      const o = await runData(parts, ropts);
      assert.deepEqual(o.pieces, ['L:xxxxxxx', 'x', 'L:xxxxxxxx', '.'], JSON.stringify(parts.map(String)));
      assert.equal(o.status, 'end');
    }
  });
});

describe('readDotData size cap (message_size_limit)', () => {
  it('stops handing out at the cap, reads to the end, and says overflow', async () => {
    // Each piece counts its length + 2: 'aaaa' 6, 'bbbb' 6, 'cccc' 6.
    const input = `aaaa\r\nbbbb\r\ncccc\r\n${END}QUIT\r\n`;
    const at = await runData([latin1(input)], {}, { sizeLimit: 18 });
    assert.deepEqual(at.pieces, ['aaaa', 'bbbb', 'cccc']);
    assert.equal(at.result.status, 'end');
    assert.equal(at.result.overflow, false);
    assert.equal(at.result.size, 18);
    const over = await runData([latin1(input)], {}, { sizeLimit: 17 });
    assert.deepEqual(over.pieces, ['aaaa', 'bbbb']);
    assert.equal(over.result.status, 'end');
    assert.equal(over.result.overflow, true);
    assert.equal(over.rest, 'QUIT\r\n');
    const start = await runData([latin1(input)], {}, { sizeLimit: 18, sizeStart: 1 });
    assert.equal(start.result.overflow, true);
    assert.deepEqual(start.pieces, ['aaaa', 'bbbb']);
  });

  it('a large message over the cap costs no memory: pieces are dropped as they come', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 5000 });
      let delivered = 0;
      const reading = readDotData(reader, (piece) => void (delivered += piece.text.length), { sizeLimit: 10_000 });
      const line = `${'m'.repeat(998)}\r\n`;
      for (let i = 0; i < 5000; i++) if (!p.client.write(line)) await new Promise((r) => p.client.once('drain', r));
      p.client.write(END);
      const r = await reading;
      assert.equal(r.status, 'end');
      assert.equal(r.overflow, true);
      assert.equal(delivered, 10 * 998);
    } finally {
      await p.close();
    }
  });

  it('bad limits are rejected', async () => {
    const p = await socketPair();
    try {
      await assert.rejects(readDotData(new LineReader(p.server), () => {}, { sizeLimit: -1 }), RangeError);
    } finally {
      await p.close();
    }
  });
});

describe('readDotData disconnects, stalls and a slow consumer', () => {
  it('disconnect mid-DATA (mid-line and at a line end) is eof with the counts so far', async () => {
    for (const tail of ['partial', 'whole\r\n']) {
      const o = await runData([latin1(`one\r\n${tail}`)], {}, {}, true);
      assert.equal(o.status, 'eof');
      assert.deepEqual(o.pieces, tail === 'partial' ? ['one'] : ['one', 'whole']);
      if (o.result.status === 'eof') assert.equal(o.result.partial.toString('latin1'), tail === 'partial' ? 'partial' : '');
    }
  });

  it('a client that stalls mid-DATA times out', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 5000 });
      const reading = readDotData(reader, () => {}, { timeoutMs: 100 });
      p.client.write('line\r\npart');
      const r = await reading;
      assert.equal(r.status, 'timeout');
      assert.equal(r.pieces, 1);
    } finally {
      await p.close();
    }
  });

  it('awaits a slow consumer before reading on, and loses nothing', async () => {
    const p = await socketPair();
    try {
      const reader = new LineReader(p.server, { timeoutMs: 5000, bufferLimit: 4096 });
      const got: string[] = [];
      let busy = false;
      const reading = readDotData(reader, async (piece) => {
        assert.equal(busy, false, 'callback re-entered');
        busy = true;
        await new Promise((r) => setTimeout(r, 1));
        got.push(piece.text.toString('latin1'));
        busy = false;
      });
      const lines = Array.from({ length: 300 }, (_, i) => `line ${i} ${'z'.repeat(200)}`);
      p.client.write(lines.map((l) => `${l}\r\n`).join('') + END);
      const r = await reading;
      assert.equal(r.status, 'end');
      assert.deepEqual(got, lines);
    } finally {
      await p.close();
    }
  });
});
