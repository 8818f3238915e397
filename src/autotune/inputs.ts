import { type DType, isFloat } from '../ir/dtype.js';
import { type HostTensor, randomHost } from '../ir/host.js';

/**
 * Reproducible random inputs for a compiled program: floats in [-1, 1), integers over their full
 * small range (4- and 8-bit), positive values where a name suggests a scale.
 */
export function randomInputs(tensors: readonly { name: string; dtype: DType; shape: readonly number[] }[], seed = 1): Record<string, HostTensor> {
  const out: Record<string, HostTensor> = {};
  tensors.forEach((t, i) => {
    const range: [number, number] = isFloat(t.dtype) && /^s(cale)?$/i.test(t.name) ? [0.001, 0.02] : [-1, 1];
    out[t.name] = randomHost(t.dtype, t.shape, seed + i * 7919, range);
  });
  return out;
}
