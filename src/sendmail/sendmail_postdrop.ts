/*
 * sendmail_postdrop - run postdrop(1) as a child and hand it the submission (Postfix mail_stream_command)
 *
 * What it does: submitViaPostdrop() starts "node postdrop.js -r [-v...]"
 * with MAIL_CONFIG naming the configuration, reads its greeting (one
 * attribute list: protocol=postdrop_protocol and queue_id), writes the
 * records of sendmail_enqueue.ts to its standard input with
 * backpressure, closes it, and reads the status list (status, reason).
 * When sendmail must give up part way (no recipients, a bad header for
 * -t), it closes postdrop's input without the end record: postdrop then
 * removes its file, as with Postfix.
 *
 * What it does not do: decide what is written (sendmail_enqueue.ts) or
 * how a status is reported (sendmail.ts).
 *
 * DIAGNOSTICS
 * Returns { kind: 'fatal', status, text } with Postfix's wording: "S(U):
 * unable to execute CMD: ..." (69) when postdrop cannot start or sends
 * no greeting, "S(U): error writing queue file: ..." (75) when it goes
 * away while we write, or the EnqueueError text and status. A missing
 * status list counts as CLEANUP_STAT.WRITE (Postfix mail_stream_finish).
 */
import { spawn } from 'node:child_process';
import { CLEANUP_STAT } from '../global/cleanup_user.js';
import { CONF_ENV_PATH, type MailConfig } from '../global/mail_conf.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../global/mail_proto.js';
import { Attr0Decoder, isGroup, type Attr0Frame } from '../util/attr0.js';
import { EnqueueError, writeSubmission, type SubmissionOptions } from './sendmail_enqueue.js';
import { EX } from './sendmail_opts.js';

/** Bound on postdrop's greeting and on its final status. */
export const POSTDROP_REPLY_TIMEOUT_MS = 60_000;

export type SubmitResult = { kind: 'done'; queueId: string; status: number } | { kind: 'fatal'; status: number; text: string };

function attrValue(frame: Attr0Frame, name: string): string | undefined {
  for (const e of frame) if (!isGroup(e) && e.name === name) return e.value;
  return undefined;
}

export async function submitViaPostdrop(postdropModule: string, config: MailConfig, verbose: number, opts: SubmissionOptions): Promise<SubmitResult> {
  const command = `${postdropModule} -r${' -v'.repeat(verbose)}`;
  const child = spawn(process.execPath, [postdropModule, '-r', ...Array<string>(verbose).fill('-v')], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env, [CONF_ENV_PATH]: config.configDir },
  });
  const frames: Attr0Frame[] = [];
  let waiter: (() => void) | null = null;
  let closed = false;
  let spawnError: string | null = null;
  const decoder = new Attr0Decoder();
  const wake = (): void => {
    const w = waiter;
    waiter = null;
    w?.();
  };
  child.stdout.on('data', (chunk: Buffer) => {
    const r = decoder.push(chunk);
    frames.push(...r.frames);
    if (r.failure) closed = true;
    wake();
  });
  child.stdout.on('close', () => {
    closed = true;
    wake();
  });
  child.on('error', (err) => {
    spawnError = err.message;
    closed = true;
    wake();
  });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  child.stdin.on('error', () => {
    /* reported as a write error below */
  });
  const nextFrame = async (): Promise<Attr0Frame | null> => {
    const deadline = Date.now() + POSTDROP_REPLY_TIMEOUT_MS;
    while (frames.length === 0 && !closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        waiter = resolve;
        setTimeout(resolve, Math.max(1, deadline - Date.now())).unref();
      });
    }
    return frames.shift() ?? null;
  };

  const greeting = await nextFrame();
  const queueId = greeting ? attrValue(greeting, MAIL_ATTR.QUEUEID) : undefined;
  if (!greeting || attrValue(greeting, MAIL_ATTR.PROTO) !== MAIL_ATTR_PROTO.POSTDROP || queueId === undefined) {
    child.stdin.destroy();
    await Promise.race([exited, new Promise((r) => setTimeout(r, 1000).unref())]);
    return { kind: 'fatal', status: EX.UNAVAILABLE, text: `${opts.who}: unable to execute ${command}: ${spawnError ?? 'no greeting from postdrop'}` };
  }
  let writeFailed = false;
  const put = async (rec: Buffer): Promise<void> => {
    if (writeFailed) return;
    if (child.stdin.destroyed || !child.stdin.writable) {
      writeFailed = true;
      return;
    }
    if (!child.stdin.write(rec)) {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          child.stdin.off('drain', done);
          child.stdin.off('close', done);
          resolve();
        };
        child.stdin.once('drain', done);
        child.stdin.once('close', done);
      });
    }
  };
  try {
    await writeSubmission(process.stdin, put, opts);
  } catch (err) {
    child.stdin.end();
    await Promise.race([exited, new Promise((r) => setTimeout(r, POSTDROP_REPLY_TIMEOUT_MS).unref())]);
    if (err instanceof EnqueueError) return { kind: 'fatal', status: err.status, text: err.message };
    throw err;
  }
  await new Promise<void>((resolve) => child.stdin.end(() => resolve()));
  if (writeFailed) return { kind: 'fatal', status: EX.TEMPFAIL, text: `${opts.who}: error writing queue file: postdrop went away` };
  const reply = await nextFrame();
  await Promise.race([exited, new Promise((r) => setTimeout(r, POSTDROP_REPLY_TIMEOUT_MS).unref())]);
  const statusText = reply ? attrValue(reply, MAIL_ATTR.STATUS) : undefined;
  const status = statusText !== undefined && /^\d+$/.test(statusText) ? Number(statusText) : CLEANUP_STAT.WRITE;
  return { kind: 'done', queueId, status };
}
