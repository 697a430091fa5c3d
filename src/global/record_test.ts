/*
 * record_test - the record codec: round trips, length groups, bounds, truncation
 */
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  decodeRecord,
  decodeRecordComplete,
  encodeLength,
  encodeRecord,
  RecordFile,
  RecordStreamDecoder,
  truncationError,
} from './record.js';
import { REC_TYPE } from './rec_type.js';

test('lengths at the 7-bit group boundaries encode low group first', () => {
  const cases: Array<[number, number[]]> = [
    [0, [0x00]],
    [1, [0x01]],
    [127, [0x7f]],
    [128, [0x80, 0x01]],
    [300, [0xac, 0x02]],
    [16383, [0xff, 0x7f]],
    [16384, [0x80, 0x80, 0x01]],
    [2097151, [0xff, 0xff, 0x7f]],
    [2097152, [0x80, 0x80, 0x80, 0x01]],
    [0x7fffffff, [0xff, 0xff, 0xff, 0xff, 0x07]],
  ];
  for (const [len, bytes] of cases) assert.deepEqual([...encodeLength(len)], bytes, `length ${len}`);
});

test('records round-trip for payload sizes around the group boundaries', () => {
  for (const len of [0, 1, 126, 127, 128, 129, 16383, 16384, 16385, 70000]) {
    const payload = Buffer.alloc(len, 0xe9);
    const rec = encodeRecord(REC_TYPE.NORM, payload);
    const r = decodeRecord(rec, 0);
    assert.equal(r.kind, 'record', `length ${len}`);
    if (r.kind !== 'record') continue;
    assert.equal(r.type, REC_TYPE.NORM);
    assert.equal(r.next, rec.length);
    assert.ok(r.data.equals(payload));
  }
});

test('a sequence of records decodes in order and then reports eof', () => {
  const buf = Buffer.concat([encodeRecord(REC_TYPE.FROM, 'a@example'), encodeRecord(REC_TYPE.RCPT, 'b@example'), encodeRecord(REC_TYPE.END)]);
  const types: number[] = [];
  let pos = 0;
  for (let i = 0; i < 10; i++) {
    const r = decodeRecord(buf, pos);
    if (r.kind !== 'record') {
      assert.equal(r.kind, 'eof');
      break;
    }
    types.push(r.type);
    pos = r.next;
  }
  assert.deepEqual(types, [REC_TYPE.FROM, REC_TYPE.RCPT, REC_TYPE.END]);
});

test('a length over the bound is an error naming the length and type', () => {
  const rec = encodeRecord(REC_TYPE.NORM, Buffer.alloc(200));
  const r = decodeRecord(rec, 0, 100);
  assert.equal(r.kind, 'error');
  if (r.kind === 'error') {
    assert.equal(r.code, 'illegal-length');
    assert.equal(r.message, 'illegal length 200, record type 78');
  }
  assert.equal(decodeRecord(rec, 0, 200).kind, 'record');
});

test('too many length bytes is an error, not a huge length', () => {
  const buf = Buffer.from([REC_TYPE.NORM, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
  const r = decodeRecord(buf, 0);
  assert.equal(r.kind, 'error');
  if (r.kind === 'error') assert.equal(r.message, 'too many length bits, record type 78');
  const big = Buffer.from([REC_TYPE.NORM, 0xff, 0xff, 0xff, 0xff, 0x0f]);
  const r2 = decodeRecord(big, 0);
  assert.equal(r2.kind, 'error');
  if (r2.kind === 'error') assert.equal(r2.code, 'illegal-length');
});

test('truncation at every byte is partial for a stream and an error for a file', () => {
  const whole = Buffer.concat([encodeRecord(REC_TYPE.NORM, Buffer.alloc(200, 0x41)), encodeRecord(REC_TYPE.END)]);
  for (let cut = 1; cut < whole.length; cut++) {
    const part = whole.subarray(0, cut);
    let pos = 0;
    let last: ReturnType<typeof decodeRecordComplete> | undefined;
    for (let i = 0; i < 5; i++) {
      last = decodeRecordComplete(part, pos);
      if (last.kind !== 'record') break;
      pos = last.next;
    }
    const boundary = cut === 203; // just after the first record: a clean end of input
    assert.equal(last?.kind, boundary ? 'eof' : 'error', `cut at ${cut}`);
    if (last?.kind === 'error') assert.match(last.message, /^unexpected EOF (reading length|in data), record type \d+/);
    if (cut < 203) assert.equal(decodeRecord(part, 0).kind, 'partial');
  }
  assert.equal(truncationError(Buffer.from([0x4e]), 0).message, 'unexpected EOF reading length, record type 78');
  assert.equal(truncationError(Buffer.from([0x4e, 0x05, 0x41]), 0).message, 'unexpected EOF in data, record type 78 length 5');
});

test('the stream decoder assembles records fed one byte at a time', () => {
  const recs = [encodeRecord(REC_TYPE.TIME, '1 2'), encodeRecord(REC_TYPE.NORM, Buffer.alloc(300, 0x42)), encodeRecord(REC_TYPE.END)];
  const all = Buffer.concat(recs);
  const dec = new RecordStreamDecoder(1000);
  const got: number[] = [];
  for (const byte of all) {
    dec.push(Buffer.from([byte]));
    for (let i = 0; i < 3; i++) {
      const r = dec.next();
      if (r.kind !== 'record') {
        assert.equal(r.kind, 'partial');
        break;
      }
      got.push(r.type);
    }
  }
  assert.deepEqual(got, [REC_TYPE.TIME, REC_TYPE.NORM, REC_TYPE.END]);
  assert.equal(dec.finish(), null);
  dec.push(Buffer.from([REC_TYPE.NORM, 0x09]));
  assert.equal(dec.finish()?.message, 'unexpected EOF in data, record type 78 length 9');
});

test('RecordFile reads, seeks and reports truncation at every cut of a small file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'record-test-'));
  try {
    const whole = Buffer.concat([
      encodeRecord(REC_TYPE.FROM, 'sender@example'),
      encodeRecord(REC_TYPE.NORM, Buffer.alloc(70000, 0x43)),
      encodeRecord(REC_TYPE.END),
    ]);
    const file = join(dir, 'q');
    writeFileSync(file, whole);
    const fd = openSync(file, 'r');
    try {
      const rf = new RecordFile(fd, file);
      const a = rf.get();
      const b = rf.get();
      const c = rf.get();
      assert.equal(a.kind === 'record' && a.type, REC_TYPE.FROM);
      assert.equal(b.kind === 'record' && b.data.length, 70000);
      assert.equal(c.kind === 'record' && c.type, REC_TYPE.END);
      assert.equal(rf.get().kind, 'eof');
      rf.seek(0);
      const again = rf.get();
      assert.equal(again.kind === 'record' && again.data.toString(), 'sender@example');
    } finally {
      closeSync(fd);
    }
    const small = Buffer.concat([encodeRecord(REC_TYPE.FROM, 'x'), encodeRecord(REC_TYPE.NORM, 'hello'), encodeRecord(REC_TYPE.END)]);
    for (let cut = 0; cut < small.length; cut++) {
      writeFileSync(file, small.subarray(0, cut));
      const fd2 = openSync(file, 'r');
      try {
        const rf = new RecordFile(fd2, file);
        let kind = '';
        for (let i = 0; i < 5; i++) {
          const r = rf.get();
          kind = r.kind;
          if (r.kind !== 'record') break;
        }
        const boundary = cut === 0 || cut === 3 || cut === 10;
        assert.equal(kind, boundary ? 'eof' : 'error', `cut ${cut}`);
      } finally {
        closeSync(fd2);
      }
    }
    // A damaged length far beyond the file size must not allocate it.
    writeFileSync(file, Buffer.from([REC_TYPE.NORM, 0xff, 0xff, 0xff, 0xff, 0x07, 0x41]));
    const fd3 = openSync(file, 'r');
    try {
      const r = new RecordFile(fd3, file).get();
      assert.equal(r.kind, 'error');
      if (r.kind === 'error') assert.equal(r.message, 'unexpected EOF in data, record type 78 length 2147483647');
    } finally {
      closeSync(fd3);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad types are caller bugs and throw', () => {
  assert.throws(() => encodeRecord(256, 'x'), RangeError);
  assert.throws(() => encodeRecord(-1, 'x'), RangeError);
});
