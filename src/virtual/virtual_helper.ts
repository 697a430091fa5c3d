/*
 * virtual_helper - store one message into a mailbox as the mailbox owner (helper of virtual(8))
 *
 * What it does: virtual(8) starts this program with the recipient's
 * uid/gid (child_process.spawn uid/gid: the kernel identity, nothing to
 * escape from) when virtual(8) runs as root, because Node.js cannot
 * switch the effective uid of one operation the way Postfix's
 * set_eugid() does. It gets a JSON description of the target as its one
 * argument (mailbox path, lock style, owner check, size limit, the hex
 * end marker), reads the whole message from stdin (at most the size
 * limit plus MARKER bytes), checks that the input ends with the marker,
 * stores it with storeInProcess() (the same code virtual(8) runs when no
 * identity change is needed), and writes the StoreResult as one JSON
 * line on stdout.
 *
 * What it does not do: read the queue file, look anything up, log to
 * the mail log (it has no configuration), or report delivery status.
 *
 * DIAGNOSTICS
 * Always answers JSON when it can: an input without the marker is
 * { ok: false, dsn 4.3.0 "incomplete message copy" }; exit status 1 with
 * a text on stderr for a malformed argument.
 */
import { Writable } from 'node:stream';
import { dsnMake } from '../global/dsn.js';
import { FileSink, MAIL_COPY_STAT, mboxDsnStatus, type MailCopyResult } from '../global/mail_copy.js';
import { strerror } from '../util/strerror.js';
import { isMainModule } from '../util/main_module.js';
import { type StoreResult, STORE_MARKER_BYTES, storeInProcess } from './virtual_store.js';

/** Room for the headers the agent adds in front of the message (Return-Path:, Delivered-To:, X-Original-To:, From_). */
export const HELPER_HEADER_SLACK = 64 * 1024;

interface HelperSpec {
  mailbox: string;
  uid: number;
  lockStyle: string;
  strictOwner: boolean;
  recipient: string;
  limit: number;
  marker: string;
}

function parseSpec(text: string | undefined): HelperSpec | null {
  if (text === undefined) return null;
  try {
    const s = JSON.parse(text) as HelperSpec;
    if (typeof s.mailbox !== 'string' || !s.mailbox.startsWith('/')) return null;
    if (typeof s.marker !== 'string' || s.marker.length !== STORE_MARKER_BYTES * 2) return null;
    if (typeof s.uid !== 'number' || typeof s.limit !== 'number' || typeof s.lockStyle !== 'string') return null;
    return s;
  } catch {
    return null;
  }
}

async function readInput(max: number): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let len = 0;
  // Past the limit the rest is drained, not kept: the writer must not see a broken pipe.
  for await (const chunk of process.stdin) {
    const b = chunk as Buffer;
    len += b.length;
    if (len <= max) parts.push(b);
  }
  return len > max ? null : Buffer.concat(parts);
}

export async function helperMain(argv: string[]): Promise<number> {
  const spec = parseSpec(argv[0]);
  if (spec === null) {
    process.stderr.write('virtual_helper: bad or missing target description\n');
    return 1;
  }
  const max = (spec.limit > 0 ? spec.limit : Number.MAX_SAFE_INTEGER - HELPER_HEADER_SLACK) + HELPER_HEADER_SLACK + STORE_MARKER_BYTES;
  const input = await readInput(max);
  const marker = Buffer.from(spec.marker, 'hex');
  let result: StoreResult;
  if (input === null) {
    result = { ok: false, dsn: dsnMake('5.2.2', 'error writing message: File too large'), corrupt: false };
  } else if (input.length < marker.length || !input.subarray(input.length - marker.length).equals(marker)) {
    result = { ok: false, dsn: dsnMake('4.3.0', 'incomplete message copy'), corrupt: false };
  } else {
    const body = input.subarray(0, input.length - marker.length);
    result = await storeInProcess(
      { mailbox: spec.mailbox, uid: spec.uid, gid: -1, lockStyle: spec.lockStyle, strictOwner: spec.strictOwner, recipient: spec.recipient, sizeLimit: spec.limit },
      (out: Writable) => writeAll(out, body),
    );
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}

/** mailCopy's result shape for a plain buffer copy (fsync'd when out is a file). */
async function writeAll(out: Writable, body: Buffer): Promise<MailCopyResult> {
  try {
    await new Promise<void>((resolve, reject) => out.write(body, (e) => (e ? reject(e) : resolve())));
    if (out instanceof FileSink) await out.handle.sync();
    return { ok: true, bytes: body.length };
  } catch (e) {
    if (out instanceof FileSink) await out.handle.truncate(out.startPosition).catch(() => undefined);
    return { ok: false, stat: MAIL_COPY_STAT.WRITE, dsn: dsnMake(mboxDsnStatus(e, '5.3.0'), `error writing message: ${strerror(e)}`) };
  }
}

if (isMainModule(import.meta.url)) {
  helperMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`virtual_helper: ${String((e as Error)?.stack ?? e)}\n`);
      process.exit(1);
    },
  );
}
