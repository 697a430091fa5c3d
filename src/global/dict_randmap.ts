/*
 * dict_randmap - randmap:{result, ...}: a random pick per lookup (Postfix dict_random)
 *
 * What it does: "randmap:{value_1, ..., value_n}" answers every lookup,
 * whatever the key, with one of the values chosen at random (uniformly,
 * a fresh pick each time): Postfix's way to spread mail over several
 * transports or relays (transport_maps = randmap:{smtp:a, smtp:b}). The
 * name must be one balanced {...}; inside it values are separated by
 * commas or white space, and a {...} group stays one value with its
 * braces kept, as the real postmap -q shows ("randmap:{ {a b} }" answers
 * "{a b}"). Like Postfix this is a pattern table (DICT_FLAG_PATTERN:
 * asked the whole address, never partial keys); the key and folding do
 * not matter. Offers lookupSync.
 *
 * What it does not do: update, delete or sequence (Postfix supports none:
 * postmap -s says "sequence operation is not supported"); weights (list
 * a value twice to double its share).
 *
 * DIAGNOSTICS
 * Opening fails (surrogate) with Postfix's texts: "bad syntax:
 * \"randmap:NAME\"; need \"randmap:{value...}\"" for a name that is not
 * one non-empty {...}, and "randmap:NAME map requires O_RDONLY access
 * mode" for a write open.
 */
import { randomInt } from 'node:crypto';
import { type Dict, type DictOpenContext, DictOpenError } from './dict_base.js';
import { balancedLength, tokenizeBraced } from './dict_syntax.js';

/** The values of a randmap:{...} name, or null when its syntax is bad. */
export function randmapParse(name: string): string[] | null {
  const len = balancedLength(name);
  if (len === 0 || len !== name.length) return null;
  const values = tokenizeBraced(name.slice(1, -1));
  return values.length > 0 ? values : null;
}

export function dictRandmapOpen(ctx: DictOpenContext): Dict {
  if (ctx.mode !== 'read') throw new DictOpenError(`${ctx.type}:${ctx.name} map requires O_RDONLY access mode`);
  const values = randmapParse(ctx.name);
  if (values === null) {
    throw new DictOpenError(`bad syntax: "${ctx.type}:${ctx.name}"; need "${ctx.type}:{value...}"`);
  }
  const pick = (): string => (values.length === 1 ? values[0]! : values[randomInt(values.length)]!);
  return {
    spec: ctx.spec,
    type: ctx.type,
    pattern: true,
    lookup: async () => pick(),
    lookupSync: () => pick(),
    close: async () => {},
  };
}
