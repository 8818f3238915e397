import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { DeviceLimitError } from '../../src/ir/errors.js';
import type { PlanTensor } from '../../src/passes/pipeline.js';
import { checkBufferLimits } from '../../src/runtime/limits.js';
import { autotune } from './autotune-process.js';

describe('checkBufferLimits', () => {
  const limits = { maxBufferSize: 1 << 20, maxStorageBufferBindingSize: 1 << 16 };

  it('passes tensors that fit', () => {
    const t: PlanTensor[] = [{ name: 'A', dtype: 'f32', shape: [128, 128], role: 'input' }];
    expect(() => checkBufferLimits(t, limits)).not.toThrow();
  });

  it('names the tensor, its bytes and the limit it exceeds', () => {
    const t: PlanTensor[] = [{ name: 'B', dtype: 'f32', shape: [1024, 1024], role: 'input' }];
    expect(() => checkBufferLimits(t, limits)).toThrow(DeviceLimitError);
    expect(() => checkBufferLimits(t, limits)).toThrow(/tensor B .*4194304 bytes.*maxStorageBufferBindingSize/);
  });
});

describe('autotune run with a shape too big for the device', () => {
  it('is a usage error naming the limit, found before inputs are allocated (no RangeError)', () => {
    const r = autotune('run', 'matmul', '--shape', 'M=100000000', '--warmup', '0', '--repeat', '1', '--no-tuned');
    expect(r.status, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/M=100000000.* too large for this device/);
    expect(r.stderr).toMatch(/maxStorageBufferBindingSize|maxBufferSize/);
    expect(r.stderr).not.toMatch(/RangeError/);
  });
});
