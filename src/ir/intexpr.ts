import { ProgramError, assertNever } from './errors.js';

/**
 * Integer expressions: tensor sizes (over size symbols such as `N`) and index expressions (over
 * index variables such as `i`). Views — slice, reshape, transpose, broadcast — are index
 * expressions on loads, so the IR needs no view nodes and every view composes for free.
 */
export type IntExpr =
  | { readonly op: 'int'; readonly value: number }
  | { readonly op: 'sym'; readonly name: string }
  | { readonly op: 'var'; readonly name: string }
  | { readonly op: 'add' | 'sub' | 'mul' | 'floordiv' | 'mod' | 'min' | 'max'; readonly a: IntExpr; readonly b: IntExpr };

export type IntBinOp = Extract<IntExpr, { a: IntExpr }>['op'];

export const int = (value: number): IntExpr => {
  if (!Number.isSafeInteger(value)) throw new ProgramError(`integer expected, got ${value}`);
  return { op: 'int', value };
};
export const sym = (name: string): IntExpr => ({ op: 'sym', name });
export const ivar = (name: string): IntExpr => ({ op: 'var', name });

export type IntLike = IntExpr | number;
export const toInt = (x: IntLike): IntExpr => (typeof x === 'number' ? int(x) : x);

function fold(op: IntBinOp, a: number, b: number): number | undefined {
  switch (op) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'floordiv':
      return b === 0 ? undefined : Math.floor(a / b);
    case 'mod':
      return b === 0 ? undefined : a - Math.floor(a / b) * b;
    case 'min':
      return Math.min(a, b);
    case 'max':
      return Math.max(a, b);
  }
}

/** Builds a binary integer node, simplifying the cases that views produce all the time. */
export function ibin(op: IntBinOp, x: IntLike, y: IntLike): IntExpr {
  const a = toInt(x);
  const b = toInt(y);
  if (a.op === 'int' && b.op === 'int') {
    const v = fold(op, a.value, b.value);
    if (v !== undefined) return int(v);
  }
  const isInt = (e: IntExpr, v: number) => e.op === 'int' && e.value === v;
  switch (op) {
    case 'add':
      if (isInt(a, 0)) return b; // 0+x -> x
      if (isInt(b, 0)) return a; // x+0 -> x
      // (x/c)*c + x%c -> x   (a split followed by a merge)
      if (a.op === 'mul' && a.a.op === 'floordiv' && b.op === 'mod' && equalInt(a.a.a, b.a) && equalInt(a.a.b, b.b) && equalInt(a.b, b.b)) {
        return b.a;
      }
      break;
    case 'sub':
      if (isInt(b, 0)) return a; // x-0 -> x
      if (equalInt(a, b)) return int(0); // x-x -> 0
      break;
    case 'mul':
      if (isInt(a, 0) || isInt(b, 0)) return int(0); // x*0 -> 0
      if (isInt(a, 1)) return b; // 1*x -> x
      if (isInt(b, 1)) return a; // x*1 -> x
      break;
    case 'floordiv':
      if (isInt(b, 1)) return a; // x/1 -> x
      // (x*c)/c -> x
      if (a.op === 'mul' && b.op === 'int' && a.b.op === 'int' && a.b.value === b.value) return a.a;
      break;
    case 'mod':
      if (isInt(b, 1)) return int(0); // x%1 -> 0
      break;
    case 'min':
    case 'max':
      if (equalInt(a, b)) return a;
      break;
  }
  return { op, a, b };
}

export const iadd = (a: IntLike, b: IntLike) => ibin('add', a, b);
export const isub = (a: IntLike, b: IntLike) => ibin('sub', a, b);
export const imul = (a: IntLike, b: IntLike) => ibin('mul', a, b);
export const idiv = (a: IntLike, b: IntLike) => ibin('floordiv', a, b);
export const imod = (a: IntLike, b: IntLike) => ibin('mod', a, b);

export function equalInt(a: IntExpr, b: IntExpr): boolean {
  if (a === b) return true;
  if (a.op !== b.op) return false;
  switch (a.op) {
    case 'int':
      return a.value === (b as typeof a).value;
    case 'sym':
    case 'var':
      return a.name === (b as typeof a).name;
    default: {
      const bb = b as typeof a;
      return equalInt(a.a, bb.a) && equalInt(a.b, bb.b);
    }
  }
}

/** Evaluates with every symbol and variable bound; throws naming the first unbound one. */
export function evalInt(e: IntExpr, env: Readonly<Record<string, number>>): number {
  switch (e.op) {
    case 'int':
      return e.value;
    case 'sym':
    case 'var': {
      // own properties only: a size named `constructor` must not find Object.prototype's
      const v = Object.hasOwn(env, e.name) ? env[e.name] : undefined;
      if (v === undefined) {
        throw new ProgramError(
          e.op === 'sym'
            ? `size ${e.name} is not bound; pass it in sizes, e.g. { ${e.name}: 128 }`
            : `index variable ${e.name} is not bound`,
        );
      }
      return v;
    }
    default: {
      const v = fold(e.op, evalInt(e.a, env), evalInt(e.b, env));
      if (v === undefined) throw new ProgramError(`division by zero in ${printInt(e)}`);
      return v;
    }
  }
}

/** Replaces symbols and variables by the given expressions (simplifying as it rebuilds). */
export function substInt(e: IntExpr, map: Readonly<Record<string, IntExpr>>): IntExpr {
  switch (e.op) {
    case 'int':
      return e;
    case 'sym':
    case 'var':
      return Object.hasOwn(map, e.name) ? map[e.name]! : e;
    default: {
      const a = substInt(e.a, map);
      const b = substInt(e.b, map);
      return a === e.a && b === e.b ? e : ibin(e.op, a, b);
    }
  }
}

/** Names of the index variables (not size symbols) an expression reads. */
export function intVars(e: IntExpr, out: Set<string> = new Set()): Set<string> {
  switch (e.op) {
    case 'int':
    case 'sym':
      return out;
    case 'var':
      out.add(e.name);
      return out;
    default:
      intVars(e.a, out);
      return intVars(e.b, out);
  }
}

export function intSyms(e: IntExpr, out: Set<string> = new Set()): Set<string> {
  switch (e.op) {
    case 'int':
    case 'var':
      return out;
    case 'sym':
      out.add(e.name);
      return out;
    default:
      intSyms(e.a, out);
      return intSyms(e.b, out);
  }
}

const PREC: Record<IntBinOp, number> = { add: 1, sub: 1, mul: 2, floordiv: 2, mod: 2, min: 3, max: 3 };
const SYMBOL: Record<IntBinOp, string> = { add: '+', sub: '-', mul: '*', floordiv: '/', mod: '%', min: 'min', max: 'max' };

export function printInt(e: IntExpr, outer = 0): string {
  switch (e.op) {
    case 'int':
      return String(e.value);
    case 'sym':
    case 'var':
      return e.name;
    case 'min':
    case 'max':
      return `${e.op}(${printInt(e.a)}, ${printInt(e.b)})`;
    case 'add':
    case 'sub':
    case 'mul':
    case 'floordiv':
    case 'mod': {
      const p = PREC[e.op];
      // the right operand of a non-commutative op needs parentheses at equal precedence
      // the right operand needs parentheses at equal precedence unless the two ops associate: a + (b + c), a * (b * c)
      const assoc = (e.op === 'add' && e.b.op === 'add') || (e.op === 'mul' && e.b.op === 'mul');
      const s = `${printInt(e.a, p)} ${SYMBOL[e.op]} ${printInt(e.b, assoc ? p : p + 1)}`;
      return p < outer ? `(${s})` : s;
    }
    default:
      return assertNever(e, 'integer op');
  }
}
