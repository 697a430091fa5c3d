/*
 * mail_open_ok - may this queue file be opened? (Postfix mail_open_ok.c)
 *
 * What it does: before pickup, qmgr or showq open a file found in a queue
 * directory, mailOpenOk() checks the queue name and ID syntax, that the
 * file exists and is a regular file, and that its owner bits are exactly
 * rwx (0700), which is how a writer marks a finished queue file. A file
 * still being written (0600) is skipped silently, like an odd file name.
 * Hard links are allowed (refusing them invites denial of service with a
 * writable maildrop); a link count above one that persists for more
 * than a minute is worth a warning.
 *
 * What it does not do: open or lock the file (so a race with a rename
 * is possible, as in Postfix), or check the owner.
 *
 * DIAGNOSTICS
 * Returns a verdict and the warnings to log (the caller logs them with
 * msgWarn, or msgInfo for the verbose-only one): a bad queue name, a
 * stat error other than "no such file", "not a regular file", and
 * "file has N links".
 */
import { lstatSync, type Stats } from 'node:fs';
import { mailQueueIdOk, mailQueueNameOk, queuePath, type QueueHashOptions } from './mail_queue.js';
import { strerror } from '../util/strerror.js';

/** How long a link count above one may last before it is worth a warning. */
export const MAIL_OPEN_LINK_GRACE_SECONDS = 60;
/** The owner bits of a finished queue file. */
const OWNER_BITS = 0o700;
const READY = 0o700;

export interface MailOpenVerdict {
  ok: boolean;
  path?: string;
  stat?: Stats;
  warnings: string[];
}

export function mailOpenOk(queueDir: string, queueName: string, queueId: string, hash: QueueHashOptions, nowSeconds = Date.now() / 1000): MailOpenVerdict {
  if (!mailQueueNameOk(queueName)) return { ok: false, warnings: [`bad mail queue name: ${queueName}`] };
  if (!mailQueueIdOk(queueId)) return { ok: false, warnings: [] };
  const path = queuePath(queueDir, queueName, queueId, hash);
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, path, warnings: code === 'ENOENT' ? [] : [`${path}: ${strerror(err)}`] };
  }
  if (!st.isFile()) return { ok: false, path, stat: st, warnings: [`${path}: uid ${st.uid}: not a regular file`] };
  if ((st.mode & OWNER_BITS) !== READY) return { ok: false, path, stat: st, warnings: [] };
  const warnings: string[] = [];
  if (st.nlink > 1 && st.ctimeMs / 1000 < nowSeconds - MAIL_OPEN_LINK_GRACE_SECONDS) {
    warnings.push(`${path}: uid ${st.uid}: file has ${st.nlink} links`);
  }
  return { ok: true, path, stat: st, warnings };
}
