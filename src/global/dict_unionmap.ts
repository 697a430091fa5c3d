/*
 * dict_unionmap - the unionmap: and pipemap: tables (Postfix dict_union, dict_pipe)
 *
 * What it does: "unionmap:{type:name, ...}" looks the key up in every
 * table and answers all results joined with commas (not found when
 * none has one); "pipemap:{type:name, ...}" looks the key up in the
 * first table, the result in the second, and so on, answering the last
 * result (not found as soon as one table finds nothing). The list is
 * parsed like inline: (one balanced {...}, items separated by commas or
 * white space outside braces); each table is opened with the same
 * options through dictOpen(). Like Postfix these are fixed-key tables:
 * the key is folded (when the table folds) before the components see
 * it. A failing component fails the lookup.
 *
 * What it does not do: anything beyond what the components do.
 *
 * DIAGNOSTICS
 * A bad list makes a surrogate with Postfix's text: bad syntax:
 * "unionmap:..."; need "unionmap:{type:name...}".
 */
import { type Dict, type DictOpenContext, DictOpenError, foldKey } from './dict_base.js';
import { balancedLength, tokenizeBraced } from './dict_syntax.js';

function components(ctx: DictOpenContext): Dict[] {
  const name = ctx.name;
  const len = balancedLength(name);
  const specs = len === name.length && len > 2 ? tokenizeBraced(name.slice(1, -1)) : [];
  if (specs.length === 0 || !ctx.openNested) {
    throw new DictOpenError(`bad syntax: "${ctx.spec}"; need "${ctx.type}:{type:name...}"`);
  }
  return specs.map((s) => ctx.openNested!(s));
}

export function dictUnionmapOpen(ctx: DictOpenContext): Dict {
  const dicts = components(ctx);
  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: dicts.every((d) => d.pattern),
    lookup: async (key) => {
      const folded = foldKey(key, ctx.fold, ctx.utf8);
      let out = '';
      for (const d of dicts) {
        const v = await d.lookup(folded);
        // As Postfix: a comma goes before a result only when text is
        // already there, and an empty union is no result.
        if (v !== null) out = out !== '' ? `${out},${v}` : v;
      }
      return out !== '' ? out : null;
    },
    close: async () => {},
  };
}

export function dictPipemapOpen(ctx: DictOpenContext): Dict {
  const dicts = components(ctx);
  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: dicts[0]!.pattern,
    lookup: async (key) => {
      let v: string | null = foldKey(key, ctx.fold, ctx.utf8);
      for (const d of dicts) {
        v = await d.lookup(v);
        if (v === null) return null;
      }
      return v;
    },
    close: async () => {},
  };
}
