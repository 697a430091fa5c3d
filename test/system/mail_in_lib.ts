/*
 * mail_in_lib - what the mail-in system tests share: distinct test
 * messages, and reading what a Postern instance put in its incoming queue
 *
 * What it does: startMailIn() starts an instance with the mail-in
 * services; testMessage(s, m) builds a message whose body is unique
 * to (s, m) and exercises the data path (long lines, lines that start
 * with a dot, empty lines, 8-bit text); bodyHash() hashes a body with
 * LF line ends; queuedId() takes the queue id out of a "250 2.0.0 Ok:
 * queued as ID" reply; incomingMessages() reads every complete queue
 * file under incoming/ with the queue file reader and gives its id,
 * envelope and body hash.
 *
 * What it does not do: start instances or judge results (tests do).
 *
 * DIAGNOSTICS
 * incomingMessages() throws naming a queue file that does not parse.
 */
import { createHash } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { queueFileContent, readQueueFile } from '../../src/global/queue_file_read.js';
import { MAIL_IN_SERVICES, PosternInstance } from '../lib/instance.js';

/** A started Postern instance taking mail in on the picked port "smtp" (no client name lookups). */
export async function startMailIn(prefix: string): Promise<PosternInstance> {
  const inst = await PosternInstance.create({
    prefix,
    masterLines: [...MAIL_IN_SERVICES],
    main: { smtpd_peername_lookup: 'no' },
    ports: ['smtp'],
  });
  await inst.start();
  return inst;
}

/** A message unique to session s, number m: header, empty line, body (CRLF line ends as sent). */
export function testMessage(s: number, m: number): { text: string; body: string } {
  const tag = `s${s}-m${m}`;
  const bodyLines = [
    `body of ${tag}`,
    '.a line that starts with a dot',
    '',
    'x'.repeat(100 + ((s * 31 + m * 7) % 900)) + ` ${tag}`,
    `caf\u00e9 ${tag}`,
    '..two dots',
    `end ${tag}`,
  ];
  const header = [`From: a@example.com`, `To: b@example.net`, `Subject: test ${tag}`, `Message-ID: <${tag}@test.example>`, `Date: Sat, 28 Nov 2026 12:00:00 +0000`];
  const body = bodyLines.join('\n') + '\n';
  return { text: `${header.join('\r\n')}\r\n\r\n${bodyLines.join('\r\n')}\r\n`, body };
}

export function bodyHash(body: string | Buffer): string {
  return createHash('sha256').update(body).digest('hex');
}

/** The queue id in a "250 2.0.0 Ok: queued as ID" reply, or null. */
export function queuedId(reply: string): string | null {
  return /queued as ([0-9A-Za-z]+)/.exec(reply)?.[1] ?? null;
}

export interface IncomingMessage {
  queueId: string;
  path: string;
  /** Mode has the owner-execute bit: cleanup finished it. */
  complete: boolean;
  sender?: string;
  recipients: string[];
  subject: string | null;
  bodyHash: string;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** Every file under queueDir/incoming; complete ones are parsed (throws when one does not parse). */
export function incomingMessages(queueDir: string): IncomingMessage[] {
  const out: IncomingMessage[] = [];
  for (const path of filesUnder(join(queueDir, 'incoming'))) {
    const complete = (statSync(path).mode & 0o100) !== 0;
    if (!complete) {
      out.push({ queueId: basename(path), path, complete, recipients: [], subject: null, bodyHash: '' });
      continue;
    }
    const r = readQueueFile(path, { content: true });
    if (!r.ok) throw new Error(`unreadable queue file: ${r.error.message}`);
    const text = queueFileContent(r.file).toString('utf8');
    const split = text.indexOf('\n\n');
    const head = split < 0 ? text : text.slice(0, split + 1);
    const body = split < 0 ? '' : text.slice(split + 2);
    out.push({
      queueId: basename(path),
      path,
      complete,
      sender: r.file.sender,
      recipients: r.file.recipients.map((x) => x.address),
      subject: /^Subject: (.*)$/m.exec(head)?.[1] ?? null,
      bodyHash: bodyHash(body),
    });
  }
  return out;
}
