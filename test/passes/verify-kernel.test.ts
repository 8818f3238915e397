import { describe, expect, it } from 'vitest';
import { layernorm, softmax } from '../../src/dsl/ops.js';
import { program } from '../../src/dsl/program.js';
import { TilecraftError } from '../../src/ir/errors.js';
import { BOOL, F32, I32, type KBuffer, type KStmt, type Kernel, U32, kbinary, kconst, kload, kref, kt } from '../../src/ir/kernel.js';
import { type LowerOptions, lower } from '../../src/passes/pipeline.js';
import { verifyKernel } from '../../src/passes/verify-kernel.js';

const BUFFERS: KBuffer[] = [
  { name: 'A', scope: 'global', dtype: 'f32', length: 8, access: 'read' },
  { name: 'B', scope: 'global', dtype: 'f32', length: 8, access: 'read_write' },
  { name: 'C', scope: 'global', dtype: 'u32', length: 2, access: 'read_write', atomic: true },
  { name: 'W', scope: 'workgroup', dtype: 'f32', length: 4 },
];
const kernel = (body: KStmt[], over: Partial<Kernel> = {}): Kernel => ({ name: 'k', workgroup: [4, 1, 1], grid: [2, 1, 1], buffers: BUFFERS, body, ...over });
const store = (value = kconst(1, F32)): KStmt => ({ op: 'store', buffer: 'B', index: kconst(0), value });

function failure(k: Kernel): string {
  try {
    verifyKernel(k);
  } catch (e) {
    expect(e).toBeInstanceOf(TilecraftError);
    return (e as Error).message;
  }
  throw new Error('expected verifyKernel to fail');
}

describe('verifyKernel accepts', () => {
  it('a kernel using every statement form', () => {
    const k = kernel([
      { op: 'comment', text: 'x' },
      { op: 'let', name: 'a', value: kload('A', kconst(1), F32) },
      { op: 'var', name: 'acc', type: F32, init: kconst(0, F32) },
      {
        op: 'for',
        var: 'r',
        start: kconst(0),
        end: kconst(8),
        step: kconst(1),
        unroll: false,
        body: [{ op: 'assign', name: 'acc', value: kbinary('add', kref('acc', F32), kload('A', kref('r', I32), F32)) }],
      },
      { op: 'store', buffer: 'W', index: kconst(0), value: kref('acc', F32) },
      { op: 'barrier' },
      { op: 'if', cond: kbinary('lt', kref('a', F32), kconst(0, F32)), then: [store(kref('a', F32))], else: [store()] },
      { op: 'atomic', fn: 'add', buffer: 'C', index: kconst(0), value: kconst(1, U32), result: 'old' },
      { op: 'store', buffer: 'C', index: kconst(1), value: kref('old', U32) },
      // shifts may mix i32 amounts with u32 values
      { op: 'let', name: 's', value: kbinary('shl', kconst(1, U32), kconst(3)) },
    ]);
    expect(() => verifyKernel(k)).not.toThrow();
  });

  it('the same loop variable in two sibling loops', () => {
    const loop = (): KStmt => ({ op: 'for', var: 'r', start: kconst(0), end: kconst(2), step: kconst(1), unroll: true, body: [] });
    expect(() => verifyKernel(kernel([loop(), loop()]))).not.toThrow();
  });

  it('every kernel lower() emits (composites, contractions, vectors)', () => {
    const p = program('all', (b) => {
      const x = b.input('X', 'f32', { i: 5, j: 64 });
      const w = b.input('W', 'f32', { j: 64, k: 12 });
      b.output('S', softmax(x, 'j'));
      b.output('L', layernorm(x, 'j'));
      b.output('M', x.mul(w).sum('j'));
      b.output('E', x.exp().mul(2));
    });
    const variants: LowerOptions[] = [{}, { defaults: { rows: { subgroups: true, workgroupSize: 64 } } }, { grouping: { tileContractions: false } }, { defaults: { elementwise: { vectorWidth: 1 } } }];
    for (const opts of variants) {
      const plan = lower(p, {}, opts);
      for (const k of plan.kernels) expect(() => verifyKernel(k), k.name).not.toThrow();
    }
  });
});

describe('verifyKernel rejects, naming the kernel and the fault', () => {
  it('two buffers with one name', () => {
    expect(failure(kernel([], { buffers: [...BUFFERS, BUFFERS[0]!] }))).toBe('internal: kernel k: two buffers share a name');
  });
  it('an empty launch shape', () => {
    expect(failure(kernel([], { grid: [0, 1, 1] }))).toBe('internal: kernel k: bad launch shape 4,1,1 x 0,1,1');
    expect(failure(kernel([], { workgroup: [1, 0, 1] }))).toMatch(/bad launch shape/);
  });
  it('a local used before it is defined, or out of its scope', () => {
    expect(failure(kernel([store(kref('x', F32))]))).toBe('internal: kernel k: x is used before it is defined');
    const scoped = kernel([{ op: 'if', cond: kconst(1, BOOL), then: [{ op: 'let', name: 't', value: kconst(1, F32) }], else: [] }, store(kref('t', F32))]);
    expect(failure(scoped)).toBe('internal: kernel k: t is used before it is defined');
    const loopVar = kernel([{ op: 'for', var: 'r', start: kconst(0), end: kconst(2), step: kconst(1), unroll: false, body: [] }, { op: 'let', name: 'q', value: kref('r', I32) }]);
    expect(failure(loopVar)).toBe('internal: kernel k: r is used before it is defined');
  });
  it('a local defined twice, even in different scopes', () => {
    const a: KStmt = { op: 'let', name: 'a', value: kconst(1) };
    expect(failure(kernel([a, a]))).toBe('internal: kernel k: a is defined twice');
    expect(failure(kernel([a, { op: 'if', cond: kconst(1, BOOL), then: [a], else: [] }]))).toBe('internal: kernel k: a is defined twice');
    expect(failure(kernel([{ op: 'if', cond: kconst(1, BOOL), then: [a], else: [a] }]))).toBe('internal: kernel k: a is defined twice');
  });
  it('a reference with the wrong type', () => {
    expect(failure(kernel([{ op: 'let', name: 'a', value: kconst(1) }, store(kref('a', F32))]))).toBe('internal: kernel k: a is i32 but used as f32');
  });
  it('loads from an unknown buffer or with a non-i32 index', () => {
    expect(failure(kernel([store(kload('Z', kconst(0), F32))]))).toBe('internal: kernel k: load from undeclared buffer Z');
    expect(failure(kernel([store(kload('A', kconst(0, U32), F32))]))).toBe('internal: kernel k: index into A is u32, not i32');
  });
  it('binary operands of different types, logical ops of non-booleans, comparisons typed non-bool', () => {
    expect(failure(kernel([store(kbinary('add', kconst(1, F32), kconst(1)))]))).toBe('internal: kernel k: add of f32 and i32');
    expect(failure(kernel([{ op: 'let', name: 'l', value: kbinary('land', kconst(1), kconst(1)) }]))).toBe('internal: kernel k: land of i32');
    const badCmp = { op: 'binary' as const, type: F32, fn: 'lt' as const, a: kconst(1, F32), b: kconst(2, F32) };
    expect(failure(kernel([store(badCmp)]))).toBe('internal: kernel k: comparison lt typed f32');
    expect(failure(kernel([store(kbinary('mul', kconst(1, F32), kconst(1, kt('f32', 4))))]))).toBe('internal: kernel k: mul of f32 and f32x4');
  });
  it('select with a non-boolean condition or mismatched branches', () => {
    const sel = (cond = kconst(1, BOOL), a = kconst(1, F32), b = kconst(1, F32)) => ({ op: 'select' as const, type: a.type, cond, a, b });
    expect(failure(kernel([store(sel(kconst(1)))]))).toBe('internal: kernel k: select condition is i32');
    expect(failure(kernel([store(sel(undefined, kconst(1, F32), kconst(1, U32)))]))).toBe('internal: kernel k: select between f32 and u32');
  });
  it('var initializers and assignments of the wrong type', () => {
    expect(failure(kernel([{ op: 'var', name: 'v', type: F32, init: kconst(0) }]))).toBe('internal: kernel k: var v: f32 initialized with i32');
    expect(failure(kernel([{ op: 'assign', name: 'v', value: kconst(0) }]))).toBe('internal: kernel k: assignment to undefined v');
    expect(failure(kernel([{ op: 'var', name: 'v', type: F32 }, { op: 'assign', name: 'v', value: kconst(0) }]))).toBe(
      'internal: kernel k: assignment of i32 to v: f32',
    );
  });
  it('stores: undeclared, read-only, or of the wrong type', () => {
    expect(failure(kernel([{ op: 'store', buffer: 'Z', index: kconst(0), value: kconst(1, F32) }]))).toBe('internal: kernel k: store to undeclared buffer Z');
    expect(failure(kernel([{ op: 'store', buffer: 'A', index: kconst(0), value: kconst(1, F32) }]))).toBe('internal: kernel k: store into read-only buffer A');
    expect(failure(kernel([store(kconst(1))]))).toBe('internal: kernel k: store of i32 into B: f32');
  });
  it('atomics on a buffer not marked atomic', () => {
    expect(failure(kernel([{ op: 'atomic', fn: 'add', buffer: 'B', index: kconst(0), value: kconst(1, F32) }]))).toBe(
      'internal: kernel k: atomic on B, which is not marked atomic',
    );
  });
  it('a non-boolean if condition', () => {
    expect(failure(kernel([{ op: 'if', cond: kconst(1), then: [], else: [] }]))).toBe('internal: kernel k: if condition is i32');
  });
});
