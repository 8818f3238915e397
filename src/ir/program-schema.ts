import { z } from 'zod';
import { DTYPES } from './dtype.js';
import { BINARY_FNS, COMPARE_FNS, REDUCE_FNS, UNARY_FNS } from './tensor.js';

/**
 * The shape of a serialized program (`deserializeProgram`'s input): every node kind with its
 * fields and their types, checked before anything reads the document, so a malformed `.json`
 * program is a typed error naming the field instead of a TypeError deep in a pass. Names and the
 * program's meaning (types, axes, sizes) are checked after it, by `checkProgramNames` and
 * `verifyProgram`.
 */

const name = z.string();
/** A constant's value: any number, infinities and NaN included (masks and reductions use them). */
const anyNumber = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });
const dtype = z.enum(DTYPES as unknown as [string, ...string[]]);
const valueType = z.union([dtype, z.literal('bool')]);

const INT_BIN = ['add', 'sub', 'mul', 'floordiv', 'mod', 'min', 'max'] as const;
const intExpr: z.ZodType = z.lazy(() =>
  z.discriminatedUnion('op', [
    z.object({ op: z.literal('int'), value: z.number().int() }),
    z.object({ op: z.literal('sym'), name }),
    z.object({ op: z.literal('var'), name }),
    ...INT_BIN.map((op) => z.object({ op: z.literal(op), a: intExpr, b: intExpr })),
  ] as never),
);

const axis = z.object({ name, size: intExpr });
const tensorDecl = z.object({ name, dtype, axes: z.array(axis) });

const expr: z.ZodType = z.lazy(() =>
  z.discriminatedUnion('op', [
    z.object({ op: z.literal('const'), dtype: valueType, value: anyNumber }),
    z.object({ op: z.literal('load'), dtype, tensor: name, index: z.array(intExpr) }),
    z.object({ op: z.literal('iota'), dtype, index: intExpr }),
    z.object({ op: z.literal('unary'), dtype: valueType, fn: z.enum(UNARY_FNS as unknown as [string, ...string[]]), x: expr }),
    z.object({ op: z.literal('binary'), dtype: valueType, fn: z.enum(BINARY_FNS as unknown as [string, ...string[]]), a: expr, b: expr }),
    z.object({ op: z.literal('compare'), dtype: z.literal('bool'), fn: z.enum(COMPARE_FNS as unknown as [string, ...string[]]), a: expr, b: expr }),
    z.object({ op: z.literal('select'), dtype: valueType, cond: expr, a: expr, b: expr }),
    z.object({ op: z.literal('cast'), dtype: valueType, x: expr }),
    z.object({ op: z.literal('reduce'), dtype: valueType, fn: z.enum(REDUCE_FNS as unknown as [string, ...string[]]), axes: z.array(axis), body: expr }),
    z.object({ op: z.literal('fold'), dtype: valueType, def: foldDef, output: z.number().int().nonnegative() }),
    z.object({ op: z.literal('state'), dtype: valueType, field: name, of: z.enum(['self', 'other']), index: z.array(intExpr) }),
    z.object({ op: z.literal('local'), dtype: valueType, name }),
  ] as never),
);

const foldDef: z.ZodType = z.lazy(() =>
  z.object({
    kind: z.enum(['fold', 'scan']),
    outer: z.array(axis),
    over: z.array(axis),
    state: z.array(z.object({ name, dtype: valueType, axes: z.array(axis) })),
    init: z.array(expr),
    locals: z.array(z.object({ name, expr })),
    update: z.array(expr),
    merge: z.array(expr),
    outputs: z.array(z.object({ axes: z.array(axis), expr })),
  }),
);

export const PROGRAM_SCHEMA = z.object({
  name,
  sizes: z.array(name),
  inputs: z.array(tensorDecl),
  stmts: z.array(z.object({ target: tensorDecl, expr })),
  outputs: z.array(name),
  constraints: z.array(z.object({ a: intExpr, b: intExpr, what: z.string() })),
  dynamic: z.record(z.string(), z.number().int().positive()).optional(),
});

/** Deepest nesting of arrays and objects a program document may have (checked without recursion). */
export const MAX_DOCUMENT_DEPTH = 2000;

/** How deeply a parsed JSON value nests, up to `limit + 1` (iterative: deep input cannot overflow the stack). */
export function documentDepth(v: unknown, limit = MAX_DOCUMENT_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (!x || typeof x !== 'object') continue;
    deepest = Math.max(deepest, d);
    if (deepest > limit) return deepest;
    for (const c of Object.values(x as object)) stack.push([c, d + 1]);
  }
  return deepest;
}
