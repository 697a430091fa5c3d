/*
 * virtual_test - virtual(8) delivered in-process through the real delivery request protocol
 *
 * What it tests: Maildir and mbox delivery read back with Python's
 * mailbox module (Return-Path, Delivered-To in lower case, X-Original-To,
 * >From quoting in mbox), the files owned by the uid/gid from
 * virtual_uid_maps/virtual_gid_maps (nobody; the tests run as root), the
 * "unknown user" bounce (5.1.1) and the 4.3.5 deferrals for a uid below
 * virtual_minimum_uid and a missing gid, with Postfix's log lines and
 * queue file cross-off; the configuration checks of Postfix's pre_init.
 *
 * What it does not test: master or qmgr (test/system does).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, chownSync, statSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { getpwnam } from '../util/pwd_lookup.js';
import { DEL_STAT } from '../global/deliver_request.js';
import { BOUNCE_CMD } from '../global/bounce_clnt.js';
import { createVirtualDeliver, virtualSettings, VirtualConfigError } from './virtual.js';
import { AgentHarness } from '../global/agent_harness_test_lib.js';

const NOBODY = getpwnam('nobody');

function py(script: string, ...args: string[]): string {
  const r = spawnSync('python3', ['-c', script, ...args], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
  return r.stdout;
}

/** Reads a Maildir (argv[1]) and an mbox (argv[2]) in one Python run. */
const READ_BOTH = `
import mailbox, sys, json
def fields(m):
    return {'rp': m['Return-Path'], 'dt': m['Delivered-To'], 'xo': m['X-Original-To'], 'subject': m['Subject'], 'body': m.get_payload()}
md = mailbox.Maildir(sys.argv[1], factory=None, create=False)
mb = mailbox.mbox(sys.argv[2], create=False)
print(json.dumps({'maildir': [fields(md[k]) for k in md.keys()], 'mbox': [dict(fields(m), **{'from': m.get_from()}) for m in mb]}))
`;

function readBoth(maildir: string, mbox: string): { maildir: Array<Record<string, string>>; mbox: Array<Record<string, string>> } {
  return JSON.parse(py(READ_BOTH, maildir, mbox)) as { maildir: Array<Record<string, string>>; mbox: Array<Record<string, string>> };
}

function setup(extra: Record<string, string> = {}): { h: AgentHarness; base: string } {
  assert.ok(NOBODY, 'the nobody account must exist');
  const h = new AgentHarness((dir) => ({
    virtual_mailbox_base: join(dir, 'vmail'),
    virtual_mailbox_maps: 'inline:{ maildir@vdom.test=md/, mbox@vdom.test=mb, @other.test=catch/ }',
    virtual_uid_maps: `static:${NOBODY.uid}`,
    virtual_gid_maps: `static:${NOBODY.gid}`,
    virtual_mailbox_lock: 'dotlock',
    ...extra,
  }), { serviceName: 'virtual' });
  const base = join(h.dir, 'vmail');
  mkdirSync(base, { mode: 0o755 });
  chownSync(base, NOBODY.uid, NOBODY.gid);
  return { h, base };
}

test('virtual: Maildir and mbox as the mapped uid, unknown user bounced, read back with Python mailbox', async () => {
  assert.equal(process.getuid?.(), 0, 'these tests run as root (uid mapping)');
  const { h, base } = setup();
  try {
    const q = await h.enqueue({
      sender: 'Sender@Example.ORG',
      recipients: [
        { address: 'Maildir@VDom.test', original: 'orig-md@example.net' },
        { address: 'mbox@vdom.test' },
        { address: 'nobody-here@vdom.test' },
      ],
      lines: ['Subject: hello virtual', 'From: s@example.org', '', 'From the start of a line', 'second line'],
    });
    const deliver = createVirtualDeliver(virtualSettings(h.config));
    const reply = await h.deliver(deliver, h.request(q, { nexthop: 'vdom.test' }));
    assert.equal(reply.status, DEL_STAT.OK);
    assert.equal(reply.hop, null);

    // A second message appends to the mbox.
    const q2 = await h.enqueue({ sender: '', recipients: [{ address: 'mbox@vdom.test' }], lines: ['Subject: second', '', 'body'] });
    assert.equal((await h.deliver(deliver, h.request(q2))).status, DEL_STAT.OK);
    const both = readBoth(join(base, 'md'), join(base, 'mb'));
    const md = both.maildir;
    assert.equal(md.length, 1);
    assert.equal(md[0]!.rp, '<Sender@Example.ORG>');
    assert.equal(md[0]!.dt, 'maildir@vdom.test');
    assert.equal(md[0]!.xo, 'orig-md@example.net');
    assert.equal(md[0]!.subject, 'hello virtual');
    assert.equal(md[0]!.body, 'From the start of a line\nsecond line\n');
    const newDir = join(base, 'md', 'new');
    const [file] = readdirSync(newDir);
    const st = statSync(join(newDir, file!));
    assert.equal(st.uid, NOBODY!.uid);
    assert.equal(st.gid, NOBODY!.gid);
    assert.equal(statSync(join(base, 'md', 'tmp')).uid, NOBODY!.uid);
    assert.deepEqual(readdirSync(join(base, 'md', 'tmp')), []);

    const mb = both.mbox;
    assert.equal(mb.length, 2);
    assert.match(mb[0]!.from!, /^Sender@Example\.ORG  \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    assert.equal(mb[0]!.dt, 'mbox@vdom.test');
    assert.equal(mb[0]!.xo, 'mbox@vdom.test');
    assert.equal(mb[0]!.body, '>From the start of a line\nsecond line\n');
    const mst = statSync(join(base, 'mb'));
    assert.equal(mst.uid, NOBODY!.uid);
    assert.equal(mst.mode & 0o777, 0o600);

    const id = q.queueId;
    assert.equal(h.logLines(new RegExp(`^${id}: to=<Maildir@VDom.test>, orig_to=<orig-md@example.net>, relay=virtual, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(delivered to maildir\\)$`)).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(new RegExp(`^${id}: to=<mbox@vdom.test>, relay=virtual, .*dsn=2\\.0\\.0, status=sent \\(delivered to mailbox\\)$`)).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(new RegExp(`^${id}: to=<nobody-here@vdom.test>, relay=virtual, .*dsn=5\\.1\\.1, status=bounced \\(unknown user: "nobody-here@vdom.test"\\)$`)).length, 1, h.logs.join('\n'));
    const bounces = h.bounceRequests.filter((b) => b.service === 'bounce' && b.req.command === BOUNCE_CMD.APPEND);
    assert.equal(bounces.length, 1);
    assert.deepEqual(h.doneRecipients(q.path).sort(), ['Maildir@VDom.test', 'mbox@vdom.test', 'nobody-here@vdom.test'].sort());
    assert.deepEqual(mb.map((m) => m.subject), ['hello virtual', 'second']);
    assert.equal(mb[1]!.rp, '<>');
    assert.match(mb[1]!.from!, /^MAILER-DAEMON /);
  } finally {
    h.close();
  }
});

test('virtual: bad uid and missing gid are deferred 4.3.5 with Postfix warnings, nothing crossed off', async () => {
  const { h } = setup({
    virtual_uid_maps: 'inline:{ maildir@vdom.test=50, mbox@vdom.test=65534 }',
    virtual_gid_maps: 'inline:{ maildir@vdom.test=65534 }',
  });
  try {
    const q = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'maildir@vdom.test' }, { address: 'mbox@vdom.test' }], lines: ['Subject: x', '', 'y'] });
    const reply = await h.deliver(createVirtualDeliver(virtualSettings(h.config)), h.request(q));
    assert.equal(reply.status, DEL_STAT.DEFER);
    assert.equal(h.logLines(/^warning: recipient maildir@vdom\.test: bad uid 50 in virtual_uid_maps$/).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(/^warning: recipient mbox@vdom\.test: not found in virtual_gid_maps$/).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(/to=<maildir@vdom\.test>, relay=virtual, .*dsn=4\.3\.5, status=deferred \(mail system configuration error\)$/).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(/to=<mbox@vdom\.test>, relay=virtual, .*dsn=4\.3\.5, status=deferred \(mail system configuration error\)$/).length, 1);
    assert.equal(h.bounceRequests.filter((b) => b.service === 'defer').length, 2);
    assert.deepEqual(h.doneRecipients(q.path), []);
  } finally {
    h.close();
  }
});

test('virtual: configuration checks as Postfix pre_init/post_init', () => {
  const { h } = setup();
  try {
    assert.throws(() => virtualSettings(h.config.withOverrides({ virtual_mailbox_base: 'relative/dir' })), (e: unknown) => e instanceof VirtualConfigError && e.message === 'do not specify relative pathname: virtual_mailbox_base = relative/dir');
    assert.throws(() => virtualSettings(h.config.withOverrides({ virtual_mailbox_limit: '1000' })), /main\.cf configuration error: virtual_mailbox_limit is smaller than message_size_limit/);
    assert.throws(() => virtualSettings(h.config.withOverrides({ virtual_mailbox_lock: 'dotlock, bogus' })), /unrecognized virtual_mailbox_lock value: bogus/);
    assert.throws(() => virtualSettings(h.config.withOverrides({ virtual_minimum_uid: '0' })), /invalid virtual_minimum_uid parameter value 0 < 1/);
  } finally {
    h.close();
  }
});

test('virtual: virtual_mailbox_limit caps the mbox file: 5.2.2 bounce, mailbox left as it was', async () => {
  const { h, base } = setup({ message_size_limit: '1000', virtual_mailbox_limit: '1200' });
  try {
    const mbox = join(base, 'mb');
    writeFileSync(mbox, `From x  Sat Nov 28 23:19:22 2026\nSubject: old\n\n${'z'.repeat(1080)}\n\n`, { mode: 0o600 });
    chownSync(mbox, NOBODY!.uid, NOBODY!.gid);
    const before = readFileSync(mbox);
    const q = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'mbox@vdom.test' }], lines: ['Subject: too much', '', 'y'.repeat(200)] });
    const reply = await h.deliver(createVirtualDeliver(virtualSettings(h.config)), h.request(q));
    assert.equal(reply.status, DEL_STAT.OK);
    assert.equal(h.logLines(new RegExp(`^${q.queueId}: to=<mbox@vdom\\.test>, relay=virtual, .*dsn=5\\.2\\.2, status=bounced \\(delivery failed to mailbox ${mbox.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: error writing message: File too large\\)$`)).length, 1, h.logs.join('\n'));
    assert.deepEqual(readFileSync(mbox), before);
    assert.deepEqual(h.doneRecipients(q.path), ['mbox@vdom.test']);
  } finally {
    h.close();
  }
});

test('virtual: a Maildir the owner cannot create is deferred 4.2.0 with Postfix warnings', async () => {
  const { h, base } = setup();
  try {
    chownSync(base, 0, 0);
    const q = await h.enqueue({ sender: 's@example.org', recipients: [{ address: 'maildir@vdom.test' }], lines: ['Subject: x', '', 'y'] });
    const reply = await h.deliver(createVirtualDeliver(virtualSettings(h.config)), h.request(q));
    assert.equal(reply.status, DEL_STAT.DEFER);
    const esc = base.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    assert.equal(h.logLines(new RegExp(`^${q.queueId}: to=<maildir@vdom\\.test>, relay=virtual, .*dsn=4\\.2\\.0, status=deferred \\(maildir delivery failed: create maildir file ${esc}/md/tmp/\\S+: Permission denied\\)$`)).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(new RegExp(`^warning: maildir access problem for UID/GID=${NOBODY!.uid}/${NOBODY!.gid}: create maildir file `)).length, 1, h.logs.join('\n'));
    assert.equal(h.logLines(/^warning: perhaps you need to create the maildirs in advance$/).length, 1);
    assert.deepEqual(h.doneRecipients(q.path), []);
  } finally {
    h.close();
  }
});
