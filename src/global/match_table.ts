/*
 * match_table - any lookup table in a pattern list (Postfix match_list's dict_open)
 *
 * What it does: registers, on import, an opener with src/util/match_list.ts
 * (setMatchTableOpener) so that a type:name entry of any list built with
 * matchListInit() (mynetworks, relay_domains, *_authorized_* lists,
 * masquerade_exceptions, authorized_submit_users, fast_flush_domains,
 * ...) is opened with dictOpen(), as Postfix's match_list does with
 * dict_open(): keys folded (DICT_FLAG_FOLD_FIX), the process-wide table
 * cache shared with every other user of the table. Lists are searched
 * synchronously, so a table answers through its Dict.lookupSync (inline,
 * static, texthash, regexp, pcre, cidr, lmdb, sqlite, ...). A lookup that
 * fails (DictError) throws MatchTableError; a table without lookupSync
 * (network tables, proxy:, and the surrogate of a table that could not be
 * opened) throws MatchTableWait in match() and is asked through
 * lookupAsync() by matchAsync(). Either way a failure sets the list's
 * `error` and the caller answers a temporary failure (smtpd: 451 4.3.0)
 * or gives up, as Postfix's MATCH_FLAG_RETURN callers do.
 * matchTableRegister(config) registers again with a configuration (its
 * smtputf8_enable, lmdb_map_size, queue_directory reach the tables).
 *
 * What it does not do: parse lists (match_list.ts) or match host names
 * and addresses (match_ops.ts); make callers that use the synchronous
 * match() wait for network tables (they must call matchAsync()).
 *
 * DIAGNOSTICS
 * A type name that cannot be a table type ("2001:db8::/32" in a list,
 * "INLINE:") is refused at list init time: "unsupported table type".
 * Lookup problems: "TYPE:NAME: table lookup problem: REASON" in the
 * list's error; a table type that cannot answer synchronously says
 * "TYPE:NAME: table is unavailable or cannot be searched without
 * waiting (type TYPE)".
 */
import { type MatchTable, MatchTableError, MatchTableWait, setMatchTableOpener } from '../util/match_list.js';
import { DictError } from './dict_base.js';
import { dictOpen } from './dict.js';
import type { MailConfig } from './mail_conf.js';

/** What a table type name looks like (lower case letters and digits, a letter first). */
const TABLE_TYPE_NAME = /^[a-z][a-z0-9_]*$/;

/** Open `typeAndName` for list `listName`; `fail` refuses it at init time. */
export function matchTableOpen(
  typeAndName: string,
  listName: string,
  fail: (why: string) => never,
  config?: MailConfig,
): MatchTable {
  const type = typeAndName.slice(0, typeAndName.indexOf(':'));
  if (!TABLE_TYPE_NAME.test(type)) fail(`unsupported table type "${type}" in "${typeAndName}"`);
  const dict = dictOpen(typeAndName, { config, owner: listName !== '' ? listName : undefined });
  const lookupSync = dict.lookupSync;
  return {
    typeName: dict.type,
    lookup(key: string): string | undefined {
      if (!lookupSync) {
        throw new MatchTableWait(
          `${typeAndName}: table is unavailable or cannot be searched without waiting (type ${dict.type})`);
      }
      try {
        return lookupSync.call(dict, key) ?? undefined;
      } catch (err) {
        if (err instanceof DictError) throw new MatchTableError(err.message);
        throw err;
      }
    },
    async lookupAsync(key: string): Promise<string | undefined> {
      try {
        return (await dict.lookup(key)) ?? undefined;
      } catch (err) {
        if (err instanceof DictError) throw new MatchTableError(err.message);
        throw err;
      }
    },
  };
}

/** Register the opener (again), with the configuration the tables should see. */
export function matchTableRegister(config?: MailConfig): void {
  setMatchTableOpener((typeAndName, listName, fail) => matchTableOpen(typeAndName, listName, fail, config));
}

matchTableRegister();
