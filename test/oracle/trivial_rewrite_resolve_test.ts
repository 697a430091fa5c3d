/*
 * trivial_rewrite_resolve_test - Postern's trivial-rewrite against the real one, resolve and verify requests
 *
 * What it does: for each main.cf variant (mydestination and own address
 * literals, virtual alias and mailbox domains, relay_domains with and
 * without parent-domain matching, relayhost, transport_maps with
 * texthash: and inline: tables in every transport(5) form,
 * sender_dependent_relayhost_maps, sender_dependent_default_transport_maps,
 * relocated_maps, a table that cannot be opened, resolve_null_domain,
 * resolve_numeric_domain, resolve_dequoted_address, swap_bangpath,
 * allow_percent_hack, allow_min_user, show_user_unknown_table_name) a
 * throwaway real Postfix runs with the same main.cf as Postern's
 * trivial-rewrite daemon, which runs in this process (createMailServer)
 * on a UNIX socket of its own. Postern's resolveClient asks both the same
 * requests (every address with two senders; "verify" too) and the replies
 * (transport, nexthop, recipient, flags) must be equal; a few "rewrite"
 * requests through rewriteClient must be equal as well. The real
 * Postfix's trivial-rewrite talking to our client also checks our client
 * against the real wire format.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type MainSettings, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { resolveClient, type ResolveClient, type ResolveReply } from '../../src/global/resolve_clnt.js';
import { rewriteClient } from '../../src/global/rewrite_clnt.js';
import { createMailServer, type MailServer } from '../../src/master/mail_server.js';
import { trivialRewriteServer } from '../../src/trivial-rewrite/trivial_rewrite.js';
import { msgSetSinks } from '../../src/util/msg.js';

const GIVE_UP_MS = 5_000;
const RPC_TIMEOUT_MS = 5_000;
const SENDERS = ['', 's@sender.example', 'special@sender.example'];

/** Recipients in internal form, sent as they are. */
const ADDRESSES: readonly string[] = [
  '', 'user', 'MAILER-DAEMON', 'postmaster', 'User@Oracle.Example', 'user@oracle.example', 'user@oracle.example.',
  'user@localhost', 'user@localhost.', 'user@localhost.dom.example', 'user@dom.example', 'user@remote.example',
  'user@remote.example.', 'user@remote..example', 'user@', 'user@.', '@remote.example', '@', 'user+ext@remote.example',
  'user+ext@dom.example', 'user-ext@dom.example', 'owner-list@dom.example', 'user@[127.0.0.1]', 'user@[192.0.2.7]',
  'user@[192.0.2.8]', 'user@[IPv6:::1]', 'user@[::1]', 'user@127.0.0.1', 'user@192.0.2.7', 'user@1.2.3.4',
  'user@[1.2.3]', 'user@[127.0.0.1].', 'user@-bad.example', 'user@bad-.example', 'user@under_score.example',
  'user@123', 'user%remote.example@oracle.example', 'user%remote.example', 'a%b%remote.example', 'remote.example!user',
  'remote.example!user@oracle.example', 'user@remote.example@oracle.example', 'user@remote.example@dom.example',
  'user@dom.example@oracle.example', 'user@remote.example@remote2.example', 'user@@remote.example',
  'user!@remote.example', '%@remote.example', 'user.@remote.example', 'user@relay.example', 'user@sub.relay.example',
  'user@x.relaysub.example', 'user@relaysub.example', 'user@valias.example', 'user@VAlias.Example',
  'user@sub.valias.example', 'user@vmbox.example', 'user@sub.vmbox.example', 'moved@dom.example',
  'moved+x@dom.example', 'moved@remote.example', 'gone@oracle.example', '-user@remote.example', '-user@oracle.example',
  'user@t1.example', 'user@sub.t1.example', 'user@deep.sub.t1.example', 'special@t2.example',
  'special+ext@t2.example', 'other@t2.example', 'user@t3.example', 'user@t4.example', 'user@t5.example',
  'user@t6.example', 'user@t7.example', 'user@t8.example', 'user@t9.example', 'user@t10.example',
  'user@sub.t10.example', 'user@t11.example', 'user@sub.t11.example', 'wild@anything.example',
  'first last@oracle.example', 'first last@remote.example', 'user@remote.example@', 'a@b@c@remote.example',
  'user@remote.example@valias.example', 'remote.example!user@valias.example', 'x!y@oracle.example',
  '@a.example,@b.example:user@remote.example', '@oracle.example:user@remote.example', '@remote.example:user@oracle.example',
  '@oracle.example,@localhost:user', 'USER@RELAY.EXAMPLE', 'user@Relay.Example.', '"user"@oracle.example', '"@"@oracle.example',
  '"%"@oracle.example', 'user@[127.0.0.1]@remote.example', 'user@remote.example@[127.0.0.1]', 'host!user%other@oracle.example',
  '"a!b"@oracle.example', '"a%b"@remote.example', 'user@localhost.localdomain', 'user@sub.oracle.example',
];

interface Variant {
  name: string;
  main: MainSettings;
  files?: Record<string, string>;
}

/** Every variant's shared identity. */
const BASE: MainSettings = {
  compatibility_level: '3.6',
  myhostname: 'oracle.example',
  mydomain: 'dom.example',
  myorigin: '$myhostname',
  mydestination: '$myhostname, localhost.$mydomain, localhost, $mydomain',
  inet_interfaces: 'loopback-only',
  inet_protocols: 'ipv4',
  proxy_interfaces: '192.0.2.7',
};

const TRANSPORT_FILE = [
  't1.example smtp:[gw1.example]',
  '.t1.example relay:gw1-sub.example',
  'special@t2.example local:',
  't2.example smtp:t2-mx.example',
  't3.example :[t3-only-nexthop.example]',
  't4.example slow:',
  't5.example error:',
  't6.example error:5.7.1 go away',
  't7.example retry:4.3.2 try later',
  't8.example :',
  't9.example smtp:[10.0.0.1]:2525',
  't10.example lmtp:unix:/var/run/lmtp',
  't11.example smtp:t11.example',
  'oracle.example local:other-host.example',
  'relay.example relay:',
  'vmbox.example virtual:',
  'valias.example smtp:should-not-apply.example',
  '',
].join('\n');

/** TRANSPORT_FILE as inline: table items ({...} around values with spaces). */
const INLINE_TRANSPORT = TRANSPORT_FILE.split('\n')
  .filter((l) => l !== '')
  .map((l) => {
    const sp = l.indexOf(' ');
    const item = `${l.slice(0, sp)}=${l.slice(sp + 1)}`;
    return item.includes(' ') ? `{${item}}` : item;
  })
  .join(', ');

const VARIANTS: readonly Variant[] = [
  {
    name: 'classes: mydestination, literals, virtual alias/mailbox, relay_domains, relocated',
    main: {
      ...BASE,
      relay_domains: 'relay.example, .relaysub.example',
      virtual_alias_domains: 'valias.example',
      virtual_mailbox_domains: 'vmbox.example',
      relocated_maps: 'inline:{moved@dom.example=new@else.example, @remote.example=somewhere}',
      recipient_delimiter: '+',
      address_verify_default_transport: 'vrfy:',
      address_verify_relayhost: '[probe.example]',
    },
  },
  {
    name: 'relayhost, texthash transport_maps, sender_dependent_relayhost_maps, no bang swap, no dequoting',
    main: {
      ...BASE,
      relayhost: '[relay.host.example]:2525',
      relay_domains: 'relay.example',
      virtual_mailbox_domains: 'vmbox.example',
      transport_maps: 'texthash:$config_directory/transport',
      sender_dependent_relayhost_maps: 'texthash:$config_directory/sdrh',
      swap_bangpath: 'no',
      resolve_dequoted_address: 'no',
      recipient_delimiter: '+',
    },
    files: {
      transport: TRANSPORT_FILE,
      sdrh: 's@sender.example [sdrh.example]:26\n@sender.example DUNNO\n<> [null-sender-relay.example]\n',
    },
  },
  {
    name: 'inline transport_maps with wildcard, parent-domain matching, numeric and null domains, sender-dependent default transport',
    main: {
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
    },
  },
  {
    name: 'inline sender-dependent relayhost and default transport, relayhost, inline transport_maps without wildcard',
    main: {
      ...BASE,
      relayhost: 'relay.host.example',
      relay_domains: 'relay.example',
      transport_maps: `inline:{ ${INLINE_TRANSPORT} }`,
      sender_dependent_relayhost_maps: 'inline:{ s@sender.example=[sdrh.example]:26, @sender.example=DUNNO, <>=[null-sender-relay.example] }',
      sender_dependent_default_transport_maps: 'inline:{ special@sender.example=uucp:, s@sender.example=DUNNO, <>=nullxport:[null.example] }',
      recipient_delimiter: '+',
      address_verify_transport_maps: 'inline:{ t1.example=vrfy:[probe.example], .t1.example=error:no probes }',
      address_verify_sender_dependent_relayhost_maps: '',
      address_verify_sender_dependent_default_transport_maps: 'inline:{ <>=vnull: }',
      address_verify_local_transport: 'vlocal:$myhostname',
      address_verify_relay_transport: 'vrelay',
    },
  },
  {
    name: 'inet_interfaces all, table-driven domain lists, no parent-domain matching, transports with nexthops',
    main: {
      ...BASE,
      inet_interfaces: 'all',
      inet_protocols: 'all',
      proxy_interfaces: '',
      mydestination: '$myhostname, texthash:$config_directory/mydest',
      relay_domains: 'texthash:$config_directory/relay, .relaysub.example, !sub.relay.example, relay.example',
      parent_domain_matches_subdomains: '',
      virtual_mailbox_domains: 'texthash:$config_directory/vmbox, valias.example',
      virtual_alias_domains: 'valias.example',
      local_transport: 'local:$myhostname',
      virtual_transport: 'lmtp:unix:private/dovecot-lmtp',
      relay_transport: 'smtp:[relay-gw.example]:2526',
      default_transport: 'smtp:[nowhere.example]',
      transport_maps: 'inline:{ .t1.example=relay:, t1.example=:[t1-hop.example] }',
    },
    files: {
      mydest: 'dom.example x\nlocalhost x\n',
      relay: 'relaysub.example x\nt1.example x\n',
      vmbox: 'vmbox.example x\n',
    },
  },
  {
    name: 'compatibility_level 0, virtual domains from maps, failing table, allow_min_user, empty address recipient',
    main: {
      ...BASE,
      compatibility_level: '0',
      virtual_alias_maps: 'texthash:$config_directory/valias',
      virtual_mailbox_maps: 'texthash:$config_directory/vmbox',
      sender_dependent_default_transport_maps: 'texthash:$config_directory/missing-table',
      show_user_unknown_table_name: 'no',
      allow_min_user: 'yes',
      empty_address_recipient: 'postmaster',
      local_transport: 'local',
      default_transport: 'smtp:[default.gw.example]',
      relocated_maps: 'texthash:$config_directory/relocated',
    },
    files: {
      valias: 'valias.example anything\nuser@valias.example other@remote.example\n',
      vmbox: 'vmbox.example ok\n',
      relocated: 'gone@oracle.example someone@else.example\n@dom.example new-dom.example\n',
    },
  },
];

interface Running {
  variant: Variant;
  oracle: OracleConfig;
  ours: MailServer;
  listener: Server;
  theirClient: ResolveClient;
  ourClient: ResolveClient;
  socketDir: string;
}

const running: Running[] = [];

async function startVariant(v: Variant, index: number): Promise<Running> {
  const oracle = makeOracleConfig({
    prefix: `postern-resolve-${index}-`,
    queueDirs: ['pid'],
    ownedDirs: ['queue/private', 'queue/public', 'data'],
    main: { ...v.main },
    master: ['rewrite unix - - n - - trivial-rewrite', 'postlog unix-dgram n - n - 1 postlogd'],
  });
  for (const [name, text] of Object.entries(v.files ?? {})) writeFileSync(join(oracle.confDir, name), text);
  // A foreground master with only the rewrite service starts much faster than "postfix start".
  await oracle.startMaster(join(oracle.queueDir, 'private', 'rewrite'));
  const config = loadMailConfig({ configDir: oracle.confDir });
  const ours = createMailServer('multi', trivialRewriteServer(), { config, serviceName: 'rewrite' });
  await ours.init();
  const socketDir = mkdtempSync(join(tmpdir(), 'postern-resolve-sock-'));
  const path = join(socketDir, 'rewrite');
  const listener = createServer((sock) => ours.client(sock));
  await new Promise<void>((res) => listener.listen(path, res));
  const opts = { timeoutMs: RPC_TIMEOUT_MS, giveUpMs: GIVE_UP_MS };
  return {
    variant: v,
    oracle,
    ours,
    listener,
    socketDir,
    theirClient: resolveClient(config, { ...opts, endpoint: join(oracle.queueDir, 'private', 'rewrite') }),
    ourClient: resolveClient(config, { ...opts, endpoint: path }),
  };
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs Postfix instances and needs root');
  assert.ok(existsSync(POSTFIX_PROGRAMS.postfix), `${POSTFIX_PROGRAMS.postfix} is missing: install the postfix package`);
  // Our daemon's warnings (unavailable tables, lookup failures) are expected here.
  msgSetSinks([{ write: () => undefined }]);
  running.push(...(await Promise.all(VARIANTS.map((v, i) => startVariant(v, i)))));
});

after(async () => {
  for (const r of running) {
    r.ours.abort();
    await new Promise<void>((res) => r.listener.close(() => res()));
    rmSync(r.socketDir, { recursive: true, force: true });
  }
  await Promise.all(running.map((r) => r.oracle.cleanup()));
});

function show(kind: string, sender: string, address: string, r: ResolveReply): string {
  return `${kind} <${sender}> <${address}> -> ${r.transport} | ${r.nexthop} | ${r.recipient} | ${r.flags}`;
}

async function askAll(client: ResolveClient): Promise<string[]> {
  const out: string[] = [];
  for (const sender of SENDERS) {
    for (const address of ADDRESSES) out.push(show('resolve', sender, address, await client.resolve(sender, address)));
  }
  for (const address of ADDRESSES) out.push(show('verify', '', address, await client.verify('', address)));
  return out;
}

VARIANTS.forEach((v, i) => {
  test(`resolve and verify replies equal the real trivial-rewrite: ${v.name}`, async () => {
    const r = running[i];
    assert.ok(r, `no instance for ${v.name}`);
    const theirs = await askAll(r.theirClient);
    const ours = await askAll(r.ourClient);
    assert.equal(ours.length, (SENDERS.length + 1) * ADDRESSES.length);
    assert.deepEqual(ours, theirs);
  });
});

test('rewrite requests through rewriteClient equal the real trivial-rewrite', async () => {
  const r = running[0];
  assert.ok(r);
  const config = loadMailConfig({ configDir: r.oracle.confDir });
  const opts = { timeoutMs: RPC_TIMEOUT_MS, giveUpMs: GIVE_UP_MS };
  const theirs = rewriteClient(config, { ...opts, endpoint: join(r.oracle.queueDir, 'private', 'rewrite') });
  const ours = rewriteClient(config, { ...opts, endpoint: join(r.socketDir, 'rewrite') });
  for (const context of ['local', 'remote'] as const) {
    for (const address of ['user', 'user@host', 'site!user', 'u%v', '"first last"', 'user@host.', '']) {
      assert.equal(await ours.rewrite(context, address), await theirs.rewrite(context, address), `${context} <${address}>`);
    }
  }
});
