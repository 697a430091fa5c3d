/*
 * relay_bench - end-to-end relay throughput and single-message latency,
 * Postern beside Postfix in one run
 *
 * What it does: starts a throwaway real Postfix and a Postern instance,
 * each with the whole mail system (smtpd, cleanup, trivial-rewrite,
 * qmgr, smtp, bounce..., and scache for Postfix, whose smtp(8) caches
 * connections there; Postern's keeps them in its own process) on its
 * own loopback port, and one Postfix smtp-sink per system as the far
 * end (relayhost = [127.0.0.1]:SINK, no DNS). For each run, in turns
 * (Postfix, Postern, Postfix, ...):
 *   - throughput: smtp-source `-s SESSIONS -m MESSAGES -l SIZE` into the
 *     system; the clock stops when the sink has counted every message
 *     and the system's queues are empty. msg/s = MESSAGES ÷ that time.
 *   - latency: LATENCY_SAMPLES single messages one after another
 *     (smtp-source -m 1), each timed from the start of the SMTP session to
 *     the sink's count moving; the run's figure is their median.
 * Also reported: CPU seconds per 1000 messages over each system's process
 * tree (the sink is not in it) and the tree's peak PSS during the
 * throughput phase. Medians over RUNS and Postern ÷ Postfix ratios.
 *
 *   node dist/bench/relay_bench.js [--runs 3] [--messages 20000] [--sessions 20] [--size 1024] [--samples 20]
 *
 * What it does not do: run as part of `npm test`, or measure anything
 * but relaying to one destination. Needs root.
 *
 * DIAGNOSTICS
 * Exits 1 with the reason when a system does not start, smtp-source
 * fails, or the sink does not get every message within RUN_TIMEOUT_MS.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeOracleConfig, ORACLE_MAIL_SERVICES, ORACLE_MAIN_BASE } from '../test/lib/postfix_oracle.js';
import { MAIL_OUT_SERVICES, PosternInstance } from '../test/lib/instance.js';
import { runSmtpSource } from '../test/lib/peers.js';
import { freePort, waitFor, waitForPort } from '../test/lib/proc.js';
import { benchArgs, CpuByProgramSampler, fmt, median, printTable, PssSampler, treeCpuSeconds } from './bench_lib.js';

export const RUN_TIMEOUT_MS = 20 * 60 * 1000;
/** Bound on one single-message latency sample. */
export const SAMPLE_TIMEOUT_MS = 30_000;
const SINK = '/usr/sbin/smtp-sink';

/** main.cf settings both systems get on top of their defaults. */
function commonMain(sinkPort: number): Record<string, string> {
  return {
    smtpd_peername_lookup: 'no',
    smtpd_client_connection_count_limit: '0',
    mynetworks: '127.0.0.0/8',
    // No proxymap on either side: Postfix's smtpd would wait for it to check local recipients.
    local_recipient_maps: '',
    relayhost: `[127.0.0.1]:${sinkPort}`,
    message_size_limit: '10240000',
  };
}

/** A counting smtp-sink without a dump (the far end must not be the bottleneck). */
class CountingSink {
  #out = '';
  private constructor(readonly port: number, readonly child: ChildProcess) {
    child.stdout?.on('data', (b: Buffer) => {
      this.#out = (this.#out + b.toString('latin1')).slice(-4096);
    });
  }
  static async start(): Promise<CountingSink> {
    const port = await freePort();
    const child = spawn(SINK, ['-c', '-u', 'nobody', `127.0.0.1:${port}`, '256'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await waitForPort(port);
    return new CountingSink(port, child);
  }
  count(): number {
    const all = [...this.#out.matchAll(/mesg=(\d+)/g)];
    return all.length > 0 ? Number(all[all.length - 1][1]) : 0;
  }
  stop(): void {
    this.child.kill('SIGTERM');
  }
}

interface System {
  name: string;
  address: string;
  queueDir: string;
  sink: CountingSink;
  masterPid(): number;
  stop(): Promise<void>;
}

function queuedCount(queueDir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory()) walk(join(d, e.name));
      else n++;
    }
  };
  for (const q of ['incoming', 'active', 'deferred', 'hold']) walk(join(queueDir, q));
  return n;
}

async function startPostfix(): Promise<System> {
  const sink = await CountingSink.start();
  const port = await freePort();
  const oracle = makeOracleConfig({
    prefix: 'bench-postfix-',
    ownedDirs: ['data'],
    main: { ...ORACLE_MAIN_BASE, ...commonMain(sink.port) },
    // scache as in Postfix's default master.cf: without it smtp(8) cannot reuse connections.
    master: [`127.0.0.1:${port} inet n - n - - smtpd`, ...ORACLE_MAIL_SERVICES, 'scache unix - - n - 1 scache'],
  });
  await oracle.start();
  const pidFile = join(oracle.queueDir, 'pid', 'master.pid');
  return {
    name: 'postfix',
    address: `127.0.0.1:${port}`,
    queueDir: oracle.queueDir,
    sink,
    masterPid: () => Number(readFileSync(pidFile, 'latin1').trim()),
    stop: async () => {
      await oracle.cleanup();
      sink.stop();
    },
  };
}

async function startPostern(): Promise<System> {
  const sink = await CountingSink.start();
  const inst = await PosternInstance.create({
    prefix: 'bench-postern-',
    main: commonMain(sink.port),
    masterLines: [...MAIL_OUT_SERVICES],
    ports: ['smtp'],
    startWith: 'master',
  });
  await inst.start();
  return {
    name: 'postern',
    address: inst.address('smtp'),
    queueDir: inst.queueDir,
    sink,
    masterPid: () => inst.child?.pid ?? 0,
    stop: async () => {
      await inst.cleanup();
      sink.stop();
    },
  };
}

interface RunResult {
  msgPerSec: number;
  cpuPer1000: number;
  peakPssMb: number;
  latencyMs: number;
  /** Per-program CPU lines (CpuByProgramSampler). */
  breakdown: string[];
}

async function throughput(sys: System, o: { messages: number; sessions: number; size: number }): Promise<Omit<RunResult, 'latencyMs'>> {
  const pid = sys.masterPid();
  const cpu0 = treeCpuSeconds(pid);
  const byProgram = new CpuByProgramSampler(pid);
  const pss = new PssSampler(pid);
  const target = sys.sink.count() + o.messages;
  const t0 = process.hrtime.bigint();
  const r = await runSmtpSource({ server: sys.address, messages: o.messages, sessions: o.sessions, size: o.size, from: 'a@example.com', to: 'b@example.net', timeoutMs: RUN_TIMEOUT_MS });
  if (r.status !== 0) throw new Error(`${sys.name}: smtp-source exited ${r.status}: ${r.stderr}`);
  console.log(`  ${sys.name}: smtp-source done after ${fmt(Number(process.hrtime.bigint() - t0) / 1e9, 1)} s; waiting for the sink (${sys.sink.count()}/${target})`);
  await waitFor(`${sys.name}: every message at the sink`, () => sys.sink.count() >= target && queuedCount(sys.queueDir) === 0, RUN_TIMEOUT_MS);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const peak = pss.stop();
  const cpu = treeCpuSeconds(pid) - cpu0;
  return { msgPerSec: o.messages / wall, cpuPer1000: (cpu * 1000) / o.messages, peakPssMb: peak / 1024, breakdown: byProgram.stop(o.messages) };
}

async function latency(sys: System, samples: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const target = sys.sink.count() + 1;
    const t0 = process.hrtime.bigint();
    const r = await runSmtpSource({ server: sys.address, messages: 1, sessions: 1, size: 1024, from: 'a@example.com', to: 'b@example.net', timeoutMs: SAMPLE_TIMEOUT_MS });
    if (r.status !== 0) throw new Error(`${sys.name}: smtp-source exited ${r.status}: ${r.stderr}`);
    await waitFor(`${sys.name}: the message at the sink`, () => sys.sink.count() >= target, SAMPLE_TIMEOUT_MS, 2);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(times);
}

export async function main(argv: string[]): Promise<number> {
  const o = benchArgs(argv, { runs: 3, messages: 20000, sessions: 20, size: 1024, samples: 20 });
  const systems: System[] = [];
  try {
    console.log('starting postfix and postern, each with its own smtp-sink');
    systems.push(await startPostfix());
    systems.push(await startPostern());
    const results = new Map<string, RunResult[]>(systems.map((s) => [s.name, []]));
    for (let run = 1; run <= o.runs; run++) {
      for (const sys of systems) {
        const r = { ...(await throughput(sys, o)), latencyMs: await latency(sys, o.samples) };
        results.get(sys.name)?.push(r);
        console.log(`run ${run} ${sys.name}: ${fmt(r.msgPerSec, 0)} msg/s, ${fmt(r.cpuPer1000)} CPU s/1000, peak PSS ${fmt(r.peakPssMb, 1)} MB, latency ${fmt(r.latencyMs, 1)} ms`);
        for (const line of r.breakdown) console.log(line);
      }
    }
    const med = (name: string, k: Exclude<keyof RunResult, 'breakdown'>): number => median((results.get(name) ?? []).map((r) => r[k]));
    const rows = [['figure (median)', 'postfix', 'postern', 'postern/postfix']];
    for (const [label, k] of [
      ['relay msg/s', 'msgPerSec'],
      ['latency ms (1 message)', 'latencyMs'],
      ['CPU s / 1000 msg', 'cpuPer1000'],
      ['peak PSS MB', 'peakPssMb'],
    ] as const) {
      const a = med('postfix', k);
      const b = med('postern', k);
      rows.push([label, fmt(a), fmt(b), fmt(b / a)]);
    }
    console.log(`\nsmtp-source -s ${o.sessions} -m ${o.messages} -l ${o.size} → smtp-sink, ${o.runs} runs each, interleaved; latency: median of ${o.samples}`);
    printTable(rows);
    return 0;
  } catch (err) {
    console.error(`relay_bench: ${(err as Error).message}`);
    return 1;
  } finally {
    for (const s of systems) await s.stop().catch(() => undefined);
  }
}

main(process.argv.slice(2)).then((code) => process.exit(code));
