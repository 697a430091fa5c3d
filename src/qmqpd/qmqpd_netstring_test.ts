/*
 * qmqpd_netstring_test - netstring reading over a stream: limits, errors, timeout
 *
 * What it does: drives NetstringReader with a PassThrough standing in for
 * the client socket: data split anywhere, ungetc, and each failure kind
 * (format, size, eof, time) that qmqpd turns into Postfix's texts.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { encodeNetstring, NetstringError, NetstringReader } from './qmqpd_netstring.js';

function reader(timeoutMs = 1000): { r: NetstringReader; s: PassThrough } {
  const s = new PassThrough();
  return { r: new NetstringReader(s, timeoutMs), s };
}

async function failsWith(p: Promise<unknown>, kind: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof NetstringError && e.kind === kind);
}

test('netstring: encode', () => {
  assert.equal(encodeNetstring('abc').toString(), '3:abc,');
  assert.equal(encodeNetstring('').toString(), '0:,');
});

test('netstring: nested QMQP packet, split at every byte', async () => {
  const { r, s } = reader();
  const packet = encodeNetstring(Buffer.concat([encodeNetstring('msg\n'), encodeNetstring('s@x'), encodeNetstring('r@y')]));
  for (const b of packet) s.write(Buffer.from([b]));
  assert.equal(await r.getLength(), packet.length - 4);
  assert.equal((await r.get(100)).toString(), 'msg\n');
  assert.equal((await r.get(100)).toString(), 's@x');
  const ch = await r.getc();
  r.ungetc(ch);
  assert.equal((await r.get(100)).toString(), 'r@y');
  assert.equal(await r.getc(), 0x2c);
});

test('netstring: a bad length or terminator is a format error', async () => {
  const a = reader();
  a.s.write('x:abc,');
  await failsWith(a.r.get(10), 'format');
  const b = reader();
  b.s.write('3:abc;');
  await failsWith(b.r.get(10), 'format');
});

test('netstring: over the limit, or too many digits, is a size error', async () => {
  const a = reader();
  a.s.write('11:');
  await failsWith(a.r.get(10), 'size');
  const b = reader();
  b.s.write('9999999999999999999:');
  await failsWith(b.r.get(0), 'size');
});

test('netstring: end of input and timeout', async () => {
  const a = reader();
  a.s.end('3:ab');
  await failsWith(a.r.get(10), 'eof');
  const b = reader(50);
  b.s.write('3:a');
  await failsWith(b.r.get(10), 'time');
});
