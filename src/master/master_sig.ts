/*
 * master_sig - master's signal handling
 *
 * What it does: SIGHUP asks for a reload; SIGTERM, and SIGINT for a
 * master in the foreground (Ctrl-C), ask for a clean stop. Handlers only
 * record the request and call back from the event loop, and requests are
 * serialised: a reload never overlaps another reload or the stop, and a
 * signal that arrives during a reload is handled after it.
 *
 * What it does not do: reload or stop anything itself (master.ts passes
 * the actions), or pass signals to children (master_service.ts does).
 *
 * DIAGNOSTICS
 * None; the actions log what they do.
 */

export interface SignalActions {
  reload(): Promise<void>;
  terminate(signal: NodeJS.Signals): Promise<void>;
}

/** `started` settles when master is up: signals that arrive earlier wait for it. */
export function masterSigSetup(actions: SignalActions, started: Promise<void>): () => void {
  let chain: Promise<void> = started.catch(() => undefined);
  let terminating = false;
  const onHup = (): void => {
    if (terminating) return;
    chain = chain.then(() => actions.reload()).catch(() => undefined);
  };
  const onTerm = (signal: NodeJS.Signals): void => {
    if (terminating) return;
    terminating = true;
    chain = chain.then(() => actions.terminate(signal)).catch(() => undefined);
  };
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onTerm);
  return () => {
    process.off('SIGHUP', onHup);
    process.off('SIGTERM', onTerm);
    process.off('SIGINT', onTerm);
  };
}
