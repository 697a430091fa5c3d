/*
 * rewrite - trivial-rewrite's address rewriting for the "local" and "remote" contexts
 *
 * What it does: gives the daemon (trivial_rewrite.ts) and its tests the
 * pure rewrite half under the name Postfix uses (trivial-rewrite/rewrite.c).
 * The code lives in src/global/rewrite_addr.ts, because the in-process
 * client (src/global/rewrite_clnt.ts localRewriteClient) needs the same
 * code and src/global may not import a program folder.
 *
 * What it does not do: anything of its own; see rewrite_addr.ts.
 *
 * DIAGNOSTICS
 * None.
 */
export * from '../global/rewrite_addr.js';
