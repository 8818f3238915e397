import { describe, expect, it } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { type DType, isPacked4 } from '../../src/ir/dtype.js';
import { type HostTensor, allocHost, fromValues, randomHost, toValues } from '../../src/ir/host.js';
import { F32, I32, type KExpr, type KStmt, type Kernel, kbinary, kchildren, kconst, kload, kref, kunary, kvisit } from '../../src/ir/kernel.js';
import { printKernel } from '../../src/ir/print-kernel.js';
import { type Program } from '../../src/ir/tensor.js';
import { expandMath, legalizeNarrowTypes, splitDeepExpressions } from '../../src/passes/legalize.js';
import { type Tensor } from '../../src/dsl/tensor.js';
import { checkOnDevice, onEachDevice } from '../helpers/device.js';
import { lower } from '../../src/passes/pipeline.js';
import { verifyKernel } from '../../src/passes/verify-kernel.js';
import { evaluate } from '../../src/reference/evaluate.js';
import { firstMismatch, naiveErf, runKernel } from '../helpers/naive.js';

const WGSL_NATIVE = new Set<DType>(['f32', 'i32', 'u32']);

/** A kernel with one invocation per element: Y[i] = f(X[i]) over `n` f32 elements. */
function unaryKernel(n: number, f: (x: KExpr) => KExpr, wrap: (s: KStmt) => KStmt[] = (s) => [s]): Kernel {
  const i = kbinary('add', kbinary('mul', { op: 'builtin', type: I32, name: 'group_id_x' }, kconst(64)), { op: 'builtin', type: I32, name: 'local_index' });
  return {
    name: 'unary',
    workgroup: [64, 1, 1],
    grid: [Math.ceil(n / 64), 1, 1],
    buffers: [
      { name: 'X', scope: 'global', dtype: 'f32', length: n, access: 'read' },
      { name: 'Y', scope: 'global', dtype: 'f32', length: n, access: 'read_write' },
    ],
    body: [
      { op: 'let', name: 'gi', value: i },
      {
        op: 'if',
        cond: kbinary('lt', kref('gi', I32), kconst(n)),
        then: wrap({ op: 'store', buffer: 'Y', index: kref('gi', I32), value: f(kload('X', kref('gi', I32), F32)) }),
        else: [],
      },
    ],
  };
}

function run(k: Kernel, xs: readonly number[]): Float64Array {
  const mem = { X: Float64Array.from(xs, Math.fround), Y: new Float64Array(xs.length).fill(NaN) };
  runKernel(k, mem);
  return mem.Y;
}

const grid = (lo: number, hi: number, n: number) => Array.from({ length: n }, (_, k) => lo + ((hi - lo) * k) / (n - 1));

describe('expandMath', () => {
  it('erf: within 3e-7 of the true erf on [-6, 6], both sides of the 0.5 switch, tiny and huge inputs', () => {
    const xs = [...grid(-6, 6, 601), 0.4999999, 0.5, 0.5000001, -0.5, 1e-6, -1e-7, 0, 30, -30];
    const k = expandMath(unaryKernel(xs.length, (x) => kunary('erf', x)), new Set(['erf']));
    expect(() => verifyKernel(k)).not.toThrow();
    expect(printKernel(k)).not.toContain('erf(');
    const ys = run(k, xs);
    let worst = 0;
    xs.forEach((x, n) => {
      const err = Math.abs(ys[n]! - naiveErf(Math.fround(x)));
      worst = Math.max(worst, err);
      expect(err, `erf(${x}) = ${ys[n]}`).toBeLessThan(3e-7);
    });
    expect(worst).toBeGreaterThan(0); // it is an approximation evaluated in f32
    expect(Math.sign(ys[xs.length - 1]!)).toBe(-1);
  });

  it('erf: odd symmetry holds exactly', () => {
    const xs = grid(0, 4, 81);
    const k = expandMath(unaryKernel(xs.length * 2, (x) => kunary('erf', x)), new Set(['erf']));
    const ys = run(k, [...xs, ...xs.map((x) => -x)]);
    xs.forEach((_, n) => expect(ys[n + xs.length]).toBe(-ys[n]!));
  });

  it('sigmoid: 1 / (1 + exp(-x)), and tanh: clamped so large inputs give +-1', () => {
    const xs = [...grid(-20, 20, 81), 100, -100, 1e30, -1e30];
    const sig = run(expandMath(unaryKernel(xs.length, (x) => kunary('sigmoid', x)), new Set(['sigmoid'])), xs);
    xs.forEach((x, n) => expect(Math.abs(sig[n]! - 1 / (1 + Math.exp(-Math.fround(x)))), `sigmoid(${x})`).toBeLessThan(1e-7));
    const tanhK = expandMath(unaryKernel(xs.length, (x) => kunary('tanh', x)), new Set(['tanh']));
    const th = run(tanhK, xs);
    xs.forEach((x, n) => expect(Math.abs(th[n]! - Math.tanh(Math.fround(x))), `tanh(${x})`).toBeLessThan(1e-7));
    expect(printKernel(tanhK)).toContain('tanh(max(min(X[gi], 15:f32), -15:f32))');
  });

  it('binds a non-trivial operand to a let, computed once', () => {
    const k = expandMath(unaryKernel(4, (x) => kunary('erf', kunary('exp', x))), new Set(['erf']));
    const text = printKernel(k);
    expect(text.match(/exp\(X\[gi\]\)/g)).toHaveLength(1);
    expect(text).toMatch(/let em0 = exp\(X\[gi\]\)/);
    const ys = run(k, [0, -1, 1, 2]);
    [0, -1, 1, 2].forEach((x, n) => expect(Math.abs(ys[n]! - naiveErf(Math.exp(x)))).toBeLessThan(3e-7));
  });

  it('expands only the functions asked for', () => {
    const k = unaryKernel(4, (x) => kbinary('add', kunary('erf', x), kunary('sigmoid', x)));
    const text = printKernel(expandMath(k, new Set(['sigmoid'])));
    expect(text).toContain('erf(X[gi])');
    expect(text).not.toContain('sigmoid');
    expect(expandMath(k, new Set()).body).toEqual(k.body);
  });

  it('inside nested loops and branches: lets go right before their statement, tanh is clamped once', () => {
    const nested = (s: KStmt): KStmt[] => [
      { op: 'for', var: 'r', start: kconst(0), end: kconst(1), step: kconst(1), unroll: false, body: [{ op: 'for', var: 'q', start: kconst(0), end: kconst(1), step: kconst(1), unroll: false, body: [s] }] },
    ];
    const k = expandMath(unaryKernel(8, (x) => kbinary('add', kunary('tanh', x), kunary('erf', x)), nested), new Set(['tanh', 'erf']));
    const text = printKernel(k);
    expect(text.match(/min\(/g)).toHaveLength(1);
    // the erf temporaries are defined inside the innermost loop
    expect(text).toMatch(/for q in 0 \.\.< 1 step 1 \{\n\s+let em0 = X\[gi\]\n\s+let em1 = abs\(em0\)/);
    expect(() => verifyKernel(k)).not.toThrow();
    const xs = grid(-3, 3, 8);
    const ys = run(k, xs);
    xs.forEach((x, n) => expect(Math.abs(ys[n]! - (Math.tanh(Math.fround(x)) + naiveErf(Math.fround(x))))).toBeLessThan(4e-7));
  });
});

// ---------------------------------------------------------------------------------------------
// Narrow types: run the kernels lower() emits before and after legalization and compare

/**
 * Device memory of a host tensor after legalization for `native`: native dtypes hold their values;
 * the others are u32 words of the host layout (16- and 8-bit types packed little-endian).
 */
function deviceMemory(t: HostTensor, native: ReadonlySet<DType>): Float64Array {
  if (native.has(t.dtype)) return toValues(t);
  if (isPacked4(t.dtype)) return Float64Array.from(t.data);
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const padded = new Uint8Array(Math.ceil(bytes.length / 4) * 4);
  padded.set(bytes);
  return Float64Array.from(new Uint32Array(padded.buffer));
}

function fromDeviceMemory(dtype: DType, shape: readonly number[], m: Float64Array, native: ReadonlySet<DType>): HostTensor {
  if (native.has(dtype)) return fromValues(dtype, shape, m);
  const t = allocHost(dtype, shape);
  const bytes = new Uint8Array(Uint32Array.from(m).buffer);
  new Uint8Array(t.data.buffer).set(bytes.subarray(0, t.data.byteLength));
  return t;
}

/** Runs every kernel of lower(p) legalized for `native`, on device-layout memory, and returns the outputs. */
function runLegalized(p: Program, inputs: Record<string, HostTensor>, native: ReadonlySet<DType>): { outputs: Record<string, HostTensor>; kernels: Kernel[] } {
  const plan = lower(p, {}, { defaults: { elementwise: { workgroupSize: 32, vectorWidth: 1 }, serial: { workgroupSize: 32 }, rows: { workgroupSize: 8 } } });
  const mem: Record<string, Float64Array> = {};
  for (const t of plan.tensors) mem[t.name] = deviceMemory(inputs[t.name] ?? allocHost(t.dtype, t.shape), native);
  const kernels = plan.kernels.map((k) => legalizeNarrowTypes(expandMath(k, new Set(['erf', 'sigmoid', 'tanh'])), native));
  for (const k of kernels) {
    verifyKernel(k);
    runKernel(k, Object.fromEntries(k.buffers.filter((b) => b.scope === 'global').map((b) => [b.name, mem[b.name]!])));
  }
  const outputs: Record<string, HostTensor> = {};
  for (const t of plan.tensors) if (t.role === 'output') outputs[t.name] = fromDeviceMemory(t.dtype, t.shape, mem[t.name]!, native);
  return { outputs, kernels };
}

describe('legalizeNarrowTypes', () => {
  it('returns the kernel itself when nothing is narrow', () => {
    const k = unaryKernel(4, (x) => kunary('exp', x));
    expect(legalizeNarrowTypes(k, WGSL_NATIVE)).toBe(k);
  });

  it('4-bit inputs whose rows are not whole words: dequantization matches the reference exactly', () => {
    const p = program('deq', (b) => {
      const w = b.input('W', 'i4', { r: 3, c: 11 });
      const u = b.input('U', 'u4', { r: 3, c: 11 });
      const s = b.input('S', 'f32', { r: 3 });
      b.output('Y', w.cast('f32').mul(s).add(u.cast('f32')));
      b.output('Q', w.cast('i32').add(u.cast('i32')));
    });
    const inputs = { W: randomHost('i4', [3, 11], 1), U: randomHost('u4', [3, 11], 2), S: fromValues('f32', [3], [1, 0.5, -2]) };
    const { outputs, kernels } = runLegalized(p, inputs, WGSL_NATIVE);
    const ref = evaluate(p, {}, inputs);
    expect([...toValues(outputs.Y!)]).toEqual([...toValues(ref.outputs.Y!)]);
    expect([...toValues(outputs.Q!)]).toEqual([...toValues(ref.outputs.Q!)]);
    // the 4-bit buffers became u32 words, ceil(11 / 8) = 2 per row, read-only
    const wb = kernels[0]!.buffers.find((b) => b.name === 'W')!;
    expect(wb).toEqual({ name: 'W', scope: 'global', dtype: 'u32', length: 6, access: 'read' });
  });

  it('4-bit rows that are whole words use the plain word / shift form', () => {
    const p = program('deq8', (b) => b.output('Y', b.input('W', 'u4', { r: 2, c: 16 }).cast('f32')));
    const inputs = { W: randomHost('u4', [2, 16], 3) };
    const { outputs, kernels } = runLegalized(p, inputs, WGSL_NATIVE);
    expect([...toValues(outputs.Y!)]).toEqual([...toValues(inputs.W)]);
    expect(printKernel(kernels[0]!)).toMatch(/W\[\(.* \/ 8\)\] >> \(\(.* % 8\) \* 4\)\) & 15:u32/);
  });

  it('f16 without native support: loads decode halves, stores round to nearest even and write atomically', () => {
    const p = program('half', (b) => {
      const x = b.input('X', 'f16', { i: 7 });
      b.output('Y', x.cast('f32').mul(3).cast('f16'));
    });
    const xs = [1, -2.5, 65504, 0.1, 2 ** -24, 1 + 2 ** -10, 100];
    const inputs = { X: fromValues('f16', [7], xs) };
    const { outputs, kernels } = runLegalized(p, inputs, WGSL_NATIVE);
    const ref = evaluate(p, {}, inputs);
    expect([...outputs.Y!.data]).toEqual([...ref.outputs.Y!.data]);
    const yb = kernels[0]!.buffers.find((b) => b.name === 'Y')!;
    expect(yb).toEqual({ name: 'Y', scope: 'global', dtype: 'u32', length: 4, access: 'read_write', atomic: true });
    const text = printKernel(kernels[0]!);
    expect(text).toContain('f16_from_bits');
    expect(text).toContain('atomic_and');
    expect(text).toContain('atomic_or');
  });

  it('f16 with native support is left alone', () => {
    const p = program('half2', (b) => b.output('Y', b.input('X', 'f16', { i: 4 }).mul(2)));
    const k = lower(p, {}, { defaults: { elementwise: { vectorWidth: 1 } } }).kernels[0]!;
    expect(legalizeNarrowTypes(k, new Set<DType>(['f32', 'i32', 'u32', 'f16']))).toBe(k);
  });

  it('bf16 stores round to nearest even like the host', () => {
    const p = program('bf', (b) => {
      const x = b.input('X', 'f32', { i: 9 });
      b.output('Y', x.cast('bf16'));
      b.output('Z', b.input('B', 'bf16', { i: 9 }).cast('f32').mul(2));
    });
    const xs = [1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -3.14159, 1e-40, 3e38, 0.1, -0];
    const inputs = { X: fromValues('f32', [9], xs), B: fromValues('bf16', [9], xs) };
    const { outputs } = runLegalized(p, inputs, WGSL_NATIVE);
    const ref = evaluate(p, {}, inputs);
    expect([...outputs.Y!.data].map((h) => h.toString(16))).toEqual([...ref.outputs.Y!.data].map((h) => h.toString(16)));
    expect(firstMismatch(toValues(outputs.Z!), toValues(ref.outputs.Z!))).toBe(-1);
  });

  it('i8: loads sign-extend, casts saturate from floats and wrap from ints, stores pack four per word', () => {
    const p = program('i8', (b) => {
      const x = b.input('X', 'f32', { i: 6 });
      const n = b.input('N', 'i32', { i: 6 });
      const q = b.input('Q', 'i8', { i: 6 });
      b.output('A', x.mul(100).cast('i8'));
      b.output('B', n.cast('i8'));
      b.output('C', q.cast('i32').mul(2));
      b.output('D', n.cast('u4').cast('i32').add(n.cast('i4').cast('i32').mul(100)));
    });
    const inputs = {
      X: fromValues('f32', [6], [0.5, -0.5, 1.3, -1.3, 2, -2]),
      N: fromValues('i32', [6], [127, 128, -129, 255, 300, -1]),
      Q: fromValues('i8', [6], [-128, -1, 0, 1, 127, -77]),
    };
    const { outputs, kernels } = runLegalized(p, inputs, WGSL_NATIVE);
    const ref = evaluate(p, {}, inputs);
    for (const o of ['A', 'B', 'C', 'D']) expect([...toValues(outputs[o]!)], o).toEqual([...toValues(ref.outputs[o]!)]);
    expect([...toValues(outputs.A!)]).toEqual([50, -50, 127, -128, 127, -128]);
    expect(kernels.every((k) => k.buffers.every((b) => b.dtype === 'f32' || b.dtype === 'i32' || b.dtype === 'u32'))).toBe(true);
  });
});

describe('splitDeepExpressions', () => {
  // a fused chain of 100 multiply-adds: one expression 200 levels deep
  const chain = program('chain', (b) => {
    const [N] = b.sizes('N');
    let t: Tensor<'f32', string> = b.input('X', 'f32', { i: N });
    for (let k = 0; k < 100; k++) t = t.mul(1.01).add(0.1);
    b.output('Y', t);
  });

  it('binds every 24 levels of a deep expression to a let, leaving shallow ones alone', () => {
    const [k] = lower(chain, { N: 10 }).kernels;
    const depth = (e: KExpr): number => 1 + Math.max(0, ...kchildren(e).map(depth));
    const deepest = (kernel: Kernel) => {
      let d = 0;
      kvisit(kernel.body, (e) => (d = Math.max(d, depth(e))));
      return d;
    };
    expect(deepest(k!)).toBeGreaterThan(200);
    const split = splitDeepExpressions(k!);
    expect(deepest(split)).toBeLessThanOrEqual(24);
    expect(splitDeepExpressions(lower(chain, { N: 10 }, {}).kernels[0]!, 1000)).toEqual(k);
  });

  onEachDevice(() => {
    it('a chain too deep for a shader parser compiles and matches the reference', async () => {
      const r = await checkOnDevice(chain, { N: 37 }, { X: randomHost('f32', [37], 3) }, { tol: { rtol: 1e-4 } });
      expect(r.failures).toEqual([]);
    });
  });
});
