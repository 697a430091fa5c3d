/*
 * postcat - show Postfix queue file contents (postcat(1))
 *
 * SYNOPSIS
 *   postcat [-bdehoqrv] [-c config_dir] [-s offset] [files...]
 *
 * DESCRIPTION
 *   Prints the named queue files, or standard input when no file is
 *   named, in human-readable form, with the same output as Postfix 3.7's
 *   postcat. By default the envelope, header and body are shown, as with
 *   -beh. Options:
 *   -b  body content (from the first non-header line to the end of the message)
 *   -c config_dir  read main.cf from this directory
 *   -d  print the decimal type of each record
 *   -e  envelope records
 *   -h  header content
 *   -o  print the queue file offset of each record
 *   -q  the arguments are queue IDs: search maildrop, incoming, active,
 *       deferred, hold and saved under queue_directory (twice, as Postfix)
 *   -r  print records in file order, do not follow pointer records
 *   -s offset  start at this queue file offset
 *   -v  verbose: also show record names of text, pointer and padding records
 *
 * What it does: option parsing (POSIX getopt, stopping at the first file
 * name), main.cf (queue_directory, hash_queue_names, hash_queue_depth),
 * finding queue files for -q, and reading each input; the printing is in
 * postcat_print.ts.
 *
 * What it does not do: change queue files, or lock them.
 *
 * DIAGNOSTICS
 *   Problems go to stderr as "postcat: warning: ..." / "postcat: fatal:
 *   ..." with Postfix's texts. A fatal error (unreadable main.cf, a file
 *   that cannot be opened, a record read error, a bad option) exits with
 *   status 1 and, as in Postfix, loses output that was not yet flushed.
 *   An input that is not a queue file is a warning and status 0.
 *
 * ENVIRONMENT
 *   MAIL_CONFIG  configuration directory; TZ  time zone of the time stamps.
 *
 * CONFIGURATION PARAMETERS
 *   config_directory, queue_directory, hash_queue_names, hash_queue_depth.
 *
 * SEE ALSO
 *   postconf(5), postsuper(1).
 */
import { closeSync, fstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { configDirectory, loadMailConfig } from '../global/mail_conf.js';
import { MAIL_QUEUE, mailQueueIdOk, queuePath, splitQueueNames } from '../global/mail_queue.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgInfo, msgInit, msgSetVerbose } from '../util/msg.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { strerror } from '../util/strerror.js';
import { PC_FLAG, PC_MASK_PRINT_ALL, PostcatFatal, PostcatOutput, postcatPrint, type PostcatInput } from './postcat_print.js';

const OPTSTRING = 'bc:dehoqrs:v';
const USAGE =
  'usage: postcat [-b (body text)] [-c config_dir] [-d (decimal record type)] [-e (envelope records)] [-h (header text)] [-q (access queue)] [-v] [file(s)...]';

/** The queues -q searches, in Postfix's order. */
export const POSTCAT_QUEUES = [MAIL_QUEUE.MAILDROP, MAIL_QUEUE.INCOMING, MAIL_QUEUE.ACTIVE, MAIL_QUEUE.DEFERRED, MAIL_QUEUE.HOLD, MAIL_QUEUE.SAVED];
/** Rounds over the queue list before -q gives up (a file may move between queues). */
export const POSTCAT_SEARCH_TRIES = 2;

interface Parsed {
  flags: number;
  verbose: number;
  startOffset: number;
  configDir?: string;
  files: string[];
}

/** Options by POSIX getopt (util/getopt.ts); errors print getopt's line, then the usage. */
function parseArgs(argv: string[]): Parsed {
  const p: Parsed = { flags: 0, verbose: 0, startOffset: 0, files: [] };
  const first = getopt(
    argv,
    OPTSTRING,
    (ch, optarg) => {
      switch (ch) {
        case 'b':
          p.flags |= PC_FLAG.PRINT_BODY;
          break;
        case 'c':
          p.configDir = optarg!;
          break;
        case 'd':
          p.flags |= PC_FLAG.PRINT_RTYPE_DEC;
          break;
        case 'e':
          p.flags |= PC_FLAG.PRINT_ENV;
          break;
        case 'h':
          p.flags |= PC_FLAG.PRINT_HEADER;
          break;
        case 'o':
          p.flags |= PC_FLAG.PRINT_OFFSET;
          break;
        case 'q':
          p.flags |= PC_FLAG.SEARCH_QUEUE;
          break;
        case 'r':
          p.flags |= PC_FLAG.RAW;
          break;
        case 's':
          if (!/^\d+$/.test(optarg!)) msgFatal(`bad offset: ${optarg}`);
          p.startOffset = Number(optarg);
          break;
        case 'v':
          p.verbose++;
          break;
      }
    },
    (kind, ch) => {
      msgInfo(getoptMessage(kind, ch));
      msgFatal(USAGE);
    },
  );
  p.files = argv.slice(first);
  if ((p.flags & PC_MASK_PRINT_ALL) === 0) p.flags |= PC_MASK_PRINT_ALL;
  return p;
}

/** Reads a whole file descriptor. */
function readAll(fd: number): Buffer {
  return readFileSync(fd);
}

function openInput(path: string, shown: string): PostcatInput | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    return { path: shown, data: readAll(fd), seekable: fstatSync(fd).isFile() };
  } finally {
    closeSync(fd);
  }
}

/** Where postcat's output goes and where standard input comes from (tests run it in-process). */
export interface PostcatIo {
  write(b: Buffer): void;
  stdin(): { data: Buffer; seekable: boolean };
}

const processIo: PostcatIo = {
  write: (b) => writeAllSync(1, b),
  stdin: () => {
    let seekable = false;
    try {
      seekable = fstatSync(0).isFile();
    } catch {
      seekable = false;
    }
    return { data: readAll(0), seekable };
  },
};

export async function main(argv: string[]): Promise<number> {
  msgInit('postcat');
  return postcatMain(argv, processIo);
}

/** postcat(1) without process side effects: no chdir, no environment changes, no exit of its own. */
export async function postcatMain(argv: string[], io: PostcatIo): Promise<number> {
  const args = parseArgs(argv);
  msgSetVerbose(args.verbose);

  // Like Postfix's mail_conf_read(): main.cf must be readable.
  const configDir = configDirectory(args.configDir);
  const mainCf = join(configDir, 'main.cf');
  try {
    closeSync(openSync(mainCf, 'r'));
  } catch (err) {
    msgFatal(`open ${mainCf}: ${strerror(err)}`);
  }
  const config = loadMailConfig({ configDir });

  const out = new PostcatOutput((b) => io.write(b));
  const opts = { flags: args.flags, verbose: args.verbose, startOffset: args.startOffset };
  const print = (input: PostcatInput): void => {
    try {
      postcatPrint(input, out, opts);
    } catch (err) {
      if (err instanceof PostcatFatal) {
        out.discard();
        msgFatal(err.message);
      }
      throw err;
    }
  };

  if (args.files.length === 0) {
    print({ path: 'stdin', ...io.stdin() });
  } else if (args.flags & PC_FLAG.SEARCH_QUEUE) {
    // Postfix changes to queue_directory and opens relative names; the names it shows are relative.
    const queueDir = config.get('queue_directory');
    let isDir = false;
    try {
      isDir = statSync(queueDir).isDirectory();
    } catch (err) {
      msgFatal(`chdir ${queueDir}: ${strerror(err)}`);
    }
    if (!isDir) msgFatal(`chdir ${queueDir}: Not a directory`);
    const hash = { hashDepth: config.getInt('hash_queue_depth'), hashQueues: splitQueueNames(config.get('hash_queue_names')) };
    for (const id of args.files) {
      if (!mailQueueIdOk(id)) msgFatal(`bad mail queue ID: ${id}`);
      let input: PostcatInput | null = null;
      for (let tries = 0; input === null && tries < POSTCAT_SEARCH_TRIES; tries++) {
        for (const q of POSTCAT_QUEUES) {
          const rel = queuePath('', q, id, hash);
          input = openInput(join(queueDir, rel), rel);
          if (input !== null) break;
        }
      }
      if (input === null) msgFatal(`open queue file ${id}: No such file or directory`);
      print(input);
    }
  } else {
    for (const file of args.files) {
      let input: PostcatInput | null = null;
      let failure: unknown;
      try {
        const fd = openSync(file, 'r');
        try {
          input = { path: file, data: readAll(fd), seekable: fstatSync(fd).isFile() };
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        failure = err;
      }
      if (input === null) msgFatal(`open ${file}: ${strerror(failure)}`);
      print(input);
    }
  }
  // Postfix exits without flushing its stdout stream: the tail that no record flushed is lost.
  out.discard();
  return 0;
}

function writeAllSync(fd: number, b: Buffer): void {
  let done = 0;
  while (done < b.length) {
    try {
      done += writeSync(fd, b, done, b.length - done);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') process.exit(1);
      throw err;
    }
  }
}

if (isMainModule(import.meta.url)) runMain(main);
