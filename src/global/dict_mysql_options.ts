/*
 * dict_mysql_options - the MySQL option file a mysql: table names (option_file, option_group)
 *
 * What it does: mysqlReadOptionFile() reads a my.cnf-style file
 * ("[group]" headers, "name = value" or "name" lines, '#' and ';'
 * comments, optional quotes around values, '_' and '-' alike in names)
 * and returns the settings of the [client] group followed by those of
 * the named group (later ones win), as the client library does with
 * MYSQL_READ_DEFAULT_FILE and MYSQL_READ_DEFAULT_GROUP. The connection
 * uses socket, port, default-character-set, connect-timeout and the
 * ssl-ca/ssl-cert/ssl-key/ssl-cipher settings from it.
 *
 * What it does not do: follow !include/!includedir, or read the
 * system's default option files when no option_file is set.
 *
 * DIAGNOSTICS
 * An option file that cannot be read is fatal, as Postfix's client
 * library open fails the table: "open FILE: REASON".
 */
import { readFileSync } from 'node:fs';
import { msgFatal } from '../util/msg.js';

/** The group the client library always reads. */
export const MYSQL_CLIENT_GROUP = 'client';

/** Settings by name ('-' form: "default-character-set"). */
export type MysqlOptions = Readonly<Record<string, string>>;

/** Reads [client] then [group] of FILE. */
export function mysqlReadOptionFile(path: string, group: string): MysqlOptions {
  let text: string;
  try {
    text = readFileSync(path, 'latin1');
  } catch (err) {
    return msgFatal(`open ${path}: ${(err as Error).message}`);
  }
  return mysqlParseOptions(text, group);
}

/** The parser behind mysqlReadOptionFile (exported for tests). */
export function mysqlParseOptions(text: string, group: string): MysqlOptions {
  const wanted = new Set([MYSQL_CLIENT_GROUP, group].filter((g) => g !== ''));
  const byGroup = new Map<string, Record<string, string>>();
  let current: string | null = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';') || line.startsWith('!')) continue;
    const header = /^\[\s*([^\]]*?)\s*\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    if (current === null || !wanted.has(current)) continue;
    const eq = line.indexOf('=');
    const name = (eq < 0 ? line : line.slice(0, eq)).trim().replace(/_/g, '-').toLowerCase();
    let value = eq < 0 ? '' : line.slice(eq + 1).trim();
    const quoted = /^(["'])(.*)\1$/.exec(value);
    if (quoted) value = quoted[2]!;
    else value = value.replace(/\s+#.*$/, '');
    let g = byGroup.get(current);
    if (!g) byGroup.set(current, (g = {}));
    g[name] = value;
  }
  return { ...byGroup.get(MYSQL_CLIENT_GROUP), ...(group !== MYSQL_CLIENT_GROUP ? byGroup.get(group) : {}) };
}
