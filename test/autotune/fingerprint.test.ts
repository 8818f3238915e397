import { describe, expect, it } from 'vitest';
import { deviceFingerprint, deviceSummary } from '../../src/autotune/fingerprint.js';
import type { DeviceInfo } from '../../src/runtime/device.js';

const info: DeviceInfo = {
  backend: 'cuda',
  name: 'NVIDIA H200',
  vendor: 'nvidia',
  architecture: 'hopper',
  description: 'NVIDIA H200 (sm_90)',
  features: ['f16', 'bf16', 'tensor-cores'],
  limits: {
    maxWorkgroupInvocations: 1024,
    maxWorkgroupSize: [1024, 1024, 64],
    maxWorkgroupsPerDimension: 65535,
    maxWorkgroupStorageBytes: 232448,
    maxStorageBufferBindingSize: 2 ** 40,
    maxBufferSize: 2 ** 40,
    maxBuffersPerKernel: 64,
    maxRegistersPerThread: 255,
  },
  extra: { computeCapability: '9.0', driver: '550.54' },
};

describe('deviceFingerprint', () => {
  it('is 16 hex digits, and the same for the same device listed in another order', () => {
    const fp = deviceFingerprint(info);
    expect(fp).toMatch(/^[0-9a-f]{16}$/);
    const reordered: DeviceInfo = {
      ...info,
      features: ['tensor-cores', 'f16', 'bf16', 'f16'],
      extra: { driver: '550.54', computeCapability: '9.0' },
    };
    expect(deviceFingerprint(reordered)).toBe(fp);
  });

  it('changes with every identifying field', () => {
    const variants: DeviceInfo[] = [
      { ...info, backend: 'webgpu' },
      { ...info, name: 'NVIDIA H100' },
      { ...info, vendor: 'nv' },
      { ...info, architecture: 'blackwell' },
      { ...info, description: 'other' },
      { ...info, features: ['f16', 'bf16'] },
      { ...info, limits: { ...info.limits, maxWorkgroupStorageBytes: 49152 } },
      { ...info, limits: { ...info.limits, maxWorkgroupSize: [1024, 1024, 32] } },
      { ...info, extra: { ...info.extra, driver: '560.00' } },
    ];
    const all = new Set([deviceFingerprint(info), ...variants.map(deviceFingerprint)]);
    expect(all.size).toBe(variants.length + 1);
  });
});

describe('deviceSummary', () => {
  it('names the device, its backend and its extras in a stable order', () => {
    expect(deviceSummary(info)).toBe('NVIDIA H200 (cuda, nvidia, hopper; computeCapability=9.0, driver=550.54)');
    expect(deviceSummary({ ...info, name: '', vendor: '', extra: {} })).toBe('NVIDIA H200 (sm_90) (cuda, hopper)');
  });
});
