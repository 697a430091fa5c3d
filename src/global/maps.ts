/*
 * maps - search a list of lookup tables (Postfix maps)
 *
 * What it does: a Maps is built from a parameter's expanded value (a
 * comma/space separated list of "type:name" tables, braces kept
 * together as Postfix's mystrtokq does) and opens each table through
 * dictOpen() (shared per process). find() asks each table in order
 * and returns the first result. As Postfix's maps_find(): an empty key
 * is never looked up (not found); the first table that fails stops the
 * search and find() rejects with its DictError (after "warning:
 * TYPE:NAME lookup error for \"KEY\""); a table that answers an empty
 * string is a configuration error, reported and turned into a DictError.
 * findFixed() skips pattern tables (Postfix's DICT_FLAG_FIXED selection
 * for partial keys, used by mail_addr_find).
 *
 * What it does not do: derive partial keys from addresses
 * (mail_addr_find.ts) or expand $names in the list (the caller passes
 * MailConfig.get()'s value).
 *
 * DIAGNOSTICS
 * Warnings as above; find() rejects with DictError.
 */
import { msgWarn } from '../util/msg.js';
import { type Dict, DictError } from './dict_base.js';
import { dictOpen } from './dict.js';
import type { MailConfig } from './mail_conf.js';
import { tokenizeBraced } from './dict_syntax.js';

export interface MapsOptions {
  config?: MailConfig;
  /** Default true: lowercase fixed-key lookups (DICT_FLAG_FOLD_FIX). */
  fold?: boolean;
  /** See DictOpenOptions.utf8 (default: same as fold). */
  utf8?: boolean;
  /** See DictOpenOptions.noRegsub. */
  noRegsub?: boolean;
}

export class Maps {
  /** The parameter name, for messages (Postfix's maps->title). */
  readonly title: string;
  readonly dicts: readonly Dict[];

  constructor(paramName: string, value: string, opts: MapsOptions = {}) {
    this.title = paramName;
    this.dicts = tokenizeBraced(value).map((spec) =>
      dictOpen(spec, { config: opts.config, fold: opts.fold ?? true, utf8: opts.utf8, noRegsub: opts.noRegsub, owner: paramName }),
    );
  }

  get empty(): boolean {
    return this.dicts.length === 0;
  }

  /** First table with a result wins; rejects with the first table error. */
  find(key: string): Promise<string | null> {
    return this.#find(key, false);
  }

  /** As find(), skipping pattern tables (partial keys). */
  findFixed(key: string): Promise<string | null> {
    return this.#find(key, true);
  }

  async #find(key: string, fixedOnly: boolean): Promise<string | null> {
    if (key === '') return null;
    for (const dict of this.dicts) {
      if (fixedOnly && dict.pattern) continue;
      let result: string | null;
      try {
        result = await dict.lookup(key);
      } catch (err) {
        msgWarn(`${dict.spec} lookup error for "${key}"`);
        if (err instanceof DictError) throw err;
        throw new DictError(dict.spec, `${dict.spec} lookup error: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (result === null) continue;
      if (result === '') {
        msgWarn(`${this.title} lookup of ${key} returns an empty string result`);
        msgWarn(`${this.title} should return NO RESULT in case of NOT FOUND`);
        throw new DictError(dict.spec, `${this.title}: ${dict.spec} returns an empty string result for ${key}`);
      }
      return result;
    }
    return null;
  }
}
