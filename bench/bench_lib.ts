/*
 * bench_lib - what every side-by-side benchmark needs: process-tree CPU
 * and memory readings, medians and ratios, and a report printer
 *
 * What it does: treeCpuSeconds(pid) sums user+system time of a process
 * and all its live descendants plus what the tree has reaped (cutime and
 * cstime of each member), so a worker that exited mid-run still counts.
 * treePssKb(pid) sums Pss from /proc/PID/smaps_rollup over the tree;
 * PssSampler keeps the peak while a run goes on. median() and ratio()
 * are what reports are made of; printTable() writes aligned columns.
 *
 * What it does not do: start systems or load generators (each bench
 * does), or decide what is compared.
 *
 * DIAGNOSTICS
 * Processes that vanish between listing and reading are skipped; a
 * reading of a tree that is gone is 0.
 */
import { readFileSync } from 'node:fs';
import { descendantsOf } from '../test/lib/proc.js';

/** Clock ticks per second on Linux (sysconf(_SC_CLK_TCK) is 100 on every supported kernel). */
export const CLK_TCK = 100;
/** How often PssSampler reads the tree. */
export const PSS_SAMPLE_MS = 250;

function statFields(pid: number): string[] | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name is parenthesised and may hold spaces: split after it.
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU seconds used by the tree under pid (live members plus everything they reaped). */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of [pid, ...descendantsOf(pid)]) {
    const f = statFields(p);
    // Fields after the name: state is [0]; utime [11], stime [12], cutime [13], cstime [14].
    if (f) ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / CLK_TCK;
}

/** A process's name for breakdowns: the program file of a Node worker, else the command name. */
function processLabel(pid: number): string {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
    const script = argv.find((a) => /\.js$/.test(a));
    if (script) return script.replace(/^.*\//, '').replace(/\.js$/, '');
    return argv[0].replace(/^.*\//, '');
  } catch {
    return '?';
  }
}

interface ProcCpu {
  label: string;
  user: number;
  sys: number;
}

/**
 * Samples the CPU of every process of a tree while a run goes on, so
 * workers that exit mid-run are counted up to their last sample (at most
 * PSS_SAMPLE_MS of their time is lost); stop() gives each program's CPU
 * since the sampler started.
 */
export class CpuByProgramSampler {
  readonly #first = new Map<number, ProcCpu>();
  readonly #last = new Map<number, ProcCpu>();
  readonly #timer: NodeJS.Timeout;
  constructor(pid: number) {
    const sample = (first: boolean): void => {
      for (const p of [pid, ...descendantsOf(pid)]) {
        const f = statFields(p);
        if (!f) continue;
        const prev = this.#last.get(p);
        const e = { label: prev?.label ?? processLabel(p), user: Number(f[11]) / CLK_TCK, sys: Number(f[12]) / CLK_TCK };
        if (first) this.#first.set(p, e);
        this.#last.set(p, e);
      }
    };
    sample(true);
    this.#timer = setInterval(() => sample(false), PSS_SAMPLE_MS);
  }
  /** Stops sampling; "name user sys" lines in CPU seconds per 1000 messages. */
  stop(messages: number): string[] {
    clearInterval(this.#timer);
    const sums = new Map<string, { user: number; sys: number }>();
    for (const [pid, e] of this.#last) {
      const f = this.#first.get(pid) ?? { user: 0, sys: 0 };
      const t = sums.get(e.label) ?? { user: 0, sys: 0 };
      t.user += e.user - f.user;
      t.sys += e.sys - f.sys;
      sums.set(e.label, t);
    }
    const lines: string[] = [];
    for (const [name, t] of [...sums].sort((x, y) => y[1].user + y[1].sys - x[1].user - x[1].sys)) {
      const u = (t.user * 1000) / messages;
      const s = (t.sys * 1000) / messages;
      if (u + s > 0) lines.push(`  ${name.padEnd(16)} user ${fmt(u)}  sys ${fmt(s)}  CPU s/1000`);
    }
    return lines;
  }
}

/** PSS in KiB summed over the tree under pid. */
export function treePssKb(pid: number): number {
  let kb = 0;
  for (const p of [pid, ...descendantsOf(pid)]) {
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'latin1'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone meanwhile
    }
  }
  return kb;
}

/** Samples a tree's PSS until stop(); peakKb is the largest sum seen. */
export class PssSampler {
  peakKb = 0;
  readonly #timer: NodeJS.Timeout;
  constructor(pid: number) {
    const sample = (): void => {
      this.peakKb = Math.max(this.peakKb, treePssKb(pid));
    };
    sample();
    this.#timer = setInterval(sample, PSS_SAMPLE_MS);
  }
  stop(): number {
    clearInterval(this.#timer);
    return this.peakKb;
  }
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function fmt(n: number, digits = 2): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

/** Prints rows as aligned columns (first row is the heading). */
export function printTable(rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
}

/** Reads "--name value" options with defaults; unknown options are an error. */
export function benchArgs<T extends Record<string, number>>(argv: readonly string[], defaults: T): T {
  const out: Record<string, number> = { ...defaults };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in defaults) || argv[i + 1] === undefined || !/^\d+$/.test(argv[i + 1])) {
      throw new Error(`usage: ${Object.keys(defaults).map((k) => `--${k} N`).join(' ')} (bad: ${argv[i]})`);
    }
    out[name] = Number(argv[i + 1]);
  }
  return out as T;
}
