/*
 * tables_changed_test - a daemon notices an edited table file and makes way for a fresh process
 *
 * A Postern instance whose smtpd checks recipients against a texthash:
 * access table. The table file is edited while the mail system runs;
 * smtpd logs Postfix's "table texthash:FILE has changed -- restarting"
 * and new sessions get the new table's answer, without a reload.
 *
 * What it does not do: lmdb: tables (they are seen through LMDB's own
 * transactions: tables_aliases_test.ts rebuilds one under master).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MAIL_IN_SERVICES, PosternInstance } from '../lib/instance.js';
import { runSwaks } from '../lib/peers.js';
import { ORACLE_SMTPD_BASE } from '../lib/postfix_oracle.js';

const REPLY_WAIT_MS = 15_000;
const RETRY_PAUSE_MS = 300;

let inst: PosternInstance;

before(async () => {
  inst = await PosternInstance.create({
    prefix: 'postern-tables-changed-',
    files: { access: 'blocked@example.com REJECT first text\n' },
    main: {
      ...ORACLE_SMTPD_BASE,
      smtpd_peername_lookup: 'no',
      smtpd_recipient_restrictions: 'check_recipient_access texthash:${root}/access, permit_mynetworks, reject',
    },
    ports: ['smtp'],
    masterLines: [...MAIL_IN_SERVICES],
  });
  await inst.start();
});

after(async () => {
  await inst?.cleanup();
});

/** The reply to RCPT TO:<blocked@example.com> in a fresh session. */
async function rcptReply(): Promise<string> {
  const r = await runSwaks({ server: inst.address('smtp'), from: 'a@example.com', to: 'blocked@example.com', extraArgs: ['--quit-after', 'RCPT'] });
  const reply = r.replies.find((l) => /blocked@example\.com/.test(l));
  assert.ok(reply, `no RCPT reply: ${r.stdout}${r.stderr}`);
  return reply;
}

test('smtpd restarts when its texthash: table changes; new sessions see the new entry', { timeout: 60_000 }, async () => {
  assert.match(await rcptReply(), /^554 5\.7\.1 <blocked@example\.com>: Recipient address rejected: first text$/);
  writeFileSync(join(inst.root, 'access'), 'blocked@example.com REJECT second text\n');
  const deadline = Date.now() + REPLY_WAIT_MS;
  let reply = '';
  while (Date.now() < deadline) {
    reply = await rcptReply();
    if (/second text/.test(reply)) break;
    await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
  }
  assert.match(reply, /^554 5\.7\.1 <blocked@example\.com>: Recipient address rejected: second text$/);
  await inst.waitLog(/postfix\/smtpd\[\d+\]: table texthash:\S+\/access has changed -- restarting/, 5_000);
});
