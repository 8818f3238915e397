import { DeviceError } from '../ir/errors.js';
import { type Kernel, kernelParams, launchGrid } from '../ir/kernel.js';

/** Limits a kernel must respect on a device; the search prunes configurations against these. */
export interface DeviceLimits {
  readonly maxWorkgroupInvocations: number;
  readonly maxWorkgroupSize: readonly [number, number, number];
  readonly maxWorkgroupsPerDimension: number;
  readonly maxWorkgroupStorageBytes: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  readonly maxBuffersPerKernel: number;
  /** 32-bit registers per invocation, where the backend can say (CUDA). */
  readonly maxRegistersPerThread?: number;
}

export interface DeviceInfo {
  readonly backend: 'webgpu' | 'cuda';
  /** Human-readable adapter or GPU name. */
  readonly name: string;
  readonly vendor: string;
  readonly architecture: string;
  readonly description: string;
  /** Optional capabilities: `shader-f16`, `subgroups`, `timestamp-query` (WebGPU); `f16`, `bf16`, `tensor-cores` (CUDA). */
  readonly features: readonly string[];
  readonly limits: DeviceLimits;
  /** Anything else worth recording in a device fingerprint (driver version, compute capability). */
  readonly extra: Readonly<Record<string, string | number>>;
}

export interface DeviceBuffer {
  readonly bytes: number;
  readonly label: string;
}

/** A kernel ready to launch: the backend's own legalized kernel and its source. */
export interface CompiledKernel {
  readonly kernel: Kernel;
  readonly source: string;
  /** Backend notes on the compile (ptxas registers and spills, f16 emulation). */
  readonly notes: readonly string[];
}

export interface Launch {
  readonly kernel: CompiledKernel;
  /** One buffer per global buffer of the kernel, in binding order. */
  readonly buffers: readonly DeviceBuffer[];
  /**
   * The run-time values of the dynamic sizes the kernel reads, one per entry of its
   * `Kernel.params`, in that order (integers from 1 to each size's bound). Absent: none.
   */
  readonly params?: readonly number[];
}

export interface RunResult {
  /** Device time per launch in milliseconds, when timing was asked for and the device can measure it. */
  readonly kernelMs?: readonly number[];
  /** Host wall time from submission to completion, in milliseconds. */
  readonly wallMs: number;
}

/** One interface over WebGPU and CUDA: the autotuner, tests and CLI use only this. */
export interface Device {
  readonly info: DeviceInfo;
  compile(kernel: Kernel): Promise<CompiledKernel>;
  createBuffer(bytes: number, label: string): DeviceBuffer;
  write(buffer: DeviceBuffer, data: ArrayBufferView): void;
  read(buffer: DeviceBuffer, bytes?: number): Promise<Uint8Array>;
  /** Launches in order and waits for completion. */
  run(launches: readonly Launch[], options?: { timing?: boolean }): Promise<RunResult>;
  destroyBuffer(buffer: DeviceBuffer): void;
  destroy(): void;
}

/**
 * The values a launch gives its kernel's dynamic sizes, checked: one i32 per `Kernel.params` entry,
 * each at least 1. Backends call it before they launch.
 */
export function launchParams(l: Launch): readonly number[] {
  const names = kernelParams(l.kernel.kernel);
  const values = l.params ?? [];
  if (values.length !== names.length) {
    throw new DeviceError(
      `kernel ${l.kernel.kernel.name} reads ${names.length} dynamic size${names.length === 1 ? '' : 's'} (${names.join(', ') || 'none'}), ${values.length} value${values.length === 1 ? '' : 's'} given`,
    );
  }
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) {
      throw new DeviceError(`kernel ${l.kernel.kernel.name}: dynamic size ${names[i]} must be an i32 of at least 1, got ${v}`);
    }
  });
  return values;
}

/** The workgroups a launch dispatches: its kernel's grid cut to the workgroups live at the launch's dynamic sizes. */
export function launchWorkgroups(l: Launch): [number, number, number] {
  const names = kernelParams(l.kernel.kernel);
  const values = launchParams(l);
  return launchGrid(l.kernel.kernel, Object.fromEntries(names.map((n, i) => [n, values[i]!])));
}
