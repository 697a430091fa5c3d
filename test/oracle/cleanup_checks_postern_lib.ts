/*
 * cleanup_checks_postern_lib - run one message through Postern's own cleanup(8), for the content inspection oracle test
 *
 * What it does: posternCleanup() serves Postern's cleanupService (the
 * whole daemon: envelope, MimeState + CleanupChecks, queue file) in
 * this process on a scratch queue directory, sends it the records an
 * smtpd would send for one message (time, the log_* attributes, sender,
 * recipients, content, end) through cleanup_clnt with the flags of mail
 * from the network, and returns the same RealOutcome shape the real
 * Postfix gives: reply, queue (incoming/hold/none), stored content after
 * the Received: header read with the real postcat, content_filter,
 * redirect_to, recipients, and cleanup's log lines (masked as the log
 * sinks mask them; message-id lines left out).
 *
 * What it does not do: fsync or trigger qmgr (test configuration), or
 * start any other daemon.
 *
 * DIAGNOSTICS
 * Assertion errors when cleanup cannot be reached.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { contentRecords } from '../../src/cleanup/cleanup_checks_test_lib.js';
import { cleanupOpen } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_FLAG, cleanupStatDetail } from '../../src/global/cleanup_user.js';
import { loadMailConfig } from '../../src/global/mail_conf.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { type MsgSink, msgSetSinks, msgSinks } from '../../src/util/msg.js';
import { printableBytes } from '../../src/util/printable.js';
import { runProgram } from '../lib/paths.js';
import { type RealOutcome, cleanupLines, postcatDetails } from './cleanup_checks_oracle_lib.js';

/** Queue subdirectories cleanup may touch. */
const QUEUE_DIRS = ['incoming', 'hold', 'active', 'deferred', 'defer', 'bounce', 'trace', 'corrupt', 'public', 'private', 'maildrop', 'saved', 'flush', 'pid'];

export interface PosternCleanup {
  run(overrides: Record<string, string>, sender: string, rcpts: string[], message: string, received: string): Promise<RealOutcome>;
  cleanup(): void;
}

/** A scratch queue (and a config directory for the real postcat) shared by every message. */
export function posternCleanup(oracleConfDir: string): PosternCleanup {
  const root = mkdtempSync(join(tmpdir(), 'postern-checks-q-'));
  const queueDir = join(root, 'queue');
  for (const d of QUEUE_DIRS) mkdirSync(join(queueDir, d), { recursive: true });
  writeFileSync(join(root, 'main.cf'), `queue_directory = ${queueDir}\n`);
  const services = new Map<string, ReturnType<typeof cleanupService>>();

  return {
    async run(overrides, sender, rcpts, message, received) {
      const key = JSON.stringify(overrides);
      let svc = services.get(key);
      if (!svc) {
        const config = loadMailConfig({ configDir: oracleConfDir, overrides: { ...overrides, queue_directory: queueDir } });
        svc = cleanupService(config, { fsync: false, triggerQmgr: false });
        services.set(key, svc);
      }
      const lines: string[] = [];
      const mask = (t: string): string => printableBytes(Buffer.from(t, 'utf8'), true).toString('latin1');
      const sink: MsgSink = { write: (sev, text) => void lines.push(`postfix/cleanup[1]: ${mask(sev === 'info' ? text : `${sev}: ${text}`)}`) };
      const saved = msgSinks();
      msgSetSinks([sink]);
      let queueId: string;
      let status: number;
      let reason: string;
      try {
        const r = await cleanupOpen({ queueDir, flags: CLEANUP_FLAG.MASK_EXTERNAL, endpoint: svc.endpoint(), timeoutMs: 10_000 });
        assert.ok(r.ok, `cleanupOpen: ${r.ok ? '' : r.reason}`);
        const s = r.session;
        queueId = s.queueId;
        s.record(REC_TYPE.TIME, `${Math.floor(Date.now() / 1000)} 0`);
        s.attr('log_message_origin', 'unknown[127.0.0.1]');
        s.attr('log_helo_name', 'helo.example');
        s.attr('log_protocol_name', 'ESMTP');
        s.record(REC_TYPE.FROM, sender);
        for (const rc of rcpts) s.record(REC_TYPE.RCPT, rc);
        s.record(REC_TYPE.MESG, '');
        for (const [t, x] of contentRecords(`${received}\n${message}`)) s.record(t, Buffer.from(x, 'latin1'));
        s.record(REC_TYPE.XTRA, '');
        ({ status, reason } = await s.end());
      } finally {
        msgSetSinks([...saved]);
      }
      const queue = existsSync(join(queueDir, 'incoming', queueId)) ? 'incoming' : existsSync(join(queueDir, 'hold', queueId)) ? 'hold' : 'none';
      const reply = status !== 0 ? `${cleanupStatDetail(status).smtp} ${reason}` : '250';
      const details =
        queue === 'none'
          ? { content: [], filter: null, redirect: null, recipients: [] }
          : await postcatDetails({ run: (p, a, o) => runProgram(p, a, { timeoutMs: 10_000, ...o }) }, root, join(queueDir, queue, queueId));
      return { reply, queueId, queue, ...details, logs: cleanupLines(lines.join('\n')) };
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
}

