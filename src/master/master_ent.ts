/*
 * master_ent - turn master.cf entries into the services master runs
 *
 * What it does: reads master.cf (engineer B's readMasterCf) and resolves
 * each entry with main.cf: the '-' defaults (resolveMasterEntry with
 * default_process_limit), the endpoint (inet host:port against
 * inet_interfaces and known_tcp_ports; unix, pass and fifo under
 * queue_directory/private or public), the worker module for the command
 * column, and the worker's command line. master_service_disable drops
 * entries as in Postfix ("name/type" or "type").
 *
 * Command resolution: an absolute path to a .js/.mjs module runs as is
 * (tests use their own small services); any other name is a Postern
 * daemon, "trivial-rewrite" -> dist/src/trivial-rewrite/trivial_rewrite.js.
 * A module that does not exist is not an error here: the worker fails to
 * start and master throttles it, as Postfix does with a bad command.
 *
 * What it does not do: open sockets (master_listen.ts) or start
 * processes (master_spawn.ts). The chroot column is parsed and ignored:
 * Node cannot chroot; services run unchrooted.
 *
 * DIAGNOSTICS
 * readServices returns, beside the good services, the errors of entries
 * master cannot use ("FILE: line N: text", as Postfix's master says it),
 * e.g. a bad column value or inet port; the caller decides whether they
 * are fatal (startup) or warnings (reload). A master.cf that cannot be
 * read or split into entries throws.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MailConfig } from '../global/mail_conf.js';
import { MasterCfError, readMasterCf, resolveMasterEntry, type MasterEntry } from '../global/master_cf.js';
import { WORKER_OPT } from './master_proto.js';

export type ServiceType = MasterEntry['type'];

export type Endpoint =
  | { kind: 'inet'; addrs: Array<{ host: string; port: number; ipv6Only?: boolean }>; label: string }
  | { kind: 'path'; path: string; label: string };

export interface ServiceSpec {
  /** Identity across reloads: "name/type", as `postconf -M` names it. */
  key: string;
  name: string;
  type: ServiceType;
  endpoint: Endpoint;
  command: string;
  modulePath: string;
  /** Worker argv after the module path. */
  workerArgs: string[];
  private: boolean;
  unpriv: boolean;
  chroot: boolean;
  wakeupSeconds: number;
  wakeupOnlyWhenUsed: boolean;
  /** Concurrent clients allowed; 0 = no limit. */
  maxproc: number;
  file: string;
  line: number;
}

export class MasterEntError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}: line ${line}: ${message}`);
    this.name = 'MasterEntError';
  }
}

/** dist/src/, where the compiled daemons live beside this module's folder. */
const DAEMON_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export function resolveCommand(command: string): string {
  if (isAbsolute(command)) return command;
  return join(DAEMON_ROOT, command, `${command.replace(/-/g, '_')}.js`);
}

/** Parses known_tcp_ports ("lmtp=24, smtp=25, smtps=submissions=465"). */
export function parseKnownTcpPorts(value: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of value.split(/[\s,]+/).filter(Boolean)) {
    const parts = item.split('=');
    const port = Number(parts[parts.length - 1]);
    if (!Number.isInteger(port)) continue;
    for (const name of parts.slice(0, -1)) out.set(name, port);
  }
  return out;
}

const SERVICES_FILE = '/etc/services';
const MAX_TCP_PORT = 65535;

function lookupServicesFile(name: string): number | null {
  let text: string;
  try {
    text = readFileSync(SERVICES_FILE, 'utf8');
  } catch {
    return null;
  }
  for (const raw of text.split('\n')) {
    const words = raw.replace(/#.*/, '').trim().split(/\s+/);
    if (words.length < 2) continue;
    const [port, proto] = words[1].split('/');
    if (proto !== 'tcp') continue;
    if (words[0] === name || words.slice(2).includes(name)) return Number(port);
  }
  return null;
}

export function resolvePort(service: string, config: MailConfig): number | null {
  if (/^\d+$/.test(service)) {
    const n = Number(service);
    return n > 0 && n <= MAX_TCP_PORT ? n : null;
  }
  return parseKnownTcpPorts(config.get('known_tcp_ports')).get(service) ?? lookupServicesFile(service);
}

/** The hosts a bare port listens on, from inet_interfaces and inet_protocols. */
export function interfaceHosts(config: MailConfig): Array<{ host: string; ipv6Only?: boolean }> {
  const protocols = config.getList('inet_protocols').map((p) => p.toLowerCase());
  const all = protocols.includes('all');
  const v4 = all || protocols.includes('ipv4');
  const v6 = all || protocols.includes('ipv6');
  const out: Array<{ host: string; ipv6Only?: boolean }> = [];
  for (const iface of config.getList('inet_interfaces')) {
    const lc = iface.toLowerCase();
    if (lc === 'all') {
      if (v6) out.push({ host: '::', ipv6Only: !v4 });
      else if (v4) out.push({ host: '0.0.0.0' });
    } else if (lc === 'loopback-only') {
      if (v4) out.push({ host: '127.0.0.1' });
      if (v6) out.push({ host: '::1', ipv6Only: true });
    } else {
      out.push({ host: iface.replace(/^\[(.*)\]$/, '$1') });
    }
  }
  return out;
}

function inetEndpoint(e: MasterEntry, config: MailConfig): Endpoint {
  let host: string | null = null;
  let port = e.service;
  const bracket = /^\[([^\]]+)\]:(.+)$/.exec(e.service);
  if (bracket) {
    host = bracket[1];
    port = bracket[2];
  } else if (e.service.includes(':')) {
    const at = e.service.lastIndexOf(':');
    host = e.service.slice(0, at);
    port = e.service.slice(at + 1);
  }
  const portNum = resolvePort(port, config);
  if (portNum === null) throw new MasterEntError(e.file, e.line, `unknown service: ${port}/tcp`);
  const addrs =
    host === null || host === '' || host === '*'
      ? interfaceHosts(config).map((h) => ({ ...h, port: portNum }))
      : [{ host, port: portNum }];
  return { kind: 'inet', addrs, label: e.service };
}

/** True when master_service_disable names this service ("name/type" or "type"). */
export function serviceDisabled(config: MailConfig, name: string, type: string): boolean {
  const list = config.getList('master_service_disable');
  return list.includes(type) || list.includes(`${name}/${type}`);
}

export function buildServiceSpec(e: MasterEntry, config: MailConfig, verbose: number): ServiceSpec {
  const r = resolveMasterEntry(e, { processLimit: config.getInt('default_process_limit') });
  const queueDir = config.get('queue_directory');
  let endpoint: Endpoint;
  if (e.type === 'inet') {
    endpoint = inetEndpoint(e, config);
  } else {
    const klass = r.private ? 'private' : 'public';
    endpoint = { kind: 'path', path: join(queueDir, klass, e.service), label: `${klass}/${e.service}` };
  }
  const workerArgs: string[] = [WORKER_OPT.SERVICE_NAME, e.service, WORKER_OPT.SERVICE_TYPE, e.type];
  if (r.unpriv) workerArgs.push(WORKER_OPT.UNPRIVILEGED);
  for (let i = 0; i < verbose; i++) workerArgs.push(WORKER_OPT.VERBOSE);
  workerArgs.push(...e.args);
  return {
    key: `${e.service}/${e.type}`,
    name: e.service,
    type: e.type,
    endpoint,
    command: e.command,
    modulePath: resolveCommand(e.command),
    workerArgs,
    private: r.private,
    unpriv: r.unpriv,
    chroot: r.chroot,
    wakeupSeconds: r.wakeupSeconds,
    wakeupOnlyWhenUsed: r.wakeupOnlyWhenUsed,
    maxproc: r.maxproc,
    file: e.file,
    line: e.line,
  };
}

/** All services of master.cf, minus disabled ones; bad entries are reported, not thrown. */
export function readServices(
  config: MailConfig,
  verbose: number,
): { services: ServiceSpec[]; errors: Error[] } {
  const entries = readMasterCf(config.configDir);
  const services: ServiceSpec[] = [];
  const errors: Error[] = [];
  for (const e of entries) {
    if (e.disabled || serviceDisabled(config, e.service, e.type)) continue;
    try {
      services.push(buildServiceSpec(e, config, verbose));
    } catch (err) {
      if (err instanceof MasterEntError || err instanceof MasterCfError) errors.push(err);
      else throw err;
    }
  }
  return { services, errors };
}

export function moduleExists(spec: ServiceSpec): boolean {
  return existsSync(spec.modulePath);
}
