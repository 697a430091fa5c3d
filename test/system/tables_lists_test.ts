/*
 * tables_lists_test - lookup tables inside pattern lists (mynetworks, relay_domains) of a running smtpd
 *
 * A Postern instance whose mynetworks is a cidr: table that does NOT
 * list 127.0.0.1 and whose relay_domains is a texthash: table: relaying
 * from 127.0.0.1 is refused with Postfix's "Relay access denied", while
 * a domain in the relay_domains table is accepted; a second instance
 * whose mynetworks table lists 127.0.0.1 may relay anywhere.
 *
 * What it does not do: network tables in lists (match_table_test.ts and
 * the smtpd unit tests cover the temporary failure).
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MAIL_IN_SERVICES, PosternInstance } from '../lib/instance.js';
import { runSwaks } from '../lib/peers.js';
import { ORACLE_SMTPD_BASE } from '../lib/postfix_oracle.js';

const started: PosternInstance[] = [];

after(async () => {
  for (const inst of started) await inst.cleanup();
});

async function instance(mynets: string): Promise<PosternInstance> {
  const inst = await PosternInstance.create({
    prefix: 'postern-tables-lists-',
    files: { mynets, relay: 'partner.test OK\n' },
    main: {
      ...ORACLE_SMTPD_BASE,
      smtpd_peername_lookup: 'no',
      mynetworks: 'cidr:${root}/mynets',
      relay_domains: 'texthash:${root}/relay',
    },
    ports: ['smtp'],
    masterLines: [...MAIL_IN_SERVICES],
  });
  started.push(inst);
  await inst.start();
  return inst;
}

async function rcptReply(inst: PosternInstance, to: string): Promise<string> {
  const r = await runSwaks({ server: inst.address('smtp'), from: 'a@example.com', to, extraArgs: ['--quit-after', 'RCPT'] });
  const reply = r.replies.at(-2);
  assert.ok(reply, `no RCPT reply: ${r.stdout}${r.stderr}`);
  return reply;
}

test('mynetworks as a cidr: table and relay_domains as a texthash: table decide relaying', { timeout: 90_000 }, async () => {
  const outside = await instance('127.0.0.2/32 OK\n');
  assert.match(await rcptReply(outside, 'x@elsewhere.test'), /^554 5\.7\.1 <x@elsewhere\.test>: Relay access denied$/);
  assert.match(await rcptReply(outside, 'x@partner.test'), /^250 2\.1\.5 Ok$/);
  const inside = await instance('127.0.0.0/8 OK\n');
  assert.match(await rcptReply(inside, 'x@elsewhere.test'), /^250 2\.1\.5 Ok$/);
});
