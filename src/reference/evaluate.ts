import { type BoundProgram, type Sizes, bindProgram, numel, shapeOf } from '../ir/bind.js';
import { type DType, type ValueType, isFloat } from '../ir/dtype.js';
import { BindingError, assertNever } from '../ir/errors.js';
import { type HostTensor, checkHost, fromValues, toValues } from '../ir/host.js';
import { type IntExpr } from '../ir/intexpr.js';
import { roundBf16, roundF16 } from '../ir/numeric.js';
import { type Expr, type Program, type Stmt, type TensorDecl } from '../ir/tensor.js';
import { hoistReductions } from '../passes/hoist-reductions.js';
import { erf } from './math.js';

/**
 * The CPU reference: evaluates any tensor-IR program on host arrays. It is the oracle for every
 * test and every tuning candidate, so it favours being obviously right: values are float64,
 * reductions accumulate in float64, 4-bit and 8-bit inputs are dequantized exactly, and results
 * are rounded once, when stored to their dtype (and at explicit casts).
 *
 * Each statement is compiled to a JavaScript loop nest (fast enough for tensors of tens of
 * millions of elements); reductions are first hoisted into statements of their own so nothing
 * is recomputed per element.
 */
export interface ReferenceResult {
  /** The program's outputs. */
  readonly outputs: Record<string, HostTensor>;
  /** Every computed tensor (outputs and intermediates) as float64 logical values. */
  readonly values: Record<string, Float64Array>;
}

export function evaluate(p: Program, sizes: Sizes, inputs: Readonly<Record<string, HostTensor>>): ReferenceResult {
  const bound = bindProgram(hoistReductions(p), sizes);
  return evaluateBound(bound, inputs);
}

export function evaluateBound(bound: BoundProgram, inputs: Readonly<Record<string, HostTensor>>): ReferenceResult {
  const values: Record<string, Float64Array> = {};
  const decls = new Map<string, TensorDecl>();
  for (const t of bound.inputs) {
    const h = inputs[t.name];
    if (!h) throw new BindingError(`input ${t.name} of program ${bound.name} was not given`, t.name);
    checkHost(t.name, h, t.dtype, shapeOf(t));
    values[t.name] = toValues(h);
    decls.set(t.name, t);
  }
  for (const name of Object.keys(inputs)) {
    if (!decls.has(name)) throw new BindingError(`program ${bound.name} has no input ${name}`, name);
  }
  for (const s of bound.stmts) {
    const out = new Float64Array(numel(shapeOf(s.target)));
    const tensors = [...new Set(collectLoads(s.expr))];
    const fn = compileStmt(s, tensors, decls);
    fn(
      tensors.map((t) => values[t]!),
      out,
      HELPERS,
    );
    values[s.target.name] = out;
    decls.set(s.target.name, s.target);
  }
  const outputs: Record<string, HostTensor> = {};
  for (const o of bound.outputs) {
    const t = decls.get(o)!;
    outputs[o] = fromValues(t.dtype, shapeOf(t), values[o]!);
  }
  return { outputs, values };
}

const HELPERS = { erf, roundF16, roundBf16, satInt };

function satInt(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return 0;
  // + 0 turns the -0 of truncating (-1, 0) into the +0 a device produces
  return Math.min(hi, Math.max(lo, Math.trunc(x))) + 0;
}

function collectLoads(e: Expr, out: string[] = []): string[] {
  if (e.op === 'load') out.push(e.tensor);
  switch (e.op) {
    case 'unary':
    case 'cast':
      collectLoads(e.x, out);
      break;
    case 'binary':
    case 'compare':
      collectLoads(e.a, out);
      collectLoads(e.b, out);
      break;
    case 'select':
      collectLoads(e.cond, out);
      collectLoads(e.a, out);
      collectLoads(e.b, out);
      break;
    case 'reduce':
      collectLoads(e.body, out);
      break;
    default:
      break;
  }
  return out;
}

type StmtFn = (tensors: Float64Array[], out: Float64Array, h: typeof HELPERS) => void;

/** Emits `function(T, out, h)` evaluating one statement of a bound, hoisted program. */
function compileStmt(s: Stmt, tensors: readonly string[], decls: ReadonlyMap<string, TensorDecl>): StmtFn {
  const ids = new Map<string, string>();
  const id = (v: string) => {
    let x = ids.get(v);
    if (!x) ids.set(v, (x = `v${ids.size}`));
    return x;
  };
  const int = (e: IntExpr): string => {
    switch (e.op) {
      case 'int':
        return String(e.value);
      case 'var':
        return id(e.name);
      case 'sym':
        throw new Error(`internal: unbound size ${e.name}`);
      case 'add':
        return `(${int(e.a)} + ${int(e.b)})`;
      case 'sub':
        return `(${int(e.a)} - ${int(e.b)})`;
      case 'mul':
        return `(${int(e.a)} * ${int(e.b)})`;
      case 'floordiv':
        return `Math.floor(${int(e.a)} / ${int(e.b)})`;
      case 'mod':
        return `(((${int(e.a)} % ${int(e.b)}) + ${int(e.b)}) % ${int(e.b)})`;
      case 'min':
        return `Math.min(${int(e.a)}, ${int(e.b)})`;
      case 'max':
        return `Math.max(${int(e.a)}, ${int(e.b)})`;
      default:
        return assertNever(e, 'int op');
    }
  };
  const offset = (t: TensorDecl, index: readonly IntExpr[]): string => {
    const shape = shapeOf(t);
    let stride = 1;
    const terms: string[] = [];
    for (let k = shape.length - 1; k >= 0; k--) {
      terms.push(stride === 1 ? int(index[k]!) : `${int(index[k]!)} * ${stride}`);
      stride *= shape[k]!;
    }
    return terms.length ? terms.join(' + ') : '0';
  };
  const lines: string[] = [];
  const tmp = (() => {
    let n = 0;
    return () => `a${n++}`;
  })();

  const expr = (e: Expr): string => {
    switch (e.op) {
      case 'const':
        // a constant holds its dtype's value: 0.1 as f16 is 0.0999755859375
        return e.dtype === 'bool' ? String(e.value !== 0) : isFloat(e.dtype) ? roundTo(numberLiteral(e.value), e.dtype as DType) : numberLiteral(e.value);
      case 'load':
        return `t${tensors.indexOf(e.tensor)}[${offset(decls.get(e.tensor)!, e.index)}]`;
      case 'iota':
        return convert(int(e.index), 'i32', e.dtype);
      case 'unary':
        return unaryJs(e.fn, expr(e.x), e.dtype);
      case 'binary':
        return binaryJs(e.fn, expr(e.a), expr(e.b), e.dtype);
      case 'compare':
        return `(${expr(e.a)} ${COMPARE[e.fn]} ${expr(e.b)})`;
      case 'select':
        return `(${expr(e.cond)} ? ${expr(e.a)} : ${expr(e.b)})`;
      case 'cast':
        return convert(expr(e.x), e.x.dtype, e.dtype);
      case 'reduce':
        throw new Error('internal: nested reduction left after hoisting');
      case 'fold':
      case 'state':
      case 'local':
        throw new Error(`internal: ${e.op} is not evaluated yet`);
      default:
        return assertNever(e, 'expr op');
    }
  };

  const shape = shapeOf(s.target);
  const outVars = s.target.axes.map((a) => id(a.name));
  const loops = (vars: readonly string[], sizes: readonly number[], body: string): string =>
    vars.reduceRight((inner, v, k) => `for (let ${v} = 0; ${v} < ${sizes[k]}; ${v}++) {\n${inner}\n}`, body);

  let value: string;
  if (s.expr.op === 'reduce') {
    const r = s.expr;
    const acc = tmp();
    const init = r.fn === 'sum' ? '0' : r.fn === 'max' ? '-Infinity' : 'Infinity';
    const x = tmp();
    const step =
      r.fn === 'sum' ? `${acc} += ${x};` : `${acc} = ${x} ${r.fn === 'max' ? '>' : '<'} ${acc} || ${x} !== ${x} ? ${x} : ${acc};`;
    const inner = loops(
      r.axes.map((a) => id(a.name)),
      r.axes.map((a) => (a.size.op === 'int' ? a.size.value : NaN)),
      `const ${x} = ${expr(r.body)};\n${step}`,
    );
    value = `(() => { let ${acc} = ${init};\n${inner}\nreturn ${acc}; })()`;
    // an i32 sum wraps like the device's
    value = r.dtype === 'i32' ? `(${value} | 0)` : r.dtype === 'u32' ? `(${value} >>> 0)` : value;
  } else {
    value = expr(s.expr);
  }
  const store = `out[o++] = ${roundTo(value, s.target.dtype)};`;
  lines.push(...tensors.map((_, k) => `const t${k} = T[${k}];`));
  lines.push('let o = 0;');
  lines.push(loops(outVars, shape, store));
  const src = lines.join('\n');
  // eslint-disable-next-line @typescript-eslint/no-implied-eval
  return new Function('T', 'out', 'h', `"use strict";\nconst { erf, roundF16, roundBf16, satInt } = h;\n${src}`) as StmtFn;
}

const COMPARE = { lt: '<', le: '<=', gt: '>', ge: '>=', eq: '===', ne: '!==' } as const;

function numberLiteral(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return 'Infinity';
  if (v === -Infinity) return '-Infinity';
  return Object.is(v, -0) ? '-0' : String(v);
}

function unaryJs(fn: Extract<Expr, { op: 'unary' }>['fn'], x: string, t: ValueType): string {
  switch (fn) {
    case 'neg':
      return wrapInt(`(-(${x}))`, t);
    case 'abs':
      return wrapInt(`Math.abs(${x})`, t);
    case 'exp':
    case 'log':
    case 'sqrt':
    case 'tanh':
    case 'floor':
    case 'ceil':
    case 'sin':
    case 'cos':
      return `Math.${fn}(${x})`;
    case 'rsqrt':
      return `(1 / Math.sqrt(${x}))`;
    case 'recip':
      return `(1 / ${x})`;
    case 'erf':
      return `erf(${x})`;
    case 'sigmoid':
      return `(1 / (1 + Math.exp(-(${x}))))`;
    default:
      return assertNever(fn, 'unary fn');
  }
}

function binaryJs(fn: Extract<Expr, { op: 'binary' }>['fn'], a: string, b: string, t: ValueType): string {
  const int = !isFloat(t);
  switch (fn) {
    case 'add':
      return wrapInt(`(${a} + ${b})`, t);
    case 'sub':
      return wrapInt(`(${a} - ${b})`, t);
    case 'mul':
      return int ? wrapInt(`Math.imul(${a}, ${b})`, t) : `(${a} * ${b})`;
    case 'div':
      return int ? wrapInt(`Math.trunc(${a} / ${b})`, t) : `(${a} / ${b})`;
    case 'mod':
      return wrapInt(`(${a} % ${b})`, t);
    case 'max':
      return `Math.max(${a}, ${b})`;
    case 'min':
      return `Math.min(${a}, ${b})`;
    case 'pow':
      return `Math.pow(${a}, ${b})`;
    default:
      return assertNever(fn, 'binary fn');
  }
}

function wrapInt(x: string, t: ValueType): string {
  if (t === 'i32') return `(${x} | 0)`;
  if (t === 'u32') return `(${x} >>> 0)`;
  return x;
}

/**
 * Value conversion with the device semantics: float to int truncates toward zero and saturates
 * (NaN to 0); int to narrower int wraps; bool to number is 0 or 1.
 */
function convert(x: string, from: ValueType, to: ValueType): string {
  if (from === 'bool') x = `(${x} ? 1 : 0)`;
  if (isFloat(to)) return roundTo(x, to as DType);
  const fromFloat = isFloat(from);
  switch (to) {
    case 'i32':
      return fromFloat ? `satInt(${x}, -2147483648, 2147483647)` : `(${x} | 0)`;
    case 'u32':
      return fromFloat ? `satInt(${x}, 0, 4294967295)` : `(${x} >>> 0)`;
    case 'i8':
      return fromFloat ? `satInt(${x}, -128, 127)` : `((${x} << 24) >> 24)`;
    case 'u4':
      return fromFloat ? `satInt(${x}, 0, 15)` : `(${x} & 15)`;
    case 'i4':
      return fromFloat ? `satInt(${x}, -8, 7)` : `((${x} << 28) >> 28)`;
    case 'bool':
      return `(${x} !== 0)`;
    default:
      throw new Error(`internal: cast to ${to}`);
  }
}

function roundTo(x: string, t: DType): string {
  switch (t) {
    case 'f32':
      return `Math.fround(${x})`;
    case 'f16':
      return `roundF16(${x})`;
    case 'bf16':
      return `roundBf16(${x})`;
    default:
      return x;
  }
}
