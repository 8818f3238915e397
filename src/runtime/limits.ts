import { DeviceLimitError } from '../ir/errors.js';
import { type Kernel, globals, workgroupInvocations } from '../ir/kernel.js';
import { bitsOf, storageBytes } from '../ir/dtype.js';
import type { PlanTensor } from '../passes/pipeline.js';
import type { DeviceLimits } from './device.js';

/** Bytes of workgroup (shared) memory a kernel declares. */
export function workgroupBytes(k: Kernel): number {
  return k.buffers.filter((b) => b.scope === 'workgroup').reduce((a, b) => a + Math.ceil((b.length * Math.max(32, bitsOf(b.dtype))) / 8), 0);
}

/**
 * Checks a kernel against a device's limits before anything is compiled, naming the limit. The
 * search uses it to prune configurations; devices call it before compiling.
 */
export function checkKernelLimits(k: Kernel, l: DeviceLimits): void {
  const inv = workgroupInvocations(k);
  if (inv > l.maxWorkgroupInvocations) {
    throw new DeviceLimitError(
      `kernel ${k.name} uses ${inv} invocations per workgroup; this device allows ${l.maxWorkgroupInvocations}`,
      'maxComputeInvocationsPerWorkgroup',
      inv,
      l.maxWorkgroupInvocations,
    );
  }
  k.workgroup.forEach((n, i) => {
    if (n > l.maxWorkgroupSize[i]!) {
      throw new DeviceLimitError(
        `kernel ${k.name} has workgroup size ${n} in dimension ${'xyz'[i]}; this device allows ${l.maxWorkgroupSize[i]}`,
        `maxComputeWorkgroupSize${'XYZ'[i]}`,
        n,
        l.maxWorkgroupSize[i],
      );
    }
  });
  const shared = workgroupBytes(k);
  if (shared > l.maxWorkgroupStorageBytes) {
    throw new DeviceLimitError(
      `kernel ${k.name} needs ${shared} bytes of workgroup memory; this device allows ${l.maxWorkgroupStorageBytes}`,
      'maxComputeWorkgroupStorageSize',
      shared,
      l.maxWorkgroupStorageBytes,
    );
  }
  const n = globals(k).length;
  if (n > l.maxBuffersPerKernel) {
    throw new DeviceLimitError(
      `kernel ${k.name} binds ${n} storage buffers; this device allows ${l.maxBuffersPerKernel}`,
      'maxStorageBuffersPerShaderStage',
      n,
      l.maxBuffersPerKernel,
    );
  }
  if (k.grid.some((g) => g > l.maxWorkgroupsPerDimension)) {
    throw new DeviceLimitError(
      `kernel ${k.name} launches a grid of ${k.grid.join(' x ')}; this device allows ${l.maxWorkgroupsPerDimension} per dimension`,
      'maxComputeWorkgroupsPerDimension',
      Math.max(...k.grid),
      l.maxWorkgroupsPerDimension,
    );
  }
}

/**
 * Checks that every global tensor of a plan fits in one buffer of this device, bound as storage,
 * naming the tensor, its bytes and the limit. Cheap: callers run it before allocating anything,
 * on the host or the device, for a plan whose sizes may be far too large.
 */
export function checkBufferLimits(tensors: readonly PlanTensor[], l: Pick<DeviceLimits, 'maxBufferSize' | 'maxStorageBufferBindingSize'>): void {
  for (const t of tensors) {
    const bytes = storageBytes(t.dtype, t.shape);
    const [limit, max] =
      l.maxStorageBufferBindingSize <= l.maxBufferSize
        ? (['maxStorageBufferBindingSize', l.maxStorageBufferBindingSize] as const)
        : (['maxBufferSize', l.maxBufferSize] as const);
    if (bytes > max) {
      throw new DeviceLimitError(`tensor ${t.name} (${t.dtype}, ${t.shape.join(' x ')}) needs ${bytes} bytes; this device allows at most ${max} bytes per buffer (${limit})`, limit, bytes, max);
    }
  }
}
