/*
 * bounce_dsn_lib - a Postern mail-out corner (cleanup + bounce in this process) and DSN comparison helpers for the bounce tests
 *
 * What it does: makeOurBounce() lays out a queue directory and main.cf,
 * runs Postern's cleanup(8) and bounce(8) services in this process
 * (bounce submits its notifications to that cleanup, which does not
 * trigger qmgr), captures the log lines, and offers submit() (a message
 * into incoming/ through cleanupOpen, as sendmail would), queueFile() and
 * content() readers. dsnStructure() runs Python's email package
 * (src/bounce/testdata/dsn_structure.py) over a message and returns its
 * MIME structure; normalizeDsn() blanks what legitimately differs
 * between two runs (queue ids, dates, boundaries, Received: lines).
 *
 * What it does not do: run a real Postfix (the tests use
 * test/lib/postfix_oracle.ts) or start master.
 *
 * DIAGNOSTICS
 * Assertion errors naming what failed (cleanup refused, python failed).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bounceEndpoints } from '../../src/bounce/bounce.js';
import type { BounceContext } from '../../src/bounce/bounce_service.js';
import { cleanupService } from '../../src/cleanup/cleanup.js';
import type { BounceClientOptions } from '../../src/global/bounce_clnt.js';
import { cleanupOpen } from '../../src/global/cleanup_clnt.js';
import { CLEANUP_FLAG } from '../../src/global/cleanup_user.js';
import { mailDate } from '../../src/global/mail_date.js';
import { loadMailConfig, type MailConfig } from '../../src/global/mail_conf.js';
import { queueDirNames, queuePath, splitQueueNames } from '../../src/global/mail_queue.js';
import { type QueueFile, queueFileContent, readQueueFile } from '../../src/global/queue_file_read.js';
import { REC_TYPE } from '../../src/global/rec_type.js';
import { msgSetSinks } from '../../src/util/msg.js';
import { runProgram } from '../lib/paths.js';
import { srcPath } from '../lib/paths.js';
import { writeMainCf } from '../lib/postfix_oracle.js';

export const PYTHON = '/usr/bin/python3';

export interface OurBounce {
  root: string;
  queueDir: string;
  config: MailConfig;
  ctx: BounceContext;
  clientOpts: BounceClientOptions;
  logs: string[];
  submit(sender: string, rcpts: string[], lines: string[], attrs?: Record<string, string>): Promise<string>;
  queueFile(queue: string, id: string): QueueFile;
  content(queue: string, id: string): Buffer;
  /** New queue ids that the log names after "<what>: ". */
  notices(what: string): Array<{ orig: string; id: string }>;
  close(): void;
}

/** A Postern queue under root with cleanup and bounce in this process. main adds to the main.cf settings. */
export function makeOurBounce(root: string, main: Record<string, string>, now?: () => number): OurBounce {
  const queueDir = join(root, 'queue');
  for (const d of queueDirNames()) mkdirSync(join(queueDir, d), { recursive: true });
  writeMainCf(join(root, 'etc'), { queue_directory: queueDir, maillog_file: '', ...main });
  const config = loadMailConfig({ configDir: join(root, 'etc') });
  const cleanup = cleanupService(config, { triggerQmgr: false, fsync: false });
  const opts: Parameters<typeof bounceEndpoints>[1] = { cleanupEndpoint: cleanup.endpoint() };
  if (now) opts.now = now;
  const { ctx, endpoint } = bounceEndpoints(config, opts);
  const logs: string[] = [];
  msgSetSinks([{ write: (sev: string, text: string) => void logs.push(sev === 'info' ? text : `${sev}: ${text}`) }]);
  const hash = { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
  const queueFile = (queue: string, id: string): QueueFile => {
    const r = readQueueFile(queuePath(queueDir, queue, id, hash), { content: true });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    return r.file;
  };
  return {
    root,
    queueDir,
    config,
    ctx,
    clientOpts: { queueDir, endpoint, timeoutMs: 10_000 },
    logs,
    async submit(sender, rcpts, lines, attrs = {}) {
      const r = await cleanupOpen({ queueDir, flags: CLEANUP_FLAG.MASK_EXTERNAL, endpoint: cleanup.endpoint(), timeoutMs: 10_000 });
      assert.ok(r.ok, r.ok ? '' : r.reason);
      const s = r.session;
      s.record(REC_TYPE.TIME, `${Math.floor(Date.now() / 1000)} 0`);
      for (const [k, v] of Object.entries(attrs)) s.attr(k, v);
      s.record(REC_TYPE.FROM, sender);
      for (const rc of rcpts) s.record(REC_TYPE.RCPT, rc);
      s.record(REC_TYPE.MESG, '');
      s.record(REC_TYPE.NORM, `Received: by ${config.get('myhostname')} (Postern, from userid 0)`);
      s.record(REC_TYPE.NORM, `\tid ${s.queueId}; ${mailDate(Math.floor(Date.now() / 1000))}`);
      for (const l of lines) s.record(REC_TYPE.NORM, l);
      s.record(REC_TYPE.XTRA, '');
      const reply = await s.end();
      assert.equal(reply.status, 0, `cleanup refused the message: ${reply.reason}`);
      return s.queueId;
    },
    queueFile,
    content: (queue, id) => queueFileContent(queueFile(queue, id)),
    notices(what) {
      const out: Array<{ orig: string; id: string }> = [];
      const re = new RegExp(`^(\\w+): ${what}: (\\w+)$`);
      for (const l of logs) {
        const m = re.exec(l);
        if (m) out.push({ orig: m[1]!, id: m[2]! });
      }
      return out;
    },
    close() {
      msgSetSinks([]);
    },
  };
}

export interface DsnPart {
  content_type: string;
  params: Record<string, string>;
  description: string | null;
  cte: string | null;
  blocks?: Array<Array<[string, string]>>;
  inner_headers?: Array<[string, string]>;
  inner_body?: string;
  parts?: DsnPart[];
  lines?: string[];
}

export interface DsnStructure {
  headers: Array<[string, string]>;
  defects: string[];
  root: DsnPart;
}

/** Python's email package's view of messages, one python run for all of them (it starts slowly). */
export async function dsnStructures(dir: string, items: Array<{ name: string; message: Buffer | string }>): Promise<DsnStructure[]> {
  const files = items.map(({ name, message }) => {
    const file = join(dir, `${name}.eml`);
    writeFileSync(file, message);
    return file;
  });
  const r = await runProgram(PYTHON, [srcPath('src', 'bounce', 'testdata', 'dsn_structure.py'), ...files], { timeoutMs: 30_000 });
  assert.equal(r.status, 0, `python failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as DsnStructure[];
  assert.equal(out.length, items.length);
  return out;
}

/** Python's email package's view of one message. */
export async function dsnStructure(dir: string, name: string, message: Buffer | string): Promise<DsnStructure> {
  return (await dsnStructures(dir, [{ name, message }]))[0]!;
}

/** The headers a notification's comparison looks at. */
export const COMPARED_HEADERS = ['From', 'Subject', 'To', 'Auto-Submitted', 'MIME-Version', 'Content-Transfer-Encoding'];

/** Blanks what differs between two systems for the same failure: ids, dates, boundaries, trace headers. */
export function normalizeDsn(s: DsnStructure, ids: string[]): unknown {
  const blankIds = (v: string): string => ids.reduce((acc, id) => acc.split(id).join('QUEUEID'), v);
  const part = (p: DsnPart): unknown => {
    const params = { ...p.params };
    if (params.boundary) params.boundary = params.boundary.replace(/^\w+\.\d+\//, 'QUEUEID.TIME/');
    const out: Record<string, unknown> = { content_type: p.content_type, params, description: p.description, cte: p.cte };
    if (p.blocks) {
      out.blocks = p.blocks.map((b) =>
        b.map(([k, v]) => [k, /^(Arrival-Date|Will-Retry-Until)$/i.test(k) ? 'DATE' : blankIds(v)]),
      );
    }
    if (p.inner_headers) {
      const keep = ['Return-Path', 'Subject', 'Message-ID'];
      out.inner_headers = p.inner_headers.filter(([k]) => keep.some((x) => x.toLowerCase() === k.toLowerCase())).map(([k, v]) => [k.toLowerCase(), v]);
      out.inner_body = p.inner_body;
    }
    if (p.parts) out.parts = p.parts.map(part);
    if (p.lines) {
      out.lines = p.content_type === 'text/rfc822-headers'
        ? p.lines.filter((l) => /^(Return-Path|Subject|Message-ID):/i.test(l))
        : p.lines;
    }
    return out;
  };
  return {
    headers: s.headers.filter(([k]) => COMPARED_HEADERS.includes(k)).map(([k, v]) => [k, blankIds(v)]),
    defects: s.defects,
    root: part(s.root),
  };
}
