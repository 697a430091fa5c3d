/*
 * smtpd_cleanup_colocate - run the cleanup(8) service inside smtpd's process
 *
 * What it does: colocatedCleanup(config) looks up the service that
 * cleanup_service_name names in master.cf. When it is a unix service
 * that runs the cleanup program, smtpd runs that service itself: the
 * same cleanup code, with main.cf plus that entry's -o settings (not
 * smtpd's), logging as "SYSLOG_NAME/cleanup". Each message then skips a
 * UNIX socket connection, master's process hand-over and a second
 * process's event loop; the queue file, its fsync before the reply,
 * every record and every log line are the same (DESIGN.md allows
 * co-location when measurement shows the hop costs more than it
 * protects: it cost about a quarter of the CPU of accepting a message).
 *
 * When master.cf has no such entry, or the entry runs another command,
 * smtpd connects to queue_directory/public/NAME as Postfix's smtpd does.
 *
 * What it does not do: enforce the cleanup entry's maxproc (each smtpd
 * session holds at most one cleanup request at a time), or co-locate
 * cleanup with the other programs that submit mail (pickup, qmqpd,
 * bounce, sendmail's postdrop): they still connect to the service.
 *
 * DIAGNOSTICS
 * None of its own: an unreadable master.cf means the socket is used (and
 * master reports the file); cleanup's own diagnostics as in cleanup(8).
 */
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import { readMasterCf, type MasterEntry } from '../global/master_cf.js';
import { cleanupService } from '../cleanup/cleanup.js';
import { cleanupLogTag } from '../cleanup/cleanup_log.js';

/** The command column that names Postern's (and Postfix's) cleanup program. */
export const CLEANUP_COMMAND = 'cleanup';

/** The master.cf entry of a unix service running cleanup, or null. */
function cleanupEntry(configDir: string, serviceName: string): MasterEntry | null {
  let entries: MasterEntry[];
  try {
    entries = readMasterCf(configDir, { warn: () => undefined });
  } catch {
    return null;
  }
  return entries.find((e) => e.service === serviceName && e.type === 'unix' && e.command === CLEANUP_COMMAND) ?? null;
}

/** An in-process endpoint for smtpd's cleanup service, or null to use the socket. */
export function colocatedCleanup(config: MailConfig): Endpoint | null {
  const entry = cleanupEntry(config.configDir, config.get('cleanup_service_name'));
  if (!entry) return null;
  const overrides: Record<string, string> = {};
  for (const o of entry.overrides) overrides[o.name] = o.value;
  const cleanupConfig = loadMailConfig({ configDir: config.configDir, overrides });
  cleanupLogTag(`${cleanupConfig.get('syslog_name')}/${CLEANUP_COMMAND}`);
  return cleanupService(cleanupConfig).endpoint();
}
