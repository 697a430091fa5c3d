/*
 * postconf_params - postconf's name space: built-in, service and user parameters
 *
 * What it does: PcfParams holds what one postconf run knows: the main.cf
 * settings (config_directory first, then main.cf, then -o overrides, as
 * Postfix's CONFIG_DICT), the built-in parameters from the table, the
 * per-service names that master.cf services create, and the user-defined
 * names (a name=value in main.cf or master.cf that some value references
 * as $name, or that smtpd_restriction_classes lists). It computes the
 * host-dependent defaults against main.cf (myhostname from mydomain and
 * back, mynetworks from mynetworks_style), looks values up and expands
 * them as postconf -x does. Legacy database client names (ldap:name
 * makes name_server_host valid) come from postconf_dbms.ts.
 *
 * What it does not do: print (postconf_show.ts), or edit files.
 *
 * DIAGNOSTICS
 * Warnings in postconf's words: "read-only parameter assignment",
 * "undefined parameter", "unused parameter". Macro syntax errors print
 * mac_expand's warning and are fatal ("macro processing error").
 */
import { MAIN_CONF_FILE, type MainCfEntry } from '../global/mail_conf.js';
import { expandMacros } from '../global/mail_conf_expand.js';
import { scanUserParameters } from '../global/mail_conf_user.js';
import {
  MAIL_PARAMS,
  defaultMydomain,
  defaultMyhostname,
  defaultMynetworks,
  serviceParameters,
  type ServiceRef,
} from '../global/mail_params.js';
import { msgFatal, msgWarn } from '../util/msg.js';
import { DbmsScanner } from './postconf_dbms.js';

export type ParamClass = 'builtin' | 'service' | 'user';

export interface PcfParam {
  name: string;
  cls: ParamClass;
  defaultValue: string;
  raw: boolean;
}

/** Parameters that main.cf cannot set (postconf's ad-hoc built-ins). */
export const READONLY_PARAMS: ReadonlySet<string> = new Set(['process_id', 'process_name', 'service_name']);

/** What postconf needs from one master.cf entry. */
export interface PcfService extends ServiceRef {
  overrides: Array<{ name: string; value: string }>;
}

export class PcfParams {
  readonly table = new Map<string, PcfParam>();
  /** Settings in CONFIG_DICT order; null with -d (main.cf not read). */
  readonly dict: Map<string, string> | null;
  readonly #defaultCache = new Map<string, string>();

  constructor(
    readonly configDir: string,
    entries: MainCfEntry[] | null,
    overrides: Record<string, string>,
    readonly services: PcfService[],
  ) {
    if (entries === null) {
      this.dict = null;
    } else {
      this.dict = new Map([['config_directory', configDir]]);
      for (const e of entries) this.dict.set(e.name, e.value);
      for (const [k, v] of Object.entries(overrides)) this.dict.set(k, v);
    }
    for (const spec of MAIL_PARAMS.values()) {
      this.table.set(spec.name, { name: spec.name, cls: 'builtin', defaultValue: spec.defaultValue, raw: spec.type === 'raw' });
    }
    for (const spec of serviceParameters(services).values()) {
      this.table.set(spec.name, { name: spec.name, cls: 'service', defaultValue: spec.defaultValue, raw: false });
    }
  }

  /** The default, with host-dependent ones computed against main.cf. */
  defaultOf(p: PcfParam): string {
    const cached = this.#defaultCache.get(p.name);
    if (cached !== undefined) return cached;
    let v = p.defaultValue;
    if (this.dict !== null) {
      if (p.name === 'myhostname') v = defaultMyhostname(this.evalSetting('mydomain'));
      else if (p.name === 'mydomain') {
        const host = this.evalSetting('myhostname');
        v = defaultMydomain(host ?? defaultMyhostname(this.evalSetting('mydomain')));
      } else if (p.name === 'mynetworks') {
        const get = (n: string) => this.expand(this.lookup(n, { defaults: false, nonDefault: false }) ?? '', { defaults: false });
        v = defaultMynetworks(get('mynetworks_style'), get('inet_interfaces'), get('inet_protocols'));
      }
    }
    this.#defaultCache.set(p.name, v);
    return v;
  }

  /** A main.cf setting expanded against main.cf only (mail_conf_lookup_eval). */
  evalSetting(name: string): string | undefined {
    const v = this.dict?.get(name);
    if (v === undefined) return undefined;
    const r = expandMacros(v, (n) => this.dict?.get(n), { recurse: true });
    return r.value;
  }

  /** The value postconf shows: the setting, else (unless -n) the default. */
  lookup(name: string, opts: { defaults: boolean; nonDefault: boolean }): string | undefined {
    const p = this.table.get(name);
    if (!p) return undefined;
    if (!opts.defaults && this.dict !== null) {
      const v = this.dict.get(name);
      if (v !== undefined) return v;
    }
    if (opts.nonDefault && !opts.defaults) return undefined;
    return this.defaultOf(p);
  }

  /** postconf -x: recursive expansion over known parameters. Fatal on a syntax error. */
  expand(value: string, opts: { defaults: boolean }): string {
    const r = expandMacros(value, (n) => this.lookup(n, { defaults: opts.defaults, nonDefault: false }), {
      recurse: true,
    });
    for (const w of r.warnings) msgWarn(w);
    if (r.error) msgFatal('macro processing error');
    return r.value;
  }

  /** -x style expansion for the table-reference scan; errors were reported by the scan. */
  #quietExpand(value: string): string {
    return expandMacros(value, (n) => this.lookup(n, { defaults: false, nonDefault: false }), { recurse: true }).value;
  }

  /** Drops read-only settings with a warning, as postconf does before anything else. */
  dropReadonly(): void {
    if (!this.dict) return;
    for (const [name, value] of [...this.dict]) {
      if (READONLY_PARAMS.has(name)) {
        msgWarn(`${this.configDir}/${MAIN_CONF_FILE}: read-only parameter assignment: ${name}=${value}`);
        this.dict.delete(name);
      }
    }
  }

  /** The first value whose scan found a syntax error. */
  #badValue: { value: string; warnings: string[] } | undefined;

  /**
   * After scanning, a value with a syntax error is fatal. Postfix reports
   * the error once while scanning and once more when it evaluates the
   * value; so does this.
   */
  failOnBadValue(): void {
    if (!this.#badValue) return;
    for (const w of this.#badValue.warnings) msgWarn(w);
    msgFatal('macro processing error');
  }

  /**
   * pcf_register_user_parameters: master.cf -o values, defaults, then
   * main.cf values, by scanUserParameters() (mail_conf_user.ts); names it
   * validates become user-defined parameters.
   */
  registerUserParameters(masterFile: string): void {
    const dict = this.dict;
    if (!dict) return;
    const locals = this.services.map((s) => {
      for (const o of s.overrides.filter((x) => READONLY_PARAMS.has(x.name))) {
        msgWarn(`${this.configDir}/${masterFile}: read-only parameter assignment: ${o.name}=${o.value}`);
      }
      s.overrides = s.overrides.filter((x) => !READONLY_PARAMS.has(x.name));
      return new Map(s.overrides.map((o) => [o.name, o.value] as [string, string]));
    });
    const dbms = new DbmsScanner();
    const valid = scanUserParameters(
      {
        global: dict,
        locals,
        known: (name) => this.table.has(name),
        isRaw: (name) => this.table.get(name)?.raw === true,
        defaults: () => [...this.table.values()].filter((p) => !p.raw && !dict.has(p.name)).map((p) => this.defaultOf(p)),
      },
      {
        undefinedName: (file, name) => msgWarn(`${this.configDir}/${file === 'main.cf' ? MAIN_CONF_FILE : masterFile}: undefined parameter: ${name}`),
        macroWarnings: (value, warnings, error) => {
          for (const w of warnings) msgWarn(w);
          if (error && this.#badValue === undefined) this.#badValue = { value, warnings };
        },
        dbms: (value, flag) => dbms.scan(this.#quietExpand(value), flag),
      },
    );
    for (const name of valid.global) {
      if (!this.table.has(name)) this.table.set(name, { name, cls: 'user', defaultValue: '', raw: false });
    }
    this.#localValid = valid.locals;
  }

  /** Per master.cf service: its -o names validated by a $name reference. */
  #localValid: Array<Set<string>> = [];

  /** Warns about master.cf -o settings that are no known parameter (after main.cf's). */
  flagUnusedMaster(masterFile: string): void {
    for (const [i, s] of this.services.entries()) {
      const valid = this.#localValid[i] ?? new Set<string>();
      for (const o of s.overrides) {
        if (!this.table.has(o.name) && !valid.has(o.name)) {
          msgWarn(`${this.configDir}/${masterFile}: unused parameter: ${o.name}=${o.value}`);
        }
      }
    }
  }

  /** Warns about main.cf settings that are no known parameter. */
  flagUnusedMain(): void {
    if (!this.dict) return;
    for (const [name, value] of this.dict) {
      if (!this.table.has(name)) msgWarn(`${this.configDir}/${MAIN_CONF_FILE}: unused parameter: ${name}=${value}`);
    }
  }
}
