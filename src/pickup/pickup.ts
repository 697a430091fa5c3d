/*
 * pickup - local mail pickup (Postfix pickup(8))
 *
 * What it does: a trigger server (master.cf "pickup unix n - n 60 1
 * pickup": private=n so that postdrop can wake it, wakeup 60 seconds,
 * one process). On every trigger (postdrop's wakeup, master's timer,
 * sendmail -q) it scans queue_directory/maildrop: each file that
 * mailOpenOk() accepts (a queue ID name, a regular file, owner bits
 * 0700 = finished by postdrop; files still being written are skipped)
 * goes to cleanup(8) through pickup_file.ts, and is removed only after
 * cleanup replied OK, or when it is bad for good (malformed, no sender,
 * refused by cleanup as BAD/RCPT): Postfix removes such files with a
 * warning rather than moving them to corrupt, and so do we. The scan
 * repeats while it removed files (new mail may have come meanwhile).
 * pickupScan() is the same work for in-process tests.
 *
 * What it does not do: take command-line arguments (fatal, as Postfix),
 * lock maildrop files (there is one pickup process), or wait for a
 * cleanup service that is down: the file stays and the next wakeup
 * tries again (Postfix blocks in mail_connect_wait instead).
 *
 * DIAGNOSTICS
 * pickup_file.ts's warnings; "remove PATH: ERROR"; mailOpenOk()'s
 * warnings for odd directory entries.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Endpoint } from '../global/ipc/attr_clnt.js';
import type { MailConfig } from '../global/mail_conf.js';
import { MAIL_QUEUE, splitQueueNames } from '../global/mail_queue.js';
import { mailOpenOk } from '../global/mail_open_ok.js';
import { triggerServerMain } from '../master/mail_server.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgVerbose, msgWarn } from '../util/msg.js';
import { PICKUP_ACTION, pickupFile } from './pickup_file.js';

/** Full passes over maildrop in one trigger, at most (each pass must have removed a file). */
export const PICKUP_MAX_PASSES = 1000;

export interface PickupScanOptions {
  cleanupEndpoint?: Endpoint;
  signal?: AbortSignal;
}

/** One trigger's work: scan maildrop until a pass removes nothing. Returns files removed. */
export async function pickupScan(config: MailConfig, opts: PickupScanOptions = {}): Promise<number> {
  const queueDir = config.get('queue_directory');
  const hash = { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
  const dir = join(queueDir, MAIL_QUEUE.MAILDROP);
  let total = 0;
  for (let pass = 0; pass < PICKUP_MAX_PASSES; pass++) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (err) {
      msgWarn(`scan_dir_open ${dir}: ${(err as Error).message}`);
      return total;
    }
    let removed = 0;
    for (const id of names) {
      if (opts.signal?.aborted) return total;
      const v = mailOpenOk(queueDir, MAIL_QUEUE.MAILDROP, id, hash);
      for (const w of v.warnings) msgWarn(w);
      if (!v.ok || !v.path) continue;
      const action = await pickupFile(v.path, { config, queueDir, cleanupEndpoint: opts.cleanupEndpoint });
      if (action === PICKUP_ACTION.REMOVE) {
        try {
          unlinkSync(v.path);
          removed++;
          msgVerbose(`pickup: removed ${v.path}`);
        } catch (err) {
          msgWarn(`remove ${v.path}: ${(err as Error).message}`);
        }
      }
    }
    total += removed;
    if (removed === 0) break;
  }
  return total;
}

export async function main(argv: string[]): Promise<number> {
  return triggerServerMain(argv, {
    programName: 'pickup',
    preInit(ctx) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
    },
    async service(_data, ctx) {
      await pickupScan(ctx.config, { signal: ctx.signal });
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
