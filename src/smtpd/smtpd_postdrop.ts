/*
 * smtpd_postdrop - where a stand-alone session's mail goes (Postfix mail_stream_command("postdrop"))
 *
 * What it does: postdropOpen() starts postdrop(1) ("node postdrop.js -r"),
 * checks its greeting (protocol=postdrop_protocol plus the new queue
 * id) and returns a CleanupSession over the child's stdin/stdout: smtpd
 * then writes the same records it would send to cleanup, and end() reads
 * postdrop's status and reason. postdrop puts the message in the
 * maildrop queue, where pickup(8) finds it, so "sendmail -bs" works while
 * the mail system is down, as in Postfix.
 *
 * What it does not do: write the maildrop file itself.
 *
 * DIAGNOSTICS
 * { ok: false, reason } when postdrop cannot be started or does not
 * greet within the timeout.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { attr } from '../util/attr0_scan.js';
import { CleanupSession, type CleanupOpenResult } from '../global/cleanup_clnt.js';
import { openAttrStream } from '../global/ipc/attr_clnt.js';
import { defineProtocol } from '../global/ipc/protocol.js';
import { CONF_ENV_PATH, type MailConfig } from '../global/mail_conf.js';
import { MAIL_ATTR, MAIL_ATTR_PROTO } from '../global/mail_proto.js';

/** Bound on postdrop's greeting, each write and its final status. */
export const POSTDROP_TIMEOUT_MS = 60_000;

const POSTDROP_PROTOCOL = defineProtocol({
  name: MAIL_ATTR_PROTO.POSTDROP,
  greeting: { [MAIL_ATTR.QUEUEID]: attr.str({ maxBytes: 100 }) },
  request: {},
  reply: { [MAIL_ATTR.STATUS]: attr.int(), [MAIL_ATTR.WHY]: attr.str({ optional: true }) },
});

/** The postdrop program next to this one (dist/src/postdrop/postdrop.js). */
export function postdropModule(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'postdrop', 'postdrop.js');
}

/** Starts postdrop and returns a record session on it; see the header. */
export async function postdropOpen(config: MailConfig, timeoutMs = POSTDROP_TIMEOUT_MS): Promise<CleanupOpenResult> {
  const mod = postdropModule();
  const label = `${mod} -r`;
  const endpoint = {
    label,
    connect: (): Duplex => {
      const child = spawn(process.execPath, [mod, '-r'], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, [CONF_ENV_PATH]: config.configDir } });
      child.on('error', () => child.stdout.destroy());
      child.stdin.on('error', () => undefined);
      return Duplex.from({ readable: child.stdout, writable: child.stdin });
    },
  };
  const r = await openAttrStream(POSTDROP_PROTOCOL, endpoint, timeoutMs);
  if (!r.ok) return { ok: false, reason: r.message };
  const queueId = r.greeting?.[MAIL_ATTR.QUEUEID] ?? '';
  if (!queueId) {
    r.io.destroy();
    return { ok: false, reason: `${label}: empty queue_id in greeting` };
  }
  return { ok: true, session: new CleanupSession(r.io, queueId, label, timeoutMs) };
}
