/*
 * cleanup_state - per-process settings and per-message state of cleanup(8)
 *
 * What it does: CleanupParams holds the main.cf parameters cleanup reads,
 * read once per process (Postfix cleanup_init.c tables): limits
 * (hopcount_limit, header_size_limit, message_size_limit,
 * line_length_limit, queue_file_attribute_count_limit,
 * duplicate_filter_limit, delay_warning_time), header policy
 * (always_add_missing_headers, undisclosed_recipients_header,
 * message_drop_headers, remote_header_rewrite_domain, myhostname,
 * header_from_format, detect_8bit_encoding_header), always_bcc, queue
 * layout. CleanupState is one message in progress (Postfix
 * CLEANUP_STATE): processing flags and error bits, sender, first
 * recipient, pending original/DSN recipient data, named attributes,
 * headers seen, hop count, content-inspection results (filter,
 * redirect, BCC recipients, reason) and the queue file offsets that
 * end up in the size record. outOk() is Postfix's CLEANUP_OUT_OK().
 *
 * What it does not do: I/O (cleanup_out.ts writes, cleanup_api.ts
 * opens and finishes the queue file).
 *
 * DIAGNOSTICS
 * None of its own; bad parameter values are fatal in MailConfig.
 */
import { DSN_NOTIFY, DSN_NOTIFY_ANY, DSN_RET } from '../global/dsn.js';
import { CLEANUP_FLAG, CLEANUP_STAT } from '../global/cleanup_user.js';
import { HeaderOptsTable } from '../global/header_opts.js';
import type { MailConfig } from '../global/mail_conf.js';
import type { MailStream } from '../global/mail_stream.js';

/** Flags private to cleanup (Postfix cleanup.h: bit 16 and up). */
export const CLEANUP_PRIV_FLAG = {
  INRCPT: 1 << 16,
  WARN_SEEN: 1 << 17,
  END_SEEN: 1 << 18,
} as const;

/** Queue manager hints in the size record (Postfix qmgr_user.h). */
export const QMGR_READ_FLAG = {
  MIXED_RCPT_OTHER: 1 << 0,
  fromDsn: (notify: number) => notify << 1,
} as const;

export { DSN_NOTIFY, DSN_RET };

export function dsnNotifyOk(v: number): boolean {
  return v === DSN_NOTIFY.NEVER || (v !== 0 && (v & DSN_NOTIFY_ANY) === v);
}

export function dsnRetOk(v: number): boolean {
  return v === DSN_RET.FULL || v === DSN_RET.HDRS;
}

/** Largest record cleanup accepts from a client (Postfix trusts its clients; we bound it). */
export const CLEANUP_MAX_RECORD = 1024 * 1024;

export class CleanupParams {
  readonly config: MailConfig;
  readonly queueDir: string;
  readonly myhostname: string;
  readonly hopcountLimit: number;
  readonly headerSizeLimit: number;
  readonly messageSizeLimit: number;
  readonly lineLimit: number;
  readonly attrCountLimit: number;
  readonly dupFilterLimit: number;
  readonly delayWarnTime: number;
  readonly alwaysAddHeaders: boolean;
  readonly undisclosedHeader: string;
  readonly remoteRewriteDomain: string;
  readonly headerFromFormat: string;
  readonly detect8bitHeader: boolean;
  readonly alwaysBcc: string;
  readonly enableOrcpt: boolean;
  readonly longQueueIds: boolean;
  readonly hashQueueNames: string[];
  readonly hashQueueDepth: number;
  readonly ipcTimeoutMs: number;
  readonly queueService: string;
  readonly headerOpts: HeaderOptsTable;
  readonly disableMime: boolean;
  readonly mimeNestingLimit: number;
  readonly mimeBoundaryLimit: number;
  readonly strict8bitmime: boolean;
  readonly smtputf8Enable: boolean;
  readonly replaceStrayCrLf: boolean;

  constructor(config: MailConfig) {
    this.config = config;
    this.queueDir = config.get('queue_directory');
    this.myhostname = config.get('myhostname');
    this.hopcountLimit = config.getInt('hopcount_limit');
    this.headerSizeLimit = config.getInt('header_size_limit');
    this.messageSizeLimit = config.getInt('message_size_limit');
    this.lineLimit = Math.max(1, config.getInt('line_length_limit'));
    this.attrCountLimit = config.getInt('queue_file_attribute_count_limit');
    this.dupFilterLimit = config.getInt('duplicate_filter_limit');
    this.delayWarnTime = config.getTime('delay_warning_time');
    this.alwaysAddHeaders = config.getBool('always_add_missing_headers');
    this.undisclosedHeader = config.get('undisclosed_recipients_header');
    this.remoteRewriteDomain = config.get('remote_header_rewrite_domain');
    this.headerFromFormat = config.get('header_from_format');
    this.detect8bitHeader = config.getBool('detect_8bit_encoding_header');
    this.alwaysBcc = config.get('always_bcc');
    this.enableOrcpt = config.getBool('enable_original_recipient');
    this.longQueueIds = config.getBool('enable_long_queue_ids');
    this.hashQueueNames = config.getList('hash_queue_names');
    this.hashQueueDepth = config.getInt('hash_queue_depth');
    this.ipcTimeoutMs = config.getTime('ipc_timeout') * 1000;
    this.queueService = config.get('queue_service_name');
    this.headerOpts = new HeaderOptsTable(config.get('message_drop_headers'));
    this.disableMime = config.getBool('disable_mime_input_processing');
    this.mimeNestingLimit = config.getInt('mime_nesting_limit');
    this.mimeBoundaryLimit = config.getInt('mime_boundary_length_limit');
    this.strict8bitmime = config.getBool('strict_8bitmime');
    this.smtputf8Enable = config.getBool('smtputf8_enable');
    this.replaceStrayCrLf = config.getBool('cleanup_replace_stray_cr_lf');
  }
}

export type HdrRewriteContext = 'local' | 'remote' | null;

export class CleanupState {
  readonly params: CleanupParams;
  readonly out: MailStream;
  readonly queueId: string;
  /** Current queue name: incoming, or hold after a HOLD action. */
  queueName = 'incoming';
  flags = 0;
  errs = 0;
  errMask = ~0;
  /** Envelope sender after rewriting (null until the S record). */
  sender: string | null = null;
  /** First envelope recipient after rewriting (null: none yet). */
  recip: string | null = null;
  fullname: string | null = null;
  arrivalSec = 0;
  arrivalUsec = 0;
  /** Named attributes seen (Postfix state->attr). */
  readonly attr = new Map<string, string>();
  attrCount = 0;
  hdrRewriteContext: HdrRewriteContext = 'local';
  origRcpt: string | null = null;
  dsnOrcpt: string | null = null;
  dsnNotify = 0;
  dsnEnvid: string | null = null;
  dsnRet = 0;
  verpDelims: string | null = null;
  /** Bit set of HDR types seen in the primary headers. */
  headersSeen = 0;
  /** "Resent-" once a Resent- header was seen. */
  resent = '';
  hopCount = 0;
  filter: string | null = null;
  redirect: string | null = null;
  /** BCC recipients from header/body checks. */
  readonly hbcRcpt: string[] = [];
  reason: string | null = null;
  smtpReply: string | null = null;
  rcptCount = 0;
  qmgrOpts = 0;
  smtputf8 = 0;
  dataOffset = -1;
  xtraOffset = -1;
  contLength = 0;
  /** Creation time of the queue file (for a generated Message-Id). */
  readonly ctimeSec: number;

  constructor(params: CleanupParams, out: MailStream, ctimeSec: number) {
    this.params = params;
    this.out = out;
    this.queueId = out.queueId;
    this.ctimeSec = ctimeSec;
  }

  /** Postfix cleanup_control(): the client's processing flags. */
  control(flags: number): void {
    this.flags = flags;
    this.errMask = (flags & CLEANUP_FLAG.BOUNCE) !== 0 ? CLEANUP_STAT.MASK_INCOMPLETE : ~0;
    if (flags & CLEANUP_FLAG.SMTPUTF8) this.smtputf8 = SMTPUTF8_FLAG.REQUESTED;
  }

  /** Postfix CLEANUP_OUT_OK(): no fatal error and not discarding. */
  outOk(): boolean {
    return (this.errs & this.errMask) === 0 && (this.flags & CLEANUP_FLAG.DISCARD) === 0;
  }

  /** The log_message_origin attribute or "unknown". */
  origin(): string {
    return this.attr.get('log_message_origin') ?? 'unknown';
  }
}

/** SMTPUTF8 flags in the size record (Postfix smtputf8.h). */
export const SMTPUTF8_FLAG = { NONE: 0, REQUESTED: 1 << 0, HEADER: 1 << 1, SENDER: 1 << 2, RECIPIENT: 1 << 3 } as const;
