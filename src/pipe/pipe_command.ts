/*
 * pipe_command - run one external command with a message on its input (Postfix pipe_command.c, sys_exits.c)
 *
 * What it does: pipeCommand() spawns argv[0] with the argument vector as
 * given (child_process.spawn with an array: no shell, nothing in an
 * argument is ever interpreted), in its own process group, with the
 * given uid/gid (when we are root), a cleaned environment (only the
 * export_environment names, PATH=/usr/bin:/bin) and working directory.
 * It copies the message into the command's standard input with
 * mailCopy() (flags, eol, Delivered-To/X-Original-To values), captures
 * at most PIPE_OUTPUT_LIMIT bytes of its merged stdout/stderr (tabs and
 * newlines become spaces, other unprintable bytes '_'), and enforces
 * the time limit by killing the whole process group with SIGKILL.
 * The outcome is classified as Postfix does: exit 0 is OK (the output
 * is kept as the reason); output that starts with "4.X.X"/"5.X.X" wins
 * over the exit status; sysexits(3) codes map to Postfix's status and
 * text ("temporary failure" 4.3.0, "user unknown" 5.1.1, ...); any other
 * code is 5.3.0 "Command died with status N: \"argv0\"", a signal 4.3.0
 * "Command died with signal N", the time limit 5.3.0 "Command time limit
 * exceeded"; each with ". Command output: ..." when there was output
 * (texts and codes checked against Postfix 3.7 in
 * test/oracle/pipe_status_test.ts). A command that stops reading early
 * (EPIPE) is not an error.
 *
 * What it does not do: decide bounce or defer per recipient, log the
 * delivery, or expand macros (pipe.ts, pipe_expand.ts).
 *
 * DIAGNOSTICS
 * "warning: pipe_command_read: read time limit exceeded" (or _write) when
 * the time limit strikes, as Postfix. Never throws; spawn failures (no
 * such program, bad directory) are reported as Postfix's child would
 * report them: EX_TEMPFAIL with "pipe: fatal: ..." as command output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { dsnMake, type Dsn } from '../global/dsn.js';
import { mailCopy, MAIL_COPY_STAT, type MailCopyResult } from '../global/mail_copy.js';
import { dsnValid } from '../global/header_body_checks.js';
import { printableBytes } from '../util/printable.js';
import { strerror } from '../util/strerror.js';
import { msgWarn } from '../util/msg.js';
import { EX_SOFTWARE, EX_TEMPFAIL, SYS_EXITS, sysExitsDetail } from '../global/sys_exits.js';

/** Postfix VSTREAM_BUFSIZE: how much command output is kept. */
export const PIPE_OUTPUT_LIMIT = 4096;
/** Postfix _PATH_DEFPATH. */
export const PIPE_DEFAULT_PATH = '/usr/bin:/bin';
/** After SIGKILL, how long to wait for the exit status before giving up on the child. */
export const PIPE_KILL_WAIT_MS = 5_000;

export { EX_SOFTWARE, EX_TEMPFAIL, SYS_EXITS, sysExitsDetail };

export type PipeStat = 'ok' | 'bounce' | 'defer' | 'corrupt';

export interface PipeCommandOptions {
  argv: readonly string[];
  /** Run as this uid/gid (only applied when we are root). */
  uid: number;
  gid: number;
  cwd: string;
  timeLimitMs: number;
  /** export_environment names. */
  exportEnv: readonly string[];
  queueFilePath: string;
  dataOffset: number;
  sender: string;
  flags: number;
  eol: string;
  deliveredTo?: string;
  origRcpt?: string;
  /** Program name in the fatal text of a child that cannot start ("pipe"). */
  procName?: string;
}

export interface PipeCommandResult {
  stat: PipeStat;
  /** For 'ok', reason is the (trimmed) command output; else the full reason. */
  dsn: Dsn;
}

function unixDsn(status: string, dtext: string, reason: string): Dsn {
  return dsnMake(status, reason, { dtype: 'x-unix', dtext });
}

/** Postfix translit("\t\n", "  ") then printable(_). */
function cleanOutput(buf: Buffer): string {
  const copy = Buffer.from(buf);
  for (let i = 0; i < copy.length; i++) if (copy[i] === 0x09 || copy[i] === 0x0a) copy[i] = 0x20;
  return printableBytes(copy, false, 0x5f).toString('latin1');
}

function cleanEnv(names: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const n of names) {
    const v = process.env[n];
    if (v !== undefined) env[n] = v;
  }
  env.PATH = PIPE_DEFAULT_PATH;
  return env;
}

/** Ends a Writable; settles even when it was destroyed or fails (end()'s callback may never run then). */
export function endStream(w: Writable, last?: Buffer): Promise<void> {
  return new Promise<void>((resolve) => {
    if (w.destroyed || w.writableFinished) {
      resolve();
      return;
    }
    const done = (): void => resolve();
    w.once('finish', done);
    w.once('close', done);
    w.once('error', done);
    if (last) w.end(last);
    else w.end();
  });
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
}

export async function pipeCommand(opts: PipeCommandOptions): Promise<PipeCommandResult> {
  const command = opts.argv[0] ?? '';
  const procName = opts.procName ?? 'pipe';
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  try {
    if (!(await stat(opts.cwd)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (e) {
    return spawnFailure(command, opts, procName, e, 'chdir');
  }
  let child: ChildProcess;
  try {
    child = spawn(command, opts.argv.slice(1), {
      cwd: opts.cwd,
      env: cleanEnv(opts.exportEnv),
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
      shell: false,
      windowsHide: true,
      ...(asRoot ? { uid: opts.uid, gid: opts.gid } : {}),
    });
  } catch (e) {
    return spawnFailure(command, opts, procName, e, 'exec');
  }

  const out: Buffer[] = [];
  let outLen = 0;
  const collect = (chunk: Buffer): void => {
    if (outLen >= PIPE_OUTPUT_LIMIT) return;
    const take = chunk.subarray(0, PIPE_OUTPUT_LIMIT - outLen);
    out.push(take);
    outLen += take.length;
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  child.stdout!.on('error', () => undefined);
  child.stderr!.on('error', () => undefined);
  let writeErrCode: string | undefined;
  child.stdin!.on('error', (e: NodeJS.ErrnoException) => {
    writeErrCode ??= e.code ?? 'EIO';
  });

  let spawnError: unknown = null;
  let timedOut = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      // Nothing will read what mailCopy writes: end the copy now.
      child.stdin!.destroy();
      resolve({ code: null, signal: null });
    });
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), opts.timeLimitMs);
  });

  let copyDone = false;
  const copyWork = (async () => {
    const r = await mailCopy({
      queueFilePath: opts.queueFilePath,
      dataOffset: opts.dataOffset,
      sender: opts.sender,
      deliveredTo: opts.deliveredTo,
      origRcpt: opts.origRcpt,
      flags: opts.flags,
      eol: opts.eol,
      out: child.stdin!,
    });
    await endStream(child.stdin!);
    copyDone = true;
    return r;
  })().catch((e: unknown): MailCopyResult => {
    child.stdin!.destroy();
    copyDone = true;
    return { ok: false, stat: MAIL_COPY_STAT.WRITE, dsn: dsnMake('4.3.0', `error writing message: ${strerror(e)}`) };
  });

  // Everything the command does must finish within the time limit.
  const first = await Promise.race([Promise.all([copyWork, exited]).then(() => 'done' as const), deadline]);
  if (first === 'timeout') {
    timedOut = true;
    msgWarn(copyDone ? 'pipe_command_read: read time limit exceeded' : 'pipe_command_write: write time limit exceeded');
    killGroup(child);
    child.stdin!.destroy();
  }
  const killWait = new Promise<null>((resolve) => setTimeout(() => resolve(null), PIPE_KILL_WAIT_MS).unref());
  const status = (await Promise.race([exited, killWait])) ?? { code: null, signal: 'SIGKILL' as NodeJS.Signals };
  clearTimeout(timer);
  if (timedOut) {
    child.stdout!.destroy();
    child.stderr!.destroy();
  }
  const copy = await copyWork;

  if (spawnError !== null) return spawnFailure(command, opts, procName, spawnError, 'exec');

  const log = cleanOutput(Buffer.concat(out));
  const outputSuffix = log.length > 0 ? `. Command output: ${log}` : '';
  if (timedOut) {
    return { stat: 'bounce', dsn: unixDsn('5.3.0', log || sysExitsDetail(EX_SOFTWARE).text, `Command time limit exceeded: "${command}"${outputSuffix}`) };
  }
  if (status.signal !== null) {
    const signo = signalNumber(status.signal);
    return { stat: 'defer', dsn: unixDsn('4.3.0', log || sysExitsDetail(EX_SOFTWARE).text, `Command died with signal ${signo}: "${command}"${outputSuffix}`) };
  }
  const code = status.code ?? 0;
  if (code !== 0) {
    const dlen = dsnValid(log);
    if (dlen > 0) {
      const text = log.slice(dlen).replace(/^[ \t\n\r\v\f]+/, '');
      const st = log.slice(0, dlen);
      return { stat: st[0] === '4' ? 'defer' : 'bounce', dsn: unixDsn(st, text, text) };
    }
    const sp = sysExitsDetail(code);
    if (SYS_EXITS[code] !== undefined) {
      return { stat: sp.dsn[0] === '4' ? 'defer' : 'bounce', dsn: unixDsn(sp.dsn, log || sp.text, `${sp.text}${outputSuffix}`) };
    }
    return { stat: 'bounce', dsn: unixDsn(sp.dsn, log || sp.text, `Command died with status ${code}: "${command}"${outputSuffix}`) };
  }
  if (!copy.ok && copy.stat & MAIL_COPY_STAT.CORRUPT) return { stat: 'corrupt', dsn: copy.dsn };
  if (!copy.ok && writeErrCode !== 'EPIPE' && !(copy.stat & MAIL_COPY_STAT.WRITE && writeErrCode === undefined && isEpipeText(copy.dsn.reason))) {
    return { stat: copy.dsn.status.charAt(0) === '4' ? 'defer' : 'bounce', dsn: { ...copy.dsn, reason: `Command failed: ${copy.dsn.reason}: "${command}"` } };
  }
  return { stat: 'ok', dsn: dsnMake('2.0.0', log.trim()) };
}

function isEpipeText(reason: string): boolean {
  return /broken pipe|EPIPE/i.test(reason);
}

const SIGNALS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

function signalNumber(sig: string): number {
  return SIGNALS[sig] ?? 0;
}

/** What Postfix's child reports when it cannot chdir or exec: EX_TEMPFAIL and a fatal line as output. */
function spawnFailure(command: string, opts: PipeCommandOptions, procName: string, e: unknown, what: 'chdir' | 'exec'): PipeCommandResult {
  const err = strerror(e);
  const text = what === 'chdir'
    ? `${procName}: fatal: cannot change directory to "${opts.cwd}" for uid=${opts.uid} gid=${opts.gid}: ${err}`
    : `${procName}: fatal: pipe_command: execvp ${command}: ${err}`;
  // The child's fatal line ends in a newline, which becomes a space as all command output.
  const out = `${text} `;
  const sp = sysExitsDetail(EX_TEMPFAIL);
  return { stat: 'defer', dsn: unixDsn(sp.dsn, out, `${sp.text}. Command output: ${out}`) };
}
