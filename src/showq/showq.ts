/*
 * showq - list the mail queue (Postfix showq(8))
 *
 * What it does: serves public/$showq_service_name. Each client gets
 * Postfix 3.7's mail_queue_list_protocol, byte for byte: the announcement
 * protocol=mail_queue_list_protocol, then for every ready queue file in
 * maildrop, active, incoming, deferred and hold (in that order; maildrop
 * flat, the others through their hashed subdirectories, each directory
 * in the order readdir returns it, as Postfix) one attribute list made by
 * showq_report.ts, and finally an empty list. A real postqueue can read
 * it, and Postern's postqueue reads a real showq. With -S (stand-alone,
 * as "postqueue -p" runs it when the mail system is down and the caller
 * is root) it writes the same stream to standard output, configured from
 * MAIL_CONFIG. The client sends nothing.
 *
 * What it does not do: take command-line arguments (a fatal error, as
 * Postfix), report maildrop files it cannot read, or sort anything.
 *
 * DIAGNOSTICS
 * Warnings as Postfix: "readdir loop on queue Q id ID", "open Q ID: ...",
 * mail_open_ok() warnings, and those of showq_report.ts. A client that
 * goes away ends the listing quietly.
 */
import { opendirSync, type Dir } from 'node:fs';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { loadMailConfig, CONF_ENV_PATH, type MailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { mailOpenOk } from '../global/mail_open_ok.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../global/mail_proto.js';
import { MAIL_QUEUE, queuePath, splitQueueNames, type QueueHashOptions } from '../global/mail_queue.js';
import { singleServerMain, type StreamServerOptions } from '../master/mail_server.js';
import { encodeAttr0 } from '../util/attr0.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgSetVerbose, msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';
import { showqReport, type ShowqSettings } from './showq_report.js';

/** The queues showq lists, in Postfix's order; maildrop is not hashed. */
export const SHOWQ_QUEUES: ReadonlyArray<{ name: string; recursive: boolean }> = [
  { name: MAIL_QUEUE.MAILDROP, recursive: false },
  { name: MAIL_QUEUE.ACTIVE, recursive: true },
  { name: MAIL_QUEUE.INCOMING, recursive: true },
  { name: MAIL_QUEUE.DEFERRED, recursive: true },
  { name: MAIL_QUEUE.HOLD, recursive: true },
];

/** Bound on the hashed directory nesting followed by the scan. */
export const SHOWQ_MAX_SCAN_DEPTH = 16;

/**
 * Names in a queue directory, in readdir order, descending into
 * one-character subdirectories when `recursive` (Postfix mail_scan_dir_next).
 */
export function* scanQueueDir(dir: string, recursive: boolean, depth = 0, label = dir): Generator<string> {
  let d: Dir;
  try {
    d = opendirSync(dir);
  } catch (err) {
    msgFatal(`open directory ${label}: ${strerror(err)}`);
  }
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) {
      if (recursive && e.name.length === 1) {
        if (depth < SHOWQ_MAX_SCAN_DEPTH) yield* scanQueueDir(join(dir, e.name), true, depth + 1, `${label}/${e.name}`);
        continue;
      }
      yield e.name;
    }
  } finally {
    d.closeSync();
  }
}

export function showqSettings(config: MailConfig): ShowqSettings {
  return {
    emptyAddr: config.get('empty_address_recipient'),
    dupFilterLimit: config.getInt('duplicate_filter_limit'),
    utf8: config.getBool('smtputf8_enable'),
  };
}

export function queueHashOptions(config: MailConfig): QueueHashOptions {
  return { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
}

/** Writes a chunk, waiting for the stream to drain; false when the client is gone. */
function put(out: Writable, bytes: Buffer): Promise<boolean> {
  if (bytes.length === 0) return Promise.resolve(!out.destroyed);
  if (out.destroyed || out.writableEnded) return Promise.resolve(false);
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      out.off('error', onError);
      out.off('close', onClose);
      resolve(ok);
    };
    const onError = (): void => done(false);
    const onClose = (): void => done(false);
    out.on('error', onError);
    out.on('close', onClose);
    const flushed = out.write(bytes, (err) => {
      if (err) done(false);
    });
    if (flushed) done(true);
    else out.once('drain', () => done(true));
  });
}

/** Streams the whole listing to `out` (Postfix showq_service). */
export async function showqService(out: Writable, config: MailConfig): Promise<void> {
  const queueDir = config.get('queue_directory');
  const hash = queueHashOptions(config);
  const settings = showqSettings(config);
  if (!(await put(out, encodeAttr0([{ name: MAIL_ATTR.PROTO, value: MAIL_ATTR_PROTO.SHOWQ }])))) return;
  for (const q of SHOWQ_QUEUES) {
    let savedId: string | null = null;
    for (const id of scanQueueDir(join(queueDir, q.name), q.recursive, 0, q.name)) {
      if (savedId === id) {
        msgWarn(`readdir loop on queue ${q.name} id ${id}`);
        break;
      }
      savedId = id;
      const verdict = mailOpenOk(queueDir, q.name, id, hash);
      for (const w of verdict.warnings) msgWarn(w);
      if (!verdict.ok || !verdict.stat || !verdict.path) continue;
      const r = showqReport(
        {
          queueName: q.name,
          queueId: id,
          path: verdict.path,
          size: verdict.stat.size,
          mtimeSec: Math.floor(verdict.stat.mtimeMs / 1000),
          mode: verdict.stat.mode,
          deferLogPath: queuePath(queueDir, MAIL_QUEUE.DEFER, id, hash),
        },
        settings,
      );
      for (const w of r.warnings) msgWarn(w);
      if (!(await put(out, r.bytes))) return;
    }
  }
  await put(out, encodeAttr0([]));
}

/** Stand-alone mode (-S): the listing on standard output. */
async function standAlone(argv: string[]): Promise<number> {
  let verbose = 0;
  for (const a of argv) {
    if (a === '-v') verbose++;
    else if (a !== '-S' && a !== '-u') msgFatal(`unexpected command-line argument: ${a}`);
  }
  msgSetVerbose(verbose);
  const config = loadMailConfig({ configDir: process.env[CONF_ENV_PATH] });
  initMailLogFromConfig(config, 'showq');
  // A reader that goes away early ends the listing quietly (put() sees the error).
  process.stdout.on('error', () => undefined);
  await showqService(process.stdout, config);
  return 0;
}

/** The daemon as the server skeleton runs it (exported for in-process tests). */
export const SHOWQ_SERVER: StreamServerOptions = {
  programName: 'showq',
  preInit(ctx) {
    if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
  },
  async service(stream, ctx) {
    // The client sends nothing; anything it does send is ignored.
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    await showqService(stream, ctx.config);
    await new Promise<void>((resolve) => (stream.writable ? stream.end(() => resolve()) : resolve()));
  },
};

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('-S')) return standAlone(argv);
  return singleServerMain(argv, SHOWQ_SERVER);
}

if (isMainModule(import.meta.url)) runMain(main);
