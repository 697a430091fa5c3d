/*
 * queue_file_test - writer, reader and deliver_completed on real files
 *
 * Covers: the layout cleanup uses (size record fields filled in place,
 * offsets), the file mode while writing (0600) and after finish (0700),
 * long lines split into 'L' + 'N', 8-bit content, pointer records and
 * padding on reading, crossing off a recipient in place, and clear
 * errors naming the file for truncation at every byte and for garbage.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deliverCompleted } from './deliver_completed.js';
import { updateWarnTime } from './queue_file_update.js';
import { encodeRecord } from './record.js';
import { REC_TYPE } from './rec_type.js';
import { parseQueueFileBuffer, queueFileContent, readQueueFile } from './queue_file_read.js';
import { createQueueFile, writeQueueFile, QUEUE_ATTR } from './queue_file_write.js';
import type { MailStreamOptions } from './mail_stream.js';

function tempQueue(): { dir: string; opts: MailStreamOptions } {
  const dir = mkdtempSync(join(tmpdir(), 'queue-file-test-'));
  mkdirSync(join(dir, 'incoming'));
  return { dir, opts: { queueDir: dir, queueName: 'incoming', longQueueIds: false, hashDepth: 1, hashQueues: ['deferred'] } };
}

const LONG = 'y'.repeat(5000);

test('a written queue file reads back with its envelope, content and size record', async () => {
  const { dir, opts } = tempQueue();
  try {
    const { queueId, path } = await writeQueueFile(opts, {
      sender: 'alice@example.org',
      fullName: 'Alice',
      attrs: [[QUEUE_ATTR.RWR_CONTEXT, 'local']],
      recipients: [
        { address: 'bob@example.net', original: 'Bob@Example.NET', dsnOrcpt: 'rfc822;Bob@Example.NET' },
        { address: 'carol@example.net', dsnNotify: 6 },
      ],
      lines: ['Subject: test', '', 'caf\u00e9', LONG],
      lineLimit: 2048,
      arrival: { sec: 1700000000, usec: 123456 },
    });
    assert.equal(path, join(dir, 'incoming', queueId));
    assert.equal(statSync(path).mode & 0o777, 0o700, 'complete files carry the ready bit');
    const r = readQueueFile(path, { content: true });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    const qf = r.file;
    assert.equal(qf.sender, 'alice@example.org');
    assert.equal(qf.fullName, 'Alice');
    assert.deepEqual(qf.arrival, { sec: 1700000000, usec: 123456 });
    assert.equal(qf.createTime, 1700000000);
    assert.deepEqual(
      qf.recipients.map((x) => [x.address, x.original, x.dsnOrcpt, x.dsnNotify, x.done]),
      [
        ['bob@example.net', 'Bob@Example.NET', 'rfc822;Bob@Example.NET', undefined, false],
        ['carol@example.net', undefined, undefined, 6, false],
      ],
    );
    assert.ok(qf.size);
    assert.equal(qf.size.dataOffset, qf.contentOffset);
    assert.equal(qf.size.contentSize, qf.extractedOffset - qf.contentOffset);
    assert.equal(qf.size.rcptCount, 2);
    assert.equal(qf.size.contentLength, qf.size.contentSize);
    const longRecs = qf.content!.filter((t) => t.continued);
    assert.equal(longRecs.length, 2, '5000 bytes at a 2048 limit: two L records and an N');
    assert.equal(queueFileContent(qf).toString('utf8'), `Subject: test\n\ncaf\u00e9\n${LONG}\n`);
    const raw = readFileSync(path);
    assert.equal(raw[0], REC_TYPE.SIZE);
    assert.equal(raw[1], 95, 'six fields of 15 columns and five spaces');
    assert.equal(raw[raw.length - 2], REC_TYPE.END);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('long lines split like Postfix: a line of exactly the limit is L + empty N', async () => {
  // Record layout observed from the real postdrop (line_length_limit 2048).
  const { dir, opts } = tempQueue();
  try {
    const lengths = [2048, 4096, 2047, 2049, 0];
    const { path } = await writeQueueFile(opts, {
      sender: 's@example',
      recipients: [{ address: 'r@example' }],
      lines: lengths.map((n) => 'q'.repeat(n)),
      lineLimit: 2048,
    });
    const r = readQueueFile(path, { content: true });
    assert.ok(r.ok);
    assert.deepEqual(
      r.file.content!.map((t) => `${t.continued ? 'L' : 'N'}${t.text.length}`),
      ['L2048', 'N0', 'L2048', 'L2048', 'N0', 'N2047', 'L2048', 'N1', 'N0'],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the file is 0600 while it is written and only finish() marks it complete', async () => {
  const { dir, opts } = tempQueue();
  try {
    const w = await createQueueFile(opts);
    await w.sizePlaceholder();
    await w.time(1, 2);
    await w.sender('');
    await w.recipient({ address: 'x@example' });
    await w.beginContent();
    await w.line('body');
    await w.beginExtracted();
    await w.end();
    await w.stream.flush();
    assert.equal(statSync(w.path).mode & 0o777, 0o600);
    await w.finish();
    assert.equal(statSync(w.path).mode & 0o777, 0o700);
    await assert.rejects(() => w.record(REC_TYPE.NORM, 'late'));
    const w2 = await createQueueFile(opts);
    await w2.sizePlaceholder();
    await w2.abort();
    assert.throws(() => statSync(w2.path), /ENOENT/);
    const w3 = await createQueueFile(opts);
    await assert.rejects(() => w3.line('no M yet'), /not allowed in the envelope segment/);
    await w3.abort();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('deliverCompleted turns R into D in place, and refuses other offsets', async () => {
  const { dir, opts } = tempQueue();
  try {
    const { path } = await writeQueueFile(opts, {
      sender: 's@example',
      recipients: [{ address: 'a@example' }, { address: 'b@example' }],
      lines: ['x'],
    });
    const before = readQueueFile(path);
    assert.ok(before.ok);
    const second = before.file.recipients[1]!;
    const size = statSync(path).size;
    assert.deepEqual(await deliverCompleted(path, second.offset), { ok: true });
    assert.deepEqual(await deliverCompleted(path, second.offset), { ok: true }, 'idempotent');
    assert.equal(statSync(path).size, size);
    const after = readQueueFile(path);
    assert.ok(after.ok);
    assert.deepEqual(after.file.recipients.map((r) => r.done), [false, true]);
    const bad = await deliverCompleted(path, 1);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.match(bad.message, new RegExp(`^${path}: deliver_completed: no recipient record at offset 1`));
    assert.deepEqual(await deliverCompleted(path, -1), { ok: true });
    assert.equal((await deliverCompleted(join(dir, 'nope'), 5)).ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the delay warning time is rewritten in place without moving anything', async () => {
  const { dir, opts } = tempQueue();
  try {
    const w = await createQueueFile(opts);
    await w.sizePlaceholder();
    await w.time(1700000000, 0);
    const warnAt = await w.warnTime(1700003600);
    await w.sender('s@example');
    await w.recipient({ address: 'r@example' });
    await w.beginContent();
    await w.line('x');
    await w.beginExtracted();
    await w.end();
    await w.finish();
    const before = readQueueFile(w.path);
    assert.ok(before.ok);
    assert.equal(before.file.warnOffset, warnAt);
    assert.equal(before.file.other.get('W')?.trim(), '1700003600');
    const size = statSync(w.path).size;
    assert.deepEqual(await updateWarnTime(w.path, warnAt, 1700007200), { ok: true });
    assert.equal(statSync(w.path).size, size);
    const after = readQueueFile(w.path);
    assert.ok(after.ok);
    assert.equal(after.file.other.get('W')?.trim(), '1700007200');
    assert.equal(after.file.recipients[0]!.offset, before.file.recipients[0]!.offset);
    const wrong = await updateWarnTime(w.path, before.file.recipients[0]!.offset, 1);
    assert.equal(wrong.ok, false);
    if (!wrong.ok) assert.match(wrong.message, /no W record of length 15 at offset/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('truncation at every byte and garbage give an error naming the file', async () => {
  const { dir, opts } = tempQueue();
  try {
    const { path } = await writeQueueFile(opts, { sender: 's@example', recipients: [{ address: 'r@example' }], lines: ['a', 'b'] });
    const whole = readFileSync(path);
    assert.ok(parseQueueFileBuffer(whole, 'whole').ok);
    for (let cut = 0; cut < whole.length; cut++) {
      const r = parseQueueFileBuffer(whole.subarray(0, cut), 'cutfile');
      assert.equal(r.ok, false, `cut ${cut}`);
      if (!r.ok) assert.match(r.error.message, /^cutfile: /);
    }
    const cutPath = join(dir, 'cut');
    writeFileSync(cutPath, whole.subarray(0, 40));
    const viaFile = readQueueFile(cutPath);
    assert.ok(!viaFile.ok && viaFile.error.message.startsWith(`${cutPath}: `));
    const garbage = parseQueueFileBuffer(Buffer.from('hello world\n'), 'junk');
    assert.ok(!garbage.ok);
    if (!garbage.ok) assert.equal(garbage.error.message, 'junk: input is not a valid queue file');
    const misplaced = Buffer.concat([encodeRecord(REC_TYPE.TIME, '1 0'), encodeRecord(REC_TYPE.NORM, 'text in the envelope')]);
    const m = parseQueueFileBuffer(misplaced, 'odd');
    assert.ok(!m.ok && m.error.message === 'odd: unexpected record type 78 in the envelope segment');
    const missing = readQueueFile(join(dir, 'absent'));
    assert.ok(!missing.ok && missing.error.message.includes('absent'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the reader follows pointer records and skips padding', () => {
  // T, then a pointer to a heap after E holding the sender and a pointer back.
  const head = encodeRecord(REC_TYPE.TIME, '5 0');
  const ptrLen = encodeRecord(REC_TYPE.PTR, ' '.repeat(15)).length;
  const afterPtr = head.length + ptrLen;
  const tail = Buffer.concat([
    encodeRecord(REC_TYPE.DTXT, 'pad'),
    encodeRecord(REC_TYPE.RCPT, 'r@example'),
    encodeRecord(REC_TYPE.MESG),
    encodeRecord(REC_TYPE.NORM, 'line'),
    encodeRecord(REC_TYPE.XTRA),
    encodeRecord(REC_TYPE.END),
  ]);
  const heapAt = afterPtr + tail.length;
  const ptr = encodeRecord(REC_TYPE.PTR, String(heapAt).padStart(15, ' '));
  const heap = Buffer.concat([encodeRecord(REC_TYPE.FROM, 'from-heap@example'), encodeRecord(REC_TYPE.PTR, String(afterPtr).padStart(15, ' '))]);
  const buf = Buffer.concat([head, ptr, tail, heap]);
  const r = parseQueueFileBuffer(buf, 'ptr', { content: true });
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  assert.equal(r.file.sender, 'from-heap@example');
  assert.deepEqual(r.file.recipients.map((x) => x.address), ['r@example']);
  assert.equal(queueFileContent(r.file).toString(), 'line\n');
});
