/*
 * resolve - trivial-rewrite's address resolver (the resolve half)
 *
 * What it does: gives the daemon (trivial_rewrite.ts) and its tests the
 * pure resolver under the name Postfix uses (trivial-rewrite/resolve.c and
 * transport.c). The code lives in src/global/resolve_addr.ts (classes,
 * relayhost, sender-dependent maps, relocated_maps) and
 * src/global/resolve_transport.ts (transport(5) search), because the
 * in-process client (src/global/resolve_clnt.ts localResolveClient) needs
 * the same code and src/global may not import a program folder.
 *
 * What it does not do: anything of its own; see those files.
 *
 * DIAGNOSTICS
 * None.
 */
export { NOT_UPDATED, RESOLVE_PARAMS, ResolveEngine, type ResolveKind } from '../global/resolve_addr.js';
export { TransportTable, updateEntry } from '../global/resolve_transport.js';
export { RESOLVE_CLASS, RESOLVE_FLAG, type ResolveReply } from '../global/resolve_clnt.js';
