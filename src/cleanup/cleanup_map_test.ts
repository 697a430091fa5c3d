/*
 * cleanup_map_test - one-to-one (canonical) and one-to-many (virtual
 * alias) mapping with inline: and texthash: tables: results, extension
 * propagation, "@domain" results, limits and the warnings Postfix's
 * cleanup_map11.c / cleanup_map1n.c / mail_addr_map.c log (the common
 * cases are also compared with the real cleanup in
 * test/oracle/cleanup_addr_oracle_test.ts)
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { DictError } from '../global/dict_base.js';
import { MailConfig } from '../global/mail_conf.js';
import { Maps } from '../global/maps.js';
import { type MsgSink, msgSetSinks } from '../util/msg.js';
import { type CleanupAddrDeps, cleanupAddrInit } from './cleanup_addr.js';
import { ALIAS_EXPANSION_ERROR, CleanupAddrError, cleanupMap11External, cleanupMap11Internal, insertExtension, mailAddrMap } from './cleanup_map11.js';
import { cleanupMap1nInternal } from './cleanup_map1n.js';
import { localAddrRewriter } from './cleanup_rewrite.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-cleanup-map-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function deps(overrides: Record<string, string> = {}): CleanupAddrDeps {
  const config = new MailConfig(dir, [], { myorigin: 'origin.example', mydestination: 'origin.example', recipient_delimiter: '+', ...overrides });
  return cleanupAddrInit(config, localAddrRewriter(config));
}
const ctx = { queueId: 'QID', flags: 0, smtputf8: 0 };

async function warningsOf<T>(f: () => Promise<T>): Promise<{ value: T | unknown; warnings: string[] }> {
  const warnings: string[] = [];
  const sink: MsgSink = { write: (severity, text) => void (severity === 'warning' && warnings.push(text)) };
  msgSetSinks([sink]);
  try {
    return { value: await f(), warnings };
  } catch (e) {
    return { value: e, warnings };
  } finally {
    msgSetSinks([]);
  }
}

test('insertExtension puts the extension before the last @', () => {
  assert.equal(insertExtension('a@b@c', '+x'), 'a@b+x@c');
  assert.equal(insertExtension('local', '+x'), 'local+x');
});

test('mail_addr_map: results are split, canonicalized and get the unmatched extension', async () => {
  const d = deps();
  const maps = new Maps('canonical_maps', 'inline:{ {a@origin.example=b, c@remote.example}, @old.example=@new.example }');
  assert.deepEqual(await mailAddrMap(d, maps, 'a@origin.example', true, 'internal', 'internal'), ['b@origin.example', 'c@remote.example']);
  assert.deepEqual(await mailAddrMap(d, maps, 'a+x@origin.example', true, 'internal', 'internal'), ['b+x@origin.example', 'c+x@remote.example']);
  assert.deepEqual(await mailAddrMap(d, maps, 'a+x@origin.example', false, 'internal', 'internal'), ['b@origin.example', 'c@remote.example']);
  // "@domain" keeps the local part; an extension chopped off to match is not added twice.
  assert.deepEqual(await mailAddrMap(d, maps, 'u+t@old.example', true, 'internal', 'internal'), ['u+t@new.example']);
  assert.equal(await mailAddrMap(d, maps, 'nobody@remote.example', true, 'internal', 'internal'), null);
});

test('mail_addr_map: a local part key matches only in a local domain', async () => {
  const d = deps();
  const maps = new Maps('canonical_maps', 'inline:{ joe=joseph@origin.example }');
  assert.deepEqual(await mailAddrMap(d, maps, 'joe@origin.example', true, 'internal', 'internal'), ['joseph@origin.example']);
  assert.deepEqual(await mailAddrMap(d, maps, 'joe+x@origin.example', true, 'internal', 'internal'), ['joseph+x@origin.example']);
  assert.equal(await mailAddrMap(d, maps, 'joe@remote.example', true, 'internal', 'internal'), null);
});

test('mail_addr_map: external forms in and out', async () => {
  const d = deps();
  const maps = new Maps('canonical_maps', 'inline:{ {a@origin.example=x y@remote.example} }');
  // A result is an address list: "x y@remote.example" lacks a comma, so it is two addresses.
  assert.deepEqual(await mailAddrMap(d, maps, 'a@origin.example', false, 'external', 'external'), ['x@origin.example', 'y@remote.example']);
});

test('mail_addr_map: a result without an address is a lookup problem', async () => {
  const d = deps();
  const maps = new Maps('canonical_maps', 'inline:{ {a@origin.example=,} }');
  const { value, warnings } = await warningsOf(() => mailAddrMap(d, maps, 'a@origin.example', false, 'internal', 'internal'));
  assert.ok(value instanceof DictError);
  assert.deepEqual(warnings, ['canonical_maps lookup of a@origin.example returns non-address result ","']);
});

test('map11: follows chains, stops at an address that maps to itself, warns about loops and lists', async () => {
  const d = deps();
  const maps = new Maps('canonical_maps', 'inline:{ a@x.example=b@x.example, b@x.example=c@x.example, {m@x.example=n@x.example, o@x.example}, s@x.example=S@X.example, l1@x.example=l2@x.example, l2@x.example=l1@x.example }');
  assert.deepEqual(await cleanupMap11External(d, ctx, 'a@x.example', maps), { address: 'c@x.example', changed: true });
  assert.deepEqual(await cleanupMap11External(d, ctx, 's@x.example', maps), { address: 'S@X.example', changed: true });
  let r = await warningsOf(() => cleanupMap11External(d, ctx, 'm@x.example', maps));
  assert.deepEqual(r.value, { address: 'n@x.example', changed: true });
  assert.deepEqual(r.warnings, ['QID: multi-valued canonical_maps entry for m@x.example']);
  r = await warningsOf(() => cleanupMap11External(d, ctx, 'l1@x.example', maps));
  assert.deepEqual(r.value, { address: 'l1@x.example', changed: true }, 'ten lookups, then the message goes on');
  assert.deepEqual(r.warnings, ['QID: unreasonable canonical_maps map nesting for l1@x.example -- message not accepted, try again later']);
});

test('map11: internal form is quoted for the lookup and unquoted after', async () => {
  writeFileSync(join(dir, 'canonical'), '"a..b"@origin.example\t"c d"@remote.example\n');
  const d = deps();
  const maps = new Maps('canonical_maps', `texthash:${join(dir, 'canonical')}`);
  assert.deepEqual(await cleanupMap11Internal(d, ctx, 'a..b@origin.example', maps), { address: 'c d@remote.example', changed: true });
});

test('map11: a table error refuses the message (CLEANUP_STAT.WRITE)', async () => {
  const d = deps();
  const maps = new Maps('canonical_maps', 'fail:canonical');
  const { value, warnings } = await warningsOf(() => cleanupMap11Internal(d, ctx, 'a@x.example', maps));
  assert.ok(value instanceof CleanupAddrError);
  assert.equal(value.status, CLEANUP_STAT.WRITE);
  assert.equal(value.reason, null);
  assert.equal(warnings.at(-1), 'QID: canonical_maps map lookup problem for a@x.example -- message not accepted, try again later');
});

test('map1n: expands lists recursively, keeps an address that expands to itself', async () => {
  const d = deps();
  const maps = new Maps('virtual_alias_maps', 'inline:{ {l@x.example=a@x.example, self@x.example, l2@x.example}, {self@x.example=self@x.example, c@x.example}, l2@x.example=d@x.example }');
  assert.deepEqual(await cleanupMap1nInternal(d, ctx, 'l@x.example', maps), ['a@x.example', 'self@x.example', 'd@x.example', 'c@x.example']);
  assert.deepEqual(await cleanupMap1nInternal(d, ctx, 'none@x.example', maps), ['none@x.example']);
});

test('map1n: extension propagation follows propagate_unmatched_extensions', async () => {
  const maps = new Maps('virtual_alias_maps', 'inline:{ v@x.example=w@y.example }');
  assert.deepEqual(await cleanupMap1nInternal(deps(), ctx, 'v+t@x.example', maps), ['w+t@y.example']);
  assert.deepEqual(await cleanupMap1nInternal(deps({ propagate_unmatched_extensions: 'canonical' }), ctx, 'v+t@x.example', maps), ['w@y.example']);
});

async function expectDefer(d: CleanupAddrDeps, maps: Maps, address: string, status: number, warning: string): Promise<void> {
  const { value, warnings } = await warningsOf(() => cleanupMap1nInternal(d, ctx, address, maps));
  assert.ok(value instanceof CleanupAddrError, `no error for ${address}`);
  assert.equal(value.status, status);
  assert.equal(value.reason, ALIAS_EXPANSION_ERROR);
  assert.equal(warnings.at(-1), warning);
}

test('map1n: recursion, expansion and address length limits defer the message', async () => {
  const d = deps({ virtual_alias_recursion_limit: '3', virtual_alias_expansion_limit: '3', virtual_alias_address_length_limit: '30' });
  const maps = new Maps('virtual_alias_maps', 'inline:{ r0@x.example=r1@x.example, r1@x.example=r2@x.example, r2@x.example=r3@x.example, r3@x.example=r4@x.example, {big@x.example=a@x.example, b@x.example, c@x.example, e@x.example}, long@x.example=abcdefghijklmnopqrstuvwxyz@x.example, ok@x.example=r3@x.example }');
  await expectDefer(d, maps, 'r0@x.example', CLEANUP_STAT.DEFER, 'QID: unreasonable virtual_alias_maps map nesting for r0@x.example -- message not accepted, try again later');
  assert.deepEqual(await cleanupMap1nInternal(d, ctx, 'ok@x.example', maps), ['r4@x.example'], 'two mappings and a miss are three lookups: allowed');
  await expectDefer(d, maps, 'big@x.example', CLEANUP_STAT.DEFER, 'QID: unreasonable virtual_alias_maps map expansion size for big@x.example -- message not accepted, try again later');
  await expectDefer(d, maps, 'long@x.example', CLEANUP_STAT.DEFER, 'QID: unreasonable virtual_alias_maps result abcdefghijklmnopqrstuvwxyz@x.example... -- message not accepted, try again later');
});

test('map1n: a table error refuses the message with the alias expansion reason', async () => {
  await expectDefer(deps(), new Maps('virtual_alias_maps', 'fail:virtual'), 'a@x.example', CLEANUP_STAT.WRITE, 'QID: virtual_alias_maps map lookup problem for a@x.example -- message not accepted, try again later');
});
