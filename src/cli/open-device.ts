import { TilecraftError } from '../ir/errors.js';
import type { Device } from '../runtime/device.js';
import { createWebGpuDevice } from '../runtime/webgpu.js';

export type DeviceKind = 'webgpu' | 'cuda';

export function parseDeviceKind(s: string): DeviceKind {
  if (s === 'webgpu' || s === 'cuda') return s;
  throw new TilecraftError(`unknown device ${JSON.stringify(s)}; use webgpu or cuda`);
}

/** Opens the device a command asked for. */
export async function openDevice(kind: DeviceKind): Promise<Device> {
  switch (kind) {
    case 'webgpu':
      return createWebGpuDevice();
    case 'cuda': {
      const { createCudaDevice } = await import('../runtime/cuda.js');
      return createCudaDevice();
    }
  }
}

export function describeDevice(d: Device): string {
  const i = d.info;
  const parts = [i.vendor, i.architecture].filter(Boolean).join(' / ');
  return `${i.backend === 'webgpu' ? 'WebGPU' : 'CUDA'}: ${i.name}${parts ? ` [${parts}]` : ''}`;
}
