/*
 * main_module - run a command's main() when its file is the program
 *
 * What it does: isMainModule() tells whether an ES module was started as
 * the program (node dist/src/postconf/postconf.js ...), and runMain()
 * calls an async main(argv), turns its result into the exit status and
 * reports an uncaught error the way Postfix reports a fatal one.
 *
 * What it does not do: parse options (each command does, as Postfix's
 * commands use getopt) or set up logging sinks.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { msgFatal } from './msg.js';

export function isMainModule(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(importMetaUrl));
  } catch {
    return false;
  }
}

export function runMain(main: (argv: string[]) => Promise<number> | number): void {
  Promise.resolve()
    .then(() => main(process.argv.slice(2)))
    .then(
      (status) => {
        process.exitCode = status;
      },
      (err: unknown) => {
        msgFatal(err instanceof Error ? err.message : String(err));
      },
    );
}
