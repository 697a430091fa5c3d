/*
 * mail_params - the one parameter table: names, types, defaults
 *
 * What it does: MAIL_PARAMS maps every built-in Postfix 3.7 parameter name
 * to its ParamSpec (type, default exactly as `postconf -d` prints it,
 * hostDependent). The data comes from mail_params_table.ts (generated from
 * the oracle by tools/gen_mail_params.ts); the host-dependent defaults
 * (myhostname, mydomain, mynetworks, process_id, process_name) are
 * computed here at load time the way Postfix computes them.
 * serviceParameters() gives the per-service names a master.cf creates
 * (relay_destination_concurrency_limit, pipe services' <svc>_time_limit),
 * validParameterNames() the full set for a master.cf, and
 * unknownParameters() the main.cf names that are none of those nor
 * user-defined (postconf's rule, from mail_conf_user.ts). Each spec's
 * readers (the Postfix programs that read it) come from
 * mail_params_readers.ts.
 *
 * What it does not do: read main.cf or master.cf (mail_conf.ts and
 * master_cf.ts do), or expand values.
 *
 * DIAGNOSTICS
 * None; pure data and functions.
 */
import { hostname, networkInterfaces } from 'node:os';
import { userParameterNames, type UserScanConfig } from './mail_conf_user.js';
import { PARAM_ROWS, SERVICE_PARAM_SUFFIXES } from './mail_params_table.js';
import { paramReaders, serviceParamReaders } from './mail_params_readers.js';

export type ParamType = 'bool' | 'int' | 'long' | 'time' | 'str' | 'raw' | 'nbool' | 'nint' | 'size';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** Unexpanded, exactly as postconf -d prints it. */
  defaultValue: string;
  hostDependent?: boolean;
  /**
   * Postfix programs that read it ('global': every program), from
   * mail_params_readers.ts; for a per-service name, the programs that read
   * it for that service (qmgr, oqmgr; pipe or spawn for <service>_time_limit).
   */
  readers?: string[];
  /** For time parameters: the unit a bare number has (s m h d w). */
  timeUnit?: string;
}

/** Postfix's fallback domain when the host name has no dot (DEF_MYDOMAIN). */
export const DEFAULT_MYDOMAIN = 'localdomain';

/** Names whose defaults depend on this host or this process, computed below. */
export const HOST_DEPENDENT_PARAMS: readonly string[] = [
  'myhostname',
  'mydomain',
  'mynetworks',
  'process_id',
  'process_name',
];

/** Install-dependent names: same as Debian's Postfix 3.7 here, but a build may differ. */
export const INSTALL_DEPENDENT_PARAMS: readonly string[] = [
  'command_directory',
  'config_directory',
  'daemon_directory',
  'data_directory',
  'html_directory',
  'mail_release_date',
  'mail_spool_directory',
  'mail_version',
  'mailq_path',
  'manpage_directory',
  'meta_directory',
  'newaliases_path',
  'queue_directory',
  'readme_directory',
  'sample_directory',
  'sendmail_path',
  'shlib_directory',
];

/** myhostname's default: the host name, with ".$mydomain" added when it has no dot. */
export function defaultMyhostname(mydomain?: string): string {
  const host = hostname();
  if (host.includes('.')) return host;
  return `${host}.${mydomain && mydomain !== '' ? mydomain : DEFAULT_MYDOMAIN}`;
}

/** mydomain's default: myhostname minus its first label, if that leaves a dot. */
export function defaultMydomain(myhostname: string): string {
  const dot = myhostname.indexOf('.');
  if (dot < 0 || !myhostname.slice(dot + 1).includes('.')) return DEFAULT_MYDOMAIN;
  return myhostname.slice(dot + 1);
}

function ipv4ToInt(a: string): number {
  return a.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

function prefixLength(netmask: string): number {
  let bits = 0;
  for (const part of netmask.split(/[.:]/)) {
    if (part === '') continue;
    let v = netmask.includes(':') ? parseInt(part, 16) : Number(part);
    while (v) {
      bits += v & 1;
      v >>>= 1;
    }
  }
  return bits;
}

function ipv6Groups(a: string): number[] {
  const [head, tail] = a.includes('::') ? a.split('::') : [a, undefined];
  const h = head ? head.split(':').map((x) => parseInt(x, 16)) : [];
  if (tail === undefined) return h;
  const t = tail ? tail.split(':').map((x) => parseInt(x, 16)) : [];
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}

/** RFC 5952 text form (the form inet_ntop gives). */
export function formatIpv6(groups: number[]): string {
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Which local addresses inet_interfaces selects: all, loopback-only, or a list of addresses. */
function selectedAddress(address: string, inetInterfaces: string): boolean {
  const words = inetInterfaces.split(/[\s,]+/).filter((w) => w !== '');
  if (words.length === 0 || words.includes('all')) return true;
  if (words.includes('loopback-only')) return address === '127.0.0.1' || address === '::1';
  return words.some((w) => w.replace(/^\[|\]$/g, '').toLowerCase() === address.toLowerCase());
}

/**
 * mynetworks' default for a mynetworks_style (host, subnet or class), from
 * the interface addresses that inet_interfaces and inet_protocols select,
 * IPv4 before IPv6, as Postfix's own computation lists them.
 */
export function defaultMynetworks(style: string, inetInterfaces = 'all', inetProtocols = 'all'): string {
  const v4: string[] = [];
  const v6: string[] = [];
  const protos = inetProtocols.split(/[\s,]+/);
  const want4 = protos.includes('all') || protos.includes('ipv4');
  const want6 = protos.includes('all') || protos.includes('ipv6');
  const add = (list: string[], item: string) => {
    if (!list.includes(item)) list.push(item);
  };
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      const address = a.address.replace(/%.*$/, '');
      if (!selectedAddress(address, inetInterfaces)) continue;
      if (a.family === 'IPv4') {
        if (!want4) continue;
        let len = style === 'host' ? 32 : prefixLength(a.netmask);
        if (style === 'class') {
          const first = Number(address.split('.')[0]);
          len = first < 128 ? 8 : first < 192 ? 16 : first < 224 ? 24 : 32;
        }
        const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
        add(v4, `${intToIpv4((ipv4ToInt(address) & mask) >>> 0)}/${len}`);
      } else {
        if (!want6) continue;
        const len = style === 'host' ? 128 : prefixLength(a.netmask);
        const g = ipv6Groups(address);
        const masked = g.map((v, i) => {
          const keep = Math.max(0, Math.min(16, len - i * 16));
          return keep === 0 ? 0 : v & ((0xffff << (16 - keep)) & 0xffff);
        });
        add(v6, `[${formatIpv6(masked)}]/${len}`);
      }
    }
  }
  return [...v4, ...v6].join(' ');
}

/** mynetworks_style as compatibility level 0 gives it (Postfix < 2 compatibility: subnet). */
const DEFAULT_MYNETWORKS_STYLE = 'subnet';

function hostDefault(name: string): string | undefined {
  switch (name) {
    case 'myhostname':
      return defaultMyhostname();
    case 'mydomain':
      return defaultMydomain(defaultMyhostname());
    case 'mynetworks':
      return defaultMynetworks(DEFAULT_MYNETWORKS_STYLE);
    case 'process_id':
      return String(process.pid);
    case 'process_name':
      return 'postconf';
    default:
      return undefined;
  }
}

function buildTable(): Map<string, ParamSpec> {
  const table = new Map<string, ParamSpec>();
  for (const [name, type, defaultValue, timeUnit] of PARAM_ROWS) {
    const spec: ParamSpec = { name, type: type as ParamType, defaultValue };
    if (timeUnit) spec.timeUnit = timeUnit;
    const readers = paramReaders(name);
    if (readers.length > 0) spec.readers = [...readers];
    const host = hostDefault(name);
    if (host !== undefined) {
      spec.defaultValue = host;
      spec.hostDependent = true;
    } else if (INSTALL_DEPENDENT_PARAMS.includes(name)) {
      spec.hostDependent = true;
    }
    table.set(name, spec);
  }
  return table;
}

export const MAIL_PARAMS: ReadonlyMap<string, ParamSpec> = buildTable();

/** A master.cf service as far as parameter names go. */
export interface ServiceRef {
  service: string;
  command: string;
}

/**
 * The per-service parameters a master.cf creates, in master.cf order, each
 * with the built-in parameter its default refers to ($name). Names that
 * are built-in parameters themselves (local_destination_concurrency_limit)
 * are left out, as postconf keeps their own defaults.
 */
export function serviceParameters(services: ServiceRef[]): Map<string, ParamSpec> {
  const out = new Map<string, ParamSpec>();
  for (const { service, command } of services) {
    const suffixes = SERVICE_PARAM_SUFFIXES[command];
    if (!suffixes) continue;
    for (const [suffix, from] of suffixes) {
      const name = `${service}${suffix}`;
      if (MAIL_PARAMS.has(name) || out.has(name)) continue;
      const base = MAIL_PARAMS.get(from);
      const spec: ParamSpec = {
        name,
        type: base?.type ?? 'str',
        defaultValue: `$${from}`,
        readers: [...serviceParamReaders(suffix, command)],
      };
      if (base?.timeUnit) spec.timeUnit = base.timeUnit;
      out.set(name, spec);
    }
  }
  return out;
}

/** Every valid parameter name for a master.cf: built-in plus per-service. */
export function validParameterNames(services: ServiceRef[]): Set<string> {
  const names = new Set(MAIL_PARAMS.keys());
  for (const name of serviceParameters(services).keys()) names.add(name);
  return names;
}

/** What unknownParameters needs from a configuration (MailConfig satisfies it). */
export interface ConfigNames extends UserScanConfig {
  entries(): Array<{ name: string; value: string; file: string; line: number }>;
}

/**
 * main.cf settings that no program uses, by postconf's rule: not built in,
 * not a per-service name for one of the services, and not a user-defined
 * name (referenced as $name, a restriction class, a legacy database
 * client setting; see mail_conf_user.ts). serviceNames are master.cf
 * service names, or {service, command} pairs; with names only, every
 * service is taken to be a pipe(8) service (the widest suffix set).
 * overrideValues are master.cf -o values, which may reference main.cf names.
 */
export function unknownParameters(
  config: ConfigNames,
  serviceNames: string[] | ServiceRef[],
  overrideValues: readonly string[] = [],
): Array<{ name: string; value: string; file: string; line: number }> {
  const services: ServiceRef[] = serviceNames.map((s) =>
    typeof s === 'string' ? { service: s, command: guessCommand(s) } : s,
  );
  const valid = validParameterNames(services);
  const user = userParameterNames(config, MAIL_PARAMS, overrideValues);
  return config.entries().filter((e) => !valid.has(e.name) && !user.has(e.name));
}

/** Without a command, treat a service as a pipe (the widest suffix set). */
function guessCommand(service: string): string {
  return service in SERVICE_PARAM_SUFFIXES ? service : 'pipe';
}
