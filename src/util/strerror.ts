/*
 * strerror - the C library's text for a system error, as Postfix prints
 * it with %m ("No such file or directory")
 *
 * What it does: maps a Node system error (err.code 'ENOENT') to glibc's
 * strerror(3) wording, so that Postern diagnostics read like Postfix's.
 * Codes not in the table fall back to libuv's description with its first
 * letter capitalised, which matches glibc for most codes.
 *
 * What it does not do: translate (C locale only) or format whole
 * messages.
 *
 * DIAGNOSTICS
 * None.
 */
import { getSystemErrorMap } from 'node:util';

const GLIBC_TEXT: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  EINTR: 'Interrupted system call',
  EIO: 'Input/output error',
  EBADF: 'Bad file descriptor',
  EAGAIN: 'Resource temporarily unavailable',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EEXIST: 'File exists',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  EMFILE: 'Too many open files',
  ENFILE: 'Too many open files in system',
  EFBIG: 'File too large',
  ENOSPC: 'No space left on device',
  EROFS: 'Read-only file system',
  EPIPE: 'Broken pipe',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
  EDQUOT: 'Disk quota exceeded',
  ENOTSOCK: 'Socket operation on non-socket',
  EPROTOTYPE: 'Protocol wrong type for socket',
  EMSGSIZE: 'Message too long',
  ENOBUFS: 'No buffer space available',
  EADDRINUSE: 'Address already in use',
  ECONNREFUSED: 'Connection refused',
  ECONNRESET: 'Connection reset by peer',
  ETIMEDOUT: 'Connection timed out',
  ENXIO: 'No such device or address',
};

/** glibc's text for an error code or a Node system error. */
export function strerror(err: unknown): string {
  const e = err as { code?: unknown; errno?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code && GLIBC_TEXT[code]) return GLIBC_TEXT[code];
  if (typeof e?.errno === 'number') {
    const entry = getSystemErrorMap().get(e.errno);
    if (entry) return GLIBC_TEXT[entry[0]] ?? capitalise(entry[1]);
  }
  if (code) return code;
  return typeof e?.message === 'string' ? e.message : String(err);
}

/** glibc's text for a code name such as 'ENOENT'. */
export function strerrorCode(code: string): string {
  return GLIBC_TEXT[code] ?? code;
}

function capitalise(s: string): string {
  return s.length > 0 ? s[0]!.toUpperCase() + s.slice(1) : s;
}
