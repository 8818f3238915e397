/**
 * What lowering needs to know about the device it lowers for. A device's come from its limits and
 * features (`limitsFor` in runtime/target.ts); `WEBGPU_BASELINE_LIMITS` stands for any device.
 */
export interface TargetLimits {
  /** Largest grid dimension. */
  readonly maxWorkgroupsPerDimension: number;
  /** Most invocations in one workgroup. */
  readonly maxWorkgroupInvocations: number;
  /** Bytes of workgroup memory one workgroup may use. */
  readonly maxWorkgroupStorageBytes: number;
  /** The target multiplies matrix tiles in hardware (CUDA tensor cores). */
  readonly tensorCores: boolean;
  /** 32-bit registers an invocation may use, where the target says (CUDA). */
  readonly maxRegistersPerThread?: number | undefined;
  /** Lanes per subgroup, where the target has subgroup shuffles and all its subgroups have this one size. */
  readonly subgroupSize?: number | undefined;
}

/**
 * The limits every WebGPU device meets (the WebGPU spec's defaults, which the software GPU,
 * lavapipe, reports as they are): 65535 workgroups per grid dimension, 256 invocations and
 * 16 KiB of workgroup memory per workgroup; no tensor cores, no register budget, no fixed
 * subgroup size. `lower` uses them when not given a device's.
 */
export const WEBGPU_BASELINE_LIMITS: TargetLimits = {
  maxWorkgroupsPerDimension: 65535,
  maxWorkgroupInvocations: 256,
  maxWorkgroupStorageBytes: 16384,
  tensorCores: false,
};
