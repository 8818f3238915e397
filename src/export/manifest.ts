import { toWgsl } from '../codegen-wgsl/index.js';
import { type DType, storageBytes } from '../ir/dtype.js';
import { printInt } from '../ir/intexpr.js';
import { globals, kernelFeatures, kernelParams } from '../ir/kernel.js';
import { type Plan } from '../passes/pipeline.js';
import { type ResolvedSchedule } from '../passes/schedule.js';
import { VERSION } from '../version.js';

/** The version of the manifest's layout; a loader refuses another. */
export const MANIFEST_FORMAT = 1;

/**
 * A compiled program as another runtime needs it, with no tilecraft at run time: every kernel's
 * WGSL, how to bind and launch it, the tensors it exchanges (temporaries included) and the
 * schedule with where it came from.
 */
export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly tilecraft: string;
  readonly program: string;
  /** The sizes compiled for; a dynamic size at its bound. */
  readonly sizes: Readonly<Record<string, number>>;
  /** Dynamic sizes and their bounds: each encode gives a value from 1 to the bound. */
  readonly dynamic: Readonly<Record<string, number>>;
  /** WebGPU features the device must have. */
  readonly requiredFeatures: readonly string[];
  readonly tensors: readonly ManifestTensor[];
  /** In launch order. */
  readonly kernels: readonly ManifestKernel[];
  readonly schedule: ResolvedSchedule;
  readonly provenance: { readonly origin: string; readonly device?: string; readonly medianMs?: number };
}

export interface ManifestTensor {
  readonly name: string;
  readonly dtype: DType;
  /** The layout shape: a dynamic axis at its bound (strides follow from it). */
  readonly shape: readonly number[];
  /** Per axis, its extent as an expression of the dynamic sizes (`M`), or null when static. */
  readonly extents: readonly (string | null)[];
  readonly role: 'input' | 'output' | 'temp';
  /** Bytes to allocate (a multiple of 4): packed 4-bit and 16-bit tensors are u32 words. */
  readonly bytes: number;
}

export interface ManifestKernel {
  readonly name: string;
  readonly wgsl: string;
  readonly entryPoint: 'main';
  readonly workgroupSize: readonly [number, number, number];
  /** Workgroups to dispatch (fixed: kernels guard what lies past a dynamic size's value). */
  readonly grid: readonly [number, number, number];
  /** Storage bindings 0.. in order; `read` ones may be bound read-only. */
  readonly bindings: readonly { readonly binding: number; readonly tensor: string; readonly access: 'read' | 'read_write' }[];
  /** Dynamic sizes the kernel reads, as i32 fields of one uniform struct at binding `bindings.length`. */
  readonly params: readonly string[];
}

export interface ManifestOptions {
  /** Emit f16 as WGSL's f16 (the device needs `shader-f16`); otherwise as packed halves in u32 words. */
  readonly shaderF16?: boolean;
  readonly provenance?: Manifest['provenance'];
}

/** The manifest of a lowered plan, its kernels printed as WGSL. */
export function manifestOf(plan: Plan, options: ManifestOptions = {}): Manifest {
  const shaderF16 = options.shaderF16 === true;
  const features = new Set<string>();
  const kernels = plan.kernels.map((k): ManifestKernel => {
    const needs = kernelFeatures(k);
    if (needs.subgroups) features.add('subgroups');
    if (needs.f16 && shaderF16) features.add('shader-f16');
    const { source, kernel } = toWgsl(k, { shaderF16 });
    return {
      name: k.name,
      wgsl: source,
      entryPoint: 'main',
      workgroupSize: [...k.workgroup] as [number, number, number],
      grid: [...k.grid] as [number, number, number],
      bindings: globals(kernel).map((b, i) => ({ binding: i, tensor: b.name, access: b.access === 'read' ? 'read' : 'read_write' })),
      params: kernelParams(kernel),
    };
  });
  const p = plan.program;
  const tensors = plan.tensors.map(
    (t): ManifestTensor => ({
      name: t.name,
      dtype: t.dtype,
      shape: [...t.shape],
      extents: t.shape.map((_, k) => {
        const e = p.dynamicAxes[t.name]?.[k];
        return e ? printInt(e) : null;
      }),
      role: t.role,
      bytes: Math.max(4, Math.ceil(storageBytes(t.dtype, t.shape) / 4) * 4),
    }),
  );
  return {
    format: MANIFEST_FORMAT,
    tilecraft: VERSION,
    program: p.name,
    sizes: { ...p.bound },
    dynamic: { ...p.dynamic },
    requiredFeatures: [...features].sort(),
    tensors,
    kernels,
    schedule: plan.schedule,
    provenance: options.provenance ?? { origin: 'default' },
  };
}
