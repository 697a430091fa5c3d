/*
 * accept_bench - acceptance throughput, Postern beside Postfix in one run
 *
 * What it does: starts a throwaway real Postfix (smtpd + cleanup +
 * trivial-rewrite, no qmgr, so accepted mail stays in incoming) and a
 * Postern instance with the same services, each on its own loopback
 * port, then runs Postfix's smtp-source against them in turns (Postfix,
 * Postern, Postfix, Postern, ...): `-s SESSIONS -m MESSAGES -l SIZE`,
 * sender a@example.com, recipient b@example.net (the PERFORMANCE.md
 * s20-1k workload by default). Before each run the incoming queue is
 * emptied; after it the queue must hold exactly MESSAGES files, or the
 * run counts as failed. Both systems fsync each queue file before 250.
 * Client name lookups are off on both sides (no DNS traffic at all), and
 * so are the anvil(8)-backed client limits (Postern has no anvil yet).
 * Reported per system: accept msg/s (messages ÷ smtp-source wall time),
 * CPU seconds per 1000 messages over the whole process tree, peak PSS
 * of the tree; medians over RUNS and the Postern ÷ Postfix ratios.
 *
 *   node dist/bench/accept_bench.js [--runs 3] [--messages 20000] [--sessions 20] [--size 1024]
 *
 * What it does not do: measure delivery (no qmgr yet), or run as part of
 * `npm test` (figures are never asserted in tests). Needs root (the real
 * Postfix runs its daemons as the postfix account).
 *
 * DIAGNOSTICS
 * Exits 1 with the reason when a system does not start, smtp-source
 * fails, or a run leaves the wrong number of queue files.
 */
import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeOracleConfig, ORACLE_MAIN_BASE, type OracleConfig } from '../test/lib/postfix_oracle.js';
import { PosternInstance } from '../test/lib/instance.js';
import { runSmtpSource } from '../test/lib/peers.js';
import { freePort } from '../test/lib/proc.js';
import { benchArgs, CpuByProgramSampler, fmt, median, printTable, PssSampler, treeCpuSeconds } from './bench_lib.js';

/** smtp-source may take this long for one run before the bench gives up. */
export const RUN_TIMEOUT_MS = 15 * 60 * 1000;

/** main.cf settings both systems get on top of their defaults. */
const COMMON_MAIN: Record<string, string> = {
  smtpd_peername_lookup: 'no',
  // No anvil(8) in Postern yet: with every anvil-backed limit off, Postfix's smtpd does not ask it either.
  smtpd_client_connection_count_limit: '0',
  local_recipient_maps: '',
  // Without qmgr no flow-control tokens arrive; Postfix's cleanup would wait in_flow_delay per message.
  in_flow_delay: '0s',
  mynetworks: '127.0.0.0/8',
  message_size_limit: '10240000',
};

/** The mail-in services without qmgr (Postfix names and columns). */
function inServices(port: number): string[] {
  return [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'cleanup unix n - n - 0 cleanup',
    'rewrite unix - - n - - trivial-rewrite',
  ];
}

interface System {
  name: string;
  address: string;
  queueDir: string;
  masterPid(): number;
  stop(): Promise<void>;
}

async function startPostfix(): Promise<System> {
  const port = await freePort();
  const oracle: OracleConfig = makeOracleConfig({
    prefix: 'bench-postfix-',
    ownedDirs: ['data'],
    main: { ...ORACLE_MAIN_BASE, ...COMMON_MAIN },
    master: [...inServices(port), 'postlog unix-dgram n - n - 1 postlogd'],
  });
  await oracle.start();
  const pidFile = join(oracle.queueDir, 'pid', 'master.pid');
  return {
    name: 'postfix',
    address: `127.0.0.1:${port}`,
    queueDir: oracle.queueDir,
    masterPid: () => Number(readFileSync(pidFile, 'latin1').trim()),
    stop: () => oracle.cleanup(),
  };
}

async function startPostern(): Promise<System> {
  const inst = await PosternInstance.create({
    prefix: 'bench-postern-',
    main: COMMON_MAIN,
    masterLines: [...inServices(0).slice(1), '127.0.0.1:${port:smtp} inet n - n - - smtpd', 'postlog unix-dgram n - n - 1 postlogd'],
    ports: ['smtp'],
    // master alone, as `postfix start` leaves it (start-fg would add its waiting parent to the tree).
    startWith: 'master',
  });
  await inst.start();
  return {
    name: 'postern',
    address: inst.address('smtp'),
    queueDir: inst.queueDir,
    masterPid: () => inst.child?.pid ?? 0,
    stop: () => inst.cleanup(),
  };
}

function queueFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

interface RunResult {
  msgPerSec: number;
  cpuPer1000: number;
  peakPssMb: number;
  /** Per-program CPU lines (CpuByProgramSampler). */
  breakdown: string[];
}

async function oneRun(sys: System, o: { messages: number; sessions: number; size: number }): Promise<RunResult> {
  const incoming = join(sys.queueDir, 'incoming');
  for (const f of queueFiles(incoming)) rmSync(f, { force: true });
  const pid = sys.masterPid();
  const cpu0 = treeCpuSeconds(pid);
  const byProgram = new CpuByProgramSampler(pid);
  const pss = new PssSampler(pid);
  const t0 = process.hrtime.bigint();
  const r = await runSmtpSource({
    server: sys.address,
    messages: o.messages,
    sessions: o.sessions,
    size: o.size,
    from: 'a@example.com',
    to: 'b@example.net',
    timeoutMs: RUN_TIMEOUT_MS,
  });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const peak = pss.stop();
  const cpu = treeCpuSeconds(pid) - cpu0;
  const breakdown = byProgram.stop(o.messages);
  if (r.status !== 0) throw new Error(`${sys.name}: smtp-source exited ${r.status}: ${r.stderr}`);
  const files = queueFiles(incoming).filter((f) => (statSync(f).mode & 0o700) === 0o700);
  if (files.length !== o.messages) throw new Error(`${sys.name}: ${files.length} complete queue files after ${o.messages} messages`);
  return { msgPerSec: o.messages / wall, cpuPer1000: (cpu * 1000) / o.messages, peakPssMb: peak / 1024, breakdown };
}

export async function main(argv: string[]): Promise<number> {
  const o = benchArgs(argv, { runs: 3, messages: 20000, sessions: 20, size: 1024 });
  const systems: System[] = [];
  try {
    systems.push(await startPostfix());
    systems.push(await startPostern());
    const results = new Map<string, RunResult[]>(systems.map((s) => [s.name, []]));
    for (let run = 1; run <= o.runs; run++) {
      for (const sys of systems) {
        const r = await oneRun(sys, o);
        results.get(sys.name)?.push(r);
        console.log(`run ${run} ${sys.name}: ${fmt(r.msgPerSec, 0)} msg/s, ${fmt(r.cpuPer1000)} CPU s/1000, peak PSS ${fmt(r.peakPssMb, 1)} MB`);
        for (const line of r.breakdown) console.log(line);
      }
    }
    const med = (name: string, k: Exclude<keyof RunResult, 'breakdown'>): number => median((results.get(name) ?? []).map((r) => r[k]));
    const rows = [['figure (median)', 'postfix', 'postern', 'postern/postfix']];
    for (const [label, k] of [
      ['accept msg/s', 'msgPerSec'],
      ['CPU s / 1000 msg', 'cpuPer1000'],
      ['peak PSS MB', 'peakPssMb'],
    ] as const) {
      const a = med('postfix', k);
      const b = med('postern', k);
      rows.push([label, fmt(a), fmt(b), fmt(b / a)]);
    }
    console.log(`\nsmtp-source -s ${o.sessions} -m ${o.messages} -l ${o.size}, ${o.runs} runs each, interleaved`);
    printTable(rows);
    return 0;
  } catch (err) {
    console.error(`accept_bench: ${(err as Error).message}`);
    return 1;
  } finally {
    for (const s of systems) await s.stop().catch(() => undefined);
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
