/*
 * postalias - Postfix alias database maintenance (postalias(1) of Postfix 3.7)
 *
 * What it does: the command line of Postfix's postalias: options
 * -N -n -f -i -o -p -r -w -u -v -c config_dir and one of -q key, -d key
 * or -s, then [type:]file arguments (type: default_database_type).
 * Without -q/-d/-s each file is an aliases(5) source built into the
 * table of the same name (postalias_build.ts), or with -i the table is
 * updated from standard input. -q key prints the first value found in
 * the tables named (exit 0 when found), -q - reads keys from standard
 * input and prints "key:<TAB>value", -d removes keys, -s lists the
 * first table (postalias_query.ts). Keys are folded to lower case
 * unless -f; -N/-n choose a terminating null byte in keys and values;
 * -r replaces and -w ignores duplicates (default: warn and keep the
 * first); -u turns off the UTF-8 checks of smtputf8_enable. The umask is
 * 022, as in Postfix. newaliases and "sendmail -bi" run this program.
 *
 * What it does NOT do: -v adds no extra logging beyond the verbose
 * level; the table is not locked beyond its own write transaction
 * (LMDB serializes writers); signals are not postponed during a build
 * (the bulk transaction makes an interrupted build leave the old table).
 *
 * DIAGNOSTICS
 * On standard error as "postalias: warning: ..." / "postalias: fatal:
 * ..." and in the mail log as postfix/postalias. Exit status 0 on
 * success (a -q or -d that found the key), 1 otherwise, as Postfix's;
 * "usage: postalias [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key]
 * [map_type:]file..." for a bad command line, "specify only one of -s
 * -q or -d" for conflicting modes.
 */
import { basename } from 'node:path';
import type { DictDupMode } from '../global/dict_base.js';
import { CONF_ENV_PATH, loadMailConfig } from '../global/mail_conf.js';
import { initMailLogFromConfig } from '../global/maillog_init.js';
import { getopt, getoptMessage } from '../util/getopt.js';
import { isMainModule, runMain } from '../util/main_module.js';
import { msgAddSink, msgFatal, msgInit, msgSetVerbose, severityPrefix } from '../util/msg.js';
import { printableBytes } from '../util/printable.js';
import { postaliasBuild } from './postalias_build.js';
import {
  postaliasDelete,
  postaliasDeletes,
  postaliasQueries,
  postaliasQuery,
  postaliasSequence,
  type PostaliasDictFlags,
} from './postalias_query.js';

const PROGRAM = 'postalias';
/** Postfix 3.7's option string. */
const OPTSTRING = 'Nc:d:finopq:rsuvw';
const USAGE_TAIL = '[-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [map_type:]file...';
/** The umask Postfix's postalias sets first ("be consistent with file permissions"). */
const POSTALIAS_UMASK = 0o022;

export interface PostaliasArgs {
  try0Null: boolean;
  try1Null: boolean;
  fold: boolean;
  utf8: boolean;
  incremental: boolean;
  asOwner: boolean;
  inheritMode: boolean;
  dup: DictDupMode;
  query: string | null;
  delkey: string | null;
  sequence: boolean;
  verbose: number;
  configDir: string | null;
  files: string[];
}

function usage(progName: string): never {
  return msgFatal(`usage: ${progName} ${USAGE_TAIL}`);
}

/** Postfix postalias's getopt loop, with its checks in the same order. */
export function parsePostaliasArgs(argv: readonly string[], progName = PROGRAM): PostaliasArgs {
  const a: PostaliasArgs = {
    try0Null: true,
    try1Null: true,
    fold: true,
    utf8: true,
    incremental: false,
    asOwner: true,
    inheritMode: true,
    dup: 'warn',
    query: null,
    delkey: null,
    sequence: false,
    verbose: 0,
    configDir: null,
    files: [],
  };
  const onlyOne = (): void => {
    if (a.sequence || a.query !== null || a.delkey !== null) msgFatal('specify only one of -s -q or -d');
  };
  const first = getopt(
    argv,
    OPTSTRING,
    (ch, optarg) => {
      switch (ch) {
        case 'N':
          a.try1Null = true;
          a.try0Null = false;
          break;
        case 'c':
          a.configDir = optarg!;
          break;
        case 'd':
          onlyOne();
          a.delkey = optarg!;
          break;
        case 'f':
          a.fold = false;
          break;
        case 'i':
          a.incremental = true;
          break;
        case 'n':
          a.try0Null = true;
          a.try1Null = false;
          break;
        case 'o':
          a.asOwner = false;
          break;
        case 'p':
          a.inheritMode = false;
          break;
        case 'q':
          onlyOne();
          a.query = optarg!;
          break;
        case 'r':
          a.dup = 'replace';
          break;
        case 's':
          if (a.query !== null || a.delkey !== null) msgFatal('specify only one of -s or -q or -d');
          a.sequence = true;
          break;
        case 'u':
          a.utf8 = false;
          break;
        case 'v':
          a.verbose++;
          break;
        case 'w':
          a.dup = 'ignore';
          break;
        default:
          usage(progName);
      }
    },
    (kind, ch) => {
      process.stderr.write(`${progName}: ${getoptMessage(kind, ch)}\n`);
      usage(progName);
    },
  );
  a.files = argv.slice(first);
  return a;
}

export async function main(argv: string[]): Promise<number> {
  process.umask(POSTALIAS_UMASK);
  const progName = basename(process.argv[1] ?? PROGRAM).replace(/\.js$/, '') || PROGRAM;
  msgInit(progName);
  if (process.env.MAIL_VERBOSE) msgSetVerbose(1);
  const args = parsePostaliasArgs(argv, progName);
  if (args.configDir !== null) process.env[CONF_ENV_PATH] = args.configDir;
  const config = loadMailConfig({ configDir: process.env[CONF_ENV_PATH] });
  initMailLogFromConfig(config, PROGRAM, { stderrIfTty: false });
  // Postfix's msg(3) masks what is not printable ('?'), keeping UTF-8 when smtputf8_enable is on.
  const utf8Log = config.getBool('smtputf8_enable');
  msgAddSink({
    write: (sev, text) => {
      const shown = printableBytes(Buffer.from(text, 'latin1'), utf8Log);
      process.stderr.write(Buffer.concat([Buffer.from(`${progName}: ${severityPrefix(sev)}`), shown, Buffer.from('\n')]));
    },
  });
  if (args.verbose > 0) msgSetVerbose(args.verbose);
  const flags: PostaliasDictFlags = {
    config,
    fold: args.fold,
    utf8: args.utf8,
    try0Null: args.try0Null,
    try1Null: args.try1Null,
  };
  const files = args.files;
  if (args.delkey !== null) {
    if (files.length < 1) usage(progName);
    const found = args.delkey === '-'
      ? await postaliasDeletes(files, flags)
      : await postaliasDelete(files, args.delkey, flags);
    return found ? 0 : 1;
  }
  if (args.query !== null) {
    if (files.length < 1) usage(progName);
    const found = args.query === '-'
      ? await postaliasQueries(files, flags)
      : await postaliasQuery(files, args.query, flags);
    return found ? 0 : 1;
  }
  if (args.sequence) {
    // Postfix lists the first table only, and exits 1 when none is named.
    if (files.length < 1) return 1;
    await postaliasSequence(files[0]!, flags);
    return 0;
  }
  if (files.length < 1) usage(progName);
  for (const file of files) {
    await postaliasBuild(file, {
      config,
      incremental: args.incremental,
      dup: args.dup,
      fold: args.fold,
      utf8: args.utf8,
      try0Null: args.try0Null,
      try1Null: args.try1Null,
      asOwner: args.asOwner,
      inheritMode: args.inheritMode,
    });
  }
  return 0;
}

if (isMainModule(import.meta.url)) runMain(main);
