/*
 * protocol - one typed declaration per internal service protocol
 *
 * What it does: defineProtocol() takes a protocol's name (the one its
 * server announces, MAIL_ATTR_PROTO.*), its request fields and reply
 * fields (attr0 types str/int/long/bool/data/hash with per-field limits)
 * and the frame limits, and gives back everything both ends need: the
 * TypeScript request/reply types (RequestOf<P>, ReplyOf<P>), the encoders
 * and decoders, the server's announcement (Postfix 3.x servers send
 * "protocol" = <name> right after accept, as a list of its own or, as
 * cleanup does with its queue_id, followed by greeting fields) and the
 * client's check of it, the wire form ('0', or 'plain' as anvil uses),
 * and a PROTOCOL text for a daemon's header.
 *
 *   const FLUSH = defineProtocol({
 *     name: MAIL_ATTR_PROTO.FLUSH,
 *     request: { [MAIL_ATTR.REQ]: attr.str(), [MAIL_ATTR.SITE]: attr.str({ optional: true }) },
 *     reply: { [MAIL_ATTR.STATUS]: attr.int() },
 *   });
 *
 * Object key order is wire order. Requests whose layout depends on the
 * request name use optional fields.
 *
 * What it does not do: sockets, timeouts, retries (attr_clnt.ts,
 * attr_serv.ts), or streams of several reply lists (use Attr0Stream).
 *
 * DIAGNOSTICS
 * Decoders return ScanResult (never throw); encoders throw Attr0Error on
 * a caller bug (a wrong-typed value, a NUL byte in a string).
 */
import {
  ATTR0_DEFAULT_LIMITS,
  type Attr0Frame,
  type Attr0Limits,
  type AttrFormat,
  encodeAttr0,
} from '../../util/attr0.js';
import { type FieldList, type Fields, type ScanResult, printFields, scanFields } from '../../util/attr0_scan.js';
import { MAIL_ATTR } from '../mail_proto.js';

export interface ProtocolDeclaration<Req extends FieldList, Rep extends FieldList, G extends FieldList = {}> {
  /** Announced protocol name, e.g. MAIL_ATTR_PROTO.FLUSH. */
  name: string;
  /** Whether the server announces itself first (default true, as Postfix 3.x). */
  announce?: boolean;
  /**
   * Attributes the server sends in the same list after protocol=<name>
   * (cleanup sends its queue_id there). Default: none.
   */
  greeting?: G;
  /** Wire form: '0' (default) or 'plain' (Postfix anvil). */
  format?: AttrFormat;
  request: Req;
  reply: Rep;
  /** Strict (default) or lenient decoding, per direction. */
  strictRequest?: boolean;
  strictReply?: boolean;
  /** Frame limits for both directions (defaults: ATTR0_DEFAULT_LIMITS). */
  limits?: Partial<Attr0Limits>;
}

/**
 * What attr_clnt.ts and attr_serv.ts need from a protocol. Req and Rep
 * are the typed request and reply values; a reply is encoded and decoded
 * knowing the request it answers (its layout may depend on it).
 */
export interface Protocol<Req = unknown, Rep = unknown, Greet = {}> {
  readonly name: string;
  readonly announce: boolean;
  readonly format: AttrFormat;
  readonly greeting: FieldList;
  readonly limits: Readonly<Attr0Limits>;
  encodeRequest(r: Req): Buffer;
  decodeRequest(frame: Attr0Frame): ScanResult<Req>;
  encodeReply(r: Rep, req: Req): Buffer;
  decodeReply(frame: Attr0Frame, req: Req): ScanResult<Rep>;
  /** The bytes a server sends right after accepting a connection. */
  announcement(greeting?: Greet): Buffer;
  /** Checks a received announcement list (strict: protocol=<name>, then the greeting fields). */
  checkAnnouncement(frame: Attr0Frame): ScanResult<Greet>;
  /** A PROTOCOL section for a daemon's header comment. */
  describe(): string;
}

/** A protocol with one request layout and one reply layout. */
export interface FieldProtocol<Req extends FieldList = FieldList, Rep extends FieldList = FieldList, G extends FieldList = {}>
  extends Protocol<Fields<Req>, Fields<Rep>, Fields<G>> {
  readonly request: Req;
  readonly reply: Rep;
  readonly strictRequest: boolean;
  readonly strictReply: boolean;
  /** The reply layout does not depend on the request, so `req` may be left out. */
  encodeReply(r: Fields<Rep>, req?: Fields<Req>): Buffer;
  decodeReply(frame: Attr0Frame, req?: Fields<Req>): ScanResult<Fields<Rep>>;
}

/** Any protocol at all (for generic plumbing). */
export type AnyProtocol = Protocol<any, any, any>;
export type RequestOf<P> = P extends { encodeRequest(r: infer Req): Buffer } ? Req : never;
export type ReplyOf<P> = P extends { decodeReply(frame: Attr0Frame, ...rest: any[]): ScanResult<infer Rep> } ? Rep : never;
export type GreetingOf<P> = P extends { checkAnnouncement(frame: Attr0Frame): ScanResult<infer G> } ? G : never;

/** The announcement bytes and check shared by every protocol kind. */
export function announcementParts<G extends FieldList>(
  name: string,
  format: AttrFormat,
  greeting: G,
): Pick<Protocol<unknown, unknown, Fields<G>>, 'announcement' | 'checkAnnouncement' | 'greeting'> {
  const head = { name: MAIL_ATTR.PROTO, value: name };
  return {
    greeting,
    announcement: (values?: Fields<G>) =>
      encodeAttr0([head, ...printFields(greeting, (values ?? {}) as Fields<G>)], { format }),
    checkAnnouncement(frame: Attr0Frame): ScanResult<Fields<G>> {
      const first = frame[0];
      if (!first || 'group' in first || first.name !== MAIL_ATTR.PROTO) {
        return { ok: false, message: `missing attribute ${MAIL_ATTR.PROTO} in server announcement (expected: ${name})` };
      }
      if (first.value !== name) {
        return { ok: false, message: `unexpected ${MAIL_ATTR.PROTO} ${first.value} (expected: ${name})` };
      }
      const rest = scanFields(greeting, frame.slice(1), { strict: true });
      if (!rest.ok) return { ok: false, message: `server announcement: ${rest.message}` };
      return rest;
    },
  };
}

export function describeFields(fields: FieldList): string[] {
  return Object.entries(fields).map(([name, s]) => {
    const notes: string[] = [];
    if (s.optional) notes.push('optional');
    if (s.maxBytes !== undefined) notes.push(`max ${s.maxBytes} bytes`);
    if (s.maxEntries !== undefined) notes.push(`max ${s.maxEntries} entries`);
    if (s.min !== undefined || s.max !== undefined) notes.push(`range ${s.min ?? ''}..${s.max ?? ''}`);
    return `\t${name} (${s.type}${notes.length ? ', ' + notes.join(', ') : ''})`;
  });
}

export function defineProtocol<Req extends FieldList, Rep extends FieldList, G extends FieldList = {}>(
  decl: ProtocolDeclaration<Req, Rep, G>,
): FieldProtocol<Req, Rep, G> {
  const limits = Object.freeze({ ...ATTR0_DEFAULT_LIMITS, ...decl.limits });
  const strictRequest = decl.strictRequest ?? true;
  const strictReply = decl.strictReply ?? true;
  const announce = decl.announce ?? true;
  const format = decl.format ?? '0';
  return Object.freeze({
    name: decl.name,
    announce,
    format,
    request: decl.request,
    reply: decl.reply,
    strictRequest,
    strictReply,
    limits,
    encodeRequest: (r: Fields<Req>) => encodeAttr0(printFields(decl.request, r), { format }),
    decodeRequest: (frame: Attr0Frame) => scanFields(decl.request, frame, { strict: strictRequest }),
    encodeReply: (r: Fields<Rep>) => encodeAttr0(printFields(decl.reply, r), { format }),
    decodeReply: (frame: Attr0Frame) => scanFields(decl.reply, frame, { strict: strictReply }),
    ...announcementParts(decl.name, format, (decl.greeting ?? {}) as G),
    describe(): string {
      const lines: string[] = [];
      if (format === 'plain') lines.push('Attributes travel in the plain form (name=value lines).');
      if (announce) lines.push(`The server announces: ${MAIL_ATTR.PROTO} = ${decl.name}`, ...describeFields(decl.greeting ?? {}));
      lines.push('Request attributes:', ...describeFields(decl.request));
      lines.push('Reply attributes:', ...describeFields(decl.reply));
      return lines.join('\n');
    },
  });
}
