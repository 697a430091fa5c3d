/*
 * match_list - generic list-based pattern matching (Postfix match_list.c)
 *
 * What it does: matchListInit() splits a pattern list on white space and
 * commas (a {...} group stays one word, as for inline:{ a=b, c=d }),
 * strips and counts leading '!' (each one flips the result), expands a
 * /file/name entry in place (one or more patterns a line, lines starting
 * with '#' skipped, the entry's negation applied to each pattern read),
 * opens type:table entries, and lower-cases plain patterns. match() then
 * tries the patterns in order, each against every input with the list's
 * match functions; the first hit decides (true, or false when negated);
 * no hit is false. Inputs are lower-cased before matching.
 *
 * Tables: inline:{ key=value ... } and static:value are read here (keys
 * case-folded). Every other type:name goes through the table opener that
 * src/global/match_table.ts registers with setMatchTableOpener() (util
 * cannot import the table layer); with none registered such an entry is
 * refused at init time with an "unsupported table type" error. Lists
 * stay synchronous: a table answers through MatchTable.lookup(), which
 * throws MatchTableError when the lookup cannot be done (a network
 * table, a table that could not be opened), and the list records that
 * in `error` as Postfix's MATCH_FLAG_RETURN does. matchAsync() is the
 * same search for callers that can wait: it also asks tables that answer
 * only asynchronously (MatchTable.lookupAsync), such as tcp: or proxy:.
 *
 * What it does not do: know what the patterns mean (the match functions
 * do: match_ops.ts), or decide whether an error is fatal: like Postfix's
 * MATCH_FLAG_RETURN, a failed lookup (a /file that could not be opened,
 * a network pattern that does not parse) makes match() return false and
 * sets `error`; the caller chooses between a temporary failure and
 * msgFatal().
 *
 * DIAGNOSTICS
 * matchListInit() throws MatchListError naming the list (and the file and
 * line for a pattern read from a /file): "no pattern after '!'",
 * "unsupported table type", a malformed inline table. A '#' after a
 * pattern on the same line is warned about and ends that line, as Postfix
 * does ("comment at end of line is not supported").
 */
import { readFileSync } from 'node:fs';
import { msgWarn } from './msg.js';

/** How a list matches host names against patterns (match_list.h). */
export const MATCH_FLAG = {
  NONE: 0,
  /** "example.com" also matches its subdomains (parent_domain_matches_subdomains). */
  PARENT: 1 << 0,
} as const;

/** Word separators of a pattern list, as Postfix's CHARS_COMMA_SP. */
export const MATCH_LIST_DELIMS = ' ,\t\r\n';
/** Deepest nesting of /file entries (a file naming itself must not loop). */
export const MATCH_LIST_MAX_FILE_DEPTH = 10;

export class MatchListError extends Error {
  constructor(
    message: string,
    readonly listName: string,
    readonly file?: string,
    readonly line?: number,
  ) {
    super(file ? `${listName}: ${file}, line ${line}: ${message}` : `${listName}: ${message}`);
    this.name = 'MatchListError';
  }
}

/**
 * A lookup table a pattern list can name; lookup() throws MatchTableError
 * on a lookup failure, or MatchTableWait when only lookupAsync() can answer.
 */
export interface MatchTable {
  readonly typeName: string;
  lookup(key: string): string | undefined;
  /** Tables that must wait (network, proxy:): the answer for matchAsync(); rejects with MatchTableError. */
  lookupAsync?(key: string): Promise<string | undefined>;
}

/** A match function: does `input` (lower-cased) match `pattern` (without '!')? */
export type MatchFunc = (list: MatchList, input: string, pattern: string) => boolean;

/** Postfix's MATCH_DICTIONARY(): a type:table entry, not an [ipv6] address. */
export function isTablePattern(pattern: string): boolean {
  return !pattern.startsWith('[') && pattern.includes(':');
}

/** Split on delimiters, keeping {...} groups (nested) inside one word. */
export function splitBraced(text: string, delims: string = MATCH_LIST_DELIMS): string[] {
  const words: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of text) {
    if (depth === 0 && delims.includes(ch)) {
      if (cur !== '') words.push(cur);
      cur = '';
      continue;
    }
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    cur += ch;
  }
  if (cur !== '') words.push(cur);
  return words;
}

/** Thrown by MatchTable.lookup() when a lookup cannot be done: the list records it in `error`. */
export class MatchTableError extends Error {}
const TableError = MatchTableError;

/** Thrown by MatchTable.lookup() of a table that can only answer through lookupAsync(). */
export class MatchTableWait extends MatchTableError {}

/** Most table lookups one matchAsync() waits for before giving up (each is one pass of match()). */
export const MATCH_ASYNC_MAX_WAITS = 64;

/** Opens a type:name table for a list (registered by src/global/match_table.ts). */
export type MatchTableOpener = (typeAndName: string, listName: string, fail: (why: string) => never) => MatchTable;

let registeredOpener: MatchTableOpener | null = null;

/** Register (or, with null, remove) the opener used for table types other than inline: and static:. */
export function setMatchTableOpener(opener: MatchTableOpener | null): void {
  registeredOpener = opener;
}

/** Is a table opener registered (any type:name can be used in lists)? */
export function hasMatchTableOpener(): boolean {
  return registeredOpener !== null;
}

/** A table standing in for a /file that could not be opened: every lookup fails. */
function surrogateTable(typeName: string, why: string): MatchTable {
  return {
    typeName,
    lookup() {
      throw new TableError(why);
    },
  };
}

/** Postfix's advice after an inline: syntax error. */
const INLINE_NEED = 'need "inline:{name=value...}"';

function inlineTable(spec: string, fail: (why: string) => never): MatchTable {
  const whole = `inline:${spec}`;
  const items = spec.startsWith('{') && spec.endsWith('}') ? splitBraced(spec.slice(1, -1)) : [];
  if (items.length === 0) fail(`bad syntax: "${whole}"; ${INLINE_NEED}`);
  const entries = new Map<string, string>();
  for (let item of items) {
    if (item.startsWith('{')) {
      if (!item.endsWith('}')) fail(`bad syntax: "${whole}"; ${INLINE_NEED}`);
      item = item.slice(1, -1).trim();
    }
    const eq = item.indexOf('=');
    if (eq < 0) fail(`missing '=' after attribute name: "${whole}"; ${INLINE_NEED}`);
    // An empty key is accepted, as postmap -q 'inline:{=v}' shows.
    entries.set(item.slice(0, eq).trim().toLowerCase(), item.slice(eq + 1).trim());
  }
  return { typeName: 'inline', lookup: (key) => entries.get(key.toLowerCase()) };
}

/** Open a type:table entry: inline: and static: here, others through the registered opener. */
export function openMatchTable(typeAndName: string, fail: (why: string) => never, listName = ''): MatchTable {
  const colon = typeAndName.indexOf(':');
  // Table types are case-sensitive, as in Postfix ("INLINE:" is unknown).
  const type = typeAndName.slice(0, colon);
  const name = typeAndName.slice(colon + 1);
  if (type === '' || name === '') fail(`open dictionary: expecting "type:name" form instead of "${typeAndName}"`);
  switch (type) {
    case 'inline':
      return inlineTable(name, fail);
    case 'static': {
      const value = name.startsWith('{') && name.endsWith('}') ? name.slice(1, -1).trim() : name;
      return { typeName: 'static', lookup: () => value };
    }
    default:
      if (registeredOpener !== null) return registeredOpener(typeAndName, listName, fail);
      return fail(`unsupported table type "${type}" in "${typeAndName}" (no table opener registered: only inline: and static: are available)`);
  }
}

export class MatchList {
  /** Patterns in order, each with its '!' prefix (one, or none) and lower-cased unless a table. */
  readonly patterns: string[] = [];
  /** Open tables, by pattern text without '!'. */
  readonly tables = new Map<string, MatchTable>();
  /** Set by match() when a lookup failed; cleared at the start of each match(). */
  error: string | null = null;

  constructor(
    readonly name: string,
    readonly flags: number,
    readonly funcs: readonly MatchFunc[],
  ) {}

  /** During one synchronous pass of matchAsync(): answers already waited for, by pattern NUL key. */
  #answers: Map<string, string | null> | null = null;
  /** Set by tableLookup() during matchAsync() when a table must be waited for. */
  #wait: { pattern: string; key: string; table: MatchTable } | null = null;

  /** Look up a key in a table pattern; a failure sets `error` and counts as no match. */
  tableLookup(pattern: string, key: string): string | undefined {
    const table = this.tables.get(pattern);
    if (!table) throw new Error(`${this.name}: table ${pattern} was never opened`);
    const answers = this.#answers;
    if (answers !== null) {
      const known = answers.get(`${pattern}\0${key}`);
      if (known !== undefined) return known ?? undefined;
    }
    try {
      return table.lookup(key);
    } catch (e) {
      if (!(e instanceof TableError)) throw e;
      if (e instanceof MatchTableWait && answers !== null && table.lookupAsync) this.#wait = { pattern, key, table };
      this.error = `${this.name}: ${pattern}: table lookup problem: ${e.message}`;
      return undefined;
    }
  }

  /**
   * match() for callers that can wait: tables that answer only
   * asynchronously (network tables, proxy:) are asked too. Each pass runs
   * match(); when it stops at such a table, the lookup is awaited, its
   * answer remembered for this call only, and match() runs again, at most
   * MATCH_ASYNC_MAX_WAITS times. Concurrent calls share nothing but the
   * result of `error`, which each call sets before it resolves.
   */
  async matchAsync(...inputs: string[]): Promise<boolean> {
    const answers = new Map<string, string | null>();
    for (let pass = 0; pass <= MATCH_ASYNC_MAX_WAITS; pass++) {
      // One synchronous pass: nothing else runs between these statements.
      this.#answers = answers;
      this.#wait = null;
      let result: boolean;
      try {
        result = this.match(...inputs);
      } finally {
        this.#answers = null;
      }
      const wait = this.#wait as { pattern: string; key: string; table: MatchTable } | null;
      this.#wait = null;
      if (wait === null) return result;
      if (pass === MATCH_ASYNC_MAX_WAITS) break;
      try {
        answers.set(`${wait.pattern}\0${wait.key}`, (await wait.table.lookupAsync!(wait.key)) ?? null);
      } catch (e) {
        if (!(e instanceof TableError)) throw e;
        this.error = `${this.name}: ${wait.pattern}: table lookup problem: ${e.message}`;
        return false;
      }
    }
    this.error = `${this.name}: more than ${MATCH_ASYNC_MAX_WAITS} table lookups in one match`;
    return false;
  }

  /** Record a pattern that cannot be used (e.g. a bad network pattern). */
  setError(why: string): void {
    this.error = `${this.name}: ${why}`;
  }

  /**
   * Match inputs (one per match function, e.g. host name and address)
   * against the patterns: the first hit decides. After false, check
   * `error`: a lookup failure ended the search.
   */
  match(...inputs: string[]): boolean {
    this.error = null;
    for (const entry of this.patterns) {
      let matched = true;
      let pat = entry;
      while (pat.startsWith('!')) {
        matched = !matched;
        pat = pat.slice(1);
      }
      for (let i = 0; i < this.funcs.length; i++) {
        const input = (inputs[i] ?? '').toLowerCase();
        if (this.funcs[i]!(this, input, pat)) return matched;
        if (this.error !== null) return false;
      }
    }
    return false;
  }
}

interface ParseWhere {
  file?: string;
  line?: number;
  depth: number;
}

function parseInto(list: MatchList, text: string, initMatch: boolean, where: ParseWhere): void {
  const fail = (why: string): never => {
    throw new MatchListError(why, list.name, where.file, where.line);
  };
  const words = splitBraced(text);
  for (let w = 0; w < words.length; w++) {
    const start = words[w]!;
    if (start.startsWith('#')) {
      msgWarn(`${list.name}: comment at end of line is not supported: ${words.slice(w).join(' ')}`);
      break;
    }
    let match = initMatch;
    let item = start;
    while (item.startsWith('!')) {
      match = !match;
      item = item.slice(1);
    }
    if (item === '') fail("no pattern after '!'");
    const bang = match ? '' : '!';
    if (item.startsWith('/')) {
      let content: string;
      try {
        content = readFileSync(item, 'utf8');
      } catch (e) {
        // Postfix keeps going with a table that fails every lookup.
        const key = `nofile:${item}`;
        const why = `open file ${item}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`;
        if (!list.tables.has(key)) list.tables.set(key, surrogateTable('nofile', why));
        list.patterns.push(`${bang}${key}`);
        continue;
      }
      if (where.depth >= MATCH_LIST_MAX_FILE_DEPTH) fail(`${item}: /file entries nested too deeply`);
      const lines = content.split('\n');
      lines.forEach((line, i) => {
        if (line.startsWith('#')) return;
        parseInto(list, line, match, { file: item, line: i + 1, depth: where.depth + 1 });
      });
    } else if (isTablePattern(item)) {
      if (!list.tables.has(item)) list.tables.set(item, openMatchTable(item, fail, list.name));
      list.patterns.push(`${bang}${item}`);
    } else {
      list.patterns.push(`${bang}${item.toLowerCase()}`);
    }
  }
}

/**
 * Build a list from pattern text (already $-expanded). `name` names the
 * list in messages (the parameter name, e.g. "mynetworks").
 */
export function matchListInit(name: string, flags: number, patterns: string, funcs: readonly MatchFunc[]): MatchList {
  const list = new MatchList(name, flags, funcs);
  parseInto(list, patterns, true, { depth: 0 });
  return list;
}
