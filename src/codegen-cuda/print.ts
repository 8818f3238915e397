import { type ValueType } from '../ir/dtype.js';
import { TilecraftError, assertNever } from '../ir/errors.js';
import {
  COMPARISONS,
  type Builtin,
  type KBuffer,
  type KExpr,
  type KStmt,
  type KType,
  type Kernel,
  forEachStmt,
  kernelParams,
  kvisit,
  wideIndexNeed,
  workgroupInvocations,
} from '../ir/kernel.js';
import { CStylePrinter } from '../codegen-common/c-style.js';
import { type Code, PREC, atom, bufferName, call, code, operand, ternary } from '../codegen-common/code.js';
import { SourceWriter, mangle } from '../codegen-common/source-writer.js';
import { binaryCode, binaryScalar, bitcastCode, castCode, literalCode, scalarLiteral, scalarTypeName, typeName, unaryCode } from './scalars.js';

/**
 * Prints a legalized kernel as CUDA C++: one `extern "C" __global__` entry per kernel, global
 * buffers as `__restrict__` pointer parameters in binding order, workgroup arrays as static
 * `__shared__` arrays. Expects `toCuda`'s legalization to have run (no 4-bit types, no sigmoid).
 *
 * The output is self-contained for NVRTC (only cuda_fp16.h / cuda_bf16.h, when used) and for
 * nvcc, and several kernels' sources can be concatenated into one translation unit: the helper
 * definitions are include-guarded.
 *
 * Semantics that differ from WGSL and that the kernel IR relies on:
 * - Warps are laid out by linear thread index, so `subgroup_size` is 32 and `subgroup_lane` is
 *   the linear index & 31. A subgroup reduction must be reached by every thread of its warp (the
 *   emitters call it in uniform control flow); a block whose size is not a multiple of 32 has a
 *   partial last warp, reduced with a mask of its lanes.
 * - `__shared__` memory is not zero-filled as WGSL's workgroup memory is; the emitters write it
 *   before they read it. Locals without an initializer and private arrays are zeroed, as in WGSL.
 *
 * Index arithmetic is i32 in the IR. A kernel some index of which can pass 2³¹−1 (a global buffer
 * or a grid that large, `wideIndexNeed`) is printed with 64-bit indices instead: its i32 locals and
 * loop counters are `long long`, the thread and block indices and dynamic sizes are read as
 * `long long`, and integer arithmetic whose operands are both 32-bit (a loaded or converted value,
 * a literal) widens its left operand first, so no product overflows before it is widened. Values
 * stored to 32-bit elements convert back. Every other kernel prints as plain `int` arithmetic.
 *
 * Status: every example's CUDA compiles with nvcc 13 for sm_80 and sm_90 with warnings as errors
 * (test/codegen-cuda/compile.test.ts); none of it has been run on a GPU yet.
 */
export function printCuda(k: Kernel, options: PrintCudaOptions = {}): string {
  const w = new SourceWriter();
  const uses = scan(k);
  const p = new CudaPrinter(w, k, uses.fragments, options.wideIndices ?? wideIndexNeed(k) !== undefined);
  if (uses.f16) w.line('#include <cuda_fp16.h>');
  if (uses.bf16) w.line('#include <cuda_bf16.h>');
  if (uses.fragments.size) w.line('#include <mma.h>');
  if (uses.f16 || uses.bf16 || uses.fragments.size) w.line();
  if (uses.vectors) vectorPrelude(w);
  for (const [, h] of [...uses.subgroups].sort(([a], [b]) => (a < b ? -1 : 1))) subgroupHelper(w, p.invocations, h.fn, h.scalar);
  const params = k.buffers
    .filter((b) => b.scope === 'global')
    .map((b) => `${b.access === 'read' && !b.atomic ? 'const ' : ''}${scalarTypeName(b.dtype)}* __restrict__ ${bufferName(b)}`)
    // the dynamic sizes' run-time values, after the buffers
    .concat(kernelParams(k).map((name) => `int ${paramName(name)}`));
  w.block(`extern "C" __global__ void __launch_bounds__(${p.invocations}) ${entryName(k)}(${params.join(', ')}) {`, () => {
    for (const b of k.buffers) {
      // 32-byte alignment: what tensor-core tile loads and stores need, harmless elsewhere
      if (b.scope === 'workgroup') w.line(`__shared__ __align__(32) ${scalarTypeName(b.dtype)} ${bufferName(b)}[${b.length}];`);
      if (b.scope === 'private') w.line(`${scalarTypeName(b.dtype)} ${bufferName(b)}[${b.length}] = {};`);
    }
    p.stmts(k.body);
  });
  return w.toString();
}

export interface PrintCudaOptions {
  /**
   * Print index arithmetic in 64 bits. Default: when `wideIndexNeed` says the kernel's indices can
   * pass 2³¹−1. A caller that legalized the kernel decides on the kernel before legalization too
   * (a 4-bit buffer's element indices are larger than its word count).
   */
  readonly wideIndices?: boolean;
}

/** The C name of the argument holding dynamic size `name`'s run-time value. */
export const paramName = (name: string): string => mangle('tc_size_', name);

/** The entry's C name: the kernel's name made a valid identifier. */
export function entryName(k: Kernel): string {
  const m = mangle('', k.name);
  return /^[A-Za-z_]/.test(m) ? m : `k_${m}`;
}

type Stmt<Op extends KStmt['op']> = Extract<KStmt, { readonly op: Op }>;
type MatrixDecl = Stmt<'matrixDecl'>;

type SubgroupFn = Extract<KExpr, { op: 'subgroup' }>['fn'];

function scan(k: Kernel) {
  let f16 = false;
  let bf16 = false;
  let vectors = false;
  const subgroups = new Map<string, { readonly fn: SubgroupFn; readonly scalar: ValueType }>();
  const fragments = new Map<string, MatrixDecl>();
  const note = (t: KType) => {
    if (t.scalar === 'f16') f16 = true;
    if (t.scalar === 'bf16') bf16 = true;
    if (t.lanes > 1) vectors = true;
  };
  for (const b of k.buffers) note({ scalar: b.dtype, lanes: 1 });
  forEachStmt(k.body, (s) => {
    if (s.op === 'var') note(s.type);
    if (s.op === 'matrixDecl') fragments.set(s.name, s);
  });
  kvisit(k.body, (e) => {
    note(e.type);
    if (e.op === 'unary' && (e.fn === 'f16_from_bits' || e.fn === 'f16_to_bits')) f16 = true;
    if (e.op === 'subgroup') subgroups.set(subgroupKey(e.fn, e.type.scalar), { fn: e.fn, scalar: e.type.scalar });
  });
  return { f16, bf16, vectors, subgroups, fragments };
}

const subgroupKey = (fn: SubgroupFn, scalar: ValueType) => `${fn}_${scalar}`;

function vectorPrelude(w: SourceWriter): void {
  w.line('#ifndef TC_VEC');
  w.line('#define TC_VEC');
  w.line('// kernel-IR vectors: operations on them are printed lane by lane');
  w.line('template <typename T, int N> struct tc_vec { T v[N]; };');
  w.line('#endif');
  w.line();
}

/** The linear thread index (kernel IR's local_index): warps are cut from it. */
function linearIndex(k: Kernel, int = 'int'): Code {
  const [x, y, z] = k.workgroup;
  if (y === 1 && z === 1) return code(`(${int})threadIdx.x`, PREC.unary);
  return code(`(${int})(threadIdx.x + ${x}u * (threadIdx.y + ${y}u * threadIdx.z))`, PREC.unary);
}

/** A C cast: binds like a prefix operator. */
const cCastCode = (type: string, x: Code): Code => code(`(${type})${operand(x)}`, PREC.unary);

const helperName = (key: string, partial: boolean) => `tc_warp_${key}${partial ? '_partial' : ''}`;

/**
 * A butterfly reduction over the warp with __shfl_xor_sync. Full warps exchange with all 32 lanes.
 * A partial warp (the last warp of a block whose size is not a multiple of 32) has `n` lanes:
 * with offsets growing 1, 2, 4, ... lane 0 only ever pairs with the first lane of a block of
 * lanes that is either wholly present or wholly absent, so it ends with the complete result,
 * which it then broadcasts.
 */
function subgroupHelper(w: SourceWriter, invocations: number, fn: SubgroupFn, scalar: ValueType): void {
  const T = scalarTypeName(scalar);
  const combine = (a: string, b: string) => binaryScalar(fn === 'sum' ? 'add' : fn, a, b, scalar);
  const partial = invocations % 32 !== 0;
  const name = helperName(subgroupKey(fn, scalar), partial);
  const guard = name.toUpperCase();
  w.line(`#ifndef ${guard}`);
  w.line(`#define ${guard}`);
  if (!partial) {
    w.block(`__device__ __forceinline__ ${T} ${name}(${T} v) {`, () => {
      w.line('#pragma unroll');
      w.line(`for (int o = 16; o > 0; o >>= 1) v = ${combine('v', '__shfl_xor_sync(0xffffffffu, v, o)')};`);
      w.line('return v;');
    });
  } else {
    w.block(`__device__ __forceinline__ ${T} ${name}(${T} v, int lane, int n) {`, () => {
      w.line('const unsigned int mask = n == 32 ? 0xffffffffu : (1u << n) - 1u;');
      w.line('#pragma unroll');
      w.block('for (int o = 1; o < 32; o <<= 1) {', () => {
        w.line(`const ${T} u = __shfl_xor_sync(mask, v, o);`);
        w.line(`if ((lane ^ o) < n) v = ${combine('v', 'u')};`);
      });
      w.line('return __shfl_sync(mask, v, 0);');
    });
  }
  w.line('#endif');
  w.line();
}

const BUILTIN: Readonly<Record<Exclude<Builtin, 'local_index' | 'subgroup_lane' | 'subgroup_size'>, string>> = {
  local_id_x: 'threadIdx.x',
  local_id_y: 'threadIdx.y',
  local_id_z: 'threadIdx.z',
  group_id_x: 'blockIdx.x',
  group_id_y: 'blockIdx.y',
  group_id_z: 'blockIdx.z',
  num_groups_x: 'gridDim.x',
  num_groups_y: 'gridDim.y',
  num_groups_z: 'gridDim.z',
};

/** CUDA's statement and expression rules; vectors are printed lane by lane. */
class CudaPrinter extends CStylePrinter {
  protected readonly bareStatements = true;
  protected readonly barrierCall = '__syncthreads()';
  protected readonly atomicStoreFn = 'atomicExch';
  readonly invocations: number;
  private readonly buffers: ReadonlyMap<string, KBuffer>;
  /** Counter for the printer's own block-scoped temporaries. */
  private tmp = 0;

  constructor(
    w: SourceWriter,
    private readonly k: Kernel,
    private readonly fragments: ReadonlyMap<string, MatrixDecl>,
    /** Index arithmetic in 64 bits (`long long`). */
    private readonly wide: boolean,
  ) {
    super(w);
    this.invocations = workgroupInvocations(k);
    this.buffers = new Map(k.buffers.map((b) => [b.name, b]));
  }

  /** A whole value: vectors other than named ones are built lane by lane. */
  protected value(e: KExpr): Code {
    if (e.type.lanes === 1) return this.expr(e, 0);
    if (e.op === 'ref') return atom(e.name);
    // a 64-bit lane narrows explicitly: list-initialization refuses implicit narrowing
    const narrow = this.wide && e.type.scalar === 'i32';
    const lanes = Array.from({ length: e.type.lanes }, (_, l) => (narrow && this.isWide(e, l) ? operand(cCastCode('int', this.expr(e, l))) : this.expr(e, l).text));
    return atom(`${typeName(e.type)}{{${lanes.join(', ')}}}`);
  }

  /** Lane `lane` of `e` (for scalars, `e` itself). Operands of a vector operation are taken at the same lane. */
  private expr(e: KExpr, lane: number): Code {
    const x = (c: KExpr) => this.expr(c, lane);
    const vector = e.type.lanes > 1;
    switch (e.op) {
      case 'const':
        return literalCode(e.value, e.type.scalar);
      case 'ref':
        return atom(vector ? `${e.name}.v[${lane}]` : e.name);
      case 'builtin':
        return this.builtin(e.name);
      case 'param':
        return this.wide ? cCastCode('long long', atom(paramName(e.name))) : atom(paramName(e.name));
      case 'load':
        return this.load(e.buffer, this.laneIndex(x(e.index), vector ? lane : 0));
      case 'unary':
        if (this.wide && e.fn === 'abs' && e.type.scalar === 'i32' && this.isWide(e.x, lane)) return call('llabs', x(e.x));
        return unaryCode(e.fn, x(e.x), e.x.type.scalar);
      case 'binary':
        if (this.wide && e.a.type.scalar === 'i32') return this.wideBinary(e, lane);
        return binaryCode(e.fn, x(e.a), x(e.b), e.a.type.scalar, e.b.op === 'const' ? e.b.value : undefined);
      case 'select':
        return ternary(x(e.cond), x(e.a), x(e.b));
      case 'cast':
        return castCode(x(e.x), e.x.type.scalar, e.type.scalar);
      case 'bitcast':
        return bitcastCode(x(e.x), e.x.type.scalar, e.type.scalar);
      case 'subgroup':
        return this.subgroup(e.fn, e.type.scalar, x(e.x));
      case 'shuffle':
        return this.shuffle(x(e.x), x(e.lane));
      case 'extract':
        return this.expr(e.x, e.lane);
      case 'vector':
        return this.expr(e.parts.length === 1 ? e.parts[0]! : e.parts[lane]!, 0);
      default:
        return assertNever(e, 'kernel expr');
    }
  }

  private builtin(name: Builtin): Code {
    const int = this.wide ? 'long long' : 'int';
    switch (name) {
      case 'local_index':
        return linearIndex(this.k, int);
      case 'subgroup_size':
        return atom('32');
      case 'subgroup_lane':
        return code(`${operand(linearIndex(this.k))} & 31`, PREC.bitand);
      default:
        return code(`(${int})${BUILTIN[name]}`, PREC.unary);
    }
  }

  /**
   * Whether lane `lane` of i32 expression `e` is printed as a 64-bit value (wide kernels only):
   * locals, loop counters, built-in indices, dynamic sizes and arithmetic are; loaded, converted
   * and literal values, and what warp operations return, are 32-bit.
   */
  private isWide(e: KExpr, lane: number): boolean {
    if (!this.wide || e.type.scalar !== 'i32') return false;
    switch (e.op) {
      case 'ref':
        return e.type.lanes === 1;
      case 'builtin':
        return e.name !== 'subgroup_size' && e.name !== 'subgroup_lane';
      case 'param':
      case 'binary':
        return true;
      case 'unary':
        return this.isWide(e.x, lane);
      case 'select':
        return this.isWide(e.a, lane) || this.isWide(e.b, lane);
      case 'shuffle':
        return this.isWide(e.x, lane);
      case 'extract':
        return this.isWide(e.x, e.lane);
      case 'vector':
        return this.isWide(e.parts.length === 1 ? e.parts[0]! : e.parts[lane]!, 0);
      default:
        return false;
    }
  }

  /**
   * i32 arithmetic of a wide kernel, computed in 64 bits: when neither operand is 64-bit the left
   * one is widened before the operation (a shift: whenever it is not, since its type is the left
   * operand's), and min / max take two 64-bit operands (`max(long long, int)` is ambiguous).
   */
  private wideBinary(e: Extract<KExpr, { op: 'binary' }>, lane: number): Code {
    let a = this.expr(e.a, lane);
    let b = this.expr(e.b, lane);
    const aWide = this.isWide(e.a, lane);
    const bWide = this.isWide(e.b, lane);
    const widen = (c: Code) => cCastCode('long long', c);
    if (e.fn === 'max' || e.fn === 'min') {
      if (!aWide) a = widen(a);
      if (!bWide) b = widen(b);
    } else if (!COMPARISONS.has(e.fn) && e.fn !== 'land' && e.fn !== 'lor') {
      const shift = e.fn === 'shl' || e.fn === 'shr';
      if (!aWide && (shift || !bWide)) a = widen(a);
    }
    return binaryCode(e.fn, a, b, e.a.type.scalar, e.b.op === 'const' ? e.b.value : undefined);
  }

  /** An element of a buffer; elements of atomic buffers are read with a volatile load, never from a stale cache. */
  private load(buffer: string, index: string): Code {
    const b = this.bufferOf(buffer);
    const name = bufferName(b);
    return atom(b.atomic ? `((volatile ${scalarTypeName(b.dtype)}*)${name})[${index}]` : `${name}[${index}]`);
  }

  /** `n` lanes of the warp take part: all 32, or those of a partial last warp. */
  private warpTail(): { readonly full: number; readonly tail: number } {
    const tail = this.invocations % 32;
    return { full: this.invocations - tail, tail };
  }

  private subgroup(fn: SubgroupFn, scalar: ValueType, v: Code): Code {
    const key = subgroupKey(fn, scalar);
    const { full, tail } = this.warpTail();
    if (tail === 0) return atom(`${helperName(key, false)}(${v.text})`);
    const n = full === 0 ? String(this.invocations) : `${operand(linearIndex(this.k))} < ${full} ? 32 : ${tail}`;
    return atom(`${helperName(key, true)}(${v.text}, ${this.builtin('subgroup_lane').text}, ${n})`);
  }

  /**
   * Every lane of the warp takes part (the emitters shuffle in uniform control flow); a partial
   * last warp names only the lanes it has.
   */
  private shuffle(v: Code, lane: Code): Code {
    const { full, tail } = this.warpTail();
    const some = `${(2 ** tail - 1) >>> 0}u`;
    const mask = tail === 0 ? '0xffffffffu' : full === 0 ? some : `(${operand(linearIndex(this.k))} < ${full} ? 0xffffffffu : ${some})`;
    return atom(`__shfl_sync(${mask}, ${v.text}, ${lane.text})`);
  }

  private bufferOf(name: string): KBuffer {
    const b = this.buffers.get(name);
    if (!b) throw new TilecraftError(`internal: kernel ${this.k.name} uses undeclared buffer ${name}`);
    return b;
  }

  private fragmentOf(name: string): MatrixDecl {
    const f = this.fragments.get(name);
    if (!f) throw new TilecraftError(`internal: matrix ${name} is not declared`);
    return f;
  }

  /** A local's type: a wide kernel's scalar i32 locals are 64-bit. */
  private localType(type: KType): string {
    return this.wide && type.scalar === 'i32' && type.lanes === 1 ? 'long long' : typeName(type);
  }

  protected declareLet(name: string, type: KType, init: string): string {
    return `const ${this.localType(type)} ${name} = ${init}`;
  }

  /** Locals without an initializer are zeroed, as WGSL's are. */
  protected declareVar(name: string, type: KType, init: string | undefined): string {
    return `${this.localType(type)} ${name} = ${init ?? (type.lanes === 1 ? scalarLiteral(0, type.scalar) : '{}')}`;
  }

  protected loopVar(name: string): string {
    return `${this.wide ? 'long long' : 'int'} ${name}`;
  }

  protected override beforeLoop(s: Stmt<'for'>): void {
    const constant = s.start.op === 'const' && s.end.op === 'const' && s.step.op === 'const';
    if (s.unroll && constant) this.w.line('#pragma unroll');
  }

  protected element(buffer: string, index: string): string {
    return `${bufferName(this.bufferOf(buffer))}[${index}]`;
  }

  protected isAtomic(buffer: string): boolean {
    return this.bufferOf(buffer).atomic === true;
  }

  /** A named vector is stored straight from its lanes; others go through a temporary. */
  protected storeVector(s: Stmt<'store'>): boolean {
    if (s.value.op !== 'ref') return false;
    this.storeLanes(s.buffer, this.value(s.index), s.value.type.lanes, s.value.name);
    return true;
  }

  protected component(name: string, lane: number): string {
    return `${name}.v[${lane}]`;
  }

  protected storeTemp(): string {
    return `tc_store${this.tmp++}`;
  }

  matrixDecl(s: Stmt<'matrixDecl'>): void {
    const use = s.role === 'a' ? 'matrix_a' : s.role === 'b' ? 'matrix_b' : 'accumulator';
    const layout = s.role === 'acc' ? '' : `, nvcuda::wmma::${s.layout}_major`;
    this.w.line(`nvcuda::wmma::fragment<nvcuda::wmma::${use}, 16, 16, 16, ${scalarTypeName(s.dtype)}${layout}> ${s.name};`);
  }

  matrixFill(s: Stmt<'matrixFill'>): void {
    this.w.line(`nvcuda::wmma::fill_fragment(${s.name}, ${scalarLiteral(s.value, 'f32')});`);
  }

  matrixLoad(s: Stmt<'matrixLoad'>): void {
    const layout = this.fragmentOf(s.name).role === 'acc' ? `, nvcuda::wmma::mem_${s.layout}_major` : '';
    this.w.line(`nvcuda::wmma::load_matrix_sync(${s.name}, &${this.element(s.buffer, this.top(s.offset))}, ${s.stride}${layout});`);
  }

  matrixMma(s: Stmt<'matrixMma'>): void {
    this.w.line(`nvcuda::wmma::mma_sync(${s.acc}, ${s.a}, ${s.b}, ${s.acc});`);
  }

  matrixStore(s: Stmt<'matrixStore'>): void {
    const target = this.element(s.buffer, this.top(s.offset));
    this.w.line(`nvcuda::wmma::store_matrix_sync(&${target}, ${s.name}, ${s.stride}, nvcuda::wmma::mem_row_major);`);
  }
}
