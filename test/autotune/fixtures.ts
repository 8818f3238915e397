import type { DeviceInfo } from '../../src/runtime/device.js';

/** A device that exists only in tests: WebGPU-like limits, no optional features. */
export const syntheticDeviceInfo: DeviceInfo = {
  backend: 'webgpu',
  name: 'synthetic',
  vendor: 'test',
  architecture: '',
  description: '',
  features: [],
  limits: {
    maxWorkgroupInvocations: 256,
    maxWorkgroupSize: [256, 256, 64],
    maxWorkgroupsPerDimension: 65535,
    maxWorkgroupStorageBytes: 16384,
    maxStorageBufferBindingSize: 1 << 27,
    maxBufferSize: 1 << 30,
    maxBuffersPerKernel: 8,
  },
  extra: {},
};
