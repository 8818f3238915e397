import type { DeviceInfo } from '../../src/runtime/device.js';
import type { NewTuningEntry, TuningEntry } from '../../src/autotune/db.js';

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

/** A well-formed tuning database entry (a softmax's schedule), with `over` changed. */
export function tuningEntry(over: Partial<NewTuningEntry> = {}): NewTuningEntry {
  return {
    fingerprint: '0123456789abcdef',
    deviceSummary: 'Test GPU (webgpu, test, none)',
    program: 'softmax',
    programHash: 'aaaabbbbccccdddd',
    dtype: 'f32',
    shape: { N: 1000, B: 4 },
    tilecraftVersion: '0.1.0',
    schedule: { 'rows:Y_max,Y_sum,Y': { kind: 'rows', threadsPerRow: 64, workgroupSize: 256, subgroups: false, splitSteps: 1, stageSteps: 0, rowsPerLane: 1, unrollSteps: 0 } },
    medianMs: 0.5,
    spread: 0.02,
    candidates: 12,
    strategy: 'exhaustive',
    tieBreak: 'smallest-canonical-schedule',
    toleranceBand: 0.02,
    runnersUp: [{ schedule: { 'rows:Y_max,Y_sum,Y': { kind: 'rows', threadsPerRow: 32, workgroupSize: 256, subgroups: false, splitSteps: 1, stageSteps: 0, rowsPerLane: 1, unrollSteps: 0 } }, medianMs: 0.51 }],
    ...over,
  };
}

/** An entry as the database file stores it (recorded, no runners-up, fields in the file's order), of a softmax at N = 1024. */
export function storedEntry(over: Partial<TuningEntry> = {}): TuningEntry {
  return {
    fingerprint: '1111111111111111',
    deviceSummary: 'Test GPU (webgpu, test)',
    program: 'softmax',
    sizes: { N: 1024 },
    programHash: 'aaaabbbbccccdddd',
    dtype: 'f32',
    shape: { '%s0': 1024 },
    tilecraftVersion: '0.1.0',
    schedule: { 'rows:Y_max,Y_sum,Y': { kind: 'rows', threadsPerRow: 64, workgroupSize: 256 } } as unknown as TuningEntry['schedule'],
    medianMs: 0.5,
    spread: 0.02,
    candidates: 12,
    strategy: 'exhaustive',
    tieBreak: 'smallest-canonical-schedule',
    toleranceBand: 0.03,
    recordedAt: '2026-11-20T10:00:00.000Z',
    runnersUp: [],
    ...over,
  };
}
