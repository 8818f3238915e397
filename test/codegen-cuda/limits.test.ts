import { describe, expect, it } from 'vitest';
import { archLimits, checkCudaLimits, sharedBytes, toCuda } from '../../src/codegen-cuda/index.js';
import { DeviceLimitError } from '../../src/ir/errors.js';
import { type KBuffer, type Kernel } from '../../src/ir/kernel.js';

const kernel = (over: Partial<Kernel>): Kernel => ({ name: 'k', workgroup: [32, 1, 1], grid: [1, 1, 1], buffers: [], body: [], ...over });
const shared = (name: string, dtype: KBuffer['dtype'], length: number): KBuffer => ({ name, scope: 'workgroup', dtype, length });

function limitError(f: () => unknown): DeviceLimitError {
  try {
    f();
  } catch (e) {
    if (e instanceof DeviceLimitError) return e;
    throw e;
  }
  throw new Error('expected a DeviceLimitError');
}

describe('CUDA launch limits, checked before any compiler runs', () => {
  it('knows each architecture’s shared memory', () => {
    expect(archLimits(80)).toMatchObject({ maxThreadsPerBlock: 1024, maxStaticSharedBytes: 49152, maxSharedBytesOptIn: 166912 });
    expect(archLimits(90).maxSharedBytesOptIn).toBe(232448);
    expect(archLimits(86).maxSharedBytesOptIn).toBe(101376);
  });

  it('counts static shared bytes with each array aligned to its element', () => {
    expect(sharedBytes(kernel({ buffers: [shared('a', 'f16', 3), shared('b', 'f32', 1), shared('c', 'i8', 5)] }))).toBe(6 + 2 + 4 + 5);
  });

  it('refuses too many threads per block, naming the knob to lower', () => {
    const e = limitError(() => toCuda(kernel({ workgroup: [2048, 1, 1] }), { sm: 80 }));
    expect(e).toMatchObject({ limit: 'maxThreadsPerBlock', requested: 2048, available: 1024 });
    expect(e.message).toMatch(/2048 threads per block; CUDA allows 1024 on sm_80: lower the group's workgroupSize knob/);
    expect(limitError(() => toCuda(kernel({ workgroup: [1, 1, 128] }), { sm: 80 })).limit).toBe('maxBlockDimZ');
  });

  it('refuses more than 48 KiB of static shared memory, whatever the opt-in maximum', () => {
    expect(() => toCuda(kernel({ buffers: [shared('s', 'f32', 12288)] }), { sm: 90 })).not.toThrow();
    const e = limitError(() => toCuda(kernel({ buffers: [shared('s', 'f32', 12289)] }), { sm: 90 }));
    expect(e).toMatchObject({ limit: 'maxStaticSharedBytes', requested: 49156, available: 49152 });
    expect(e.message).toMatch(/opt-in maximum, 232448, applies to dynamic shared memory only/);
  });

  it('uses the device’s own limits when given', () => {
    const small = { ...archLimits(80), maxStaticSharedBytes: 16384, maxThreadsPerBlock: 512 };
    expect(limitError(() => checkCudaLimits(kernel({ buffers: [shared('s', 'f32', 4097)] }), small)).available).toBe(16384);
    expect(limitError(() => toCuda(kernel({ workgroup: [1024, 1, 1] }), { sm: 80, limits: small })).available).toBe(512);
  });

  it('refuses a grid too tall and too many parameters', () => {
    expect(limitError(() => toCuda(kernel({ grid: [1, 70000, 1] }), { sm: 80 })).limit).toBe('maxGridDimY');
    const buffers: KBuffer[] = Array.from({ length: 513 }, (_, i) => ({ name: `b${i}`, scope: 'global', dtype: 'f32', length: 1, access: 'read' }));
    expect(limitError(() => toCuda(kernel({ buffers }), { sm: 80 })).limit).toBe('maxParamBytes');
  });
});
