/*
 * local_command_run - run one delivery command with the message on stdin (Postfix pipe_command.c, exec_command.c, sys_exits.c)
 *
 * What it does: runCommand() starts the command the way Postfix does for
 * |command and mailbox_command: when the text has only "safe" characters
 * (Postfix's exec_command list: letters, digits, !@%-_=+:,./ space tab)
 * it is split on blanks and executed directly; otherwise, or when the
 * program is not found without a "/" (a shell built-in), it runs as
 * /bin/sh -c TEXT (or local_command_shell TEXT). The command text comes
 * from aliases, .forward, :include: or main.cf - never from the message:
 * addresses reach the command only as environment variables, already
 * censored by command_expansion_filter. The child gets its own session
 * (so the time limit kills it and its children), the recipient's uid/gid
 * when we are root, a clean environment (export_environment names, PATH,
 * then the given variables), the message on stdin via mailCopy(), and up
 * to COMMAND_OUTPUT_LIMIT bytes of stdout+stderr are kept for the report.
 * The result follows Postfix: exit 0 = ok; an enhanced status code at the
 * start of the output wins; sysexits(3) codes map to their DSN (4.x.x
 * defers, others bounce); other exit codes bounce ("Command died with
 * status N"); a signal defers; the time limit bounces ("Command time
 * limit exceeded").
 *
 * What it does not do: choose the rights or the text (local_command.ts).
 *
 * DIAGNOSTICS
 * Never throws; the DSN has dtype "x-unix" and the captured output (or
 * the sysexits text) as diagnostic text, as Postfix's dsb_unix().
 */
import { SYS_EXITS } from '../global/sys_exits.js';
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { dsnMake, type Dsn } from '../global/dsn.js';
import { mailCopy, MAIL_COPY_STAT } from '../global/mail_copy.js';
import { strerror } from '../util/strerror.js';

/** Postfix reads at most VSTREAM_BUFSIZE - 1 bytes of command output. */
export const COMMAND_OUTPUT_LIMIT = 4095;
/** _PATH_DEFPATH of glibc. */
export const COMMAND_DEFAULT_PATH = '/usr/bin:/bin';
export const BIN_SH = '/bin/sh';
const SAFE_CHARS = /^[0-9!@%\-_=+:,./a-zA-Z \t]*$/;


export interface RunCommandOptions {
  command: string;
  uid?: number;
  gid?: number;
  env: Array<[string, string]>;
  exportNames: string[];
  shell: string;
  cwd: string;
  timeLimitMs: number;
  copy: { queueFilePath: string; dataOffset: number; sender: string; origRcpt: string; deliveredTo: string; flags: number };
}

export type RunCommandResult = { status: 'ok' } | { status: 'bounce' | 'defer' | 'corrupt'; dsn: Dsn };

/** The argv Postfix would exec: direct when safe, else through the shell. */
export function commandArgv(command: string, shell: string): { argv: string[]; direct: boolean } {
  if (shell.trim() !== '') return { argv: [...shell.trim().split(/[ \t]+/), command], direct: false };
  if (SAFE_CHARS.test(command) && /[^ \t]/.test(command)) return { argv: command.split(/[ \t]+/).filter((w) => w !== ''), direct: true };
  return { argv: [BIN_SH, '-c', command], direct: false };
}

/** Postfix translit "\t\n" -> "  " then printable(): other non-printables become "_". */
export function cleanOutput(text: string): string {
  return text.replace(/[\t\n]/g, ' ').replace(/[\x00-\x1f\x7f]/g, '_');
}

function unixDsn(status: string, dtext: string, reason: string): Dsn {
  return dsnMake(status, reason, { dtype: 'x-unix', dtext });
}

/** Postfix dsn_valid()+dsn_split() on command output: "4.x.y text" / "5.x.y text". */
export function splitDsnOutput(out: string): { status: string; text: string } | null {
  const m = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)(.*)$/s.exec(out);
  return m ? { status: m[1]!, text: m[2]! } : null;
}

export async function runCommand(opts: RunCommandOptions): Promise<RunCommandResult> {
  const attempt = await runOnce(opts, commandArgv(opts.command, opts.shell).argv);
  if (attempt.kind === 'enoent' && commandArgv(opts.command, opts.shell).direct && !attempt.argv0.includes('/')) {
    const viaShell = await runOnce(opts, [BIN_SH, '-c', opts.command]);
    return viaShell.kind === 'done' ? viaShell.result : spawnFailure(opts, viaShell.err);
  }
  return attempt.kind === 'done' ? attempt.result : spawnFailure(opts, attempt.err);
}

function spawnFailure(opts: RunCommandOptions, err: unknown): RunCommandResult {
  // Postfix's child dies with "execvp: ..." and exits 75-ish through msg_fatal; report as a temporary failure.
  return { status: 'defer', dsn: unixDsn('4.3.0', SYS_EXITS[71]!.text, `Command failed: ${strerror(err)}: "${opts.command}"`) };
}

type Once = { kind: 'done'; result: RunCommandResult } | { kind: 'enoent'; argv0: string; err: unknown } | { kind: 'error'; err: unknown };

function runOnce(opts: RunCommandOptions, argv: string[]): Promise<Once> {
  return new Promise((resolve) => {
    const env: Record<string, string> = {};
    for (const name of opts.exportNames) {
      const v = process.env[name];
      if (v !== undefined) env[name] = v;
    }
    env.PATH = COMMAND_DEFAULT_PATH;
    for (const [k, v] of opts.env) env[k] = v;
    let child;
    try {
      child = spawn(argv[0]!, argv.slice(1), {
        argv0: argv[0] === BIN_SH ? 'sh' : argv[0],
        cwd: opts.cwd,
        env,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
        ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
        ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
      });
    } catch (err) {
      resolve({ kind: 'error', err });
      return;
    }
    let spawnError: NodeJS.ErrnoException | null = null;
    const chunks: Buffer[] = [];
    let kept = 0;
    const keep = (b: Buffer): void => {
      if (kept >= COMMAND_OUTPUT_LIMIT) return;
      const part = b.subarray(0, COMMAND_OUTPUT_LIMIT - kept);
      chunks.push(part);
      kept += part.length;
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.stdin!.on('error', () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, opts.timeLimitMs);
    let copyStat = 0;
    let copyErr: string | null = null;
    const copyDone = new Promise<void>((res) => {
      child.once('spawn', () => {
        void mailCopy({ ...opts.copy, eol: '\n', out: child.stdin! }).then((r) => {
          if (!r.ok) {
            copyStat = r.stat;
            copyErr = r.dsn.reason;
          }
          child.stdin!.end();
          res();
        });
      });
      child.once('error', () => res());
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      spawnError = e;
    });
    child.once('close', (code, signal) => {
      void copyDone.then(() => {
        clearTimeout(timer);
        if (spawnError) {
          resolve(spawnError.code === 'ENOENT' ? { kind: 'enoent', argv0: argv[0]!, err: spawnError } : { kind: 'error', err: spawnError });
          return;
        }
        const out = cleanOutput(Buffer.concat(chunks).toString('utf8'));
        const tail = out ? `. Command output: ${out}` : '';
        const cmd = opts.command;
        if (timedOut) {
          resolve({ kind: 'done', result: { status: 'bounce', dsn: unixDsn('5.3.0', out || SYS_EXITS[70]!.text, `Command time limit exceeded: "${cmd}"${tail}`) } });
          return;
        }
        if (signal !== null) {
          const num = signalNumber(signal);
          resolve({ kind: 'done', result: { status: 'defer', dsn: unixDsn('4.3.0', out || SYS_EXITS[70]!.text, `Command died with signal ${num}: "${cmd}"${tail}`) } });
          return;
        }
        if (code !== 0) {
          const d = splitDsnOutput(out);
          if (d) {
            resolve({ kind: 'done', result: { status: d.status.startsWith('4') ? 'defer' : 'bounce', dsn: unixDsn(d.status, d.text, d.text) } });
            return;
          }
          const sx = SYS_EXITS[code ?? -1];
          if (sx) {
            resolve({ kind: 'done', result: { status: sx.dsn.startsWith('4') ? 'defer' : 'bounce', dsn: unixDsn(sx.dsn, out || sx.text, `${sx.text}${tail}`) } });
            return;
          }
          resolve({ kind: 'done', result: { status: 'bounce', dsn: unixDsn('5.3.0', out || SYS_EXITS[70]!.text, `Command died with status ${code}: "${cmd}"${tail}`) } });
          return;
        }
        if (copyStat & MAIL_COPY_STAT.CORRUPT) {
          resolve({ kind: 'done', result: { status: 'corrupt', dsn: dsnMake('4.3.0', copyErr ?? 'queue file corrupt') } });
          return;
        }
        if (copyStat & MAIL_COPY_STAT.READ) {
          resolve({ kind: 'done', result: { status: 'defer', dsn: unixDsn('4.3.0', SYS_EXITS[74]!.text, `Command failed: ${copyErr}: "${cmd}"`) } });
          return;
        }
        // A command that stops reading early (EPIPE) is not an error, as in Postfix.
        resolve({ kind: 'done', result: { status: 'ok' } });
      });
    });
  });
}

function signalNumber(name: string): number {
  return (osConstants.signals as Record<string, number>)[name] ?? 0;
}
