/*
 * postconf_master_params - which master.cf "-o" parameters are used, and -x expansion
 *
 * What it does: unusedMasterParameters() decides, the way postconf's
 * postconf_user.c and postconf_unused.c do, which "-o name=value" settings
 * no program reads: a name is used when it is built in, is a per-service
 * name for a master.cf service (relay_destination_concurrency_limit), is a
 * restriction class named in smtpd_restriction_classes, or is referenced
 * as $name by a value in the same service or in main.cf. On the way it
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
import { referencedNames } from '../global/mail_conf_expand.js';
import { MAIL_PARAMS, serviceParameters } from '../global/mail_params.js';
import { MASTER_CF_FILE, MASTER_FIELD } from '../global/master_cf.js';
import { msgWarn } from '../util/msg.js';
import type { PcfMasterEnt } from './postconf_master_ent.js';
import type { PostconfOptions } from './postconf_options.js';

/** The parameter that names restriction classes (VAR_REST_CLASSES). */
const VAR_REST_CLASSES = 'smtpd_restriction_classes';
/** Per-service parameters postconf defines itself; "-o" may not set them. */
const VAR_SERVICE_NAME = 'service_name';
const VAR_PROCESS_NAME = 'process_name';
const VAR_PROCESS_ID = 'process_id';
const READ_ONLY_PARAMS: ReadonlySet<string> = new Set([VAR_SERVICE_NAME, VAR_PROCESS_NAME, VAR_PROCESS_ID]);
/** Separators of a restriction class list. */
const CLASS_LIST_SEPARATORS = /[, \t\r\n]+/;

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
 * warns about undefined $name references and drops read-only settings
 * (with a warning). Returns the settings nobody uses, in master.cf order,
 * for the caller to report after the output.
 */
export function scanMasterParameters(
  opts: PostconfOptions,
  entries: readonly PcfMasterEnt[],
): Array<{ entry: PcfMasterEnt; name: string; value: string }> {
  const config = loadConfig(opts);
  const dir = opts.configDir;
  const services = entries.map((e) => ({ service: e.argv[MASTER_FIELD.SERVICE], command: e.argv[MASTER_FIELD.CMD] }));
  const globalValid = new Set<string>(MAIL_PARAMS.keys());
  for (const name of serviceParameters(services).keys()) globalValid.add(name);
  const localValid = new Map<PcfMasterEnt, Set<string>>();
  for (const e of entries) if (e.allParams) localValid.set(e, new Set());
  const restClasses = new Set<string>();

  const flag = (name: string, local: PcfMasterEnt | null, warn: boolean): void => {
    let supplied = false;
    if (local && local.allParams?.has(name)) {
      supplied = true;
      localValid.get(local)?.add(name);
    } else if (config.isSet(name)) {
      supplied = true;
      globalValid.add(name);
    }
    if (!local) {
      for (const e of entries) {
        if (e.allParams?.has(name)) {
          supplied = true;
          localValid.get(e)?.add(name);
        }
      }
    }
    if (!supplied && warn && !globalValid.has(name)) {
      msgWarn(`${dir}/${local ? MASTER_CF_FILE : MAIN_CONF_FILE}: undefined parameter: ${name}`);
    }
  };
  const scan = (value: string, local: PcfMasterEnt | null, warn: boolean): void => {
    const r = referencedNames(value);
    if (warn) for (const w of r.warnings) msgWarn(w);
    for (const name of r.names) flag(name, local, warn);
  };
  const classList = (value: string | undefined): string[] =>
    value === undefined ? [] : value.split(CLASS_LIST_SEPARATORS).filter((w) => w !== '');

  // Restriction classes named in main.cf are valid everywhere they have a value.
  for (const name of classList(config.isSet(VAR_REST_CLASSES) ? config.get(VAR_REST_CLASSES) : undefined)) {
    restClasses.add(name);
  }
  // Each service's own settings.
  for (const e of entries) {
    const dict = e.allParams;
    if (!dict) continue;
    const local = localValid.get(e) as Set<string>;
    for (const name of classList(dict.get(VAR_REST_CLASSES))) flag(name, e, true);
    for (const [name, value] of [...dict]) {
      if (restClasses.has(name)) local.add(name);
      if (READ_ONLY_PARAMS.has(name)) {
        msgWarn(`${dir}/${MASTER_CF_FILE}: read-only parameter assignment: ${name}=${value}`);
        dict.delete(name);
        continue;
      }
      if (isRaw(name)) continue;
      scan(value, e, true);
    }
  }
  // Defaults of parameters main.cf leaves alone (legacy names live there).
  for (const [name, spec] of MAIL_PARAMS) {
    if (spec.type === 'raw' || config.isSet(name)) continue;
    scan(spec.defaultValue, null, false);
  }
  // main.cf itself.
  for (const name of restClasses) flag(name, null, true);
  for (const entry of config.entries()) {
    if (isRaw(entry.name)) continue;
    scan(entry.value, null, true);
  }

  const unused: Array<{ entry: PcfMasterEnt; name: string; value: string }> = [];
  for (const e of entries) {
    if (!e.allParams) continue;
    const local = localValid.get(e) as Set<string>;
    for (const [name, value] of e.allParams) {
      if (!globalValid.has(name) && !local.has(name)) unused.push({ entry: e, name, value });
    }
  }
  return unused;
}
