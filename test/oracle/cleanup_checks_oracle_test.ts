/*
 * cleanup_checks_oracle_test - header_checks/body_checks and MIME structure against the real cleanup(8)
 *
 * What it does: starts a real Postfix 3.7.11 (cleanup_checks_oracle_lib)
 * whose header_checks (a regexp: and a pcre: table), mime_header_checks
 * (pcre:), nested_header_checks (regexp:) and body_checks (regexp: and
 * pcre:) cover every header_checks(5) action and its bad-argument
 * forms, with body_checks_size_limit lowered; a second cleanup service
 * with strict_8bitmime, strict_mime_encoding_domain, a small
 * mime_nesting_limit and header_size_limit; a third with
 * disable_mime_input_processing. It submits each CASES message through
 * the real smtpd (an SMTP session over a loopback socket) and, unless Postfix would try to
 * bounce it, through the real sendmail, and compares what Postfix did
 * (reply, incoming/hold/nothing, stored content via postcat,
 * content_filter, redirect_to, recipients, cleanup's log lines) with
 * what MimeState + CleanupChecks do with the same input and the same
 * main.cf (inspectMessage of cleanup_checks_test_lib). Each smtpd
 * message also goes through Postern's whole cleanup(8) in this process
 * (cleanup_checks_postern_lib: the same records an smtpd sends, on a
 * scratch queue, stored file read with the real postcat), whose outcome
 * must equal Postfix's too. Equal outcomes are required.
 *
 * What it does not do: test the rest of cleanup (Received:, missing
 * headers, address rewriting): every message carries its own From:,
 * To:, Date: and Message-ID:, and the Received: header is left out of
 * both sides of the comparison.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CleanupChecks } from '../../src/cleanup/cleanup_checks.js';
import { inspectMessage, simState } from '../../src/cleanup/cleanup_checks_test_lib.js';
import { CLEANUP_FLAG, cleanupStatDetail } from '../../src/global/cleanup_user.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { type ChecksOracle, type CleanupService, type RealOutcome, startChecksOracle, submitSendmail, submitSmtp } from './cleanup_checks_oracle_lib.js';
import { CASES, type ChecksCase, TABLES, caseMessage } from './cleanup_checks_oracle_cases.js';
import { type PosternCleanup, posternCleanup } from './cleanup_checks_postern_lib.js';

const MAIN = {
  header_checks: 'regexp:$config_directory/hc.regexp, pcre:$config_directory/hc.pcre',
  mime_header_checks: 'pcre:$config_directory/mhc.pcre',
  nested_header_checks: 'regexp:$config_directory/nhc.regexp',
  body_checks: 'regexp:$config_directory/bc.regexp pcre:$config_directory/bc.pcre',
  body_checks_size_limit: '400',
  smtpd_peername_lookup: 'no',
};
const OVERRIDES: Record<CleanupService, Record<string, string>> = {
  cleanup: {},
  cleanup2: { strict_8bitmime: 'yes', strict_mime_encoding_domain: 'yes', mime_nesting_limit: '3', header_size_limit: '600' },
  cleanup3: { disable_mime_input_processing: 'yes', message_strip_characters: '#', message_reject_characters: '^' },
};
const SMTP_ORIGIN = 'unknown[127.0.0.1]';

let pf: ChecksOracle;
let postern: PosternCleanup;
const checksByService = new Map<CleanupService, CleanupChecks>();

before(async () => {
  pf = await startChecksOracle({ tables: TABLES, main: MAIN, cleanup2: OVERRIDES.cleanup2, cleanup3: OVERRIDES.cleanup3 });
  postern = posternCleanup(pf.oracle.confDir);
});

after(async () => {
  postern?.cleanup();
  await pf?.cleanup();
});

function checksFor(service: CleanupService): CleanupChecks {
  let c = checksByService.get(service);
  if (!c) {
    c = new CleanupChecks(loadMailConfig({ configDir: pf.oracle.confDir, overrides: OVERRIDES[service] }));
    checksByService.set(service, c);
  }
  return c;
}

/** What Postern's modules do with the same message. */
async function simulate(c: ChecksCase, via: 'smtp' | 'sendmail', queueId: string, sender: string): Promise<Omit<RealOutcome, 'queueId'>> {
  const service = via === 'smtp' ? (c.service ?? 'cleanup') : 'cleanup';
  const received =
    via === 'smtp'
      ? `Received: from helo.example (unknown [127.0.0.1])\n\tby oracle.example (Postfix) with ESMTP id ${queueId}`
      : `Received: by oracle.example (Postfix, from userid 0)\n\tid ${queueId}`;
  const state = simState({
    queueId,
    sender,
    recip: c.rcpts[c.rcpts.length - 1]!,
    flags: via === 'smtp' ? CLEANUP_FLAG.MASK_EXTERNAL : CLEANUP_FLAG.MASK_EXTERNAL | CLEANUP_FLAG.BOUNCE,
    attr:
      via === 'smtp'
        ? { log_message_origin: SMTP_ORIGIN, log_protocol_name: 'ESMTP', log_helo_name: 'helo.example' }
        : { log_message_origin: 'local' },
  });
  const limit = Number(OVERRIDES[service].header_size_limit ?? 102400);
  const r = await inspectMessage(checksFor(service), `${received}\n${caseMessage(c, sender)}`, state, limit);
  let cut = 1;
  while (cut < r.content.length && /^[ \t]/.test(r.content[cut]!)) cut++;
  const failed = state.errs !== 0;
  const queue = failed || (state.flags & CLEANUP_FLAG.DISCARD) !== 0 ? 'none' : (state.flags & CLEANUP_FLAG.HOLD) !== 0 ? 'hold' : 'incoming';
  const stored = queue !== 'none';
  let reply: string;
  if (via === 'smtp') reply = failed ? `${cleanupStatDetail(state.errs).smtp} ${state.reason}` : '250';
  else reply = stored ? '250' : 'none';
  return {
    reply,
    queue,
    content: stored ? r.content.slice(cut) : [],
    filter: stored ? state.filter : null,
    redirect: stored ? state.redirect : null,
    recipients: stored ? [...c.rcpts, ...state.hbcRcpt] : [],
    logs: r.logs,
  };
}

function compare(c: ChecksCase, real: RealOutcome, mine: Omit<RealOutcome, 'queueId'>): void {
  const { queueId: _q, ...realRest } = real;
  assert.deepEqual(mine, realRest, `case ${c.name}: Postern (actual) differs from Postfix (expected)`);
  if (c.expect) assert.match(`${real.reply} ${real.queue}\n${real.logs.join('\n')}`, c.expect, `case ${c.name}: Postfix did not do what the case is about`);
}

describe('content inspection equals the real cleanup(8)', () => {
  it('has at least 30 cases', () => {
    assert.ok(CASES.length >= 30);
  });
  for (const [i, c] of CASES.entries()) {
    let real: RealOutcome | null = null;
    const sender = `s${i}@example.com`;
    const service = c.service ?? 'cleanup';
    it(`${c.name} via smtpd (${service})`, async () => {
      real = await submitSmtp(pf, service, sender, c.rcpts, caseMessage(c, sender));
      compare(c, real, await simulate(c, 'smtp', real.queueId, sender));
    });
    it(`${c.name} through Postern's cleanup(8) equals the smtpd outcome`, async () => {
      assert.ok(real, 'the smtpd submission did not complete');
      const received = 'Received: from helo.example (unknown [127.0.0.1])\n\tby oracle.example (Postfix) with ESMTP id X';
      const mine = await postern.run(OVERRIDES[service], sender, c.rcpts, caseMessage(c, sender), received);
      const norm = ({ queueId, ...o }: RealOutcome) => ({ ...o, logs: o.logs.map((l) => l.split(queueId).join('QUEUEID')) });
      assert.deepEqual(norm(mine), norm(real), `case ${c.name}: Postern's cleanup (actual) differs from Postfix (expected)`);
    });
    if (c.sendmail) {
      it(`${c.name} via sendmail`, async () => {
        const sender = `l${i}@example.com`;
        const real = await submitSendmail(pf, sender, c.rcpts, caseMessage(c, sender));
        compare(c, real, await simulate(c, 'sendmail', real.queueId, sender));
      });
    }
  }
});
