/*
 * postdrop_copy_test - postdrop's record checks, in process
 *
 * What it does: feeds record streams to postdropCopy() and checks what
 * lands in the file and the outcome: own time record first, caller's
 * 'T' refused as Postfix 3.7's postdrop does, attribute filtering with Postfix's warning texts,
 * unexpected and oversized records, truncated input, cancellation, and
 * a write error that still drains the input.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REC_TYPE } from '../global/rec_type.js';
import { decodeRecordComplete, encodeRecord } from '../global/record.js';
import { msgSetSinks } from '../util/msg.js';
import { postdropCopy, type PostdropOutcome } from './postdrop_copy.js';

const rec = (t: string, d = ''): Buffer => encodeRecord(t.charCodeAt(0), d);

async function run(chunks: Buffer[], failWrites = false): Promise<{ outcome: PostdropOutcome; out: string[]; warnings: string[] }> {
  const written: Buffer[] = [];
  const warnings: string[] = [];
  msgSetSinks([{ write: (sev, text) => void (sev === 'warning' && warnings.push(text)) }]);
  async function* input(): AsyncGenerator<Buffer> {
    for (const c of chunks) yield c;
  }
  try {
    const outcome = await postdropCopy(
      input(),
      {
        append: async (b) => {
          if (failWrites && written.length > 0) throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
          written.push(b);
        },
      },
      { uid: 1000, lineLimit: 100, sec: 1700000000, usec: 5 },
    );
    const all = Buffer.concat(written);
    const out: string[] = [];
    for (let off = 0; off < all.length; ) {
      const r = decodeRecordComplete(all, off);
      assert.equal(r.kind, 'record');
      if (r.kind !== 'record') break;
      out.push(`${String.fromCharCode(r.type)}:${r.data.toString('latin1')}`);
      off = r.next;
    }
    return { outcome, out, warnings };
  } finally {
    msgSetSinks([]);
  }
}

const GOOD = [rec('S', 'a@b'), rec('R', 'c@d'), rec('M'), rec('N', 'hi'), rec('L', 'x'), rec('X'), rec('E')];

test('postdrop copy: a good stream gets our time record first', async () => {
  const r = await run([Buffer.concat(GOOD)]);
  assert.deepEqual(r.outcome, { kind: 'done', fromCount: 1, rcptCount: 1 });
  assert.deepEqual(r.out, ['T:1700000000 5', 'S:a@b', 'R:c@d', 'M:', 'N:hi', 'L:x', 'X:', 'E:']);
});

test('postdrop copy: records split over many chunks', async () => {
  const all = Buffer.concat(GOOD);
  const chunks = [...all].map((b) => Buffer.from([b]));
  const r = await run(chunks);
  assert.equal(r.outcome.kind, 'done');
  assert.equal(r.out.length, 8);
});

test('postdrop copy: attributes a user may set pass, others are dropped with a warning', async () => {
  const r = await run([
    Buffer.concat([
      rec('A', 'rewrite_context=local'),
      rec('A', 'rewrite_context=bogus'),
      rec('A', 'encoding=8bit'),
      rec('A', 'encoding=binary'),
      rec('A', 'envelope_id=x'),
      rec('A', 'notify_flags=2'),
      rec('A', 'ret_flags=1'),
      rec('A', 'trace_flags=1024'),
      rec('A', 'client_address=1.2.3.4'),
      rec('A', 'no equals sign'),
      ...GOOD,
    ]),
  ]);
  assert.equal(r.outcome.kind, 'done');
  assert.deepEqual(
    r.out.filter((l) => l.startsWith('A:')),
    ['A:rewrite_context=local', 'A:encoding=8bit', 'A:envelope_id=x', 'A:notify_flags=2', 'A:ret_flags=1', 'A:trace_flags=1024'],
  );
  assert.deepEqual(r.warnings, [
    'uid=1000: ignoring attribute record: rewrite_context=bogus',
    'uid=1000: ignoring attribute record: encoding=binary',
    'uid=1000: ignoring attribute record: client_address=1.2.3.4',
    "uid=1000: ignoring malformed record: missing '=' after attribute name: no equals sign",
  ]);
});

test('postdrop copy: a record type that does not belong is fatal', async () => {
  const r = await run([Buffer.concat([rec('S', 'a'), rec('C', 'size'), ...GOOD])]);
  assert.deepEqual(r.outcome, { kind: 'fatal', text: `uid=1000: unexpected record type: ${REC_TYPE.SIZE}` });
  const p = await run([Buffer.concat([rec('S', 'a'), rec('M'), rec('R', 'late'), rec('X'), rec('E')])]);
  assert.deepEqual(p.outcome, { kind: 'fatal', text: `uid=1000: unexpected record type: ${REC_TYPE.RCPT}` });
});

test('postdrop copy: a time record from the caller is refused, as the real postdrop does', async () => {
  const r = await run([Buffer.concat([rec('T', '1 2'), ...GOOD])]);
  assert.deepEqual(r.outcome, { kind: 'fatal', text: `uid=1000: unexpected record type: ${REC_TYPE.TIME}` });
});

test('postdrop copy: a record over line_length_limit or a cut record is malformed input', async () => {
  const big = await run([Buffer.concat([rec('S', 'a'), rec('R', 'x'.repeat(101))])]);
  assert.deepEqual(big.outcome, { kind: 'fatal', text: 'uid=1000: malformed input' });
  const cut = await run([Buffer.concat([rec('S', 'a'), rec('R', 'abcdef').subarray(0, 4)])]);
  assert.deepEqual(cut.outcome, { kind: 'fatal', text: 'uid=1000: malformed input' });
});

test('postdrop copy: input that stops between records cancels', async () => {
  const r = await run([Buffer.concat([rec('S', 'a'), rec('R', 'b'), rec('M'), rec('N', 'x')])]);
  assert.deepEqual(r.outcome, { kind: 'cancelled' });
});

test('postdrop copy: counts senders and recipients for the caller', async () => {
  const r = await run([Buffer.concat([rec('M'), rec('X'), rec('E')])]);
  assert.deepEqual(r.outcome, { kind: 'done', fromCount: 0, rcptCount: 0 });
});

test('postdrop copy: a write error drains the input and reports the error', async () => {
  const r = await run([Buffer.concat(GOOD), Buffer.from('trailing junk after the end')], true);
  assert.equal(r.outcome.kind, 'write-error');
});
