import { type KBinaryFn, type KBuffer } from '../ir/kernel.js';
import { mangle } from './source-writer.js';

/**
 * A printed expression with how tightly it binds. Printers build text from `Code` rather than
 * from strings so that where an expression stands decides its parentheses: nothing is ever taken
 * back off printed text.
 */
export interface Code {
  readonly text: string;
  readonly prec: number;
}

/** C-family binding strengths (WGSL's operators are a subset with the same order). */
export const PREC = {
  ternary: 2,
  lor: 3,
  land: 4,
  bitor: 5,
  bitxor: 6,
  bitand: 7,
  equality: 8,
  relational: 9,
  shift: 10,
  additive: 11,
  multiplicative: 12,
  /** Prefix operators and C casts. */
  unary: 14,
  /** Names, literals, calls, subscripts: never parenthesized. */
  atom: 16,
} as const;

/** The infix spelling and binding strength of the kernel IR's binary operators that C and WGSL share. */
export const INFIX: Readonly<Record<KBinaryFn, { readonly op: string; readonly prec: number } | undefined>> = {
  add: { op: '+', prec: PREC.additive },
  sub: { op: '-', prec: PREC.additive },
  mul: { op: '*', prec: PREC.multiplicative },
  div: { op: '/', prec: PREC.multiplicative },
  mod: { op: '%', prec: PREC.multiplicative },
  and: { op: '&', prec: PREC.bitand },
  or: { op: '|', prec: PREC.bitor },
  xor: { op: '^', prec: PREC.bitxor },
  shl: { op: '<<', prec: PREC.shift },
  shr: { op: '>>', prec: PREC.shift },
  lt: { op: '<', prec: PREC.relational },
  le: { op: '<=', prec: PREC.relational },
  gt: { op: '>', prec: PREC.relational },
  ge: { op: '>=', prec: PREC.relational },
  eq: { op: '==', prec: PREC.equality },
  ne: { op: '!=', prec: PREC.equality },
  land: { op: '&&', prec: PREC.land },
  lor: { op: '||', prec: PREC.lor },
  max: undefined,
  min: undefined,
  pow: undefined,
};

export const atom = (text: string): Code => ({ text, prec: PREC.atom });
export const code = (text: string, prec: number): Code => ({ text, prec });

/**
 * `c` as an operand. Every compound operand is parenthesized, whatever the precedence: WGSL
 * rejects mixing some operators without parentheses (`a & b | c`, `a << b + c`), and explicit
 * grouping keeps the printed index arithmetic readable in both languages.
 */
export const operand = (c: Code): string => (c.prec >= PREC.atom ? c.text : `(${c.text})`);

/** `a op b` for an operator of the shared table. */
export function infix(op: { readonly op: string; readonly prec: number }, a: Code, b: Code): Code {
  return code(`${operand(a)} ${op.op} ${operand(b)}`, op.prec);
}

export const prefix = (op: string, x: Code): Code => code(`${op}${operand(x)}`, PREC.unary);
export const call = (fn: string, ...args: readonly Code[]): Code => atom(`${fn}(${args.map(operand).join(', ')})`);
export const ternary = (cond: Code, a: Code, b: Code): Code => code(`${operand(cond)} ? ${operand(a)} : ${operand(b)}`, PREC.ternary);

/** Both languages name buffers by scope, so a kernel-IR name can never collide with a local. */
export const bufferName = (b: KBuffer) => mangle(b.scope === 'global' ? 't_' : b.scope === 'workgroup' ? 's_' : 'p_', b.name);

/** WGSL and CUDA share the names of their atomic read-modify-write functions. */
export const ATOMIC_FN = { and: 'atomicAnd', or: 'atomicOr', add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin' } as const;
