import { type ValueType } from '../ir/dtype.js';
import { TilecraftError, assertNever } from '../ir/errors.js';
import { type Builtin, type KBuffer, type KExpr, type KStmt, type KType, type Kernel, kmapStmts, kvisit, workgroupInvocations } from '../ir/kernel.js';
import { SourceWriter, mangle } from '../codegen-common/source-writer.js';
import { binaryScalar, bitcastScalar, castScalar, scalarLiteral, scalarTypeName, typeName, unaryScalar } from './scalars.js';

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
 * Status: every example's CUDA compiles with nvcc 13 for sm_80 and sm_90 with warnings as errors
 * (test/codegen-cuda/compile.test.ts); none of it has been run on a GPU yet.
 */
export function printCuda(k: Kernel): string {
  const w = new SourceWriter();
  const uses = scan(k);
  const fragments = new Map<string, MatrixDecl>();
  kmapStmts(k.body, (s) => {
    if (s.op === 'matrixDecl') fragments.set(s.name, s);
    return [s];
  });
  const ctx: Ctx = { k, buffers: new Map(k.buffers.map((b) => [b.name, b])), invocations: workgroupInvocations(k), tmp: 0, fragments };
  if (uses.f16) w.line('#include <cuda_fp16.h>');
  if (uses.bf16) w.line('#include <cuda_bf16.h>');
  if (fragments.size) w.line('#include <mma.h>');
  if (uses.f16 || uses.bf16 || fragments.size) w.line();
  if (uses.vectors) vectorPrelude(w);
  for (const key of [...uses.subgroups].sort()) subgroupHelper(w, ctx, key);
  const params = k.buffers
    .filter((b) => b.scope === 'global')
    .map((b) => `${b.access === 'read' && !b.atomic ? 'const ' : ''}${scalarTypeName(b.dtype)}* __restrict__ ${bufferName(b)}`);
  w.block(`extern "C" __global__ void __launch_bounds__(${ctx.invocations}) ${entryName(k)}(${params.join(', ')}) {`, () => {
    for (const b of k.buffers) {
      // 32-byte alignment: what tensor-core tile loads and stores need, harmless elsewhere
      if (b.scope === 'workgroup') w.line(`__shared__ __align__(32) ${scalarTypeName(b.dtype)} ${bufferName(b)}[${b.length}];`);
      if (b.scope === 'private') w.line(`${scalarTypeName(b.dtype)} ${bufferName(b)}[${b.length}] = {};`);
    }
    stmts(w, ctx, k.body);
  });
  return w.toString();
}

/** The entry's C name: the kernel's name made a valid identifier. */
export function entryName(k: Kernel): string {
  const m = mangle('', k.name);
  return /^[A-Za-z_]/.test(m) ? m : `k_${m}`;
}

interface Ctx {
  readonly k: Kernel;
  readonly buffers: ReadonlyMap<string, KBuffer>;
  readonly invocations: number;
  /** Counter for the printer's own block-scoped temporaries. */
  tmp: number;
  readonly fragments: ReadonlyMap<string, MatrixDecl>;
}

type MatrixDecl = Extract<KStmt, { op: 'matrixDecl' }>;

function fragmentOf(ctx: Ctx, name: string): MatrixDecl {
  const f = ctx.fragments.get(name);
  if (!f) throw new TilecraftError(`internal: matrix ${name} is not declared`);
  return f;
}

function scan(k: Kernel) {
  let f16 = false;
  let bf16 = false;
  let vectors = false;
  const subgroups = new Set<string>();
  const note = (t: KType) => {
    if (t.scalar === 'f16') f16 = true;
    if (t.scalar === 'bf16') bf16 = true;
    if (t.lanes > 1) vectors = true;
  };
  for (const b of k.buffers) note({ scalar: b.dtype, lanes: 1 });
  const walk = (body: readonly KStmt[]) => {
    for (const s of body) {
      if (s.op === 'var') note(s.type);
      if (s.op === 'for') walk(s.body);
      if (s.op === 'if') {
        walk(s.then);
        walk(s.else);
      }
    }
  };
  walk(k.body);
  kvisit(k.body, (e) => {
    note(e.type);
    if (e.op === 'unary' && (e.fn === 'f16_from_bits' || e.fn === 'f16_to_bits')) f16 = true;
    if (e.op === 'subgroup') subgroups.add(`${e.fn}:${e.type.scalar}`);
  });
  return { f16, bf16, vectors, subgroups };
}

const bufferName = (b: KBuffer) => mangle(b.scope === 'global' ? 't_' : b.scope === 'workgroup' ? 's_' : 'p_', b.name);

function vectorPrelude(w: SourceWriter): void {
  w.line('#ifndef TC_VEC');
  w.line('#define TC_VEC');
  w.line('// kernel-IR vectors: operations on them are printed lane by lane');
  w.line('template <typename T, int N> struct tc_vec { T v[N]; };');
  w.line('#endif');
  w.line();
}

/** The linear thread index (kernel IR's local_index): warps are cut from it. */
function linearIndex(ctx: Ctx): string {
  const [x, y, z] = ctx.k.workgroup;
  if (y === 1 && z === 1) return '((int)threadIdx.x)';
  return `((int)(threadIdx.x + ${x}u * (threadIdx.y + ${y}u * threadIdx.z)))`;
}

const helperName = (key: string, partial: boolean) => `tc_warp_${key.replace(':', '_')}${partial ? '_partial' : ''}`;

/**
 * A butterfly reduction over the warp with __shfl_xor_sync. Full warps exchange with all 32 lanes.
 * A partial warp (the last warp of a block whose size is not a multiple of 32) has `n` lanes:
 * with offsets growing 1, 2, 4, ... lane 0 only ever pairs with the first lane of a block of
 * lanes that is either wholly present or wholly absent, so it ends with the complete result,
 * which it then broadcasts.
 */
function subgroupHelper(w: SourceWriter, ctx: Ctx, key: string): void {
  const [fn, scalar] = key.split(':') as ['sum' | 'max' | 'min', ValueType];
  const T = scalarTypeName(scalar);
  const combine = (a: string, b: string) => binaryScalar(fn === 'sum' ? 'add' : fn, a, b, scalar);
  const partial = ctx.invocations % 32 !== 0;
  const name = helperName(key, partial);
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

function builtin(ctx: Ctx, name: Builtin): string {
  switch (name) {
    case 'local_index':
      return linearIndex(ctx);
    case 'local_id_x':
      return '((int)threadIdx.x)';
    case 'local_id_y':
      return '((int)threadIdx.y)';
    case 'local_id_z':
      return '((int)threadIdx.z)';
    case 'group_id_x':
      return '((int)blockIdx.x)';
    case 'group_id_y':
      return '((int)blockIdx.y)';
    case 'group_id_z':
      return '((int)blockIdx.z)';
    case 'num_groups_x':
      return '((int)gridDim.x)';
    case 'num_groups_y':
      return '((int)gridDim.y)';
    case 'num_groups_z':
      return '((int)gridDim.z)';
    case 'subgroup_size':
      return '32';
    case 'subgroup_lane':
      return `(${linearIndex(ctx)} & 31)`;
    default:
      return assertNever(name, 'builtin');
  }
}

/** `s` without one pair of parentheses around all of it: for conditions, subscripts and right-hand sides. */
export function unwrap(s: string): string {
  if (!s.startsWith('(') || !s.endsWith(')')) return s;
  let depth = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '(') depth++;
    else if (s[i] === ')' && --depth === 0 && i < s.length - 1) return s;
  }
  return s.slice(1, -1);
}

/** A whole value: vectors other than named ones are built lane by lane. */
function value(ctx: Ctx, e: KExpr): string {
  if (e.type.lanes === 1) return expr(ctx, e, 0);
  if (e.op === 'ref') return e.name;
  const lanes = Array.from({ length: e.type.lanes }, (_, l) => unwrap(expr(ctx, e, l)));
  return `${typeName(e.type)}{{${lanes.join(', ')}}}`;
}

/** Lane `lane` of `e` (for scalars, `e` itself). Operands of a vector operation are taken at the same lane. */
function expr(ctx: Ctx, e: KExpr, lane: number): string {
  const x = (c: KExpr) => expr(ctx, c, lane);
  const vector = e.type.lanes > 1;
  switch (e.op) {
    case 'const':
      return scalarLiteral(e.value, e.type.scalar);
    case 'ref':
      return vector ? `${e.name}.v[${lane}]` : e.name;
    case 'builtin':
      return builtin(ctx, e.name);
    case 'load':
      return loadText(ctx, e.buffer, vector && lane ? `${x(e.index)} + ${lane}` : x(e.index));
    case 'unary':
      return unaryScalar(e.fn, x(e.x), e.x.type.scalar);
    case 'binary': {
      const bConst = e.b.op === 'const' ? e.b.value : undefined;
      return binaryScalar(e.fn, x(e.a), x(e.b), e.a.type.scalar, bConst);
    }
    case 'select':
      return `(${x(e.cond)} ? ${x(e.a)} : ${x(e.b)})`;
    case 'cast':
      return castScalar(x(e.x), e.x.type.scalar, e.type.scalar);
    case 'bitcast':
      return bitcastScalar(x(e.x), e.x.type.scalar, e.type.scalar);
    case 'subgroup': {
      const key = `${e.fn}:${e.type.scalar}`;
      if (ctx.invocations % 32 === 0) return `${helperName(key, false)}(${unwrap(x(e.x))})`;
      const full = ctx.invocations - (ctx.invocations % 32);
      const n = full === 0 ? String(ctx.invocations) : `(${linearIndex(ctx)} < ${full} ? 32 : ${ctx.invocations % 32})`;
      return `${helperName(key, true)}(${unwrap(x(e.x))}, ${unwrap(builtin(ctx, 'subgroup_lane'))}, ${unwrap(n)})`;
    }
    case 'shuffle': {
      // every lane of the warp takes part (the emitters shuffle in uniform control flow); a
      // partial last warp names only the lanes it has
      const tail = ctx.invocations % 32;
      const full = ctx.invocations - tail;
      const mask = tail === 0 ? '0xffffffffu' : full === 0 ? `${(2 ** tail - 1) >>> 0}u` : `(${linearIndex(ctx)} < ${full} ? 0xffffffffu : ${(2 ** tail - 1) >>> 0}u)`;
      return `__shfl_sync(${mask}, ${unwrap(x(e.x))}, ${unwrap(x(e.lane))})`;
    }
    case 'extract':
      return expr(ctx, e.x, e.lane);
    case 'vector':
      return expr(ctx, e.parts.length === 1 ? e.parts[0]! : e.parts[lane]!, 0);
    default:
      return assertNever(e, 'kernel expr');
  }
}

/** An element of a buffer; elements of atomic buffers are read with a volatile load, never from a stale cache. */
function loadText(ctx: Ctx, buffer: string, index: string): string {
  const b = bufferOf(ctx, buffer);
  const name = bufferName(b);
  const i = unwrap(index);
  return b.atomic ? `((volatile ${scalarTypeName(b.dtype)}*)${name})[${i}]` : `${name}[${i}]`;
}

function bufferOf(ctx: Ctx, name: string): KBuffer {
  const b = ctx.buffers.get(name);
  if (!b) throw new TilecraftError(`internal: kernel ${ctx.k.name} uses undeclared buffer ${name}`);
  return b;
}

const ATOMIC = { and: 'atomicAnd', or: 'atomicOr', add: 'atomicAdd', max: 'atomicMax', min: 'atomicMin' } as const;

function stmts(w: SourceWriter, ctx: Ctx, body: readonly KStmt[]): void {
  const x = (e: KExpr) => unwrap(value(ctx, e));
  for (const s of body) {
    switch (s.op) {
      case 'let':
        w.line(`const ${typeName(s.value.type)} ${s.name} = ${x(s.value)};`);
        break;
      case 'var':
        w.line(`${typeName(s.type)} ${s.name} = ${s.init ? x(s.init) : s.type.lanes === 1 ? scalarLiteral(0, s.type.scalar) : '{}'};`);
        break;
      case 'assign':
        w.line(`${s.name} = ${x(s.value)};`);
        break;
      case 'store':
        store(w, ctx, s);
        break;
      case 'atomic': {
        const b = bufferOf(ctx, s.buffer);
        const call = `${ATOMIC[s.fn]}(&${bufferName(b)}[${x(s.index)}], ${x(s.value)})`;
        w.line(s.result ? `const ${typeName(s.value.type)} ${s.result} = ${call};` : `${call};`);
        break;
      }
      case 'for': {
        const constant = s.start.op === 'const' && s.end.op === 'const' && s.step.op === 'const';
        if (s.unroll && constant) w.line('#pragma unroll');
        // the bound stays parenthesized: `i < (c ? a : b)` must not lose its parentheses
        w.block(`for (int ${s.var} = ${x(s.start)}; ${s.var} < ${value(ctx, s.end)}; ${s.var} += ${x(s.step)}) {`, () => stmts(w, ctx, s.body));
        break;
      }
      case 'if':
        if (s.else.length === 0) w.block(`if (${x(s.cond)}) {`, () => stmts(w, ctx, s.then));
        else {
          w.line(`if (${x(s.cond)}) {`);
          w.indent(() => stmts(w, ctx, s.then));
          w.line('} else {');
          w.indent(() => stmts(w, ctx, s.else));
          w.line('}');
        }
        break;
      case 'barrier':
        w.line('__syncthreads();');
        break;
      case 'comment':
        w.line(`// ${s.text}`);
        break;
      case 'matrixDecl': {
        const use = s.role === 'a' ? 'matrix_a' : s.role === 'b' ? 'matrix_b' : 'accumulator';
        const layout = s.role === 'acc' ? '' : `, nvcuda::wmma::${s.layout}_major`;
        w.line(`nvcuda::wmma::fragment<nvcuda::wmma::${use}, 16, 16, 16, ${scalarTypeName(s.dtype)}${layout}> ${s.name};`);
        break;
      }
      case 'matrixFill':
        w.line(`nvcuda::wmma::fill_fragment(${s.name}, ${scalarLiteral(s.value, 'f32')});`);
        break;
      case 'matrixLoad': {
        const b = bufferOf(ctx, s.buffer);
        const f = fragmentOf(ctx, s.name);
        const layout = f.role === 'acc' ? `, nvcuda::wmma::mem_${s.layout}_major` : '';
        w.line(`nvcuda::wmma::load_matrix_sync(${s.name}, &${bufferName(b)}[${unwrap(value(ctx, s.offset))}], ${s.stride}${layout});`);
        break;
      }
      case 'matrixMma':
        w.line(`nvcuda::wmma::mma_sync(${s.acc}, ${s.a}, ${s.b}, ${s.acc});`);
        break;
      case 'matrixStore': {
        const b = bufferOf(ctx, s.buffer);
        w.line(`nvcuda::wmma::store_matrix_sync(&${bufferName(b)}[${unwrap(value(ctx, s.offset))}], ${s.name}, ${s.stride}, nvcuda::wmma::mem_row_major);`);
        break;
      }
      default:
        assertNever(s, 'kernel stmt');
    }
  }
}

/**
 * A store; to an atomic buffer it is an atomic exchange. A vector value is computed once into a
 * temporary and stored lane by lane, so lanes that read the elements being written see old values.
 */
function store(w: SourceWriter, ctx: Ctx, s: Extract<KStmt, { op: 'store' }>): void {
  const b = bufferOf(ctx, s.buffer);
  const target = (i: string) => `${bufferName(b)}[${unwrap(i)}]`;
  const put = (i: string, v: string) => w.line(b.atomic ? `atomicExch(&${target(i)}, ${unwrap(v)});` : `${target(i)} = ${unwrap(v)};`);
  const index = value(ctx, s.index);
  if (s.value.type.lanes === 1) {
    put(index, value(ctx, s.value));
    return;
  }
  if (s.value.op === 'ref') {
    for (let l = 0; l < s.value.type.lanes; l++) put(l ? `${index} + ${l}` : index, `${s.value.name}.v[${l}]`);
    return;
  }
  const t = `tc_store${ctx.tmp++}`;
  w.block('{', () => {
    w.line(`const ${typeName(s.value.type)} ${t} = ${value(ctx, s.value)};`);
    for (let l = 0; l < s.value.type.lanes; l++) put(l ? `${index} + ${l}` : index, `${t}.v[${l}]`);
  });
}
