/*
 * postqueue_queue_lib - a test mail queue written by Postern's cleanup, for the queue tool tests
 *
 * What it does: makeTestQueue() lays out a throwaway configuration with
 * makeOracleConfig() (so the real Postfix programs can run with -c on it)
 * and fills its queue_directory with messages submitted to Postern's
 * cleanup service in this process (no qmgr, so each file lands in
 * incoming). moveTo() renames a file into active, deferred (hashed) or
 * hold, as qmgr/postsuper would; writeDeferLog() writes a defer logfile in
 * Postfix's format; setMode() marks a file (e.g. forced to expire).
 * The queue directories are created as Postfix's "postfix check" would.
 *
 * What it does not do: run any daemon, or compare outputs (the tests do).
 *
 * DIAGNOSTICS
 * Assertion errors when cleanup does not accept a message.
 */
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cleanupOpen } from '../../src/global/cleanup_clnt.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import { MAIL_QUEUE, queuePath, splitQueueNames, type QueueHashOptions } from '../../src/global/mail_queue.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import { makeOracleConfig, postfixIds, type MainSettings, type OracleConfig } from '../lib/postfix_oracle.js';

export const QUEUE_DIRS = ['maildrop', 'incoming', 'active', 'deferred', 'hold', 'corrupt', 'defer', 'bounce', 'trace', 'flush', 'saved', 'public', 'private', 'pid'];

export interface TestMessage {
  sender: string;
  recipients: string[];
  /** Body lines (headers are added). */
  body?: string[];
  /** Arrival time in seconds. */
  time?: number;
}

export interface TestQueue {
  oracle: OracleConfig;
  config: MailConfig;
  hash: QueueHashOptions;
  submit(m: TestMessage): Promise<string>;
  path(queue: string, id: string): string;
  moveTo(id: string, from: string, to: string): void;
  writeDeferLog(id: string, entries: Array<{ recipient: string; reason: string; status?: string }>): void;
  setMode(queue: string, id: string, mode: number): void;
  /** Gives the whole queue to the postfix account (the real daemons run as mail_owner). */
  chownToPostfix(): void;
  cleanup(): Promise<void>;
}

export async function makeTestQueue(main: MainSettings = {}, prefix = 'postern-pq-'): Promise<TestQueue> {
  const oracle = makeOracleConfig({
    prefix,
    main: { compatibility_level: '3.6', myhostname: 'oracle.example', mydomain: 'example', myorigin: 'origin.example', mydestination: '', ...main },
    queueDirs: QUEUE_DIRS,
    ownedDirs: ['data'],
  });
  chmodSync(oracle.root, 0o755);
  const config = loadMailConfig({ configDir: oracle.confDir });
  const hash = { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
  const svc = cleanupService(config, { triggerQmgr: false });
  const p = (queue: string, id: string): string => queuePath(oracle.queueDir, queue, id, hash);
  return {
    oracle,
    config,
    hash,
    path: p,
    async submit(m) {
      const r = await cleanupOpen({ queueDir: oracle.queueDir, flags: 0, endpoint: svc.endpoint(), timeoutMs: 5000 });
      if (!r.ok) assert.fail(r.reason);
      const s = r.session;
      s.record(REC_TYPE.TIME, `${m.time ?? 1764361000} 5`);
      s.record(REC_TYPE.ATTR, 'rewrite_context=local');
      s.record(REC_TYPE.FROM, m.sender);
      for (const rc of m.recipients) s.record(REC_TYPE.RCPT, rc);
      s.record(REC_TYPE.MESG, '');
      s.record(REC_TYPE.NORM, 'Received: by test.example (queue tool test)');
      s.record(REC_TYPE.NORM, 'Subject: queue tool test');
      s.record(REC_TYPE.NORM, 'Message-Id: <test@example.org>');
      s.record(REC_TYPE.NORM, 'Date: Sat, 28 Nov 2026 12:00:00 +0000');
      s.record(REC_TYPE.NORM, '');
      for (const line of m.body ?? ['hello']) s.record(REC_TYPE.NORM, line);
      s.record(REC_TYPE.XTRA, '');
      const reply = await s.end();
      assert.equal(reply.status, 0, `cleanup refused: ${reply.reason}`);
      return s.queueId;
    },
    moveTo(id, from, to) {
      const dst = p(to, id);
      mkdirSync(dirname(dst), { recursive: true });
      renameSync(p(from, id), dst);
    },
    writeDeferLog(id, entries) {
      const dst = p(MAIL_QUEUE.DEFER, id);
      mkdirSync(dirname(dst), { recursive: true });
      const text = entries
        .map((e) => `recipient=${e.recipient}\noffset=0\ndsn_orig_rcpt=\nnotify_flags=0\nstatus=${e.status ?? '4.4.1'}\naction=delayed\nreason=${e.reason}\n\n`)
        .join('');
      writeFileSync(dst, text, { mode: 0o600 });
    },
    setMode(queue, id, mode) {
      chmodSync(p(queue, id), mode);
    },
    chownToPostfix() {
      const { uid, gid } = postfixIds();
      const walk = (dir: string): void => {
        chownSync(dir, uid, gid);
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          if (e.isDirectory()) walk(join(dir, e.name));
          else chownSync(join(dir, e.name), uid, gid);
        }
      };
      walk(oracle.queueDir);
      // The real postsuper logs as mail_owner; it must be able to append to maillog_file.
      if (!existsSync(oracle.maillog)) writeFileSync(oracle.maillog, '', { mode: 0o600 });
      chownSync(oracle.maillog, uid, gid);
    },
    async cleanup() {
      await oracle.cleanup();
    },
  };
}
