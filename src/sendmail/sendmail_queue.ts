/*
 * sendmail_queue - the queue modes of sendmail(1): -bp (mailq), -q, -qR site, -qI queue_id
 *
 * What it does: as Postfix's sendmail, these modes run postqueue(1) in
 * place of sendmail: -bp and the mailq name run "postqueue -p", -q runs
 * "postqueue -f", -qRsite runs "postqueue -s site", -qIid runs "postqueue
 * -i id", each with one -v per sendmail -v. postqueue gets sendmail's
 * standard streams and the configuration directory (MAIL_CONFIG), and
 * its exit status becomes sendmail's (Postfix execs it).
 *
 * What it does not do: list or flush the queue itself, or check the
 * arguments (postqueue does both, with its own messages).
 *
 * DIAGNOSTICS
 * "unable to execute ..." (fatal, EX_OSERR style) when postqueue cannot
 * be started.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONF_ENV_PATH, type MailConfig } from '../global/mail_conf.js';
import { msgFatal } from '../util/msg.js';

/** dist/src/postqueue/postqueue.js beside this program. */
export function postqueueModule(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', 'postqueue', 'postqueue.js');
}

/** The postqueue arguments for a sendmail queue mode. */
export function postqueueArgs(mode: { kind: 'list' } | { kind: 'flush' } | { kind: 'site'; site: string } | { kind: 'id'; id: string }, verbose: number): string[] {
  const base = mode.kind === 'list' ? ['-p'] : mode.kind === 'flush' ? ['-f'] : mode.kind === 'site' ? ['-s', mode.site] : ['-i', mode.id];
  return [...base, ...Array<string>(verbose).fill('-v')];
}

/** Runs postqueue with our standard streams; resolves its exit status. */
export function runPostqueue(args: string[], config: MailConfig): Promise<number> {
  return new Promise((resolve) => {
    const mod = postqueueModule();
    const child = spawn(process.execPath, [mod, ...args], { stdio: 'inherit', env: { ...process.env, [CONF_ENV_PATH]: config.configDir } });
    child.on('error', (err) => msgFatal(`unable to execute ${mod}: ${err.message}`));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
