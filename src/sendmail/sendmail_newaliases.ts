/*
 * sendmail_newaliases - newaliases, sendmail -bi and sendmail -I (Postfix sendmail.c SM_MODE_NEWALIAS)
 *
 * What it does: rebuilds every table named in alias_database (or the
 * -oA override) the way Postfix's sendmail does: when the list is empty
 * nothing happens (exit 0); otherwise it runs one postalias(1) with one
 * -v per sendmail -v and the tables as arguments (the list split at
 * commas and white space), and exits with postalias's status. Postfix
 * replaces itself with $command_directory/postalias; Postern runs its
 * own postalias (dist/src/postalias/postalias.js, found next to this
 * module) with node, standard streams inherited, MAIL_CONFIG set to the
 * configuration directory in use.
 *
 * What it does NOT do: parse aliases files (postalias does), or check
 * recipients on the command line (sendmail.ts refuses them first, with
 * Postfix's "alias initialization mode requires no recipient").
 *
 * DIAGNOSTICS
 * "sendmail: fatal: unable to execute PATH: REASON" when node cannot
 * run postalias; postalias prints its own diagnostics.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONF_ENV_PATH, type MailConfig } from '../global/mail_conf.js';
import { msgFatal } from '../util/msg.js';

/** Postern's postalias(1), relative to this module in dist/src/sendmail. */
export const POSTALIAS_MODULE = join(dirname(fileURLToPath(import.meta.url)), '..', 'postalias', 'postalias.js');

/** Postfix's CHARS_COMMA_SP: the separators of alias_database. */
const ALIAS_DB_SEPARATORS = /[, \t\r\n]+/;

/** The postalias command line newaliases runs (without the program itself). */
export function newaliasesArgs(aliasDatabase: string, verbose: number): string[] {
  const tables = aliasDatabase.split(ALIAS_DB_SEPARATORS).filter((t) => t !== '');
  return [...Array<string>(verbose).fill('-v'), ...tables];
}

/** newaliases: run postalias over alias_database; resolves postalias's exit status. */
export function runNewaliases(
  config: MailConfig,
  aliasDatabase: string | null,
  verbose: number,
  postaliasModule: string = POSTALIAS_MODULE,
): Promise<number> {
  const list = aliasDatabase ?? config.get('alias_database');
  const args = newaliasesArgs(list, verbose);
  if (args.length === verbose) return Promise.resolve(0);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [postaliasModule, ...args], {
      stdio: 'inherit',
      env: { ...process.env, [CONF_ENV_PATH]: config.configDir },
    });
    child.on('error', (err) => msgFatal(`unable to execute ${postaliasModule}: ${err.message}`));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}
