/*
 * postconf_master_params - which master.cf "-o" parameters are used, and -x expansion
 *
 * What it does: scanMasterParameters() decides, the way postconf's
 * postconf_user.c and postconf_unused.c do, which "-o name=value" settings
 * no program reads: a name is used when it is built in, is a per-service
 * name for a master.cf service (relay_destination_concurrency_limit), or
 * counts as a used user-defined name by scanUserParameters() (the rule
 * shared with the main.cf modes, in mail_conf_user.ts). On the way it
 * warns, as postconf does, about $name references that nothing defines
 * ("/etc/postfix/master.cf: undefined parameter: name").
 * masterExpander() expands $name in a service's values with postconf's
 * per-service values first (service_name, process_name, process_id), then
 * the service's -o settings, then main.cf and postconf -o, then defaults.
 *
 * Read-only names (service_name, process_name, process_id) set with -o
 * are dropped with postconf's warning, before anything is shown.
 *
 * What it does not do: report main.cf's own unused settings (postconf's
 * main.cf modes do), or Postfix 3.9's deprecation notices.
 *
 * DIAGNOSTICS
 * Warnings only; a macro syntax error while expanding is fatal ("macro
 * processing error"), from mail_conf.
 */
import { basename } from 'node:path';
import { MAIN_CONF_FILE, MailConfig, loadMailConfig } from '../global/mail_conf.js';
import { scanUserParameters } from '../global/mail_conf_user.js';
import { MAIL_PARAMS, serviceParameters } from '../global/mail_params.js';
import { MASTER_CF_FILE, MASTER_FIELD } from '../global/master_cf.js';
import { msgWarn } from '../util/msg.js';
import type { PcfMasterEnt } from './postconf_master_ent.js';
import type { PostconfOptions } from './postconf_options.js';

/** Per-service parameters postconf defines itself; "-o" may not set them. */
const VAR_SERVICE_NAME = 'service_name';
const VAR_PROCESS_NAME = 'process_name';
const VAR_PROCESS_ID = 'process_id';
const READ_ONLY_PARAMS: ReadonlySet<string> = new Set([VAR_SERVICE_NAME, VAR_PROCESS_NAME, VAR_PROCESS_ID]);

function loadConfig(opts: PostconfOptions): MailConfig {
  return loadMailConfig({ configDir: opts.configDir, overrides: opts.overrides });
}

/** An expander for postconf -x in master.cf: (entry, text) => expanded text. */
export function masterExpander(opts: PostconfOptions): (e: PcfMasterEnt, v: string) => string {
  const config = loadConfig(opts);
  const scoped = new Map<PcfMasterEnt, MailConfig>();
  return (e, value) => {
    let c = scoped.get(e);
    if (!c) {
      const local: Record<string, string> = Object.fromEntries(e.allParams ?? []);
      local[VAR_SERVICE_NAME] = e.argv[MASTER_FIELD.SERVICE];
      local[VAR_PROCESS_NAME] = basename(e.argv[MASTER_FIELD.CMD]);
      local[VAR_PROCESS_ID] = String(process.pid);
      c = config.withOverrides(local);
      scoped.set(e, c);
    }
    return c.expand(value);
  };
}

function isRaw(name: string): boolean {
  return MAIL_PARAMS.get(name)?.type === 'raw';
}

/**
 * Scans the "-o" settings before anything is shown, as postconf does:
 * drops read-only settings (with a warning), then warns about undefined
 * $name references (the rule is scanUserParameters() in
 * mail_conf_user.ts). Returns the settings nobody uses, in master.cf
 * order, for the caller to report after the output.
 */
export function scanMasterParameters(
  opts: PostconfOptions,
  entries: readonly PcfMasterEnt[],
): Array<{ entry: PcfMasterEnt; name: string; value: string }> {
  const config = loadConfig(opts);
  const dir = opts.configDir;
  const services = entries.map((e) => ({ service: e.argv[MASTER_FIELD.SERVICE], command: e.argv[MASTER_FIELD.CMD] }));
  const perService = serviceParameters(services);
  const known = (name: string) => MAIL_PARAMS.has(name) || perService.has(name);
  for (const e of entries) {
    for (const [name, value] of [...(e.allParams ?? [])]) {
      if (!READ_ONLY_PARAMS.has(name)) continue;
      msgWarn(`${dir}/${MASTER_CF_FILE}: read-only parameter assignment: ${name}=${value}`);
      e.allParams!.delete(name);
    }
  }
  const global = new Map<string, string>();
  for (const entry of config.entries()) global.set(entry.name, entry.value);
  for (const [name, value] of Object.entries(config.overrides())) global.set(name, value);
  const valid = scanUserParameters(
    {
      global,
      locals: entries.map((e) => e.allParams ?? null),
      known,
      isRaw,
      *defaults() {
        for (const [name, spec] of MAIL_PARAMS) if (spec.type !== 'raw' && !config.isSet(name)) yield spec.defaultValue;
      },
    },
    {
      undefinedName: (file, name) => msgWarn(`${dir}/${file}: undefined parameter: ${name}`),
      macroWarnings: (_value, warnings) => {
        for (const w of warnings) msgWarn(w);
      },
    },
  );

  const unused: Array<{ entry: PcfMasterEnt; name: string; value: string }> = [];
  entries.forEach((e, i) => {
    for (const [name, value] of e.allParams ?? []) {
      if (!known(name) && !valid.global.has(name) && !valid.locals[i]!.has(name)) unused.push({ entry: e, name, value });
    }
  });
  return unused;
}
