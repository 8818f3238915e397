import { z } from 'zod';
import { TilecraftError } from '../ir/errors.js';
import { toWgsl } from '../codegen-wgsl/index.js';
import { type DType, storageBytes } from '../ir/dtype.js';
import { type IntExpr, intSyms, printInt } from '../ir/intexpr.js';
import { globals, kernelFeatures, kernelParams, workgroupInvocations } from '../ir/kernel.js';
import { workgroupBytes } from '../runtime/limits.js';
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
  /**
   * WebGPU limits the kernels need above the defaults every device gives (the values to pass as
   * `requiredLimits` to `requestDevice`, where the adapter allows them); empty when the defaults do.
   */
  readonly requiredLimits: Readonly<Record<string, number>>;
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
  /** Workgroups to dispatch at the dynamic sizes' bounds (kernels guard what lies past a size's value). */
  readonly grid: readonly [number, number, number];
  /**
   * How many of those workgroups do any work at given values of the dynamic sizes, as an integer
   * expression over them (`floordiv` rounds down), or null when all do. Launch
   * `g = clamp(liveGroups, 1, grid[0] * grid[1])` workgroups: `[g, 1, 1]` where `grid[1]` is 1, else
   * `[grid[0], ceil(g / grid[0]), 1]` (the kernel computes its flat index with `grid[0]` as pitch).
   */
  readonly liveGroups: SizeExpr | null;
  /** Storage bindings 0.. in order; `read` ones may be bound read-only. */
  readonly bindings: readonly { readonly binding: number; readonly tensor: string; readonly access: 'read' | 'read_write' }[];
  /** Dynamic sizes the kernel reads, as i32 fields of one uniform struct at binding `bindings.length`. */
  readonly params: readonly string[];
}

/** An integer expression over the dynamic sizes, as JSON. */
export type SizeExpr =
  | { readonly op: 'int'; readonly value: number }
  | { readonly op: 'sym'; readonly name: string }
  | { readonly op: 'add' | 'sub' | 'mul' | 'floordiv' | 'mod' | 'min' | 'max'; readonly a: SizeExpr; readonly b: SizeExpr };

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
      liveGroups: k.liveGroups ? sizeExpr(k.liveGroups) : null,
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
    requiredLimits: requiredLimits(plan),
    tensors,
    kernels,
    schedule: plan.schedule,
    provenance: options.provenance ?? { origin: 'default' },
  };
}

/** WebGPU's default limits, what `requestDevice()` gives without `requiredLimits`. */
const DEFAULT_LIMITS = {
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256,
  maxComputeWorkgroupSizeZ: 64,
  maxComputeWorkgroupStorageSize: 16384,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupsPerDimension: 65535,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
} as const;

/** What the plan's kernels and tensors need of each limit, where that is above the default. */
function requiredLimits(plan: Plan): Record<string, number> {
  const most = (f: (k: Plan['kernels'][number]) => number) => Math.max(0, ...plan.kernels.map(f));
  const bytes = Math.max(0, ...plan.tensors.map((t) => storageBytes(t.dtype, t.shape)));
  const need: Record<keyof typeof DEFAULT_LIMITS, number> = {
    maxComputeInvocationsPerWorkgroup: most(workgroupInvocations),
    maxComputeWorkgroupSizeX: most((k) => k.workgroup[0]),
    maxComputeWorkgroupSizeY: most((k) => k.workgroup[1]),
    maxComputeWorkgroupSizeZ: most((k) => k.workgroup[2]),
    maxComputeWorkgroupStorageSize: most(workgroupBytes),
    maxStorageBuffersPerShaderStage: most((k) => globals(k).length),
    maxComputeWorkgroupsPerDimension: most((k) => Math.max(...k.grid)),
    maxStorageBufferBindingSize: bytes,
    maxBufferSize: bytes,
  };
  return Object.fromEntries(Object.entries(need).filter(([name, v]) => v > DEFAULT_LIMITS[name as keyof typeof DEFAULT_LIMITS]));
}

/** A kernel's live-group count as manifest JSON: size symbols and arithmetic only. */
function sizeExpr(e: IntExpr): SizeExpr {
  switch (e.op) {
    case 'int':
    case 'sym':
      return e;
    case 'var':
      throw new TilecraftError(`internal: a launch expression reads the index variable ${e.name}`);
    default:
      return { op: e.op, a: sizeExpr(e.a), b: sizeExpr(e.b) };
  }
}

const SIZE_EXPR: z.ZodType<SizeExpr> = z.lazy(() =>
  z.union([
    z.object({ op: z.literal('int'), value: z.number().int() }),
    z.object({ op: z.literal('sym'), name: z.string() }),
    z.object({ op: z.enum(['add', 'sub', 'mul', 'floordiv', 'mod', 'min', 'max']), a: SIZE_EXPR, b: SIZE_EXPR }),
  ]),
);

const DTYPE = z.enum(['f32', 'f16', 'bf16', 'i32', 'u32', 'i8', 'u4', 'i4']);
const TRIPLE = z.tuple([z.number().int().positive(), z.number().int().positive(), z.number().int().positive()]);

/** The manifest's schema: `manifestSchema()` is published beside every export as JSON Schema. */
const MANIFEST = z.object({
  format: z.literal(MANIFEST_FORMAT),
  tilecraft: z.string(),
  program: z.string(),
  sizes: z.record(z.string(), z.number().int().positive()),
  dynamic: z.record(z.string(), z.number().int().positive()),
  requiredFeatures: z.array(z.string()),
  requiredLimits: z.record(z.string(), z.number().int().positive()),
  tensors: z.array(
    z.object({
      name: z.string(),
      dtype: DTYPE,
      shape: z.array(z.number().int().positive()),
      extents: z.array(z.string().nullable()),
      role: z.enum(['input', 'output', 'temp']),
      bytes: z.number().int().positive(),
    }),
  ),
  kernels: z.array(
    z.object({
      name: z.string(),
      wgsl: z.string(),
      entryPoint: z.literal('main'),
      workgroupSize: TRIPLE,
      grid: TRIPLE,
      liveGroups: SIZE_EXPR.nullable(),
      bindings: z.array(z.object({ binding: z.number().int().nonnegative(), tensor: z.string(), access: z.enum(['read', 'read_write']) })),
      params: z.array(z.string()),
    }),
  ),
  schedule: z.record(z.string(), z.record(z.string(), z.unknown())),
  provenance: z.object({ origin: z.string(), device: z.string().optional(), medianMs: z.number().optional() }),
});

/** The manifest format as JSON Schema (written as `manifest.schema.json` by every export). */
export function manifestSchema(): unknown {
  return z.toJSONSchema(MANIFEST);
}

/**
 * Reads a manifest's JSON text, checked against its schema and for consistency (every binding
 * names a tensor of the manifest): a ManifestError naming the first problem and where it is.
 */
export function readManifest(text: string, source = 'manifest.json'): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ManifestError(`${source}: not JSON (${(e as Error).message})`);
  }
  const r = MANIFEST.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new ManifestError(`${source}: ${issue.path.join('.') || '(top)'}: ${issue.message}`);
  }
  const names = new Set(r.data.tensors.map((t) => t.name));
  for (const k of r.data.kernels) {
    for (const b of k.bindings) if (!names.has(b.tensor)) throw new ManifestError(`${source}: kernel ${k.name} binds ${b.tensor}, which is not a tensor of the manifest`);
    for (const p of k.params) if (!Object.hasOwn(r.data.dynamic, p)) throw new ManifestError(`${source}: kernel ${k.name} reads ${p}, which is not a dynamic size of the manifest`);
    for (const p of k.liveGroups ? intSyms(k.liveGroups as IntExpr) : []) {
      if (!k.params.includes(p)) throw new ManifestError(`${source}: kernel ${k.name}'s liveGroups reads ${p}, which is not one of its params`);
    }
  }
  return r.data as unknown as Manifest;
}

export class ManifestError extends TilecraftError {
  override name = 'ManifestError';
}
