/*
 * maildir - deliver one message into a Maildir (Postfix local/maildir.c, virtual/maildir.c)
 *
 * What it does: maildirDeliver() creates DIR/tmp/<time>.P<pid>Q<n>.<host>
 * exclusively (creating tmp/, new/ and cur/ with mode 0700 when they are
 * missing), lets the caller copy the message into it (normally
 * mailCopy() with MAIL_COPY.TOFILE, which fsyncs), links it to
 * DIR/new/<time>.V<dev>I<inode>M<usec>.<host> (the unique name of
 * Postfix and the Maildir specification), fsyncs new/ so the link is
 * durable, and removes the tmp/ name. maildirName() builds the names.
 *
 * What it does not do: change privileges (the caller runs it with the
 * recipient's rights), quotas, or Maildir++ folders.
 *
 * DIAGNOSTICS
 * Never throws: { ok: false, dsn } with Postfix's reason "create maildir
 * file PATH: ERR" (status per mbox_dsn, default 5.2.0; 4.3.0 for a full
 * disk), or the caller's copy DSN. A failed tmp/ unlink is a warning
 * "remove PATH: ERR".
 */
import { hostname } from 'node:os';
import { link, mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { strerror } from '../util/strerror.js';
import { msgWarn } from '../util/msg.js';
import { dsnMake, type Dsn } from './dsn.js';
import { FileSink, mboxDsnStatus } from './mail_copy.js';

export interface MaildirOptions {
  /** Host name in file names; default os.hostname(). '/' and ':' are escaped as \057 and \072. */
  hostname?: string;
  /** Status for unclassified errors, default "5.2.0". */
  defStatus?: string;
}

export type MaildirCopy = (out: FileSink) => Promise<{ ok: true } | { ok: false; dsn: Dsn }>;
export type MaildirResult = { ok: true; path: string } | { ok: false; dsn: Dsn };

let serial = 0;

/** A host name safe in a Maildir file name, as Postfix escapes it. */
export function maildirHost(name: string): string {
  return name.replace(/\//g, '\\057').replace(/:/g, '\\072');
}

export function maildirName(kind: 'tmp' | 'new', t: { sec: number; usec: number }, host: string, ids?: { dev: number; ino: number }): string {
  if (kind === 'tmp') return `${t.sec}.P${process.pid}Q${++serial}.${host}`;
  return `${t.sec}.V${ids!.dev.toString(16)}I${ids!.ino.toString(16)}M${t.usec}.${host}`;
}

async function makeDirs(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
}

export async function maildirDeliver(dir: string, copy: MaildirCopy, opts: MaildirOptions = {}): Promise<MaildirResult> {
  const def = opts.defStatus ?? '5.2.0';
  const base = dir.replace(/\/+$/, '');
  const tmpDir = `${base}/tmp`;
  const newDir = `${base}/new`;
  const curDir = `${base}/cur`;
  const host = maildirHost(opts.hostname ?? hostname());
  const nowMs = Date.now();
  const t = { sec: Math.floor(nowMs / 1000), usec: (nowMs % 1000) * 1000 + Math.floor(Math.random() * 1000) };
  const tmpFile = `${tmpDir}/${maildirName('tmp', t, host)}`;
  const fail = (e: unknown, path: string): MaildirResult => ({ ok: false, dsn: dsnMake(mboxDsnStatus(e, def), `create maildir file ${path}: ${strerror(e)}`) });

  let fh: FileHandle;
  try {
    fh = await open(tmpFile, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return fail(e, tmpFile);
    try {
      await makeDirs(tmpDir);
      fh = await open(tmpFile, 'wx', 0o600);
    } catch (e2) {
      return fail(e2, tmpFile);
    }
  }
  let result: MaildirResult;
  try {
    const st = await fh.stat();
    const newFile = `${newDir}/${maildirName('new', t, host, { dev: st.dev, ino: st.ino })}`;
    const copied = await copy(new FileSink(fh, 0));
    if (!copied.ok) {
      result = copied;
    } else {
      await fh.sync();
      result = await linkNew(tmpFile, newFile, newDir, curDir, fail);
    }
  } catch (e) {
    result = fail(e, tmpFile);
  } finally {
    await fh.close().catch(() => undefined);
  }
  await unlink(tmpFile).catch((e: unknown) => msgWarn(`remove ${tmpFile}: ${strerror(e)}`));
  return result;
}

async function linkNew(tmpFile: string, newFile: string, newDir: string, curDir: string, fail: (e: unknown, p: string) => MaildirResult): Promise<MaildirResult> {
  try {
    await link(tmpFile, newFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return fail(e, newFile);
    try {
      await makeDirs(curDir);
      await makeDirs(newDir);
      await link(tmpFile, newFile);
    } catch (e2) {
      return fail(e2, newFile);
    }
  }
  // The directory entry must be durable before the recipient is crossed off.
  try {
    const d = await open(newDir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (e) {
    await unlink(newFile).catch(() => undefined);
    return fail(e, newFile);
  }
  return { ok: true, path: newFile };
}
