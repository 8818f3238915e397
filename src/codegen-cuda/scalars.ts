import { type ValueType, isFloat } from '../ir/dtype.js';
import { TilecraftError, assertNever } from '../ir/errors.js';
import { COMPARISONS, type KBinaryFn, type KType, type KUnaryFn } from '../ir/kernel.js';
import { type Code, INFIX, PREC, atom, call, code, infix, operand, prefix, ternary } from '../codegen-common/code.js';
import { f32Bits, f32FromBits, roundBf16, roundF16 } from '../ir/numeric.js';

/**
 * CUDA C++ spellings of kernel-IR scalar types, literals, conversions and operators.
 *
 * The functions build `Code` (text with its binding strength), so where the printer places a
 * result decides its parentheses; the string forms at the end return operands, parenthesized
 * unless atoms.
 *
 * Half precision: `+ - * /`, comparisons, negation, `__hmax` / `__hmin` and `__habs` use cuda_fp16's
 * half operations; the transcendental functions (exp, log, sqrt, rsqrt, tanh, erf, sin, cos),
 * floor, ceil, fmod and pow convert to float, compute there and round once back to half. cuda_fp16
 * has h-prefixed versions of some of these (hexp, hsqrt, ...) but they are approximations, and
 * the reference computes in float64, so the float route is both more accurate and uniform.
 * bfloat16 only stores data (tensor IR casts it before any arithmetic); should an operation on it
 * reach the printer it also goes through float, which is exact for bfloat16 inputs.
 */

/** The scalar types the CUDA printer stores and computes in; the others are legalized away. */
export type CudaScalar = 'f32' | 'f16' | 'bf16' | 'i32' | 'u32' | 'i8' | 'bool';

export function cudaScalar(t: ValueType): CudaScalar {
  switch (t) {
    case 'f32':
    case 'f16':
    case 'bf16':
    case 'i32':
    case 'u32':
    case 'i8':
    case 'bool':
      return t;
    case 'u4':
    case 'i4':
      throw new TilecraftError(`internal: ${t} reached the CUDA printer; legalizeNarrowTypes should have packed it into u32 words`);
    default:
      return assertNever(t, 'value type');
  }
}

export function scalarTypeName(t: ValueType): string {
  const s = cudaScalar(t);
  switch (s) {
    case 'f32':
      return 'float';
    case 'f16':
      return '__half';
    case 'bf16':
      return '__nv_bfloat16';
    case 'i32':
      return 'int';
    case 'u32':
      return 'unsigned int';
    case 'i8':
      // int8_t without <cstdint>, which NVRTC cannot find without system headers
      return 'signed char';
    case 'bool':
      return 'bool';
    default:
      return assertNever(s, 'CUDA scalar');
  }
}

/** Vectors are `tc_vec<T, N>` (defined in the kernel's prelude): CUDA's float4 has no arithmetic. */
export function typeName(t: KType): string {
  return t.lanes === 1 ? scalarTypeName(t.scalar) : `tc_vec<${scalarTypeName(t.scalar)}, ${t.lanes}>`;
}

/** Bytes of one element, as a shared or global array stores it. */
export function scalarBytes(t: ValueType): number {
  const s = cudaScalar(t);
  return s === 'f16' || s === 'bf16' ? 2 : s === 'i8' || s === 'bool' ? 1 : 4;
}

// ---------------------------------------------------------------------------------------------
// Literals

/**
 * An f32 literal that the CUDA compiler parses back to exactly `Math.fround(v)`: the shortest
 * decimal that rounds to it, accepted only when it lies well inside the float's rounding interval
 * (so the decimal → double → float path here and the decimal → float path in the compiler agree).
 * Infinities and NaN come from bit patterns: CUDA has no literal for them, and host macros
 * (INFINITY, NAN) are not available under NVRTC.
 */
export function f32Literal(v: number): string {
  const f = Math.fround(v);
  if (Number.isNaN(f)) return '__uint_as_float(0x7fc00000u)';
  if (f === Infinity) return '__uint_as_float(0x7f800000u)';
  if (f === -Infinity) return '__uint_as_float(0xff800000u)';
  if (f === 0) return Object.is(f, -0) ? '-0.0f' : '0.0f';
  const bits = f32Bits(Math.abs(f));
  const spacing = Math.min(f32FromBits(bits + 1) - Math.abs(f), Math.abs(f) - f32FromBits(bits - 1));
  for (let p = 1; p <= 9; p++) {
    const back = Number(f.toPrecision(p));
    if (Math.fround(back) === f && Math.abs(back - f) < 0.49 * spacing) return floatText(back);
  }
  return floatText(f); // the double of a float is itself exact
}

function floatText(x: number): string {
  const s = String(x);
  return /[.e]/.test(s) ? `${s}f` : `${s}.0f`;
}

/** A literal of scalar type `t`. */
export function literalCode(value: number, t: ValueType): Code {
  const s = cudaScalar(t);
  switch (s) {
    case 'bool':
      return atom(value ? 'true' : 'false');
    case 'i32': {
      const v = value | 0;
      // -2147483648 is unary minus applied to an unsigned literal in C++
      return v === -2147483648 ? code('-2147483647 - 1', PREC.additive) : atom(String(v));
    }
    case 'u32':
      return atom(`${value >>> 0}u`);
    case 'i8':
      return cCast('signed char', atom(String((value << 24) >> 24)));
    case 'f32':
      return atom(f32Literal(value));
    case 'f16':
      if (Number.isNaN(value)) return atom('__ushort_as_half((unsigned short)0x7e00u)');
      if (!Number.isFinite(value)) return atom(`__ushort_as_half((unsigned short)${value > 0 ? '0x7c00u' : '0xfc00u'})`);
      // rounded here, so the float literal holds a half exactly and the conversion is exact
      return atom(`__float2half_rn(${f32Literal(roundF16(value))})`);
    case 'bf16':
      if (Number.isNaN(value)) return atom('__ushort_as_bfloat16((unsigned short)0x7fc0u)');
      if (!Number.isFinite(value)) return atom(`__ushort_as_bfloat16((unsigned short)${value > 0 ? '0x7f80u' : '0xff80u'})`);
      return atom(`__float2bfloat16_rn(${f32Literal(roundBf16(value))})`);
    default:
      return assertNever(s, 'CUDA scalar');
  }
}

// ---------------------------------------------------------------------------------------------
// Conversions

/** A C cast: binds like a prefix operator. */
const cCast = (type: string, x: Code): Code => code(`(${type})${operand(x)}`, PREC.unary);

const toFloat = (x: Code, from: CudaScalar): Code =>
  from === 'f16' ? call('__half2float', x) : from === 'bf16' ? call('__bfloat162float', x) : from === 'f32' ? x : cCast('float', x);

/**
 * Value conversion with the reference's semantics: float → int truncates toward zero and
 * saturates, NaN → 0 (`__float2int_rz` / `__float2uint_rz` are the PTX cvt.rzi conversions, which
 * do exactly that; a C++ cast of an out-of-range float is undefined behaviour); int → narrower int
 * wraps; to half or bfloat16 rounds to nearest even, once.
 */
export function castCode(x: Code, fromType: ValueType, toType: ValueType): Code {
  const from = cudaScalar(fromType);
  const to = cudaScalar(toType);
  if (from === to) return x;
  if (from === 'bool') return ternary(x, literalCode(1, to), literalCode(0, to));
  const float = isFloat(from);
  switch (to) {
    case 'bool':
      return float ? code(`${operand(toFloat(x, from))} != 0.0f`, PREC.equality) : code(`${operand(x)} != 0`, PREC.equality);
    case 'f32':
      return toFloat(x, from);
    case 'f16':
    case 'bf16': {
      const name = to === 'f16' ? 'half' : 'bfloat16';
      if (from === 'i32' || from === 'i8') return call(`__int2${name}_rn`, x);
      if (from === 'u32') return call(`__uint2${name}_rn`, x);
      return call(`__float2${name}_rn`, toFloat(x, from));
    }
    case 'i32':
      return float ? call('__float2int_rz', toFloat(x, from)) : cCast('int', x);
    case 'u32':
      return float ? call('__float2uint_rz', toFloat(x, from)) : cCast('unsigned int', x);
    case 'i8':
      // truncating then clamping the int equals clamping the float then truncating; NaN stays 0
      if (!float) return cCast('signed char', x);
      return cCast('signed char', call('max', atom('-128'), call('min', atom('127'), call('__float2int_rz', toFloat(x, from)))));
    default:
      return assertNever(to, 'CUDA scalar');
  }
}

const BITCAST: Readonly<Record<string, (x: Code) => Code>> = {
  'f32->u32': (x) => call('__float_as_uint', x),
  'f32->i32': (x) => call('__float_as_int', x),
  'u32->f32': (x) => call('__uint_as_float', x),
  'i32->f32': (x) => call('__int_as_float', x),
  'i32->u32': (x) => cCast('unsigned int', x),
  'u32->i32': (x) => cCast('int', x),
};

/** Reinterprets 32 bits; the IR allows bitcasts between f32, i32 and u32 only. */
export function bitcastCode(x: Code, fromType: ValueType, toType: ValueType): Code {
  const from = cudaScalar(fromType);
  const to = cudaScalar(toType);
  if (from === to) return x;
  const key = `${from}->${to}`;
  const f = BITCAST[key];
  if (!f) throw new TilecraftError(`internal: bitcast ${key} in the CUDA printer; kernel IR bitcasts only 32-bit values`);
  return f(x);
}

// ---------------------------------------------------------------------------------------------
// Operators

const FLOAT_MATH: Partial<Record<KUnaryFn, string>> = {
  abs: 'fabsf',
  exp: 'expf',
  log: 'logf',
  sqrt: 'sqrtf',
  rsqrt: 'rsqrtf',
  tanh: 'tanhf',
  erf: 'erff',
  floor: 'floorf',
  ceil: 'ceilf',
  sin: 'sinf',
  cos: 'cosf',
};

/** `-a`, spaced when `a` starts with a minus so that it cannot read as `--`. */
const neg = (a: Code): Code => code(`${operand(a).startsWith('-') ? '- ' : '-'}${operand(a)}`, PREC.unary);

/** `fn(a)` for an operand of scalar type `t`. */
export function unaryCode(fn: KUnaryFn, a: Code, t: ValueType): Code {
  const s = cudaScalar(t);
  switch (fn) {
    case 'not':
      return prefix('!', a);
    case 'bitnot':
      return s === 'i8' ? cCast('signed char', prefix('~', a)) : prefix('~', a);
    case 'f16_from_bits':
      return atom(`__half2float(__ushort_as_half((unsigned short)${operand(a)}))`);
    case 'f16_to_bits':
      return cCast('unsigned int', call('__half_as_ushort', call('__float2half_rn', a)));
    case 'sigmoid':
      throw new TilecraftError('internal: sigmoid reached the CUDA printer; expandMath should have expanded it');
    default:
      break;
  }
  if (s === 'f32') {
    if (fn === 'neg') return neg(a);
    if (fn === 'recip') return infix(INFIX.div!, atom('1.0f'), a);
    return call(floatMath(fn), a);
  }
  if (s === 'f16' && fn === 'neg') return call('__hneg', a);
  if (s === 'f16' && fn === 'abs') return call('__habs', a);
  if (s === 'f16' || s === 'bf16') return call(s === 'f16' ? '__float2half_rn' : '__float2bfloat16_rn', unaryCode(fn, toFloat(a, s), 'f32'));
  // integers
  switch (fn) {
    case 'neg':
      return s === 'i8' ? cCast('signed char', prefix('-', a)) : neg(a);
    case 'abs':
      return s === 'u32' ? a : s === 'i8' ? cCast('signed char', call('abs', a)) : call('abs', a);
    default:
      throw new TilecraftError(`${fn} of an integer (${s}) has no CUDA spelling; cast the operand to f32 first`);
  }
}

function floatMath(fn: KUnaryFn): string {
  const f = FLOAT_MATH[fn];
  if (!f) throw new TilecraftError(`internal: no CUDA float function for ${fn}`);
  return f;
}

/**
 * `a fn b` for operands of scalar type `t` (the left operand's type; a shift's amount may be
 * either integer type). Shift amounts are masked to 0..31 as WGSL does: a C++ shift by 32 or more
 * is undefined, and PTX would clamp instead.
 */
export function binaryCode(fn: KBinaryFn, a: Code, b: Code, t: ValueType, bConst?: number): Code {
  const s = cudaScalar(t);
  if (fn === 'shl' || fn === 'shr') {
    const amount = bConst !== undefined && bConst >= 0 && bConst < 32 ? b : code(`${operand(b)} & 31`, PREC.bitand);
    return wrapI8(s, infix(INFIX[fn]!, a, amount));
  }
  if (fn === 'land' || fn === 'lor') return infix(INFIX[fn]!, a, b);
  if (s === 'bf16') {
    // bfloat16 only stores data; any arithmetic on it is done in float, which is exact for its inputs
    const r = binaryCode(fn, toFloat(a, s), toFloat(b, s), 'f32');
    return COMPARISONS.has(fn) ? r : call('__float2bfloat16_rn', r);
  }
  if (s === 'f16') {
    if (fn === 'max' || fn === 'min') return call(fn === 'max' ? '__hmax' : '__hmin', a, b);
    if (fn === 'mod' || fn === 'pow') return call('__float2half_rn', binaryCode(fn, toFloat(a, s), toFloat(b, s), 'f32'));
    return cInfix(fn, a, b, s);
  }
  if (s === 'f32') {
    const lib = F32_BINARY[fn];
    return lib ? call(lib, a, b) : cInfix(fn, a, b, s);
  }
  // integers and bool
  if (fn === 'max' || fn === 'min') return wrapI8(s, call(fn, a, b));
  if (fn === 'pow') throw new TilecraftError(`pow of integers (${s}) has no CUDA spelling; cast the operands to f32 first`);
  // C++ promotes signed char operands to int; arithmetic wraps back to 8 bits like the reference
  const r = cInfix(fn, a, b, s);
  return COMPARISONS.has(fn) ? r : wrapI8(s, r);
}

const F32_BINARY: Partial<Record<KBinaryFn, string>> = { max: 'fmaxf', min: 'fminf', mod: 'fmodf', pow: 'powf' };

/** An 8-bit integer result converted back from the int C++ computed it in. */
const wrapI8 = (s: CudaScalar, r: Code): Code => (s === 'i8' ? cCast('signed char', r) : r);

function cInfix(fn: KBinaryFn, a: Code, b: Code, s: CudaScalar): Code {
  const op = INFIX[fn];
  if (!op) throw new TilecraftError(`internal: ${fn} of ${s} in the CUDA printer`);
  return infix(op, a, b);
}

// ---------------------------------------------------------------------------------------------
// The same, on printed operands: for the printer's hand-written helpers and for tests. Operands
// are taken as atoms, and results are returned in operand form.

export const scalarLiteral = (value: number, t: ValueType): string => operand(literalCode(value, t));
export const castScalar = (x: string, from: ValueType, to: ValueType): string => operand(castCode(atom(x), from, to));
export const bitcastScalar = (x: string, from: ValueType, to: ValueType): string => operand(bitcastCode(atom(x), from, to));
export const unaryScalar = (fn: KUnaryFn, a: string, t: ValueType): string => operand(unaryCode(fn, atom(a), t));
export const binaryScalar = (fn: KBinaryFn, a: string, b: string, t: ValueType, bConst?: number): string =>
  operand(binaryCode(fn, atom(a), atom(b), t, bConst));
