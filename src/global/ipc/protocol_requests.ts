/*
 * protocol_requests - protocols whose layout depends on the request name
 *
 * What it does: most Postfix services read "request" = <name> first and
 * then attributes that depend on that name, and reply likewise (flush:
 * add/send_site/send_file/refresh/purge; anvil, scache, verify, tlsmgr
 * the same way). defineRequestProtocol() declares each request's fields
 * and reply fields once; from it come a union request type (narrowed by
 * `req.request` in a switch), the encoder and strict decoder for both
 * directions (the reply is decoded with the layout of the request it
 * answers), the announcement and its check, and the PROTOCOL text.
 * callRequest() sends one named request and gives back that request's
 * reply type; requestHandlers() builds a server handler from one function
 * per request name.
 *
 *   const FLUSH = defineRequestProtocol({
 *     name: MAIL_ATTR_PROTO.FLUSH,
 *     requests: {
 *       send_site: { request: { site: attr.str() }, reply: { status: attr.int() } },
 *       purge: { request: {}, reply: { status: attr.int() } },
 *     },
 *   });
 *   const r = await callRequest(client, 'send_site', { site: 'example.com' });
 *
 * What it does not do: I/O (attr_clnt.ts, attr_serv.ts do), or accept a
 * request name that is not declared (the decoder reports it; the server
 * then drops the client with a warning).
 *
 * DIAGNOSTICS
 * As protocol.ts: decoders return ScanResult, encoders throw Attr0Error on
 * a caller bug (an undeclared request name, a wrong-typed value).
 */
import { ATTR0_DEFAULT_LIMITS, Attr0Error, type Attr0Frame, type Attr0Limits, type AttrFormat, encodeAttr0, isGroup } from '../../util/attr0.js';
import { type FieldList, type Fields, type ScanResult, printFields, scanFields } from '../../util/attr0_scan.js';
import { MAIL_ATTR } from '../mail_proto.js';
import type { AttrClient, IpcResult } from './attr_clnt.js';
import type { AttrHandler, AttrRequestContext } from './attr_serv.js';
import { type Protocol, announcementParts, describeFields } from './protocol.js';

export interface RequestVariant {
  readonly request: FieldList;
  readonly reply: FieldList;
}

export type VariantMap = Readonly<Record<string, RequestVariant>>;

/** The request value for one request name: { request: name, ...its fields }. */
export type NamedRequest<V extends VariantMap, K extends keyof V & string> = { request: K } & Fields<V[K]['request']>;
export type NamedReply<V extends VariantMap, K extends keyof V & string> = Fields<V[K]['reply']>;

export type VariantRequest<V extends VariantMap> = { [K in keyof V & string]: NamedRequest<V, K> }[keyof V & string];
export type VariantReply<V extends VariantMap> = { [K in keyof V & string]: NamedReply<V, K> }[keyof V & string];

export interface RequestProtocolDeclaration<V extends VariantMap> {
  name: string;
  announce?: boolean;
  /** Wire form: '0' (default) or 'plain' (Postfix anvil). */
  format?: AttrFormat;
  requests: V;
  strictRequest?: boolean;
  strictReply?: boolean;
  limits?: Partial<Attr0Limits>;
}

export interface RequestProtocol<V extends VariantMap> extends Protocol<VariantRequest<V>, VariantReply<V>> {
  readonly requests: V;
}

export function defineRequestProtocol<V extends VariantMap>(decl: RequestProtocolDeclaration<V>): RequestProtocol<V> {
  const limits = Object.freeze({ ...ATTR0_DEFAULT_LIMITS, ...decl.limits });
  const strictRequest = decl.strictRequest ?? true;
  const strictReply = decl.strictReply ?? true;
  const announce = decl.announce ?? true;
  const format = decl.format ?? '0';
  const variantOf = (name: string): RequestVariant | undefined =>
    Object.prototype.hasOwnProperty.call(decl.requests, name) ? decl.requests[name] : undefined;
  const mustVariant = (name: string): RequestVariant => {
    const v = variantOf(name);
    if (!v) throw new Attr0Error(`${decl.name}: undeclared request ${JSON.stringify(name)}`);
    return v;
  };
  return Object.freeze({
    name: decl.name,
    announce,
    format,
    limits,
    requests: decl.requests,
    encodeRequest(r: VariantRequest<V>): Buffer {
      const v = mustVariant(r.request);
      return encodeAttr0([{ name: MAIL_ATTR.REQ, value: r.request }, ...printFields(v.request, r as never)], { format });
    },
    decodeRequest(frame: Attr0Frame): ScanResult<VariantRequest<V>> {
      const k = strictRequest ? (frame.length > 0 ? 0 : -1) : frame.findIndex((e) => !isGroup(e) && e.name === MAIL_ATTR.REQ);
      const first = k >= 0 ? frame[k] : undefined;
      if (!first || isGroup(first) || first.name !== MAIL_ATTR.REQ) {
        return { ok: false, message: first ? `unexpected attribute ${isGroup(first) ? '{...}' : first.name} (expecting: ${MAIL_ATTR.REQ})` : `missing attribute ${MAIL_ATTR.REQ}` };
      }
      const v = variantOf(first.value);
      if (!v) return { ok: false, message: `unknown ${MAIL_ATTR.REQ} ${JSON.stringify(first.value.slice(0, 100))}` };
      const r = scanFields(v.request, frame.filter((_, j) => j !== k), { strict: strictRequest });
      if (!r.ok) return r;
      return { ok: true, value: { request: first.value, ...r.value } as VariantRequest<V> };
    },
    encodeReply(rep: VariantReply<V>, req: VariantRequest<V>): Buffer {
      return encodeAttr0(printFields(mustVariant(req.request).reply, rep as never), { format });
    },
    decodeReply(frame: Attr0Frame, req: VariantRequest<V>): ScanResult<VariantReply<V>> {
      return scanFields(mustVariant(req.request).reply, frame, { strict: strictReply }) as ScanResult<VariantReply<V>>;
    },
    ...announcementParts(decl.name, format, {}),
    describe(): string {
      const lines: string[] = [];
      if (format === 'plain') lines.push('Attributes travel in the plain form (name=value lines).');
      if (announce) lines.push(`The server announces: ${MAIL_ATTR.PROTO} = ${decl.name}`);
      for (const [name, v] of Object.entries(decl.requests)) {
        lines.push(`Request ${MAIL_ATTR.REQ} = ${name}:`, ...describeFields(v.request), 'Reply:', ...describeFields(v.reply));
      }
      return lines.join('\n');
    },
  });
}

/** Sends one named request; the reply is typed by that request's declaration. */
export function callRequest<V extends VariantMap, K extends keyof V & string>(
  client: AttrClient<RequestProtocol<V>>,
  name: K,
  fields: Fields<V[K]['request']>,
): Promise<IpcResult<NamedReply<V, K>>> {
  return client.request({ ...fields, request: name } as unknown as VariantRequest<V>) as Promise<IpcResult<NamedReply<V, K>>>;
}

export type RequestHandlers<V extends VariantMap> = {
  [K in keyof V & string]: (req: NamedRequest<V, K>, ctx: AttrRequestContext) => Promise<NamedReply<V, K>> | NamedReply<V, K>;
};

/** A server handler that dispatches on the request name, one typed function per request. */
export function requestHandlers<V extends VariantMap>(protocol: RequestProtocol<V>, handlers: RequestHandlers<V>): AttrHandler<RequestProtocol<V>> {
  void protocol;
  return (req, ctx) => {
    const h = handlers[req.request as keyof V & string] as (r: typeof req, c: AttrRequestContext) => Promise<VariantReply<V>> | VariantReply<V>;
    return h(req, ctx);
  };
}
