/*
 * attr0_test - the attr0 codec: bytes, incremental decoding, caps, typed scans
 *
 * What it does: checks the byte grammar of attr_print0 (the announcement
 * bytes are also compared with a real Postfix showq in
 * test/oracle/ipc_showq_test.ts), round trips every field type, decodes
 * input split at every possible place, and feeds oversized and malformed
 * input. What it does not do: sockets (src/global/ipc/ tests do).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Attr0Frame, Attr0Decoder, Attr0Error, decodeAttr0, encodeAttr0, parseInt32, parseLong } from './attr0.js';
import { attr, printFields, scanFields, scanRecords } from './attr0_scan.js';

const nul = (s: string) => Buffer.from(s.replace(/\|/g, '\0'), 'utf8');

const ALL = {
  s: attr.str(),
  i: attr.int(),
  l: attr.long(),
  b: attr.bool(),
  d: attr.data(),
  h: attr.hash(),
};

describe('attr0 encoding', () => {
  it('writes name NUL value NUL pairs and an empty-name terminator', () => {
    assert.deepEqual(encodeAttr0([{ name: 'protocol', value: 'anvil_protocol' }]), nul('protocol|anvil_protocol||'));
    assert.deepEqual(encodeAttr0([]), nul('|'));
  });

  it('leaves the terminator off with more (ATTR_FLAG_MORE)', () => {
    assert.deepEqual(encodeAttr0([{ name: 'a', value: '' }], { more: true }), nul('a||'));
  });

  it('writes a hash table as a { } group', () => {
    const f = printFields({ h: attr.hash() }, { h: new Map([['k1', 'v1'], ['k2', '']]) });
    assert.deepEqual(encodeAttr0(f), nul('{|k1|v1|k2||}||'));
  });

  it('writes numbers as C %u / %lu and data as base64', () => {
    const f = printFields(ALL, { s: 'x', i: -1, l: -2, b: true, d: Buffer.from([0, 255]), h: new Map() });
    assert.deepEqual(
      encodeAttr0(f),
      nul('s|x|i|4294967295|l|18446744073709551614|b|1|d|AP8=|{|}||'),
    );
  });

  it('rejects a NUL inside a name or value and a non-integer int', () => {
    assert.throws(() => encodeAttr0([{ name: 'a', value: 'x\0y' }]), Attr0Error);
    assert.throws(() => encodeAttr0([{ name: 'a\0', value: 'x' }]), Attr0Error);
    assert.throws(() => printFields({ i: attr.int() }, { i: 1.5 }), Attr0Error);
    assert.throws(() => printFields({ i: attr.int() }, {} as never), Attr0Error);
    assert.throws(() => encodeAttr0(printFields({ h: attr.hash() }, { h: new Map([['', 'x']]) })), Attr0Error, 'an empty name would end the list');
  });
});

describe('attr0 typed round trip', () => {
  const values = {
    s: 'héllo wörld <user@example.com>',
    i: 2147483647,
    l: 9007199254740991,
    b: false,
    d: Buffer.from(Array.from({ length: 256 }, (_, k) => k)),
    h: new Map([['a', '1'], ['b', 'two'], ['c', '']]),
  };

  it('gives back every type unchanged', () => {
    const { frames, failure } = decodeAttr0(encodeAttr0(printFields(ALL, values)));
    assert.equal(failure, null);
    assert.equal(frames.length, 1);
    const r = scanFields(ALL, frames[0]!, { strict: true });
    assert.ok(r.ok, r.ok ? '' : r.message);
    assert.deepEqual(r.value, values);
  });

  it('reads negative ints back as C callers do', () => {
    assert.equal(parseInt32('4294967295'), -1);
    assert.equal(parseInt32('-1'), -1);
    assert.equal(parseInt32('4294967296'), null);
    assert.equal(parseInt32('12x'), null);
    assert.equal(parseInt32(''), null);
    assert.equal(parseLong('18446744073709551615'), -1);
    assert.equal(parseLong('9007199254740993'), null);
  });
});

describe('attr0 incremental decoding', () => {
  const frames: Attr0Frame[] = [
    [{ name: 'protocol', value: 'x_protocol' }],
    [{ name: 'request', value: 'send_site' }, { group: [{ name: 'k', value: 'v' }] }, { name: 'site', value: 'example.com' }],
    [],
    [{ name: 'ünï', value: 'cödé' }],
  ];
  const bytes = Buffer.concat(frames.map((f) => encodeAttr0(f)));

  it('gives the same frames for input split at every position', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new Attr0Decoder();
      const a = d.push(bytes.subarray(0, cut));
      const b = d.push(bytes.subarray(cut));
      assert.equal(a.failure ?? b.failure, null);
      assert.deepEqual([...a.frames, ...b.frames], frames, `cut at ${cut}`);
      assert.ok(d.idle);
    }
  });

  it('gives the same frames one byte at a time', () => {
    const d = new Attr0Decoder();
    const got: Attr0Frame[] = [];
    for (const byte of bytes) got.push(...d.push(Buffer.from([byte])).frames);
    assert.deepEqual(got, frames);
  });

  it('knows when it holds a partial list', () => {
    const d = new Attr0Decoder();
    d.push(nul('a|b|'));
    assert.equal(d.idle, false);
    d.push(nul('|'));
    assert.equal(d.idle, true);
  });
});

describe('attr0 caps and garbage', () => {
  it('rejects an over-long string before its terminator arrives', () => {
    const d = new Attr0Decoder({ maxStringBytes: 16 });
    assert.equal(d.push(Buffer.from('a'.repeat(10))).failure, null);
    const r = d.push(Buffer.from('a'.repeat(10)));
    assert.equal(r.failure?.kind, 'oversized');
    assert.equal(d.push(nul('|')).failure?.kind, 'oversized', 'failure is sticky');
  });

  it('accepts a string of exactly the limit, terminator included', () => {
    const d = new Attr0Decoder({ maxStringBytes: 4 });
    const r = d.push(nul('abc|def||'));
    assert.equal(r.failure, null);
    assert.deepEqual(r.frames, [[{ name: 'abc', value: 'def' }]]);
    assert.equal(new Attr0Decoder({ maxStringBytes: 4 }).push(nul('abcd|')).failure?.kind, 'oversized');
  });

  it('rejects an over-long list, too many attributes, a too-big group', () => {
    assert.equal(decodeAttr0(nul('a|' + 'x'.repeat(100) + '|b|c||'), { maxFrameBytes: 50 }).failure?.kind, 'oversized');
    assert.equal(decodeAttr0(nul('a|1|b|2|c|3||'), { maxFrameAttrs: 2 }).failure?.kind, 'oversized');
    assert.equal(decodeAttr0(nul('{|a|1|b|2|c|3|}||'), { maxGroupAttrs: 2 }).failure?.kind, 'oversized');
    assert.equal(decodeAttr0(nul('a|1|b|2||c|3||'), { maxFrameAttrs: 2 }).failure, null, 'the count is per list');
  });

  it('rejects nested groups and a list that ends inside a group', () => {
    assert.equal(decodeAttr0(nul('{|{|}|}||')).failure?.kind, 'malformed');
    assert.equal(decodeAttr0(nul('{|a|1|||')).failure?.kind, 'malformed');
  });

  it('rejects bad numbers and bad base64 in typed scans', () => {
    const frame = (name: string, value: string): Attr0Frame => [{ name, value }];
    for (const bad of ['', '1x', 'x', '4294967296', '1.5']) {
      assert.equal(scanFields({ i: attr.int() }, frame('i', bad), { strict: true }).ok, false, `int ${JSON.stringify(bad)}`);
    }
    for (const bad of ['A', 'AP8', 'AP8=AP8=', '****', 'AP=8']) {
      assert.equal(scanFields({ d: attr.data() }, frame('d', bad), { strict: true }).ok, false, `data ${JSON.stringify(bad)}`);
    }
    assert.equal(scanFields({ s: attr.str({ maxBytes: 3 }) }, frame('s', 'abcd'), { strict: true }).ok, false);
    assert.equal(scanFields({ n: attr.int({ min: 0, max: 9 }) }, frame('n', '10'), { strict: true }).ok, false);
    assert.equal(scanFields({ h: attr.hash({ maxEntries: 1 }) }, [{ group: [{ name: 'a', value: '1' }, { name: 'b', value: '2' }] }], { strict: true }).ok, false);
  });
});

describe('attr0 strict and lenient scans', () => {
  const F = { request: attr.str(), site: attr.str({ optional: true }), status: attr.int() };
  const scan = (text: string, strict: boolean) => {
    const { frames } = decodeAttr0(nul(text));
    return scanFields(F, frames[0]!, { strict });
  };

  it('accepts the declared list in both modes, optional field absent', () => {
    for (const strict of [true, false]) {
      const r = scan('request|add|status|0||', strict);
      assert.ok(r.ok);
      assert.deepEqual(r.value, { request: 'add', status: 0 });
    }
  });

  it('strict: an unknown, out-of-order or duplicate attribute is an error; lenient skips it', () => {
    for (const text of ['request|add|extra|x|status|0||', 'status|0|request|add||', 'request|add|request|add|status|0||']) {
      const s = scan(text, true);
      assert.equal(s.ok, false, text);
      if (!s.ok) assert.match(s.message, /unexpected attribute/);
      const l = scan(text, false);
      assert.ok(l.ok, text);
      assert.equal(l.value.request, 'add');
    }
  });

  it('a missing required attribute is an error in both modes', () => {
    for (const strict of [true, false]) {
      const r = scan('request|add||', strict);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.message, /missing attribute status/);
    }
  });

  it('fills a trailing hash from plain attributes when the sender used no group', () => {
    const H = { request: attr.str(), rest: attr.hash() };
    for (const strict of [true, false]) {
      const { frames } = decodeAttr0(nul('request|x|a|1|b|2|a|3||'));
      const r = scanFields(H, frames[0]!, { strict });
      assert.ok(r.ok);
      assert.deepEqual([...r.value.rest], [['a', '1'], ['b', '2']], 'first instance wins');
    }
  });
});

describe('attr0 head plus repeated items', () => {
  const HEAD = { queue_id: attr.str(), size: attr.long() };
  const ITEM = { recipient: attr.str(), reason: attr.str() };
  const frameOf = (text: string) => decodeAttr0(nul(text)).frames[0]!;

  it('reads a head and every item in order', () => {
    const r = scanRecords(HEAD, ITEM, frameOf('queue_id|A1|size|10|recipient|a@x|reason||recipient|b@y|reason|later||'));
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      head: { queue_id: 'A1', size: 10 },
      items: [{ recipient: 'a@x', reason: '' }, { recipient: 'b@y', reason: 'later' }],
    });
    const none = scanRecords(HEAD, ITEM, frameOf('queue_id|A1|size|10||'));
    assert.ok(none.ok && none.value.items.length === 0);
  });

  it('rejects a broken item, a stray attribute, and too many items', () => {
    assert.equal(scanRecords(HEAD, ITEM, frameOf('queue_id|A1|size|10|recipient|a@x||')).ok, false);
    assert.equal(scanRecords(HEAD, ITEM, frameOf('queue_id|A1|size|10|bogus|1||')).ok, false);
    assert.equal(scanRecords(HEAD, ITEM, frameOf('queue_id|A1|size|10|recipient|a|reason||recipient|b|reason|||'), { maxItems: 1 }).ok, false);
  });
});

describe('attr plain form', () => {
  const frames: Attr0Frame[] = [
    [{ name: 'protocol', value: 'anvil_protocol' }],
    [{ name: 'request', value: 'connect' }, { name: 'ident', value: 'smtp:127.0.0.1=x' }, { group: [{ name: 'k', value: 'v' }] }],
    [],
  ];

  it('writes name=value lines, { } groups and an empty line', () => {
    assert.deepEqual(encodeAttr0(frames[0]!, { format: 'plain' }), Buffer.from('protocol=anvil_protocol\n\n'));
    assert.deepEqual(encodeAttr0(frames[1]!, { format: 'plain' }), Buffer.from('request=connect\nident=smtp:127.0.0.1=x\n{\nk=v\n}\n\n'));
    assert.throws(() => encodeAttr0([{ name: 'a=b', value: '' }], { format: 'plain' }), Attr0Error);
    assert.throws(() => encodeAttr0([{ name: 'a', value: 'x\ny' }], { format: 'plain' }), Attr0Error);
    assert.throws(() => encodeAttr0([{ name: '{', value: 'x' }]), Attr0Error, 'reserved in both forms');
  });

  it('decodes input split at every position', () => {
    const bytes = Buffer.concat(frames.map((f) => encodeAttr0(f, { format: 'plain' })));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new Attr0Decoder({}, 'plain');
      const a = d.push(bytes.subarray(0, cut));
      const b = d.push(bytes.subarray(cut));
      assert.equal(a.failure ?? b.failure, null);
      assert.deepEqual([...a.frames, ...b.frames], frames, `cut at ${cut}`);
    }
  });

  it('rejects a line without "=", an empty name, and an over-long line', () => {
    assert.equal(decodeAttr0(Buffer.from('novalue\n\n'), {}, 'plain').failure?.kind, 'malformed');
    assert.equal(decodeAttr0(Buffer.from('=x\n\n'), {}, 'plain').failure?.kind, 'malformed');
    assert.equal(decodeAttr0(Buffer.from('a=b\0c\n\n'), {}, 'plain').failure?.kind, 'malformed');
    assert.equal(decodeAttr0(Buffer.from(`a=${'x'.repeat(100)}\n\n`), { maxStringBytes: 50 }, 'plain').failure?.kind, 'oversized');
  });
});
