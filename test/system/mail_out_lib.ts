/*
 * mail_out_lib - what the mail-out system tests share: a whole Postern
 * system that relays to a Postfix smtp-sink, and reading what is left in
 * its queues
 *
 * What it does: startMailOut() starts a PosternInstance with every
 * service (MAIL_OUT_SERVICES) whose main.cf relays all non-local mail to
 * the given sink through relayhost, with short queue timers so tests of
 * deferral and expiry run in seconds; queueFiles() lists the message
 * files left in the queues a message lives in (incoming, active,
 * deferred, hold); sinkByMessageId() indexes what a sink received by its
 * Message-ID header; logLines() filters the maillog.
 *
 * What it does not do: judge results (tests do) or start the sink.
 *
 * DIAGNOSTICS
 * Throws what PosternInstance.create()/start() throw.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { MAIL_OUT_SERVICES, PosternInstance } from '../lib/instance.js';
import type { SinkMessage } from '../lib/peers.js';

/** Queues that hold messages (not logs). */
export const MESSAGE_QUEUES = ['incoming', 'active', 'deferred', 'hold'] as const;

/** main.cf settings every mail-out test gets: fast timers, relaying to the sink by address (no DNS). */
export function mailOutMain(sinkAddress: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    smtpd_peername_lookup: 'no',
    mynetworks: '127.0.0.0/8',
    relayhost: `[${sinkAddress.replace(/:(\d+)$/, ']:$1')}`,
    queue_run_delay: '1s',
    minimal_backoff_time: '2s',
    maximal_backoff_time: '4s',
    ...extra,
  };
}

export async function startMailOut(prefix: string, sinkAddress: string, extra: Record<string, string> = {}, files: Record<string, string> = {}): Promise<PosternInstance> {
  const inst = await PosternInstance.create({
    prefix,
    files,
    masterLines: [...MAIL_OUT_SERVICES],
    main: mailOutMain(sinkAddress, extra),
    ports: ['smtp'],
  });
  await inst.start();
  return inst;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/**
 * An instance (not started) whose local(8) delivers to mbox files under
 * ROOT/spool and reads its aliases from ROOT/aliases (hash:, built by the
 * caller with sendmail -bi); local.test is a local domain.
 */
export async function createLocalAliasInstance(prefix: string, sinkAddress: string, aliases: string): Promise<PosternInstance> {
  const inst = await PosternInstance.create({
    prefix,
    files: { aliases },
    masterLines: [...MAIL_OUT_SERVICES],
    main: mailOutMain(sinkAddress, {
      mydestination: '$myhostname, local.test',
      alias_maps: 'hash:${root}/aliases',
      alias_database: 'hash:${root}/aliases',
      mail_spool_directory: '${root}/spool',
      mailbox_delivery_lock: 'dotlock',
      local_recipient_maps: '',
    }),
    ports: ['smtp'],
  });
  chmodSync(inst.root, 0o755);
  mkdirSync(join(inst.root, 'spool'));
  chmodSync(join(inst.root, 'spool'), 0o1777);
  return inst;
}

/** Message files left in queueDir's message queues, by queue. */
export function queueFiles(queueDir: string): Record<(typeof MESSAGE_QUEUES)[number], string[]> {
  const out = {} as Record<(typeof MESSAGE_QUEUES)[number], string[]>;
  for (const q of MESSAGE_QUEUES) out[q] = filesUnder(join(queueDir, q));
  return out;
}

/** How many message files the queues hold; with readyOnly, only finished ones (mode u+x, as Postfix marks them). */
export function queuedCount(queueDir: string, readyOnly = false): number {
  const all = Object.values(queueFiles(queueDir)).flat();
  return readyOnly ? all.filter((p) => (statSync(p, { throwIfNoEntry: false })?.mode ?? 0) & 0o100).length : all.length;
}

/** The sink's messages by their Message-ID header (several when it arrived more than once). */
export function sinkByMessageId(messages: SinkMessage[]): Map<string, SinkMessage[]> {
  const out = new Map<string, SinkMessage[]>();
  for (const m of messages) {
    const id = /^Message-ID:\s*(\S+)/im.exec(m.content)?.[1] ?? '';
    const list = out.get(id) ?? [];
    list.push(m);
    out.set(id, list);
  }
  return out;
}

/** Maillog lines of one program ("qmgr", "smtp", ...) that match re. */
export function logLines(inst: PosternInstance, program: string, re: RegExp): string[] {
  return inst
    .log()
    .split('\n')
    .filter((l) => l.includes(`postfix/${program}[`) && re.test(l));
}
