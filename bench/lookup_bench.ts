/*
 * lookup_bench - table lookups per second, Postern beside the real postmap, in one run
 *
 * What it does: writes a 100,000-entry table source ("userN@domainM.example
 * value-N"), has the REAL postmap build lmdb:SOURCE from it, and writes a
 * regexp: table of REGEXP_RULES rules (anchored per-address rules
 * /^userN@domainM\.example$/ with a few generic ones, as a large
 * header_checks or sender table looks). It then makes KEYS keys, a
 * shuffled half that are in the tables and half that are not (the same
 * list for both systems), and for each table type (lmdb:, texthash:,
 * regexp:) measures, in turns (Postfix, Postern, ...), RUNS times:
 *   - "-q - incl. start": `postmap -c DIR -q - TYPE:NAME < keys`, the real
 *     /usr/sbin/postmap and Postern's (node dist/src/postmap/postmap.js),
 *     wall clock from spawn to exit; lookups/s = KEYS ÷ that.
 *   - "steady state": for the real postmap, KEYS ÷ (median time with all
 *     keys − median time with 1 key), i.e. without its start-up and table
 *     open ("-" when the difference drowns in noise); for
 *     Postern, an opened Dict in this process (dictOpen, table opened and
 *     one lookup done before the clock starts) answering every key with
 *     await lookup(), as a daemon does; and the same keys again through
 *     lookupSync() (what match lists and resolve paths use).
 * Both postmaps must print the same number of "key TAB value" lines (the
 * hits) or the bench stops. Medians over RUNS and Postern ÷ Postfix ratios,
 * printed as a table like accept_bench/relay_bench.
 *
 *   node dist/bench/lookup_bench.js [--runs 5] [--keys 20000] [--entries 100000] [--rules 1000]
 *
 * What it does not do: run as part of `npm test`; measure writes (builds)
 * or network tables; pin CPUs (run it on an idle machine and say how idle).
 *
 * DIAGNOSTICS
 * Exits 1 with the reason when a postmap fails, times out, or the two
 * disagree on the number of hits.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { dictCacheClear, dictOpen } from '../src/global/dict.js';
import { loadMailConfig } from '../src/global/mail_conf.js';
import { commandPath } from '../test/lib/paths.js';
import { benchArgs, fmt, median, printTable } from './bench_lib.js';

const REAL_POSTMAP = '/usr/sbin/postmap';
/** Bound on one postmap run. */
export const RUN_TIMEOUT_MS = 10 * 60 * 1000;
/** Domains the entries are spread over. */
const DOMAINS = 1000;
/** Seed of the key shuffle, so every run of the bench asks the same keys. */
const SEED = 0x5eed;

/** A small deterministic PRNG (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const entryKey = (i: number): string => `user${i}@domain${i % DOMAINS}.example`;

/** A key list, in a file for postmap -q - and in memory; oneFile holds its first key. */
interface KeySet {
  file: string;
  oneFile: string;
  keys: string[];
}

interface Fixture {
  dir: string;
  source: string;
  regexp: string;
  byEntry: KeySet;
  byRule: KeySet;
}

function makeFixture(entries: number, rules: number, nkeys: number): Fixture {
  const dir = mkdtempSync(join(tmpdir(), 'postern-lookup-bench-'));
  const main = join(dir, 'main.cf');
  writeFileSync(main, 'compatibility_level = 3.6\n');
  // Postfix waits for a main.cf younger than a second to settle.
  const past = new Date(Date.now() - 60_000);
  utimesSync(main, past, past);
  const lines: string[] = [];
  for (let i = 0; i < entries; i++) lines.push(`${entryKey(i)}\tvalue-${i} smtp:[relay${i % 7}.example]`);
  const source = join(dir, 'table');
  writeFileSync(source, `${lines.join('\n')}\n`);
  // The regexp rules: the first rules-4 per-address ones spread evenly over
  // the entries, then generic rules as real tables end with.
  const step = Math.max(1, Math.floor(entries / Math.max(1, rules - 4)));
  const rx: string[] = [];
  for (let r = 0, i = 0; r < rules - 4 && i < entries; r++, i += step) {
    rx.push(`/^${entryKey(i).replace(/\./g, '\\.')}$/\tvalue-${i}`);
  }
  rx.push('/^postmaster@/\tpm', '/^(.+)\\+(.*)@(.*)$/\tplus $1', '/@spam\\.example$/\tREJECT', '/^root@/i\troot');
  const regexp = join(dir, 'table.regexp');
  writeFileSync(regexp, `${rx.join('\n')}\n`);
  // Keys: half hits, half misses; for regexp: the hits are the per-address rules' keys.
  const ruleCount = rx.length - 4;
  const keySet = (name: string, hitIndex: (r: number) => number): KeySet => {
    const rand = rng(SEED);
    const keys: string[] = [];
    for (let k = 0; k < nkeys; k++) {
      const i = hitIndex(rand());
      keys.push(k % 2 === 0 ? entryKey(i) : `nouser${i}@domain${i % DOMAINS}.example`);
    }
    for (let k = keys.length - 1; k > 0; k--) {
      const j = Math.floor(rand() * (k + 1));
      [keys[k], keys[j]] = [keys[j]!, keys[k]!];
    }
    const file = join(dir, `keys.${name}`);
    writeFileSync(file, `${keys.join('\n')}\n`);
    const oneFile = join(dir, `one-key.${name}`);
    writeFileSync(oneFile, `${keys[0]}\n`);
    return { file, oneFile, keys };
  };
  const byEntry = keySet('entries', (r) => Math.floor(r * entries));
  const byRule = keySet('rules', (r) => Math.floor(r * ruleCount) * step);
  return { dir, source, regexp, byEntry, byRule };
}

/** Run argv with stdin from a file; resolves with wall seconds and the number of output lines. */
function timedRun(argv: string[], stdinFile: string): Promise<{ seconds: number; lines: number }> {
  return new Promise((resolve, reject) => {
    const fd = openSync(stdinFile, 'r');
    const t0 = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { stdio: [fd, 'pipe', 'pipe'] });
    closeSync(fd);
    let lines = 0;
    let stderr = '';
    child.stdout!.on('data', (b: Buffer) => {
      for (const c of b) if (c === 10) lines++;
    });
    child.stderr!.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString('latin1')).slice(-2000);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      // postmap -q - exits 0 when something was found, 1 when nothing was.
      if (code !== 0 && code !== 1) reject(new Error(`${argv.join(' ')}: exit ${code}: ${stderr}`));
      else if (/fatal:/.test(stderr)) reject(new Error(`${argv.join(' ')}: ${stderr}`));
      else resolve({ seconds, lines });
    });
  });
}

/** Build lmdb:SOURCE with the real postmap. */
async function realBuild(fx: Fixture): Promise<void> {
  const r = await timedRun([REAL_POSTMAP, '-c', fx.dir, `lmdb:${fx.source}`], fx.byEntry.oneFile);
  console.log(`real postmap built lmdb:${fx.source} in ${fmt(r.seconds)} s`);
}

/** One run's raw figures: seconds for the postmap runs, lookups/s in-process. */
interface Figures {
  realAll: number;
  realOne: number;
  ourAll: number;
  ourSteady: number;
  ourSync: number;
}

/** An opened Dict in this process: lookups/s with await lookup(), and with lookupSync(). */
async function ourSteady(dir: string, ks: KeySet, spec: string, expectHits: number): Promise<{ async: number; sync: number }> {
  dictCacheClear();
  const dict = dictOpen(spec, { config: loadMailConfig({ configDir: dir }) });
  await dict.lookup(ks.keys[0]!);
  let hits = 0;
  let t0 = process.hrtime.bigint();
  for (const k of ks.keys) if ((await dict.lookup(k)) !== null) hits++;
  const asyncSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (hits !== expectHits) throw new Error(`${spec}: in-process ${hits} keys found, the real postmap ${expectHits}`);
  let syncSeconds = NaN;
  const lookupSync = dict.lookupSync;
  if (lookupSync) {
    t0 = process.hrtime.bigint();
    for (const k of ks.keys) lookupSync.call(dict, k);
    syncSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  }
  await dict.close();
  return { async: ks.keys.length / asyncSeconds, sync: ks.keys.length / syncSeconds };
}

async function oneRun(fx: Fixture, spec: string): Promise<Figures> {
  const ks = spec.startsWith('regexp:') ? fx.byRule : fx.byEntry;
  const q = ['-c', fx.dir, '-q', '-', spec];
  const real = await timedRun([REAL_POSTMAP, ...q], ks.file);
  const realOne = await timedRun([REAL_POSTMAP, ...q], ks.oneFile);
  const ours = await timedRun([process.execPath, commandPath('postmap'), ...q], ks.file);
  if (ours.lines !== real.lines) {
    throw new Error(`${spec}: the real postmap found ${real.lines} keys, Postern's ${ours.lines}`);
  }
  if (real.lines < ks.keys.length / 2) throw new Error(`${spec}: only ${real.lines} of ${ks.keys.length} keys found`);
  const n = ks.keys.length;
  const steady = await ourSteady(fx.dir, ks, spec, real.lines);
  return { realAll: real.seconds, realOne: realOne.seconds, ourAll: ours.seconds, ourSteady: steady.async, ourSync: steady.sync };
}

async function main(): Promise<number> {
  const o = benchArgs(process.argv.slice(2), { runs: 5, keys: 20_000, entries: 100_000, rules: 1000 });
  const load = loadavg().map((l) => fmt(l)).join(' ');
  console.log(`load average at start: ${load}`);
  const fx = makeFixture(o.entries, o.rules, o.keys);
  try {
    await realBuild(fx);
    const specs = [`lmdb:${fx.source}`, `texthash:${fx.source}`, `regexp:${fx.regexp}`];
    const rows = [['lookups/s (median)', 'postfix', 'postern', 'postern/postfix']];
    for (const spec of specs) {
      const runs: Figures[] = [];
      for (let r = 1; r <= o.runs; r++) {
        const f = await oneRun(fx, spec);
        runs.push(f);
        console.log(`run ${r} ${spec.split(':')[0]}: real postmap ${fmt(f.realAll, 3)} s (1 key: ${fmt(f.realOne, 3)} s), ours ${fmt(f.ourAll, 3)} s; in-process ${fmt(f.ourSteady, 0)}/s (sync ${fmt(f.ourSync, 0)}/s)`);
      }
      const med = (k: keyof Figures): number => median(runs.map((f) => f[k]));
      const type = spec.split(':')[0]!;
      const n = o.keys;
      // The real postmap's steady state: its time for all keys less its time for one (start-up, open).
      const realSteadySeconds = med('realAll') - med('realOne');
      const figs = {
        realQ: n / med('realAll'),
        ourQ: n / med('ourAll'),
        realSteady: realSteadySeconds > 0 ? n / realSteadySeconds : NaN,
        ourSteady: med('ourSteady'),
        ourSync: med('ourSync'),
      };
      const medOf = (k: keyof typeof figs): number => figs[k];
      rows.push([`${type} -q - incl. start`, fmt(medOf('realQ'), 0), fmt(medOf('ourQ'), 0), fmt(medOf('ourQ') / medOf('realQ'))]);
      rows.push([`${type} steady state`, fmt(medOf('realSteady'), 0), fmt(medOf('ourSteady'), 0), fmt(medOf('ourSteady') / medOf('realSteady'))]);
      rows.push([`${type} steady, lookupSync`, fmt(medOf('realSteady'), 0), fmt(medOf('ourSync'), 0), fmt(medOf('ourSync') / medOf('realSteady'))]);
    }
    console.log(`\n${o.keys} keys (half hits) over ${o.entries}-entry lmdb:/texthash: tables and a ${o.rules}-rule regexp: table; ${o.runs} runs each, interleaved; load average ${load} at start, ${loadavg().map((l) => fmt(l)).join(' ')} at end`);
    printTable(rows);
    return 0;
  } finally {
    rmSync(fx.dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`lookup_bench: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
