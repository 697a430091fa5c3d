/*
 * tok822_test - Postern's RFC 822 address parser against the real Postfix
 *
 * The real `sendmail -t -C DIR` (a throwaway configuration with its own
 * queue_directory; no mail system needs to run) reads each message below,
 * finds the recipients in its To:/Cc:/Bcc: headers with Postfix's
 * tok822_parse + tok822_internalize, and postdrop writes them as 'R'
 * records into a maildrop file. Postern's queue file reader reads that
 * file, and Postern's headerAddresses() must find the same recipients,
 * in the same order and the same internal form, from the same header
 * text. Every case is a tricky input: quoted local parts, comments,
 * groups, route addresses, missing commas and domains, unterminated
 * quotes/comments/literals, 8-bit text, folded headers. As a second
 * check, each recipient must survive quote822Local + unquote822Local
 * unchanged (the internal/external round trip cleanup relies on).
 *
 * Needs root (postdrop's maildrop is owned by postfix:postdrop) and the
 * postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig, postfixIds } from '../lib/postfix_oracle.js';
import { readQueueFile } from '../../src/global/queue_file_read.js';
import { MAIL_QUEUE } from '../../src/global/mail_queue.js';
import { quote822Local, unquote822Local } from '../../src/global/quote_822_local.js';
import { headerAddresses } from '../../src/global/tok822_rewrite.js';

/** Recipient headers sendmail -t extracts from (no Resent- headers here). */
const RECIPIENT_HEADERS = new Set(['to', 'cc', 'bcc']);
const MAILDROP_MODE = 0o1730;
const SENDER = 'sender@example.org';

/** Header blocks (without the blank line); each becomes one message. */
const CASES: Array<{ name: string; headers: string }> = [
  { name: 'mixed list', headers: 'To: "a b"@x.y, (c) d@e (f), grp: g@h, i; <@r1,@r2:j@k>\nCc: l m <n@o>, p' },
  { name: 'missing commas', headers: 'To: foo@bar baz@qux quux, "q" z@z' },
  { name: 'RFC 5322 phrases', headers: 'To: Joe Q. Public <john.q.public@example.com>, Mary Smith <@machine.tld:mary@example.net>, , jdoe@test  . example' },
  { name: 'empty group', headers: 'To: undisclosed-recipients:;\nCc: x@y' },
  { name: 'quoting', headers: 'To: "quoted\\"inner"@d, "back\\\\slash"@d, a\\@b@c, "dot..dot"@d, ".lead"@d, "trail."@d, "plain"@d' },
  { name: 'unterminated angle and quote', headers: 'To: <unterminated@x, "open quote@y' },
  { name: 'unterminated comment', headers: 'To: (unterminated comment x@y\nCc: z@w' },
  { name: 'domain literals', headers: 'To: a@[1.2.3.4], b@[ipv6:::1], "c"@[x\\]y], d@[unterminated' },
  { name: 'non-RFC operators', headers: 'To: user%host@relay, host!user, |pipe, :colon@x, a:b@c' },
  { name: '8-bit', headers: 'To: "jörg" <jörg@exämple.de>, müller@x, "ä b"@y' },
  { name: 'folded header', headers: 'To: a@b,\n\tc@d (folded\n comment), "e\n f"@g' },
  { name: 'empty route address', headers: 'To: <>, Name <>, x@y' },
  { name: 'nested comments', headers: 'To: ((nested) x@y) real@z (a\\)b), w@v ((()))' },
  { name: 'trailing garbage', headers: 'To: a@b <c@d> junk, e@f;garbage, g@h>, <<i@j>>' },
  { name: 'groups with route addresses', headers: 'To: G: A <a@b>, c@d;, e@f, H:;, K: k@l' },
  { name: 'spaced dots', headers: 'To: a . b @ c . d, e.@f, .g@h' },
  { name: 'semicolon without group', headers: 'To: a@b; c@d\nBcc: hidden@x, (only comment)' },
  { name: 'colon inside address', headers: 'To: DECnet::user, node::u@x, a:b:c' },
  { name: 'backslashes', headers: 'To: \\\\x@y, a\\ b@c, "\\a"@d, e\\' },
  { name: 'several headers', headers: 'TO: one@x\ncc: two@x\nBCC: three@x\nTo: four@x, five' },
];

/** Unfolds a header block into [name, value] pairs, keeping the line breaks inside values. */
function splitHeaders(block: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of block.split('\n')) {
    if (/^[ \t]/.test(line) && out.length > 0) {
      out[out.length - 1]![1] += `\n${line}`;
    } else {
      const colon = line.indexOf(':');
      assert.ok(colon > 0, `bad test header: ${line}`);
      out.push([line.slice(0, colon), line.slice(colon + 1)]);
    }
  }
  return out;
}

/** What Postern finds, as byte strings (latin1, like the queue file reader). */
function posternRecipients(block: string): string[] {
  const bytes = Buffer.from(block, 'utf8').toString('latin1');
  const found: string[] = [];
  for (const [name, value] of splitHeaders(bytes)) {
    if (RECIPIENT_HEADERS.has(name.toLowerCase())) found.push(...headerAddresses(value).addresses.map((a) => a.internal));
  }
  return found;
}

let oracle: OracleConfig;
let maildrop: string;

before(() => {
  assert.ok(existsSync(POSTFIX_PROGRAMS.sendmail), `${POSTFIX_PROGRAMS.sendmail} is missing: install the postfix package`);
  assert.equal(process.getuid?.(), 0, 'this test runs the real postdrop and needs root');
  oracle = makeOracleConfig({ prefix: 'postern-tok822-' });
  maildrop = join(oracle.queueDir, MAIL_QUEUE.MAILDROP);
  mkdirSync(maildrop);
  const group = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postdrop:'));
  assert.ok(group, 'no postdrop group in /etc/group: install the postfix package');
  chownSync(maildrop, postfixIds().uid, Number(group.split(':')[2]));
  chmodSync(maildrop, MAILDROP_MODE);
});

after(async () => {
  await oracle?.cleanup();
});

/** Runs the real sendmail -t on the message; returns the recipients postdrop wrote. */
async function realRecipients(headers: string): Promise<string[]> {
  const before = new Set(readdirSync(maildrop));
  const message = Buffer.from(`${headers}\nSubject: tok822 test\n\nbody\n`, 'utf8');
  const r = await oracle.run(POSTFIX_PROGRAMS.sendmail, ['-t', '-i', '-C', oracle.confDir, '-f', SENDER], { input: message });
  assert.equal(r.status, 0, `sendmail -t failed: ${r.stderr}`);
  const fresh = readdirSync(maildrop).filter((f) => !before.has(f));
  assert.equal(fresh.length, 1, `expected one new maildrop file, got ${fresh.join(' ')}`);
  const q = readQueueFile(join(maildrop, fresh[0]!));
  assert.ok(q.ok, q.ok ? '' : q.error.message);
  return q.file.recipients.map((rc) => rc.address);
}

for (const c of CASES) {
  test(`sendmail -t and Postern find the same recipients: ${c.name}`, async () => {
    const real = await realRecipients(c.headers);
    const ours = posternRecipients(c.headers);
    assert.deepEqual(ours, real, `headers:\n${c.headers}`);
    for (const rcpt of ours) {
      const external = quote822Local(rcpt);
      assert.equal(unquote822Local(external), rcpt, `round trip of ${JSON.stringify(rcpt)} via ${JSON.stringify(external)}`);
    }
  });
}
