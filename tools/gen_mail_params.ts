/*
 * gen_mail_params - regenerate src/global/mail_params_table.ts from the oracle
 *
 * What it does: runs the installed Postfix's `postconf -d` twice, each in a
 * throwaway config directory: once with an empty main.cf and master.cf
 * (the built-in parameters), once with a master.cf that names one service
 * per delivery program (local, error, virtual, smtp, lmtp, pipe, spawn) to
 * learn which per-service suffixes postconf accepts for which program and
 * which built-in parameter supplies each default. It classifies every
 * parameter's type from its default value plus the named lists below, and
 * writes the table. For the legacy database clients (ldap:name etc.) it
 * takes candidate suffixes from the installed <type>_table(5) HTML pages
 * and keeps those the oracle accepts as name_suffix.
 *
 * What it does not do: decide host-dependent defaults (mail_params.ts
 * computes them at run time), or run as part of the build. Run it by hand
 * after a Postfix upgrade:
 *   npx tsc -p tsconfig.json && node dist/tools/gen_mail_params.js
 *
 * DIAGNOSTICS
 * Exits non-zero when postconf is missing or prints something unexpected.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ORACLE = '/usr/sbin/postconf';
const OUTPUT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'global', 'mail_params_table.ts');

/* Parameters Postfix keeps in a CONFIG_LONG_TABLE. */
const LONG = new Set(['message_size_limit', 'mailbox_size_limit', 'virtual_mailbox_limit', 'lmdb_map_size', 'header_size_limit']);

/* Delivery programs whose master.cf services get per-service parameter names. */
const PROGRAMS = ['local', 'error', 'virtual', 'smtp', 'lmtp', 'pipe', 'spawn'];
const PROBE_PREFIX = 'zqprobe';
const PID_PARAM = 'process_id';

function runPostconf(dir: string): Array<[string, string]> {
  const text = execFileSync(ORACLE, ['-c', dir, '-d'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const out: Array<[string, string]> = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const m = /^(\S+) =(?: (.*))?$/.exec(line);
    if (!m) throw new Error(`unexpected postconf line: ${line}`);
    out.push([m[1], m[2] ?? '']);
  }
  return out;
}

/* Filled by probeRaw(): parameters that postconf -x leaves unexpanded (Postfix CONFIG_RAW_TABLE). */
const RAW = new Set<string>();

/* The probe value: every parameter but myhostname is set to this, then postconf -nx shows which stay raw. */
const RAW_PROBE = '$myhostname';

function probeRaw(dir: string, names: string[]): void {
  writeFileSync(join(dir, 'main.cf'), names.filter((n) => n !== 'myhostname').map((n) => `${n} = ${RAW_PROBE}\n`).join(''));
  const text = execFileSync(ORACLE, ['-c', dir, '-nx'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  for (const line of text.split('\n')) {
    const m = /^(\S+) = (.*)$/.exec(line);
    if (m && m[2] === RAW_PROBE) RAW.add(m[1]);
  }
  writeFileSync(join(dir, 'main.cf'), '');
}

function classify(name: string, value: string, all: Map<string, string>, depth = 0): string {
  if (RAW.has(name)) return 'raw';
  if (value === 'yes' || value === 'no') return 'bool';
  if (/^\$\{\{\$compatibility_level\} <level \{[\d.]+\} \? \{(yes|no)\} : \{(yes|no)\}\}$/.test(value)) return 'nbool';
  if (/^\d+$/.test(value)) return LONG.has(name) ? 'long' : 'int';
  if (/^\d+[smhdw]$/.test(value)) return 'time';
  if (/^\$\{stress\?\{?\d+\}?:\{?\d+\}?\}[smhdw]$/.test(value)) return 'time';
  if (/^\$\{stress\?\{?\d+\}?:\{?\d+\}?\}$/.test(value)) return 'nint';
  const ref = /^\$\{?(\w+)\}?$/.exec(value);
  if (ref && all.has(ref[1]) && depth < 10) {
    const t = classify(ref[1], all.get(ref[1]) as string, all, depth + 1);
    if (t === 'bool' || t === 'int' || t === 'long' || t === 'time' || t === 'nint' || t === 'nbool') return t;
  }
  return 'str';
}

function timeUnit(name: string, value: string, all: Map<string, string>, depth = 0): string | undefined {
  const m = /([smhdw])$/.exec(value);
  if (m && /\d/.test(value)) return m[1];
  const ref = /^\$\{?(\w+)\}?$/.exec(value);
  if (ref && all.has(ref[1]) && depth < 10) return timeUnit(ref[1], all.get(ref[1]) as string, all, depth + 1);
  return undefined;
}

/* Legacy database clients whose "type:name" settings create name_suffix parameters. */
const DBMS_TYPES = ['ldap', 'mysql', 'pgsql', 'sqlite', 'memcache'];
const HTML_DIR = '/usr/share/doc/postfix/html';
/* Suffixes the man pages format in ways the scan below misses; the oracle filters all candidates. */
const EXTRA_CANDIDATES = ['password', 'tls_ciphers', 'tls_exclude_ciphers', 'idle_interval', 'retry_interval', 'encoding'];

/** Candidate suffixes from <type>_table.5.html, kept when the oracle accepts prefix_suffix. */
function probeDbmsSuffixes(dir: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const type of DBMS_TYPES) {
    const html = readFileSync(join(HTML_DIR, `${type}_table.5.html`), 'utf8');
    const candidates = new Set(EXTRA_CANDIDATES);
    for (const m of html.matchAll(/^ {7}<b>([A-Za-z0-9_]+)/gm)) candidates.add(m[1]);
    const list = [...candidates].sort();
    const prefix = `zq${type}`;
    const text = [`alias_maps = ${type}:${prefix}`, ...list.map((c) => `${prefix}_${c} = 1`)].join('\n') + '\n';
    writeFileSync(join(dir, 'main.cf'), text);
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'main.cf'), past, past);
    const r = spawnSync(ORACLE, ['-c', dir, '-n'], { encoding: 'utf8' });
    const unused = new Set([...r.stderr.matchAll(/unused parameter: (\S+)=/g)].map((m) => m[1]));
    out[type] = list.filter((c) => !unused.has(`${prefix}_${c}`));
  }
  writeFileSync(join(dir, 'main.cf'), '');
  return out;
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'gen-params-'));
  try {
    writeFileSync(join(dir, 'main.cf'), '');
    writeFileSync(join(dir, 'master.cf'), '');
    const builtin = runPostconf(dir);
    const all = new Map(builtin);
    probeRaw(dir, builtin.map(([n]) => n));
    const dbms = probeDbmsSuffixes(dir);
    const master = PROGRAMS.map((p) => `${PROBE_PREFIX}${p} unix - - n - - ${p}\n`).join('');
    writeFileSync(join(dir, 'master.cf'), master);
    const probed = runPostconf(dir);
    const suffixes: Record<string, Array<[string, string]>> = {};
    for (const [name, value] of probed) {
      if (!name.startsWith(PROBE_PREFIX)) continue;
      const prog = PROGRAMS.find((p) => name.startsWith(`${PROBE_PREFIX}${p}_`));
      if (!prog) throw new Error(`cannot attribute ${name}`);
      const suffix = name.slice(`${PROBE_PREFIX}${prog}`.length);
      const m = /^\$(\w+)$/.exec(value);
      if (!m) throw new Error(`unexpected service default ${name} = ${value}`);
      (suffixes[prog] ??= []).push([suffix, m[1]]);
    }
    const lines: string[] = [];
    lines.push('/*');
    lines.push(' * mail_params_table - GENERATED by tools/gen_mail_params.ts from Postfix 3.7 postconf -d');
    lines.push(' *');
    lines.push(' * What it does: lists every built-in parameter as [name, type, default,');
    lines.push(' * time unit], the default exactly as `postconf -d` prints it on the');
    lines.push(' * generating host, and the per-service parameter suffixes per program.');
    lines.push(' *');
    lines.push(' * What it does not do: compute host-dependent defaults (mail_params.ts');
    lines.push(' * does). Do not edit by hand; rerun the generator. This file is long');
    lines.push(' * because it is data.');
    lines.push(' *');
    lines.push(' * DIAGNOSTICS');
    lines.push(' * None; it is data.');
    lines.push(' */');
    lines.push('');
    lines.push('export type ParamRow = readonly [name: string, type: string, defaultValue: string, timeUnit?: string];');
    lines.push('');
    lines.push('export const PARAM_ROWS: readonly ParamRow[] = [');
    for (const [name, value0] of builtin) {
      // The pid of the generating postconf is no default; mail_params.ts fills in its own.
      const value = name === PID_PARAM ? '0' : value0;
      const type = classify(name, value, all);
      const row: unknown[] = [name, type, value];
      if (type === 'time') row.push(timeUnit(name, value, all) ?? 's');
      lines.push(`  ${JSON.stringify(row)},`);
    }
    lines.push('];');
    lines.push('');
    // The queue manager's per-transport settings are the same for every
    // delivery program; write them once and only each program's extras.
    const pairKey = ([s, d]: readonly [string, string]): string => `${s} ${d}`;
    const withSuffixes = PROGRAMS.map((p) => suffixes[p] ?? []).filter((l) => l.length > 1);
    const shared = (withSuffixes[0] ?? []).filter((pair) =>
      withSuffixes.every((l) => l.some((q) => pairKey(q) === pairKey(pair))),
    );
    const sharedKeys = new Set(shared.map(pairKey));
    const pairLine = ([s, d]: readonly [string, string], indent = '    '): string =>
      `${indent}[${JSON.stringify(s)}, ${JSON.stringify(d)}],`;
    lines.push('/** Per-transport scheduler settings every delivery program accepts: [suffix, parameter that gives the default]. */');
    lines.push('const SCHEDULER_SUFFIXES: ReadonlyArray<readonly [string, string]> = [');
    for (const pair of shared) lines.push(pairLine(pair, '  '));
    lines.push('];');
    lines.push('');
    lines.push('/** Per program (master.cf command): [suffix, parameter that gives the default]. */');
    lines.push('export const SERVICE_PARAM_SUFFIXES: Readonly<Record<string, ReadonlyArray<readonly [string, string]>>> = {');
    for (const p of PROGRAMS) {
      const list = suffixes[p] ?? [];
      const usesShared = shared.length > 0 && shared.every((pair) => list.some((q) => pairKey(q) === pairKey(pair)));
      lines.push(`  ${JSON.stringify(p)}: [`);
      if (usesShared) lines.push('    ...SCHEDULER_SUFFIXES,');
      for (const pair of list) if (!usesShared || !sharedKeys.has(pairKey(pair))) lines.push(pairLine(pair));
      lines.push('  ],');
    }
    lines.push('};');
    lines.push('');
    lines.push('/** Legacy database client types: suffixes that "type:name" makes valid as name_suffix. */');
    lines.push('export const DBMS_PARAM_SUFFIXES: Readonly<Record<string, readonly string[]>> = {');
    for (const t of DBMS_TYPES) lines.push(`  ${JSON.stringify(t)}: ${JSON.stringify(dbms[t])},`);
    lines.push('};');
    writeFileSync(OUTPUT, lines.join('\n') + '\n');
    process.stdout.write(`wrote ${OUTPUT}: ${builtin.length} parameters\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
