/*
 * msg - diagnostics for every Postern program (Postfix msg(3) in TypeScript)
 *
 * What it does: msgInfo/msgWarn/msgError/msgFatal/msgPanic format one
 * diagnostic and hand it to every registered sink. With no sink registered
 * the text goes to stderr as "progname: warning: text" like Postfix
 * commands do. Daemons add a syslog or maillog_file sink once their
 * configuration is read (src/global/maillog_init.ts installs the sinks of
 * src/util/msg_syslog.ts and src/util/msg_logger.ts).
 *
 * What it does not do: format syslog lines or open files (the sinks do),
 * or decide the program name (callers pass it to msgInit).
 *
 * DIAGNOSTICS
 * msgFatal logs and ends the process with status 1 (Postfix msg_fatal);
 * msgPanic logs and ends it with status 2 (a bug: master respawns the
 * daemon). Code that runs in-process under a test may call
 * setFatalHandler() so that fatal/panic throw FatalError instead.
 */

export type Severity = 'info' | 'warning' | 'error' | 'fatal' | 'panic';

/** A destination for diagnostics. `text` has no trailing newline. */
export interface MsgSink {
  /** `tag` replaces the process's tag for this record (a co-located service logging as itself). */
  write(severity: Severity, text: string, tag?: string): void;
  /** Optional: push buffered output out before the process exits. */
  flushSync?(): void;
}

/** Thrown by msgFatal/msgPanic when a test replaced the exit handler. */
export class FatalError extends Error {
  constructor(readonly severity: 'fatal' | 'panic', message: string) {
    super(message);
    this.name = 'FatalError';
  }
}

const PREFIX: Record<Severity, string> = {
  info: '',
  warning: 'warning: ',
  error: 'error: ',
  fatal: 'fatal: ',
  panic: 'panic: ',
};

let progName = 'postern';
let verboseLevel = 0;
let sinks: MsgSink[] = [];
let stderrSink: MsgSink | null = null;
let fatalHandler: ((severity: 'fatal' | 'panic', text: string) => never) | null = null;

/** Writes "progname: warning: text" to stderr, like a Postfix command. */
export function stderrMsgSink(): MsgSink {
  return {
    write(severity, text, tag) {
      process.stderr.write(`${tag ?? progName}: ${PREFIX[severity]}${text}\n`);
    },
  };
}

/** Sets the program name shown by the stderr sink ("postconf", "postfix/smtpd"). */
export function msgInit(name: string): void {
  progName = name;
}

export function msgProgName(): string {
  return progName;
}

/** Replaces all sinks. An empty list restores the stderr default. */
export function msgSetSinks(list: MsgSink[]): void {
  sinks = [...list];
}

export function msgAddSink(sink: MsgSink): void {
  sinks.push(sink);
}

export function msgSinks(): readonly MsgSink[] {
  return sinks;
}

/** -v count; msgVerbose() logs only when it is above zero. */
export function msgSetVerbose(level: number): void {
  verboseLevel = level;
}

export function msgVerboseLevel(): number {
  return verboseLevel;
}

/** For in-process tests: make fatal/panic throw instead of exiting. */
export function setFatalHandler(handler: ((severity: 'fatal' | 'panic', text: string) => never) | null): void {
  fatalHandler = handler;
}

function emit(severity: Severity, text: string, tag?: string): void {
  const targets = sinks.length > 0 ? sinks : [stderrSink ??= stderrMsgSink()];
  for (const sink of targets) {
    try {
      sink.write(severity, text, tag);
    } catch {
      // A broken sink must not take the program down with it.
    }
  }
}

function flushAll(): void {
  for (const sink of sinks) sink.flushSync?.();
}

export function msgInfo(text: string): void {
  emit('info', text);
}

export function msgVerbose(text: string): void {
  if (verboseLevel > 0) emit('info', text);
}

export function msgWarn(text: string): void {
  emit('warning', text);
}

export function msgError(text: string): void {
  emit('error', text);
}

export function msgFatal(text: string): never {
  return endWith('fatal', text, 1);
}

export function msgPanic(text: string): never {
  return endWith('panic', text, 2);
}

/** Non-fatal diagnostics under another tag ("postfix/cleanup"), for a service run inside another program's process. */
export interface TaggedMsg {
  info(text: string): void;
  verbose(text: string): void;
  warn(text: string): void;
  error(text: string): void;
}

/** A TaggedMsg; tag() is read per record, and null means the process's own tag. */
export function msgTagged(tag: () => string | null): TaggedMsg {
  const out = (severity: Severity, text: string): void => emit(severity, text, tag() ?? undefined);
  return {
    info: (text) => out('info', text),
    verbose: (text) => {
      if (verboseLevel > 0) out('info', text);
    },
    warn: (text) => out('warning', text),
    error: (text) => out('error', text),
  };
}

function endWith(severity: 'fatal' | 'panic', text: string, status: number): never {
  emit(severity, text);
  if (fatalHandler) return fatalHandler(severity, text);
  flushAll();
  process.exit(status);
}

/** The text every severity gets in front of the message ("warning: ", ...). */
export function severityPrefix(severity: Severity): string {
  return PREFIX[severity];
}
