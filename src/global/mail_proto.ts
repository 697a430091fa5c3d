/*
 * mail_proto - names and codes of Postern's internal protocols (Postfix mail_proto.h)
 *
 * What it does: the one place where the wire names live: service names
 * (the socket or FIFO names under queue_directory/private and /public),
 * the two socket classes, trigger request bytes, qmgr and flush request
 * codes and statuses, attribute names (MAIL_ATTR) and the protocol names
 * that servers announce (MAIL_ATTR_PROTO). The values are Postfix 3.7's,
 * so that a real Postfix program can talk to a Postern one;
 * mail_proto_test.ts checks every attribute and protocol name against the
 * strings in the installed Postfix binaries. Names that mail_proto.h
 * still defines but no 3.7 program uses (errors-to, return-receipt,
 * server_id, forward_client_name) are left out.
 *
 * What it does not do: encode or send anything (src/util/attr0.ts,
 * src/global/ipc/), or declare per-service request/reply layouts (each
 * service's protocol declaration in src/global/ipc/ does that).
 *
 * DIAGNOSTICS
 * None: constants only.
 */

/** External protocol names as logged (protocol=ESMTP). */
export const MAIL_PROTO = {
  SMTP: 'SMTP',
  ESMTP: 'ESMTP',
  QMQP: 'QMQP',
} as const;

/** Service endpoint names (Postfix MAIL_SERVICE_*). */
export const MAIL_SERVICE = {
  BOUNCE: 'bounce',
  CLEANUP: 'cleanup',
  DEFER: 'defer',
  FORWARD: 'forward',
  LOCAL: 'local',
  PICKUP: 'pickup',
  QUEUE: 'qmgr',
  TLSMGR: 'tlsmgr',
  RESOLVE: 'resolve',
  REWRITE: 'rewrite',
  VIRTUAL: 'virtual',
  SMTP: 'smtp',
  SMTPD: 'smtpd',
  SHOWQ: 'showq',
  ERROR: 'error',
  RETRY: 'retry',
  FLUSH: 'flush',
  VERIFY: 'verify',
  TRACE: 'trace',
  RELAY: 'relay',
  PROXYMAP: 'proxymap',
  PROXYWRITE: 'proxywrite',
  SCACHE: 'scache',
  DNSBLOG: 'dnsblog',
  TLSPROXY: 'tlsproxy',
  POSTLOG: 'postlog',
  ANVIL: 'anvil',
} as const;

/** Socket/FIFO directories under queue_directory (Postfix MAIL_CLASS_*). */
export const MAIL_CLASS = {
  PUBLIC: 'public',
  PRIVATE: 'private',
} as const;

export type MailClass = (typeof MAIL_CLASS)[keyof typeof MAIL_CLASS];

/** Generic trigger: wake up and look for work. */
export const TRIGGER_REQ_WAKEUP = 'W';

/** Requests that qmgr accepts over its trigger endpoint (Postfix QMGR_REQ_*). */
export const QMGR_REQ = {
  SCAN_DEFERRED: 'D',
  SCAN_INCOMING: 'I',
  FLUSH_DEAD: 'F',
  SCAN_ALL: 'A',
} as const;

/** Requests to the flush(8) server (Postfix FLUSH_REQ_*). */
export const FLUSH_REQ = {
  ADD: 'add',
  SEND_SITE: 'send_site',
  SEND_FILE: 'send_file',
  REFRESH: 'rfrsh',
  PURGE: 'purge',
} as const;

/** Replies of the flush(8) server (Postfix FLUSH_STAT_*). */
export const FLUSH_STAT = {
  FAIL: -1,
  OK: 0,
  UNKNOWN: 2,
  BAD: 3,
  DENY: 4,
} as const;

/** Attribute names (Postfix MAIL_ATTR_*), the keys of attr0 name/value pairs. */
export const MAIL_ATTR = {
  PROTO: 'protocol',
  REQ: 'request',
  NREQ: 'nrequest',
  STATUS: 'status',

  FLAGS: 'flags',
  QUEUE: 'queue_name',
  QUEUEID: 'queue_id',
  SENDER: 'sender',
  RCPT_COUNT: 'recipient_count',
  ORCPT: 'original_recipient',
  RECIP: 'recipient',
  WHY: 'reason',
  VERPDL: 'verp_delimiters',
  SITE: 'site',
  OFFSET: 'offset',
  SIZE: 'size',
  TIME: 'time',
  LOCALTIME: 'localtime',
  CREATE_TIME: 'create_time',
  RULE: 'rule',
  ADDR: 'address',
  TRANSPORT: 'transport',
  NEXTHOP: 'nexthop',
  TRACE_FLAGS: 'trace_flags',
  ADDR_STATUS: 'recipient_status',
  ACTION: 'action',
  TABLE: 'table',
  KEY: 'key',
  VALUE: 'value',
  INSTANCE: 'instance',
  SASL_METHOD: 'sasl_method',
  SASL_USERNAME: 'sasl_username',
  SASL_SENDER: 'sasl_sender',
  ETRN_DOMAIN: 'etrn_domain',
  DUMMY: 'dummy',
  STRESS: 'stress',
  LOG_IDENT: 'log_ident',
  RWR_CONTEXT: 'rewrite_context',
  POL_CONTEXT: 'policy_context',
  FORCED_EXPIRE: 'forced_expire',
  SMTPUTF8: 'smtputf8',

  RWR_LOCAL: 'local',
  RWR_REMOTE: 'remote',

  TTL: 'ttl',
  LABEL: 'label',
  PROP: 'property',
  FUNC: 'function',
  CCERT_SUBJECT: 'ccert_subject',
  CCERT_ISSUER: 'ccert_issuer',
  CCERT_CERT_FPRINT: 'ccert_fingerprint',
  CCERT_PKEY_FPRINT: 'ccert_pubkey_fingerprint',
  CRYPTO_PROTOCOL: 'encryption_protocol',
  CRYPTO_CIPHER: 'encryption_cipher',
  CRYPTO_KEYSIZE: 'encryption_keysize',

  RBL_WHAT: 'rbl_what',
  RBL_DOMAIN: 'rbl_domain',
  RBL_REASON: 'rbl_reason',
  RBL_TXT: 'rbl_txt',
  RBL_CLASS: 'rbl_class',
  RBL_CODE: 'rbl_code',
  RBL_ADDR: 'rbl_addr',

  ENCODING: 'encoding',
  ENC_8BIT: '8bit',
  ENC_7BIT: '7bit',
  ENC_NONE: '',

  LOG_CLIENT_NAME: 'log_client_name',
  LOG_CLIENT_ADDR: 'log_client_address',
  LOG_CLIENT_PORT: 'log_client_port',
  LOG_HELO_NAME: 'log_helo_name',
  LOG_PROTO_NAME: 'log_protocol_name',
  LOG_ORIGIN: 'log_message_origin',

  ACT_CLIENT: 'client',
  ACT_CLIENT_NAME: 'client_name',
  ACT_CLIENT_ADDR: 'client_address',
  ACT_CLIENT_PORT: 'client_port',
  ACT_CLIENT_AF: 'client_address_type',
  ACT_HELO_NAME: 'helo_name',
  ACT_PROTO_NAME: 'protocol_name',
  ACT_REVERSE_CLIENT_NAME: 'reverse_client_name',
  ACT_SERVER_ADDR: 'server_address',
  ACT_SERVER_PORT: 'server_port',
  PROTO_STATE: 'protocol_state',
  ORG_NONE: 'unknown',
  ORG_LOCAL: 'local',

  DSN_STATUS: 'status',
  DSN_DTYPE: 'diag_type',
  DSN_DTEXT: 'diag_text',
  DSN_MTYPE: 'mta_type',
  DSN_MNAME: 'mta_mname',
  DSN_ACTION: 'action',
  DSN_ENVID: 'envelope_id',
  DSN_RET: 'ret_flags',
  DSN_NOTIFY: 'notify_flags',
  DSN_ORCPT: 'dsn_orig_rcpt',

  REMOTE_ENDPT: 'remote_endpoint',
  ROLE: 'role',
  TIMEOUT: 'timeout',
  PEER_CN: 'peer_CN',
  ISSUER_CN: 'issuer_CN',
  PEER_CERT_FPT: 'peer_fingerprint',
  PEER_PKEY_FPT: 'peer_pubkey_fingerprint',
  PEER_STATUS: 'peer_status',
  CIPHER_PROTOCOL: 'cipher_protocol',
  CIPHER_NAME: 'cipher_name',
  CIPHER_USEBITS: 'cipher_usebits',
  CIPHER_ALGBITS: 'cipher_algbits',
  SERVER_NAME: 'server_name',
} as const;

/** Protocol names that servers announce as protocol=<name> (Postfix MAIL_ATTR_PROTO_*). */
export const MAIL_ATTR_PROTO = {
  ANVIL: 'anvil_protocol',
  BOUNCE: 'delivery_status_protocol',
  CLEANUP: 'cleanup_protocol',
  DELIVER: 'delivery_request_protocol',
  FLUSH: 'queue_flush_protocol',
  POSTDROP: 'postdrop_protocol',
  PROXYMAP: 'proxymap_protocol',
  SCACHE: 'connection_cache_protocol',
  SHOWQ: 'mail_queue_list_protocol',
  TLSMGR: 'tlsmgr_protocol',
  TLSPROXY: 'tlsproxy_protocol',
  TRIVIAL: 'trivial_rewrite_protocol',
  /** Spelled so in Postfix itself (verify announces this very string). */
  VERIFY: 'address_verification_prrotocol',
} as const;

/** The path of a service endpoint: queue_directory/class/service (Postfix mail_pathname). */
export function mailPathname(queueDir: string, klass: MailClass, service: string): string {
  return `${queueDir.replace(/\/+$/, '')}/${klass}/${service}`;
}
