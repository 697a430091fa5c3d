/*
 * postconf_dbms - legacy database client parameters (Postfix postconf_dbms)
 *
 * What it does: scanDbmsReferences() looks for "type:name" table
 * references in an (expanded) parameter value, like postconf does for
 * ldap, mysql, pgsql, sqlite and memcache clients: "ldap:foo" makes
 * foo_server_host, foo_search_base, ... valid when main.cf sets them;
 * "ldap:/path/file.cf" reads that client file and reports its settings
 * that the client does not know. "proxy:" prefixes are skipped, and
 * "{...}" groups are scanned inside (not inside regexp/pcre inline tables).
 *
 * What it does not do: open the tables or validate their settings.
 *
 * DIAGNOSTICS
 * Warnings in postconf's words: 'open "ldap" configuration "/x": ...',
 * 'ldap:/x: unused parameter: name=value'.
 */
import { readFileSync, statSync } from 'node:fs';
import { parseMainCf } from '../global/mail_conf.js';
import { scanTableReferences } from '../global/mail_conf_user.js';
import { msgWarn } from '../util/msg.js';
import { strerror } from '../util/strerror.js';

/** State shared by one postconf run: client files are checked once. */
export class DbmsScanner {
  readonly #visited = new Set<string>();

  /** Passes each legacy client parameter name to flag, and checks each client file once. */
  scan(value: string, flag: (name: string) => void): void {
    scanTableReferences(value, flag, (type, file, suffixes) => this.#checkClientFile(type, file, suffixes));
  }

  #checkClientFile(type: string, file: string, suffixes: readonly string[]): void {
    const spec = `${type}:${file}`;
    if (this.#visited.has(spec)) return;
    this.#visited.add(spec);
    let text: string;
    try {
      if (!statSync(file).isFile()) {
        msgWarn(`open "${type}" configuration "${file}": not a regular file`);
        return;
      }
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EACCES') {
        msgWarn(`open "${type}" configuration "${file}": ${strerror(err)}`);
      }
      return;
    }
    let entries;
    try {
      const parsed = parseMainCf(text, file);
      for (const w of parsed.warnings) msgWarn(w);
      entries = parsed.entries;
    } catch (err) {
      msgWarn((err as Error).message);
      return;
    }
    const settings = new Map(entries.map((e) => [e.name, e.value] as [string, string]));
    for (const s of suffixes) settings.delete(s);
    for (const [name, value] of settings) msgWarn(`${spec}: unused parameter: ${name}=${value}`);
  }
}
