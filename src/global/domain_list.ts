/*
 * domain_list - string and domain lists whose entries may be lookup tables (Postfix string_list, domain_list)
 *
 * What it does: DomainList holds a parameter's pattern list (mydestination,
 * relay_domains, virtual_alias_domains, ...): words split on white space
 * and commas ({...} kept whole), '!' negation, /file/name entries read
 * in place (one or more patterns a line, '#' lines skipped), type:table
 * entries opened with D's dictOpen (any type it knows: inline:, texthash:,
 * regexp:, ...), plain words lower-cased. match(input) tries the patterns
 * in order; the first hit decides (false when negated). The "string"
 * style (Postfix string_list: mydestination, virtual_*_domains) compares
 * the whole lower-cased input and looks the whole input up in a table.
 * The "domain" style (Postfix domain_list / match_hostname: relay_domains)
 * also matches subdomains: with the parent flag (parent_domain_matches_subdomains
 * lists the parameter) "example.com" matches "x.example.com" and tables
 * are searched with "x.example.com", "example.com", "com"; without it only
 * ".example.com" patterns match subdomains and tables are searched with
 * "x.example.com", ".example.com", ".com".
 *
 * matchSync(input) is the same search without waiting, for callers that
 * cannot wait (resolve_local.ts resolveLocal): tables answer through an
 * optional Dict.lookupSync, or (inline:, static:) through util's
 * match_list reader; null means a table could only answer asynchronously.
 *
 * What it does not do: host address patterns (namadr_list.ts), or decide
 * what a lookup failure means: match() rejects with DictError (or the
 * DictError-like failure for an unreadable /file) and the caller turns it
 * into a temporary failure, as Postfix's MATCH_FLAG_RETURN callers do.
 *
 * DIAGNOSTICS
 * A /file that cannot be read makes every match() that reaches it reject
 * with DictError naming the file; "no pattern after '!'" likewise.
 */
import { readFileSync } from 'node:fs';
import { openMatchTable, splitBraced } from '../util/match_list.js';
import { msgWarn } from '../util/msg.js';
import { type Dict, DictError, dictOpen } from './dict.js';
import type { MailConfig } from './mail_conf.js';
import { matchParentStyle, VAR_PAR_DOM_MATCH } from './namadr_list.js';

/** Deepest nesting of /file entries. */
export const DOMAIN_LIST_MAX_FILE_DEPTH = 10;

type Entry =
  | { negate: boolean; kind: 'word'; word: string }
  | { negate: boolean; kind: 'table'; dict: Dict }
  | { negate: boolean; kind: 'error'; why: string; table: string };

export type ListStyle = 'string' | 'domain';

/** A Dict that may also answer without waiting (optional; see matchSync). */
type SyncCapableDict = Dict & { lookupSync?: (key: string) => string | null };

/** Table types that src/util/match_list.ts can read without waiting. */
const SYNC_READABLE_TYPES: readonly string[] = ['inline', 'static'];

/** Does a table pattern look like "type:name" (and not an [ipv6] literal)? */
function isTable(word: string): boolean {
  return !word.startsWith('[') && word.includes(':');
}

export class DomainList {
  readonly entries: Entry[] = [];

  constructor(
    readonly name: string,
    readonly style: ListStyle,
    readonly parent: boolean,
    patterns: string,
    config?: MailConfig,
  ) {
    this.#parse(patterns, false, 0, config);
  }

  get empty(): boolean {
    return this.entries.length === 0;
  }

  #parse(text: string, negated: boolean, depth: number, config: MailConfig | undefined): void {
    const words = splitBraced(text);
    for (let w = 0; w < words.length; w++) {
      let item = words[w]!;
      if (item.startsWith('#') && depth > 0) break;
      let negate = negated;
      while (item.startsWith('!')) {
        negate = !negate;
        item = item.slice(1);
      }
      if (item === '') {
        this.entries.push({ negate, kind: 'error', why: `${this.name}: no pattern after '!'`, table: this.name });
        continue;
      }
      if (item.startsWith('/')) {
        let content: string;
        try {
          content = readFileSync(item, 'utf8');
        } catch (e) {
          const why = `${this.name}: open file ${item}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
          msgWarn(why);
          this.entries.push({ negate, kind: 'error', why, table: item });
          continue;
        }
        if (depth >= DOMAIN_LIST_MAX_FILE_DEPTH) {
          this.entries.push({ negate, kind: 'error', why: `${this.name}: ${item}: /file entries nested too deeply`, table: item });
          continue;
        }
        for (const line of content.split('\n')) {
          if (line.startsWith('#')) continue;
          this.#parse(line, negate, depth + 1, config);
        }
      } else if (isTable(item)) {
        this.entries.push({ negate, kind: 'table', dict: dictOpen(item, { config, owner: this.name }) });
      } else {
        this.entries.push({ negate, kind: 'word', word: item.toLowerCase() });
      }
    }
  }

  /** The first pattern that matches decides; rejects with DictError on a lookup failure. */
  async match(input: string): Promise<boolean> {
    const name = input.toLowerCase();
    for (const e of this.entries) {
      if (await this.#matchOne(e, name)) return !e.negate;
    }
    return false;
  }

  /**
   * The same search without waiting, for tables that can answer at once
   * (a Dict with a lookupSync method, as in-memory tables may offer):
   * true/false, or null when a table on the way can only answer
   * asynchronously. Throws DictError where match() rejects.
   */
  matchSync(input: string): boolean | null {
    const name = input.toLowerCase();
    for (const e of this.entries) {
      const hit = this.#matchOneSync(e, name);
      if (hit === null) return null;
      if (hit) return !e.negate;
    }
    return false;
  }

  #matchOneSync(e: Entry, name: string): boolean | null {
    if (e.kind === 'error') throw new DictError(e.table, e.why);
    if (e.kind === 'word') return this.#matchWord(e.word, name);
    const look = this.#syncLookup(e.dict);
    if (look === null) return null;
    if (this.style === 'string') return look(name);
    for (const key of this.#tableKeys(name)) if (look(key)) return true;
    return false;
  }

  readonly #syncTables = new Map<Dict, ((key: string) => boolean) | null>();

  /** A synchronous lookup for a table: its lookupSync, or util's inline:/static: reader; null if none. */
  #syncLookup(dict: Dict): ((key: string) => boolean) | null {
    if (this.#syncTables.has(dict)) return this.#syncTables.get(dict)!;
    let fn: ((key: string) => boolean) | null = null;
    const lookupSync = (dict as SyncCapableDict).lookupSync;
    if (typeof lookupSync === 'function') {
      fn = (key) => lookupSync.call(dict, key) !== null;
    } else if (SYNC_READABLE_TYPES.includes(dict.type)) {
      try {
        const table = openMatchTable(dict.spec, (why) => {
          throw new DictError(dict.spec, why);
        });
        fn = (key) => table.lookup(key) !== undefined;
      } catch (err) {
        if (!(err instanceof DictError)) throw err;
        fn = () => {
          throw err;
        };
      }
    }
    this.#syncTables.set(dict, fn);
    return fn;
  }

  /** The keys a domain-style table search tries, most specific first. */
  #tableKeys(name: string): string[] {
    const keys: string[] = [];
    let entry = name;
    while (entry !== '') {
      keys.push(entry);
      const dot = entry.indexOf('.', 1);
      if (dot < 0) break;
      entry = entry.slice(this.parent ? dot + 1 : dot);
    }
    return keys;
  }

  #matchWord(pattern: string, name: string): boolean {
    if (name === pattern) return true;
    if (this.style === 'string') return false;
    const pd = name.length - pattern.length;
    if (this.parent) return pd > 0 && name[pd - 1] === '.' && name.slice(pd) === pattern;
    return pattern.startsWith('.') && pd > 0 && name.slice(pd) === pattern;
  }

  async #matchOne(e: Entry, name: string): Promise<boolean> {
    if (e.kind === 'error') throw new DictError(e.table, e.why);
    if (e.kind === 'word') return this.#matchWord(e.word, name);
    if (this.style === 'string') return (await e.dict.lookup(name)) !== null;
    for (const key of this.#tableKeys(name)) if ((await e.dict.lookup(key)) !== null) return true;
    return false;
  }
}

/** A string list from parameter `param` (mydestination, virtual_alias_domains, ...). */
export function stringListFromConfig(config: MailConfig, param: string): DomainList {
  return new DomainList(param, 'string', false, config.get(param), config);
}

/** A domain list from parameter `param`, parent style from parent_domain_matches_subdomains. */
export function domainListFromConfig(config: MailConfig, param: string): DomainList {
  const parent = matchParentStyle(param, config.get(VAR_PAR_DOM_MATCH)) !== 0;
  return new DomainList(param, 'domain', parent, config.get(param), config);
}
