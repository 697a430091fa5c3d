/*
 * tok822_cleanup_test - Postern's external form against the real cleanup's header rewriting
 *
 * A throwaway real Postfix instance (own config directory, queue and
 * data directory; myorigin origin.example; header_checks HOLD every test
 * message) receives messages through its sendmail -t. Its cleanup parses
 * each To:/Cc: header with tok822_parse, sends every address through
 * trivial-rewrite (which appends @myorigin to an address without a
 * domain), and, because each header below holds such an address,
 * regenerates the whole header with tok822_externalize and folds it.
 * Postern does the same with headerAddresses + tokRewrite (the rewrite
 * modelled as "append @origin.example when there is no domain") +
 * tokExternalize(tree, TOK822_STR.LINE) + cleanup's folding rule, and
 * must produce byte-identical header lines; the envelope recipients in
 * the held queue file must be Postern's internal forms, rewritten the
 * same way. Cases avoid what trivial-rewrite changes beyond that (source
 * routes, % and ! addresses, dotless domains). header_address_token_limit
 * is set low so that one long header shows where both stop parsing.
 *
 * Needs root and the postfix package; fails loudly when either is missing.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ORACLE_MAIL_SERVICES, type OracleConfig, POSTFIX_PROGRAMS, makeOracleConfig } from '../lib/postfix_oracle.js';
import { waitUntil } from '../lib/temp_dir.js';
import { readQueueFile, type QueueFile } from '../../src/global/queue_file_read.js';
import { quote822Local, unquote822Local } from '../../src/global/quote_822_local.js';
import { TOK822_STR, tokExternalize, tokScanAddr } from '../../src/global/tok822_parse.js';
import { addressParts, headerAddresses, tokRewrite } from '../../src/global/tok822_rewrite.js';

const MYORIGIN = 'origin.example';
/** cleanup_fold_header joins lines while the result stays shorter than this. */
const FOLD_WIDTH = 70;
const HOLD_WAIT_MS = 20_000;
/** header_address_token_limit for the instance: above every case but the one that tests it. */
const TOKEN_LIMIT = 100;

/** Each case: header name and value; every value holds at least one address without a domain. */
const CASES: Array<{ name: string; header: string; value: string }> = [
  { name: 'quoted, comments, bare', header: 'To', value: '"a b"@x.example, (c) d@e.example (f), bare' },
  { name: 'group and phrase', header: 'To', value: 'grp: g@h.example, i;, Joe <j@k.example>' },
  { name: 'phrase with comment', header: 'Cc', value: 'l m (n) <o@p.example>, q' },
  { name: 'quoting needed', header: 'To', value: '"quoted\\"inner"@d.example, a\\@b@c.example, "x y", r' },
  { name: 'literal and nested comment', header: 'To', value: 'x@[192.0.2.1], ((nested) c) y, Name <z>' },
  { name: 'missing commas', header: 'To', value: 'one@a.example two@b.example three' },
  { name: 'empty group', header: 'Cc', value: 'undisclosed-recipients:;, lonely' },
  {
    name: 'long list gets folded',
    header: 'To',
    value: 'alpha@example.com, "Beta Person" <beta@example.com>, gamma, delta@example.com, Epsilon <epsilon>, zeta@example.com, eta (comment), theta@example.com',
  },
  { name: 'semicolon without group', header: 'To', value: 'a@b.example; c@d.example, bare' },
  { name: 'comment after route address', header: 'To', value: 'Joe <a@b.example> (x), Ann (y) <bare>' },
  { name: 'trailing garbage', header: 'To', value: 'a@b.example <c@d.example> junk, e@f.example>, <<g@h.example>>' },
  { name: 'unterminated quote', header: 'Cc', value: 'k@l.example, "open quote' },
  { name: 'unterminated comment', header: 'Cc', value: 'm, n@o.example (open comment' },
  { name: 'unterminated angle', header: 'To', value: 'p@q.example, Name <open' },
  { name: 'backslash, tab and CR in quotes and comments', header: 'To', value: '"t\\u"@v.example, "w\tx\ry" (c\\)d) z' },
  { name: 'folded inside quotes and comments', header: 'To', value: '"e\n\tf"@g.example, (long\n comment) bare' },
  { name: 'spaced dots and empty members', header: 'To', value: 'a . b @ c . example, , ,z' },
  {
    name: 'header_address_token_limit cuts the list',
    header: 'To',
    value: `first, ${Array.from({ length: 30 }, (_, i) => `u${i}@d.example`).join(', ')}`,
  },
  { name: '8-bit', header: 'To', value: '"j\u00f6rg" <j\u00f6rg@ex\u00e4mple.de>, m\u00fcller' },
];

/** trivial-rewrite as these cases exercise it: append @myorigin to an address without a domain. */
function rewriteModel(external: string): string {
  return addressParts(tokScanAddr(external)).domain === null ? `${external}@${MYORIGIN}` : external;
}

/** cleanup_fold_header + cleanup_out_header: join short lines, indent continuation lines with a tab. */
function foldHeader(text: string): string[] {
  const lines: string[] = [];
  for (const part of text.split('\n')) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last]!.length + 1 + part.length < FOLD_WIDTH) lines[last] += ` ${part}`;
    else lines.push(part);
  }
  return lines.map((l, i) => (i === 0 || /^\s/.test(l) ? l : `\t${l}`));
}

/** Postern's version of the header lines and envelope recipients cleanup produces. */
function posternCleanup(header: string, value: string): { lines: string[]; recipients: string[] } {
  const { tree, addresses } = headerAddresses(value, TOKEN_LIMIT);
  // sendmail -t extracts the envelope recipients with no token limit.
  const recipients = headerAddresses(value, 0).addresses.map((a) => unquote822Local(rewriteModel(quote822Local(a.internal))));
  let changed = false;
  for (const a of addresses) {
    const before = tokExternalize(a.node.head);
    tokRewrite(a.node, rewriteModel);
    if (tokExternalize(a.node.head) !== before) changed = true;
  }
  assert.ok(changed, 'every case must make cleanup regenerate the header');
  return { lines: foldHeader(`${header}: ${tokExternalize(tree, TOK822_STR.LINE)}`), recipients };
}

let oracle: OracleConfig;
const held = new Map<string, QueueFile>();

function holdFiles(): string[] {
  const dir = join(oracle.queueDir, 'hold');
  return existsSync(dir) ? readdirSync(dir) : [];
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this oracle test runs a Postfix instance and needs root');
  for (const p of [POSTFIX_PROGRAMS.postfix, POSTFIX_PROGRAMS.sendmail]) assert.ok(existsSync(p), `${p} is missing: install the postfix package`);
  oracle = makeOracleConfig({
    prefix: 'postern-tok822-cleanup-',
    ownedDirs: ['data'],
    main: {
      compatibility_level: '3.6',
      myhostname: 'oracle.example',
      myorigin: MYORIGIN,
      mydestination: '',
      inet_interfaces: 'loopback-only',
      inet_protocols: 'ipv4',
      header_checks: 'regexp:$config_directory/header_checks',
      header_address_token_limit: String(TOKEN_LIMIT),
    },
    master: [...ORACLE_MAIL_SERVICES],
  });
  writeFileSync(join(oracle.confDir, 'header_checks'), '/^Subject: tok822 case/ HOLD\n');
  await oracle.start();
  for (const [i, c] of CASES.entries()) {
    const message = Buffer.from(`From: s@origin.example\n${c.header}: ${c.value}\nSubject: tok822 case ${i}\n\nbody\n`, 'utf8');
    const r = await oracle.run(POSTFIX_PROGRAMS.sendmail, ['-t', '-i', '-C', oracle.confDir, '-f', 's@origin.example'], { input: message });
    assert.equal(r.status, 0, `sendmail -t failed for ${c.name}: ${r.stderr}`);
  }
  const all = await waitUntil(() => holdFiles().length >= CASES.length, HOLD_WAIT_MS);
  assert.ok(all, `only ${holdFiles().length} of ${CASES.length} messages reached hold\n${oracle.readLog()}`);
  for (const f of holdFiles()) {
    const q = readQueueFile(join(oracle.queueDir, 'hold', f), { content: true });
    assert.ok(q.ok, q.ok ? '' : q.error.message);
    const subject = q.file.content?.find((t) => t.text.toString('latin1').startsWith('Subject: tok822 case '));
    assert.ok(subject, `no test subject in ${f}`);
    held.set(subject.text.toString('latin1').slice('Subject: tok822 case '.length), q.file);
  }
});

after(async () => {
  await oracle?.cleanup();
});

/** The header lines of the held message that start with `name:`, with their continuation lines. */
function heldHeader(q: QueueFile, name: string): string[] {
  const lines = (q.content ?? []).map((t) => t.text.toString('latin1'));
  const start = lines.findIndex((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  assert.ok(start >= 0, `no ${name} header in ${q.path}`);
  let end = start + 1;
  while (end < lines.length && /^[ \t]/.test(lines[end]!)) end += 1;
  return lines.slice(start, end);
}

for (const [i, c] of CASES.entries()) {
  test(`cleanup regenerates the header as Postern does: ${c.name}`, () => {
    const q = held.get(String(i));
    assert.ok(q, `case ${i} was not held`);
    const value = Buffer.from(c.value, 'utf8').toString('latin1');
    const ours = posternCleanup(c.header, value);
    assert.deepEqual(heldHeader(q, c.header), ours.lines, `header ${c.header}: ${c.value}`);
    assert.deepEqual(
      q.recipients.map((r) => r.address),
      ours.recipients,
      'envelope recipients',
    );
  });
}
