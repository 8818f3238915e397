import { toWgsl } from '../codegen-wgsl/index.js';
import { type Sizes } from '../ir/bind.js';
import { structuralHash } from '../ir/hash.js';
import { type Program } from '../ir/tensor.js';
import { type LowerOptions, type Plan, type TargetLimits, lower } from '../passes/pipeline.js';
import type { DeviceInfo } from './device.js';
import { checkKernelLimits } from './limits.js';

/** What lowering needs to know about a device: its limits, tensor cores, its one subgroup size. */
export function limitsFor(info: DeviceInfo): TargetLimits {
  const l = info.limits;
  return {
    maxWorkgroupsPerDimension: l.maxWorkgroupsPerDimension,
    maxWorkgroupInvocations: l.maxWorkgroupInvocations,
    maxWorkgroupStorageBytes: l.maxWorkgroupStorageBytes,
    tensorCores: info.features.includes('tensor-cores'),
    maxRegistersPerThread: l.maxRegistersPerThread,
    subgroupSize: fixedSubgroupSize(info),
  };
}

/**
 * The device's one subgroup size, where it has subgroup operations and every subgroup has that
 * size: a CUDA warp, or a WebGPU adapter whose smallest and largest subgroups agree.
 */
export function fixedSubgroupSize(info: DeviceInfo): number | undefined {
  if (info.backend === 'cuda') return 32;
  const { subgroupMinSize: lo, subgroupMaxSize: hi } = info.extra;
  return info.features.includes('subgroups') && typeof lo === 'number' && lo === hi ? lo : undefined;
}

/**
 * Lowers a program for a device (a schedule, knob defaults, grouping) and checks every kernel
 * against the device's limits — all before anything is compiled. Throws InvalidScheduleError or
 * DeviceLimitError.
 */
export function planFor(info: DeviceInfo, program: Program, sizes: Sizes, options: LowerOptions = {}): Plan {
  const plan = lower(program, sizes, options, limitsFor(info));
  for (const k of plan.kernels) checkKernelLimits(k, info.limits);
  return plan;
}

/**
 * What a device would run for a plan, without compiling it: each kernel's source (WGSL) or
 * kernel IR (CUDA, whose printer is a function of it) with its launch geometry. Two schedules
 * with the same key run the same code, so the search measures only one of them.
 */
export function planKey(info: DeviceInfo, plan: Plan): string {
  return structuralHash(
    plan.kernels.map((k) => ({
      launch: [k.grid, k.workgroup],
      code: info.backend === 'webgpu' ? toWgsl(k, { shaderF16: info.features.includes('shader-f16') }).source : { buffers: k.buffers, body: k.body },
    })),
  );
}
