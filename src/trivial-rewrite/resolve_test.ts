/*
 * resolve_test - unit table for trivial-rewrite's resolver (address classes, transport_maps, relayhost forms)
 *
 * Every expected reply here was checked against the real Postfix 3.7
 * trivial-rewrite: the configurations are the inline-table variants of
 * test/oracle/trivial_rewrite_resolve_test.ts, which asks the real daemon
 * and ours the same questions; this file pins the answers down without
 * a running instance, through ResolveEngine and localResolveClient.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MailConfig } from '../global/mail_conf.js';
import { localResolveClient } from '../global/resolve_clnt.js';
import { msgSetSinks } from '../util/msg.js';
import { NOT_UPDATED, RESOLVE_CLASS, RESOLVE_FLAG, ResolveEngine, updateEntry } from './resolve.js';

const NO_DIR = '/nonexistent/postern-resolve-test';

const BASE = {
  compatibility_level: '3.6',
  myhostname: 'oracle.example',
  mydomain: 'dom.example',
  myorigin: '$myhostname',
  mydestination: '$myhostname, localhost.$mydomain, localhost, $mydomain',
  inet_interfaces: 'loopback-only',
  inet_protocols: 'ipv4',
  proxy_interfaces: '192.0.2.7',
};

/** Oracle variant "classes". */
const CLASSES = {
  ...BASE,
  relay_domains: 'relay.example, .relaysub.example',
  virtual_alias_domains: 'valias.example',
  virtual_mailbox_domains: 'vmbox.example',
  relocated_maps: 'inline:{moved@dom.example=new@else.example, @remote.example=somewhere}',
  recipient_delimiter: '+',
};

/** Oracle variant "inline transport_maps with wildcard, parent-domain matching, numeric and null domains". */
const WILDCARD = {
  ...BASE,
  mydestination: '$myhostname, localhost',
  relay_domains: 'relay.example relaysub.example',
  parent_domain_matches_subdomains: 'relay_domains, transport_maps',
  transport_maps:
    'inline:{ t1.example=smtp:[gw1.example], t11.example=:[t11-hop.example], {t6.example=error:5.7.1 no way}, special@t2.example=local:, *=smtp:[wild.example]:587 }',
  sender_dependent_default_transport_maps: 'inline:{ s@sender.example=uucp:, special@sender.example=DUNNO }',
  relay_transport: 'relay:[relay.gw.example]',
  resolve_null_domain: 'yes',
  resolve_numeric_domain: 'yes',
  allow_percent_hack: 'no',
  recipient_delimiter: '+-',
};

const TRANSPORT_ITEMS = [
  't1.example=smtp:[gw1.example]',
  '.t1.example=relay:gw1-sub.example',
  'special@t2.example=local:',
  't2.example=smtp:t2-mx.example',
  't3.example=:[t3-only-nexthop.example]',
  't4.example=slow:',
  't5.example=error:',
  '{t6.example=error:5.7.1 go away}',
  '{t7.example=retry:4.3.2 try later}',
  't8.example=:',
  't9.example=smtp:[10.0.0.1]:2525',
  't10.example=lmtp:unix:/var/run/lmtp',
  't11.example=smtp:t11.example',
  'oracle.example=local:other-host.example',
  'relay.example=relay:',
  'vmbox.example=virtual:',
  'valias.example=smtp:should-not-apply.example',
];

/** Oracle variant "inline sender-dependent relayhost and default transport, relayhost, inline transport_maps". */
const SENDER_DEP = {
  ...BASE,
  relayhost: 'relay.host.example',
  relay_domains: 'relay.example',
  transport_maps: `inline:{ ${TRANSPORT_ITEMS.join(', ')} }`,
  sender_dependent_relayhost_maps: 'inline:{ s@sender.example=[sdrh.example]:26, @sender.example=DUNNO, <>=[null-sender-relay.example] }',
  sender_dependent_default_transport_maps: 'inline:{ special@sender.example=uucp:, s@sender.example=DUNNO, <>=nullxport:[null.example] }',
  recipient_delimiter: '+',
};

type Row = [sender: string, address: string, transport: string, nexthop: string, recipient: string, flags: number];

const CLASS_ROWS: Row[] = [
  ['', '', 'local', 'oracle.example', 'MAILER-DAEMON@oracle.example', 256],
  ['', 'user', 'local', 'oracle.example', 'user@oracle.example', 256],
  ['', 'User@Oracle.Example', 'local', 'oracle.example', 'User@Oracle.Example', 256],
  ['', 'user@oracle.example.', 'local', 'oracle.example', 'user@oracle.example', 256],
  ['', 'user@localhost.dom.example', 'local', 'oracle.example', 'user@localhost.dom.example', 256],
  ['', 'user@remote.example', 'error', '5.1.6 User has moved to somewhere', 'user@remote.example', 4096],
  ['', 'user@remote..example', NOT_UPDATED.channel, NOT_UPDATED.nexthop, 'user@remote..example', 4100],
  ['', 'user@', NOT_UPDATED.channel, NOT_UPDATED.nexthop, 'user@', 4100],
  ['', 'user@[127.0.0.1]', 'local', 'oracle.example', 'user@[127.0.0.1]', 256],
  ['', 'user@[192.0.2.7]', 'local', 'oracle.example', 'user@[192.0.2.7]', 256],
  ['', 'user@[192.0.2.8]', 'smtp', '[192.0.2.8]', 'user@[192.0.2.8]', 4096],
  ['', 'user@[IPv6:::1]', 'smtp', '[IPv6:::1]', 'user@[IPv6:::1]', 4096],
  ['', 'user@127.0.0.1', NOT_UPDATED.channel, NOT_UPDATED.nexthop, 'user@127.0.0.1', 4100],
  ['', 'user@-bad.example', NOT_UPDATED.channel, NOT_UPDATED.nexthop, 'user@-bad.example', 4100],
  ['', 'user@123', NOT_UPDATED.channel, NOT_UPDATED.nexthop, 'user@123', 4100],
  ['', 'user%remote.example@oracle.example', 'error', '5.1.6 User has moved to somewhere', 'user@remote.example', 4096],
  ['', 'remote.example!user@oracle.example', 'error', '5.1.6 User has moved to somewhere', 'user@remote.example', 4096],
  ['', 'user@remote.example@oracle.example', 'error', '5.1.6 User has moved to somewhere', 'user@remote.example', 4096],
  ['', '"user@remote.example"@oracle.example', NOT_UPDATED.channel, NOT_UPDATED.nexthop, '"user@remote.example ', 4100],
  ['', 'first last@oracle.example', 'local', 'oracle.example', 'first last@oracle.example', 256],
  ['', 'user@relay.example', 'relay', 'relay.example', 'user@relay.example', 2048],
  ['', 'user@sub.relay.example', 'relay', 'sub.relay.example', 'user@sub.relay.example', 2048],
  ['', 'user@x.relaysub.example', 'smtp', 'x.relaysub.example', 'user@x.relaysub.example', 4096],
  ['', 'user@valias.example', 'error', '5.1.1 User unknown in virtual alias table', 'user@valias.example', 512],
  ['', 'user@vmbox.example', 'virtual', 'vmbox.example', 'user@vmbox.example', 1024],
  ['', 'moved@dom.example', 'error', '5.1.6 User has moved to new@else.example', 'moved@dom.example', 256],
  ['', 'moved+x@dom.example', 'error', '5.1.6 User has moved to new@else.example', 'moved+x@dom.example', 256],
  ['', '-user@remote.example', 'error', '5.1.6 User has moved to somewhere', '-user@remote.example', 4100],
  ['', 'x!y@oracle.example', 'smtp', 'x', 'y@x', 4096],
  ['', 'user@remote.example@valias.example', 'error', '5.1.1 User unknown in virtual alias table', 'user@remote.example@valias.example', 514],
];

const WILDCARD_ROWS: Row[] = [
  ['', 'user@t1.example', 'smtp', '[gw1.example]', 'user@t1.example', 4096],
  ['', 'user@sub.t1.example', 'smtp', '[gw1.example]', 'user@sub.t1.example', 4096],
  ['', 'user@t11.example', 'smtp', '[t11-hop.example]', 'user@t11.example', 4096],
  ['', 'user@sub.t11.example', 'smtp', '[t11-hop.example]', 'user@sub.t11.example', 4096],
  ['', 'user@t6.example', 'error', '5.7.1 no way', 'user@t6.example', 4096],
  ['', 'special@t2.example', 'local', 't2.example', 'special@t2.example', 4096],
  ['', 'special+ext@t2.example', 'local', 't2.example', 'special+ext@t2.example', 4096],
  ['', 'other@t2.example', 'smtp', '[wild.example]:587', 'other@t2.example', 4096],
  ['s@sender.example', 'user@remote.example', 'smtp', '[wild.example]:587', 'user@remote.example', 4096],
  ['special@sender.example', 'user@relay.example', 'smtp', '[wild.example]:587', 'user@relay.example', 2048],
  ['', 'user@127.0.0.1', 'smtp', '[wild.example]:587', 'user@[127.0.0.1]', 256],
  ['', 'user@', 'smtp', '[wild.example]:587', 'user@oracle.example', 256],
  ['', 'user@remote.example@', 'smtp', '[wild.example]:587', 'user@remote.example', 4096],
  ['', 'a%b%remote.example', 'smtp', '[wild.example]:587', 'a%b%remote.example@oracle.example', 258],
];

const SENDER_ROWS: Row[] = [
  ['', 'user@remote.example', 'nullxport', '[null.example]', 'user@remote.example', 4096],
  ['s@sender.example', 'user@remote.example', 'smtp', '[sdrh.example]:26', 'user@remote.example', 4096],
  ['special@sender.example', 'user@remote.example', 'uucp', 'relay.host.example', 'user@remote.example', 4096],
  ['', 'user@relay.example', 'relay', 'relay.example', 'user@relay.example', 2048],
  ['s@sender.example', 'user@relay.example', 'relay', 'relay.example', 'user@relay.example', 2048],
  ['', 'user@t1.example', 'smtp', '[gw1.example]', 'user@t1.example', 4096],
  ['', 'user@sub.t1.example', 'relay', 'gw1-sub.example', 'user@sub.t1.example', 4096],
  ['', 'user@deep.sub.t1.example', 'relay', 'gw1-sub.example', 'user@deep.sub.t1.example', 4096],
  ['', 'special@t2.example', 'local', 't2.example', 'special@t2.example', 4096],
  ['', 'special+ext@t2.example', 'local', 't2.example', 'special+ext@t2.example', 4096],
  ['', 'other@t2.example', 'smtp', 't2-mx.example', 'other@t2.example', 4096],
  ['', 'user@t3.example', 'nullxport', '[t3-only-nexthop.example]', 'user@t3.example', 4096],
  ['', 'user@t4.example', 'slow', 't4.example', 'user@t4.example', 4096],
  ['', 'user@t5.example', 'error', 'Address is undeliverable', 'user@t5.example', 4096],
  ['', 'user@t6.example', 'error', '5.7.1 go away', 'user@t6.example', 4096],
  ['', 'user@t7.example', 'retry', '4.3.2 try later', 'user@t7.example', 4096],
  ['', 'user@t8.example', 'nullxport', '[null.example]', 'user@t8.example', 4096],
  ['', 'user@t9.example', 'smtp', '[10.0.0.1]:2525', 'user@t9.example', 4096],
  ['', 'user@t10.example', 'lmtp', 'unix:/var/run/lmtp', 'user@t10.example', 4096],
  ['', 'user@sub.t10.example', 'nullxport', '[null.example]', 'user@sub.t10.example', 4096],
  ['', 'user@oracle.example', 'local', 'other-host.example', 'user@oracle.example', 256],
  ['', 'user@vmbox.example', 'virtual', 'vmbox.example', 'user@vmbox.example', 4096],
];

function engine(settings: Record<string, string>): ResolveEngine {
  return new ResolveEngine(new MailConfig(NO_DIR, [], settings));
}

async function check(settings: Record<string, string>, rows: Row[]): Promise<void> {
  msgSetSinks([{ write: () => undefined }]);
  const e = engine(settings);
  for (const [sender, address, transport, nexthop, recipient, flags] of rows) {
    const r = await e.resolve('regular', sender, address);
    assert.deepEqual(r, { transport, nexthop, recipient, flags }, `<${sender}> <${address}>`);
  }
}

test('address classes: local, own literals, alias, mailbox, relay, default, relocated, errors', () => check(CLASSES, CLASS_ROWS));
test('transport_maps wildcard, parent-domain style, numeric and null domains', () => check(WILDCARD, WILDCARD_ROWS));
test('transport(5) forms, relayhost and sender-dependent maps', () => check(SENDER_DEP, SENDER_ROWS));

test('the flag and class bits have Postfix values', () => {
  assert.deepEqual([RESOLVE_FLAG.FINAL, RESOLVE_FLAG.ROUTED, RESOLVE_FLAG.ERROR, RESOLVE_FLAG.FAIL], [1, 2, 4, 8]);
  assert.deepEqual([RESOLVE_CLASS.LOCAL, RESOLVE_CLASS.ALIAS, RESOLVE_CLASS.VIRTUAL, RESOLVE_CLASS.RELAY, RESOLVE_CLASS.DEFAULT], [256, 512, 1024, 2048, 4096]);
  assert.equal(RESOLVE_CLASS.MASK, 0x1f00);
  assert.equal(RESOLVE_CLASS.FINAL, 0x700);
});

test('a table that cannot be searched makes the reply FAIL, with what was decided so far', async () => {
  msgSetSinks([{ write: () => undefined }]);
  const e = engine({ ...BASE, transport_maps: 'hash:/nonexistent/transport' });
  const r = await e.resolve('regular', '', 'user@remote.example');
  assert.equal(r.flags, RESOLVE_CLASS.DEFAULT | RESOLVE_FLAG.FAIL);
  assert.equal(r.transport, 'smtp');
  const local = await e.resolve('regular', '', 'user@oracle.example');
  assert.equal(local.flags, RESOLVE_CLASS.LOCAL | RESOLVE_FLAG.FAIL);
});

test('verify uses the address_verify_* personality', async () => {
  msgSetSinks([{ write: () => undefined }]);
  const client = localResolveClient(new MailConfig(NO_DIR, [], { ...CLASSES, address_verify_default_transport: 'vrfy:', address_verify_relayhost: '[probe.example]' }));
  const a = 'user@x.relaysub.example';
  assert.deepEqual(await client.verify('', a), { transport: 'vrfy', nexthop: '[probe.example]', recipient: a, flags: 4096 });
  assert.deepEqual(await client.resolve('', a), { transport: 'smtp', nexthop: 'x.relaysub.example', recipient: a, flags: 4096 });
});

test('updateEntry follows transport(5) RESULT FORMAT', () => {
  const run = (value: string) => {
    const cur = { channel: 'smtp', nexthop: 'relay.example' };
    updateEntry(value, 'dom.example', cur);
    return `${cur.channel}|${cur.nexthop}`;
  };
  assert.equal(run(':'), 'smtp|relay.example');
  assert.equal(run(':[gw]'), 'smtp|[gw]');
  assert.equal(run('slow:'), 'slow|dom.example');
  assert.equal(run('error:'), 'error|Address is undeliverable');
  assert.equal(run('smtp:[10.0.0.1]:2525'), 'smtp|[10.0.0.1]:2525');
});
