/*
 * postmap_build - build or update one table from its source (Postfix postmap())
 *
 * What it does: postmapBuild() reads the source file of "[type:]file"
 * (or standard input with -i, named "stdin" in warnings), opens the
 * table with mkmapOpen() (emptied for a build, kept with -i; owner and
 * permissions from the source as postmap does), and adds every logical
 * line as key and value: a line that is not valid UTF-8 (when UTF-8 is
 * active), has an unbalanced quote, or lacks a key or a value is
 * skipped with Postfix's warning; a key ending in ':' is stored with a
 * warning that the file looks like an alias file; with -F the value
 * names files whose contents are stored base64-encoded. The build is
 * committed when the table is closed, so readers see the old table
 * until the new one is complete.
 *
 * What it does not do: parse aliases(5) files (postalias), or query
 * tables (postmap_query.ts).
 *
 * DIAGNOSTICS
 * Warnings "FILE, line N: expected format: key whitespace value",
 * "FILE, line N: unbalanced '\"' in 'TEXT' -- ignoring this line",
 * "FILE, line N: non-UTF-8 input \"TEXT\" -- ignoring this line",
 * "FILE, line N: record is in \"key: value\" format; is this an alias
 * file?", "FILE, line N: open F: reason: skipping this entry"; fatal
 * "open FILE: reason", "can't create maps via the proxy service", the
 * table's open or update error.
 */
import { DictError } from '../global/dict_base.js';
import { isValidUtf8Bytes } from '../global/dict_utf8.js';
import { mkmapOpen, mkmapSplitSpec, mkmapTypeRefusal } from '../global/mkmap.js';
import {
  mkmapLogicalLines,
  mkmapReadSource,
  mkmapSplitEntry,
  msgPrintable,
} from '../global/mkmap_source.js';
import { msgFatal, msgVerbose, msgWarn } from '../util/msg.js';
import type { PostmapFlags } from './postmap.js';
import { postmapFileToB64 } from './postmap_file.js';

/** Where a -i build takes its owner and permissions from. */
const STDIN_PATH = '/dev/stdin';

/** Build (or with -i update) one table. */
export async function postmapBuild(map: string, flags: PostmapFlags): Promise<void> {
  const { type, name } = mkmapSplitSpec(map, flags.config);
  let text: string;
  let path: string;
  if (flags.incremental) {
    path = 'stdin';
    const refusal = mkmapTypeRefusal(type);
    if (refusal !== null) msgFatal(refusal);
    text = flags.readStdin();
  } else {
    if (type === 'proxy') msgFatal("can't create maps via the proxy service");
    path = name;
    text = mkmapReadSource(name);
  }
  msgVerbose(`open ${type} ${name}`);
  const mkmap = await mkmapOpen(`${type}:${name}`, {
    config: flags.config,
    create: !flags.incremental,
    dup: flags.dup,
    try0Null: flags.try0Null,
    try1Null: flags.try1Null,
    fold: flags.fold,
    utf8: flags.utf8,
    sourcePath: flags.incremental ? STDIN_PATH : name,
    asOwner: flags.asOwner,
    inheritMode: flags.savePerm,
  });
  // An error below ends the program before close(): the bulk build is never committed.
  for (const { text: line, line: lineno } of mkmapLogicalLines(text, path)) {
    if (flags.utf8 && !isValidUtf8Bytes(line)) {
      msgWarn(`${path}, line ${lineno}: non-UTF-8 input "${msgPrintable(line)}" -- ignoring this line`);
      continue;
    }
    const entry = mkmapSplitEntry(line);
    if ('error' in entry) {
      if (entry.error === 'unbalanced') {
        msgWarn(`${path}, line ${lineno}: unbalanced '"' in '${msgPrintable(line, flags.utf8)}' -- ignoring this line`);
      } else {
        msgWarn(`${path}, line ${lineno}: expected format: key whitespace value`);
      }
      continue;
    }
    if (entry.key.endsWith(':')) {
      msgWarn(`${path}, line ${lineno}: record is in "key: value" format; is this an alias file?`);
    }
    let value = entry.value;
    if (flags.rhsIsFile) {
      const b64 = postmapFileToB64(value);
      if ('error' in b64) {
        msgWarn(`${path}, line ${lineno}: ${b64.error}: skipping this entry`);
        continue;
      }
      value = b64.value;
    }
    try {
      await mkmap.append(entry.key, value);
    } catch (err) {
      if (err instanceof DictError) msgFatal(err.message);
      throw err;
    }
  }
  try {
    await mkmap.close();
  } catch (err) {
    if (err instanceof DictError) msgFatal(err.message);
    throw err;
  }
}
