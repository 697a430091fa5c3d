/*
 * qmgr - the queue manager daemon (Postfix qmgr(8))
 *
 * What it does: runs as master.cf's "qmgr unix n - n 300 1 qmgr", a
 * resident trigger server: after start-up it moves left-over active
 * files back to incoming and starts the incoming and deferred scans
 * (qmgr_loop.ts); each trigger from cleanup, postqueue, sendmail -q,
 * flush or master's wakeup timer is handed to the running QmgrDaemon.
 * Messages flow incoming/deferred → active → delivery agents over
 * private/<transport> → removed, deferred (with backoff) or bounced.
 *
 * What it does not do: schedule (qmgr_sched.ts), deliver (the agents),
 * or write bounce notifications (bounce(8)).
 *
 * DIAGNOSTICS
 * Fatal for command-line arguments in master.cf (Postfix: "unexpected
 * command-line argument"); everything else is logged by the modules.
 */
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal } from '../util/msg.js';
import { triggerServerMain } from '../master/mail_server.js';
import { QmgrDaemon } from './qmgr_loop.js';

export { QmgrDaemon, type QmgrDaemonOptions } from './qmgr_loop.js';
export { parseQmgrTrigger } from './qmgr_trigger.js';

export async function main(argv: string[]): Promise<number> {
  let daemon: QmgrDaemon | null = null;
  return triggerServerMain(argv, {
    programName: 'qmgr',
    resident: true,
    async postInit(ctx) {
      if (ctx.args.length > 0) msgFatal(`unexpected command-line argument: ${ctx.args[0]}`);
      daemon = new QmgrDaemon({ config: ctx.config });
      await daemon.start();
    },
    service(data) {
      daemon?.trigger(data);
    },
    onExit() {
      daemon?.stop();
    },
  });
}

if (isMainModule(import.meta.url)) runMain(main);
