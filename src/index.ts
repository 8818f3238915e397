/**
 * tilecraft: write a kernel once as index notation, compile it to WGSL (and CUDA), run and tune it
 * on your own device.
 */
export { program, ProgramBuilder } from './dsl/program.js';
export { Tensor } from './dsl/tensor.js';
export * as ops from './dsl/ops.js';
export { parseFile, parseProgram, type ParseOptions } from './dsl/text/parse.js';
export { TextDslError } from './dsl/text/errors.js';
export { serializeProgram, deserializeProgram } from './ir/serialize.js';
export { dot, gelu, geluTanh, layernorm, logSoftmax, rmsnorm, silu, softmax } from './dsl/ops.js';

export type { DType, ValueType } from './ir/dtype.js';
export { DTYPES, storageBytes } from './ir/dtype.js';
export * from './ir/errors.js';
export type { IntExpr, IntLike } from './ir/intexpr.js';
export { iadd, idiv, imod, imul, int, isub, sym } from './ir/intexpr.js';
export type { Program, Stmt, TensorDecl, Expr, Axis } from './ir/tensor.js';
export { printProgram, printExpr } from './ir/print.js';
export { printKernel } from './ir/print-kernel.js';
export type { Kernel } from './ir/kernel.js';
export { structuralHash } from './ir/hash.js';
export { bindProgram, dynamicExtent, dynamicLoopExtent, dynamicValues, actualShape, type BoundProgram, type BindOptions, type Sizes } from './ir/bind.js';
export { type HostTensor, allocHost, fromValues, toValues, randomHost } from './ir/host.js';

export { evaluate } from './reference/evaluate.js';
export { lower, type Plan, type LowerOptions, type TargetLimits, WEBGPU_BASELINE_LIMITS } from './passes/pipeline.js';
export { DEFAULT_KNOBS, describeSchedule, type KnobDefaults, type Schedule, type ResolvedSchedule } from './passes/schedule.js';
export { toWgsl } from './codegen-wgsl/index.js';

export type { Device, DeviceBuffer, DeviceInfo, DeviceLimits, RunResult } from './runtime/device.js';
export { WebGpuDevice, createWebGpuDevice, type WebGpuOptions } from './runtime/webgpu.js';
export { Executable, compile, tunedScheduleOf, type CompileOptions, type ScheduleSource, type TunedSchedule } from './runtime/executable.js';
export {
  tuningSourceFromJson,
  MemoryTuningDatabase,
  ShippedDatabaseError,
  InvalidStoredEntry,
  TuningDatabaseError,
  type MemoryDatabaseOptions,
  type TuningEntry,
  type TuningKey,
  type LookupResult,
  type StoredEntry,
} from './autotune/entries.js';
export { manifestOf, manifestSchema, readManifest, ManifestError, MANIFEST_FORMAT, type Manifest, type ManifestKernel, type ManifestTensor, type ManifestOptions } from './export/manifest.js';
export { loaderModule } from './export/loader.js';
export { tuneOnDevice, DeviceMeasurer, type TuneOnDeviceOptions } from './autotune/on-device.js';
export type { TuneOptions, TuneProgress, TuneResult, Candidate } from './autotune/tuner.js';
export type { Measurement } from './autotune/measure.js';
export { deviceFingerprint, deviceSummary } from './autotune/fingerprint.js';
export { type CostModel, type CostSample, priorModel, fitCostModel, predictPlan, planCounts, planSamples, describeModel } from './autotune/cost-model.js';
export { COST_FEATURES, type CostFeature, type CountOptions, type KernelCounts, countKernel } from './autotune/kernel-counts.js';
export { type ModelChoice, modelSchedule, modelScheduleSource } from './autotune/model-search.js';
