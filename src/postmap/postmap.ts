/*
 * postmap - Postfix lookup table management (postmap(1))
 *
 * What it does: the postmap command of Postfix 3.7 with its options
 * "bc:d:fFhimnNopq:rsuUvw": without -q/-s/-d it builds each
 * [type:]file named (default_database_type when no type is given) from
 * its source file, or with -i updates it from standard input
 * (postmap_build.ts); -q key looks the key up in the tables in turn and
 * prints the first value (exit 0 found, 1 not); -q - reads keys from
 * standard input and prints "key<TAB>value" for each one found, or with
 * -h/-b (and -m) the header/body lines of a message read from standard
 * input; -s lists the first table; -d key / -d - removes entries
 * (postmap_query.ts). -f: keys not folded to lower case; -F: values are
 * files, stored as base64 (postmap_file.ts); -N/-n: keys and values
 * with/without a terminating null byte; -o: when root, do not build as
 * the source file's owner; -p: do not inherit the source's permissions;
 * -r/-w: replace / silently ignore duplicate keys (default: warn and
 * keep the first); -u: no UTF-8 checks; -U: UTF-8 checks even with
 * -b/-h; -v: verbose; -c DIR: the configuration directory.
 *
 * What it does not do: log to syslog/maillog_file (diagnostics go to
 * stderr, as Postfix's commands print them), import_environment, or
 * answer -q - / -d - key by key while standard input is still open (it
 * reads standard input to its end first, then answers).
 *
 * DIAGNOSTICS
 * Postfix's texts on stderr as "postmap: fatal: ...", "postmap:
 * warning: ..." (getopt's own "invalid option" line before the usage
 * line). Exit status 0 on success and for a key found, 1 otherwise.
 */
import { loadMailConfig, type MailConfig } from '../global/mail_conf.js';
import type { DictDupMode } from '../global/dict_base.js';
import { mkmapArgPath, mkmapRawArgv, mkmapReadStdin } from '../global/mkmap_source.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgFatal, msgInfo, msgInit, msgSetVerbose, msgWarn } from '../util/msg.js';
import { postmapBuild } from './postmap_build.js';
import { postmapDelete, postmapDeletes, postmapQueries, postmapQuery, postmapSequence } from './postmap_query.js';

export const POSTMAP_USAGE =
  'usage: postmap [-bfFhimnNoprsuUvw] [-c config_dir] [-d key] [-q key] [map_type:]file...';

const POSTMAP_OPTIONS = 'bc:d:fFhimnNopq:rsuUvw';

/** Everything the options decide, shared by the build and query code. */
export interface PostmapFlags {
  config: MailConfig;
  /** DICT_FLAG_FOLD_FIX (not -f). */
  fold: boolean;
  /** DICT_FLAG_UTF8_REQUEST (not -u; off with -b/-h unless -U). */
  utf8: boolean;
  try0Null: boolean;
  try1Null: boolean;
  dup: DictDupMode;
  /** -F. */
  rhsIsFile: boolean;
  /** Not -o. */
  asOwner: boolean;
  /** Not -p. */
  savePerm: boolean;
  /** -i: no truncation, entries from stdin. */
  incremental: boolean;
  /** Standard input, read once when first needed. */
  readStdin: () => string;
  header: boolean;
  body: boolean;
  mime: boolean;
}

/** Where postmap reads keys/entries and writes results (the process's, or a test's). */
export interface PostmapIo {
  /** All of standard input, one character per byte. */
  readStdin(): string;
  writeStdout(data: Buffer): void;
}

const PROCESS_IO: PostmapIo = {
  readStdin: mkmapReadStdin,
  writeStdout: (data) => {
    try {
      process.stdout.write(data);
    } catch {
      // A closed stdout is not an error of ours (Postfix ignores it too).
    }
  },
};

/** Output the way Postfix's VSTREAM_OUT buffers it: written out on flush(). */
export class PostmapOut {
  private chunks: string[] = [];
  private size = 0;
  /** Bytes kept before writing out (a pipe buffer's worth). */
  static readonly BUFFER_BYTES = 64 * 1024;

  constructor(private readonly io: PostmapIo) {}

  write(text: string): void {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= PostmapOut.BUFFER_BYTES) this.flush();
  }

  flush(): void {
    if (this.chunks.length === 0) return;
    const data = Buffer.from(this.chunks.join(''), 'latin1');
    this.chunks = [];
    this.size = 0;
    this.io.writeStdout(data);
  }
}

export function main(argv: string[]): Promise<number> {
  // A reader that went away (postmap -s | head): end quietly, as SIGPIPE ends Postfix's.
  process.stdout.on('error', () => process.exit(1));
  return postmapMain(mkmapRawArgv(argv), PROCESS_IO);
}

/**
 * The whole command over the given standard input and output. argv
 * holds byte strings (mkmapRawArgv): keys are used as bytes, file names
 * are decoded as UTF-8.
 */
export async function postmapMain(argv: string[], io: PostmapIo): Promise<number> {
  msgInit('postmap');
  process.umask(0o022);
  if (process.env['MAIL_VERBOSE']) msgSetVerbose(1);
  let verbose = 0;
  let configDir: string | undefined;
  let query: string | null = null;
  let delkey: string | null = null;
  let sequence = false;
  let forceUtf8 = false;
  const f = {
    fold: true, utf8: true, try0Null: true, try1Null: true, dup: 'warn' as DictDupMode,
    rhsIsFile: false, asOwner: true, savePerm: true, incremental: false,
    header: false, body: false, mime: false,
  };
  const usage = (): never => msgFatal(POSTMAP_USAGE);
  const optind = getopt(argv, POSTMAP_OPTIONS, (ch, arg) => {
    switch (ch) {
      case 'N': f.try1Null = true; f.try0Null = false; break;
      case 'n': f.try0Null = true; f.try1Null = false; break;
      case 'b': f.body = true; break;
      case 'c': configDir = mkmapArgPath(arg!); process.env['MAIL_CONFIG'] = configDir; break;
      case 'd':
        if (sequence || query !== null || delkey !== null) msgFatal('specify only one of -s -q or -d');
        delkey = arg!;
        break;
      case 'f': f.fold = false; break;
      case 'F': f.rhsIsFile = true; break;
      case 'h': f.header = true; break;
      case 'i': f.incremental = true; break;
      case 'm': f.mime = true; break;
      case 'o': f.asOwner = false; break;
      case 'p': f.savePerm = false; break;
      case 'q':
        if (sequence || query !== null || delkey !== null) msgFatal('specify only one of -s -q or -d');
        query = arg!;
        break;
      case 'r': f.dup = 'replace'; break;
      case 's':
        if (query !== null || delkey !== null) msgFatal('specify only one of -s or -q or -d');
        sequence = true;
        break;
      case 'u': f.utf8 = false; break;
      case 'U': forceUtf8 = true; break;
      case 'v': msgSetVerbose(++verbose); break;
      case 'w': f.dup = 'ignore'; break;
    }
  }, (kind, ch) => {
    msgInfo(getoptMessage(kind, ch));
    usage();
  });
  const config = loadMailConfig({ configDir });
  const anyKey = f.header || f.body || f.mime;
  if (query !== '-' && anyKey) msgFatal('specify -b -h or -m only with "-q -"');
  if (anyKey && !f.header && !f.body) msgWarn('ignoring -m option without -b or -h');
  if ((f.header || f.body) && !forceUtf8) f.utf8 = false;
  // DICT_FLAG_UTF8_ACTIVE needs smtputf8_enable as well as the request.
  f.utf8 = f.utf8 && config.getBool('smtputf8_enable');
  let stdinText: string | null = null;
  const readStdin = (): string => (stdinText ??= io.readStdin());
  const flags: PostmapFlags = { config, readStdin, ...f };
  const maps = argv.slice(optind).map(mkmapArgPath);
  const out = new PostmapOut(io);

  if (delkey !== null) {
    if (maps.length < 1) usage();
    if (delkey === '-') return (await postmapDeletes(maps, flags)) ? 0 : 1;
    let found = false;
    for (const map of maps) found = (await postmapDelete(map, delkey, flags)) || found;
    return found ? 0 : 1;
  }
  if (query !== null) {
    if (maps.length < 1) usage();
    if (query === '-') {
      const found = await postmapQueries(maps, flags, out);
      out.flush();
      return found ? 0 : 1;
    }
    for (const map of maps) {
      if (await postmapQuery(map, query, flags, out)) {
        out.flush();
        return 0;
      }
    }
    return 1;
  }
  if (sequence) {
    if (maps.length < 1) return 1;
    await postmapSequence(maps[0]!, flags, out);
    out.flush();
    return 0;
  }
  if (maps.length < 1) usage();
  for (const map of maps) await postmapBuild(map, flags);
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
