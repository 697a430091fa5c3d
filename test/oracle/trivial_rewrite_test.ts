/*
 * trivial_rewrite_test - Postern's rewriteAddress against the real trivial-rewrite, through cleanup
 *
 * Throwaway real Postfix instances, one per main.cf variant (swap_bangpath,
 * allow_percent_hack, append_at_myorigin, append_dot_mydomain and its
 * compatibility_level default, myorigin and mydomain with and without a
 * dot), started in parallel, each receive one message through the real
 * sendmail -C DIR with every test address as an envelope recipient on the
 * command line; header_checks HOLD keeps it in the hold queue. The real
 * sendmail parses each argument as an address list and passes its
 * internal form on; cleanup stores that as the original recipient and
 * rewrites it in trivial-rewrite's "local" context. For every recipient
 * in the held queue file, Postern's rewriteAddress(config, 'local',
 * original) must give the rewritten recipient, with config read by
 * loadMailConfig from the same main.cf. The set of originals must also be
 * what Postern's own parser makes of the arguments. Then each instance's
 * trivial-rewrite is asked directly over its private/rewrite socket (the
 * attr "0" protocol: request=rewrite, rule, address) for external-form
 * addresses in both the local and the remote context, and must answer
 * what rewriteExternal gives.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ORACLE_MAIL_SERVICES, type MainSettings, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { Attr0Decoder, type Attr0Frame, encodeAttr0, isGroup } from '../../src/util/attr0.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO, MAIL_SERVICE } from '../../src/global/mail_proto.js';
import { readQueueFile, type QueueFile } from '../../src/global/queue_file_read.js';
import { headerAddresses } from '../../src/global/tok822_rewrite.js';
import { rewriteAddress, rewriteExternal, rewriteSettings, type RewriteContextName } from '../../src/trivial-rewrite/rewrite.js';

const HOLD_WAIT_MS = 20_000;
const SENDER = 's@sender.example';

/** Envelope recipients as given on the sendmail command line (external form). */
const ADDRESSES: readonly string[] = [
  'user',
  'First.Last',
  'user.',
  'user@host',
  'user@host.',
  'user@host.example',
  'user@host.example.',
  'user@host..',
  'user@.',
  'user@[192.0.2.1]',
  '@a.example,@b:route@c.example',
  '@a:routed',
  '@lonehost',
  'site!bang',
  'a!b!multibang',
  'site.example!dotted',
  'site!user%other',
  'pct%site',
  'u%v%multipct',
  'pct%site@host.example',
  'bang!x@host.example',
  '"quoted local"',
  '"quoted local"@host',
  '"a@b"@host.example',
  'UPPER@MixedHost',
  '!leadingbang',
  'trailingbang!',
  'user@',
  '<@a.example,@b.example:route@c.example>',
  '<@a.example,@b.example:>',
  '@',
  'pct%',
  '"bang!in quotes"',
];

interface Variant {
  name: string;
  main: MainSettings;
}

/** main.cf variants; every one sets what the host would otherwise decide. */
const VARIANTS: readonly Variant[] = [
  {
    name: 'defaults at compatibility_level 3.6',
    main: { compatibility_level: '3.6', myorigin: 'origin.example', mydomain: 'dom.example', remote_header_rewrite_domain: 'remote.example' },
  },
  {
    name: 'compatibility_level 0 (append_dot_mydomain yes), no percent hack',
    main: { compatibility_level: '0', myorigin: 'origin.example', mydomain: 'dom.example', allow_percent_hack: 'no' },
  },
  {
    name: 'no bang swap, explicit append_dot_mydomain, dotless myorigin',
    main: { compatibility_level: '3.6', myorigin: 'orig', mydomain: 'dom.example', swap_bangpath: 'no', append_dot_mydomain: 'yes', remote_header_rewrite_domain: 'rdom' },
  },
  {
    name: 'no bang swap, no percent hack, no append_at_myorigin, myorigin = $mydomain',
    main: {
      compatibility_level: '3.6',
      myorigin: '$mydomain',
      mydomain: 'dom.example',
      swap_bangpath: 'no',
      allow_percent_hack: 'no',
      append_at_myorigin: 'no',
      append_dot_mydomain: 'yes',
    },
  },
];

const oracles: OracleConfig[] = [];
const held = new Map<string, QueueFile>();
const confDirs = new Map<string, string>();

function holdFiles(o: OracleConfig): string[] {
  const dir = join(o.queueDir, 'hold');
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Starts one instance, submits the message, and waits until it is held. */
async function runVariant(v: Variant, index: number): Promise<void> {
  const oracle = makeOracleConfig({
    prefix: `postern-trivial-rewrite-${index}-`,
    ownedDirs: ['data'],
    main: {
      myhostname: 'oracle.example',
      mydestination: '',
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      header_checks: 'regexp:$config_directory/header_checks',
      ...v.main,
    },
    master: [...ORACLE_MAIL_SERVICES],
  });
  oracles.push(oracle);
  writeFileSync(join(oracle.confDir, 'header_checks'), '/^Subject: rewrite case/ HOLD\n');
  await oracle.start();
  const message = Buffer.from(`From: ${SENDER}\nSubject: rewrite case ${index}\n\nbody\n`);
  const r = await oracle.run(POSTFIX_PROGRAMS.sendmail, ['-i', '-C', oracle.confDir, '-f', SENDER, '--', ...ADDRESSES], { input: message });
  assert.equal(r.status, 0, `sendmail failed for ${v.name}: ${r.stderr}`);
  const ok = await waitUntil(() => holdFiles(oracle).length >= 1, HOLD_WAIT_MS);
  assert.ok(ok, `the message for ${v.name} did not reach hold\n${oracle.readLog()}`);
  const [f] = holdFiles(oracle);
  const q = readQueueFile(join(oracle.queueDir, 'hold', f!), {});
  assert.ok(q.ok, q.ok ? '' : q.error.message);
  held.set(v.name, q.file);
  confDirs.set(v.name, oracle.confDir);
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs Postfix instances and needs root');
  for (const p of [POSTFIX_PROGRAMS.postfix, POSTFIX_PROGRAMS.sendmail]) assert.ok(existsSync(p), `${p} is missing: install the postfix package`);
  await Promise.all(VARIANTS.map((v, i) => runVariant(v, i)));
});

after(async () => {
  await Promise.all(oracles.map((o) => o.cleanup()));
});

/** What Postern's parser makes of the command-line arguments (sendmail's tok822_parse + internalize). */
function expectedOriginals(): string[] {
  return ADDRESSES.flatMap((a) => headerAddresses(a, 0).addresses.map((x) => x.internal));
}

for (const v of VARIANTS) {
  test(`trivial-rewrite local context as Postern does it: ${v.name}`, () => {
    const q = held.get(v.name);
    const confDir = confDirs.get(v.name);
    assert.ok(q && confDir, `no held message for ${v.name}`);
    const originals = q.recipients.map((r) => r.original ?? '');
    assert.deepEqual([...originals].sort(), [...expectedOriginals()].sort(), 'original recipients');
    const config = loadMailConfig({ configDir: confDir });
    const ours = q.recipients.map((r) => ({ original: r.original ?? '', address: rewriteAddress(config, 'local', r.original ?? '') }));
    const theirs = q.recipients.map((r) => ({ original: r.original ?? '', address: r.address }));
    assert.deepEqual(ours, theirs);
  });
}

/*
 * Second half: the rewrite protocol itself. Each instance's real
 * trivial-rewrite (private/rewrite, started on demand by its master)
 * answers "rewrite" requests with external-form addresses in both
 * contexts, which reaches what cleanup never sends: the empty address, a
 * lone "@", quoted local parts, and the remote context.
 */

/** External-form addresses sent straight to trivial-rewrite. */
const EXTERNAL_ADDRESSES: readonly string[] = [
  '',
  '@',
  '""',
  '""@',
  'user',
  'user.',
  'user@host',
  'user@host.',
  'user@host..',
  'user@.',
  'user@',
  'user@[192.0.2.1]',
  'user@host.[192.0.2.1]',
  '@a,@b:user@c.example',
  '@a,@b:user',
  '@a,@b:',
  '@a:',
  '@host',
  'site!user',
  'a!b!user',
  '!user',
  'user!',
  'site!user%other',
  'u%v%site',
  'pct%',
  '"quoted local"',
  '"quoted local"@host',
  '"a@b"@host',
  '"site!user"',
  'a . b @ c',
  'user (comment)',
  'UPPER@MixedHost',
];

const CONTEXTS: readonly RewriteContextName[] = ['local', 'remote'];
const RPC_TIMEOUT_MS = 10_000;
/** The request name of an address rewrite (Postfix rewrite_clnt.h REWRITE_ADDR). */
const REWRITE_ADDR = 'rewrite';

/** Sends every request on one connection to private/rewrite; returns the reply addresses in order. */
function queryRewrite(socketPath: string, requests: Array<{ rule: string; address: string }>): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    const decoder = new Attr0Decoder();
    const replies: string[] = [];
    let announced = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${socketPath} within ${RPC_TIMEOUT_MS} ms (${replies.length} of ${requests.length} replies)`));
    }, RPC_TIMEOUT_MS);
    const finish = (err: Error | null): void => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(replies);
    };
    const send = (): void => {
      const r = requests[replies.length]!;
      sock.write(
        encodeAttr0([
          { name: MAIL_ATTR.REQ, value: REWRITE_ADDR },
          { name: MAIL_ATTR.RULE, value: r.rule },
          { name: MAIL_ATTR.ADDR, value: r.address },
        ]),
      );
    };
    const value = (frame: Attr0Frame, name: string): string | undefined => {
      for (const e of frame) if (!isGroup(e) && e.name === name) return e.value;
      return undefined;
    };
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(replies.length === requests.length ? null : new Error(`${socketPath} closed after ${replies.length} replies`)));
    sock.on('data', (chunk: Buffer) => {
      const { frames, failure } = decoder.push(chunk);
      if (failure) return finish(new Error(`bad reply: ${failure.message}`));
      for (const frame of frames) {
        if (!announced) {
          announced = true;
          if (value(frame, MAIL_ATTR.PROTO) !== MAIL_ATTR_PROTO.TRIVIAL) return finish(new Error(`wrong protocol announcement: ${JSON.stringify(frame)}`));
        } else {
          const address = value(frame, MAIL_ATTR.ADDR);
          if (address === undefined) return finish(new Error(`reply without address: ${JSON.stringify(frame)}`));
          replies.push(address);
        }
        if (replies.length === requests.length) return finish(null);
        send();
      }
      return undefined;
    });
  });
}

for (const v of VARIANTS) {
  test(`trivial-rewrite protocol replies match rewriteExternal: ${v.name}`, async () => {
    const confDir = confDirs.get(v.name);
    const oracle = oracles.find((o) => o.confDir === confDir);
    assert.ok(confDir && oracle, `no instance for ${v.name}`);
    const config = loadMailConfig({ configDir: confDir });
    const requests = CONTEXTS.flatMap((rule) => EXTERNAL_ADDRESSES.map((address) => ({ rule, address })));
    const replies = await queryRewrite(join(oracle.queueDir, 'private', MAIL_SERVICE.REWRITE), requests);
    const theirs = requests.map((r, i) => `${r.rule} <${r.address}> -> <${replies[i]}>`);
    const ours = requests.map((r) => `${r.rule} <${r.address}> -> <${rewriteExternal(rewriteSettings(config, r.rule as RewriteContextName), r.address)}>`);
    assert.deepEqual(ours, theirs);
  });
}
