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
