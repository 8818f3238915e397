/**
 * tilecraft for Node: everything in the main entry, plus what needs the file system or native
 * code — the tuning database, the CUDA device, and a `compile` that uses tuned schedules.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { TuningDatabase, defaultDatabasePath } from './autotune/db.js';
import { deviceCostModel } from './autotune/device-model.js';
import { modelScheduleSource } from './autotune/model-search.js';
import { type MemoryDatabaseOptions, type MemoryTuningDatabase, ShippedDatabaseError, tuningSourceFromJson } from './autotune/entries.js';
import { type Sizes } from './ir/bind.js';
import { type Program } from './ir/tensor.js';
import type { Device } from './runtime/device.js';
import { type CompileOptions, Executable } from './runtime/executable.js';

export * from './index.js';
export { TuningDatabase, defaultDatabasePath, CorruptDatabaseError, NewerDatabaseVersionError } from './autotune/db.js';
export { tuningKeyFor, scheduleSource, type TuningSource } from './autotune/lookup.js';
export { deviceCostModel, recordSamples, recordedSamples, costSamplesPath, recordedCeilings, recordCeilings, ceilingsPath } from './autotune/device-model.js';
export type { Ceilings } from './autotune/ceilings.js';
export { createCudaDevice, cudaStatus, CudaDevice } from './runtime/cuda.js';
export { parseProgramFile } from './dsl/text/parse-file.js';
export { writeExport, EXPORT_FILES, type CudaExport } from './export/write.js';
export { cudaExport } from './export/cuda.js';

/** The tuning database `autotune tune` writes by default: $TILECRAFT_TUNING_DB, else the user cache. */
export function openDefaultTuningDatabase(): Promise<TuningDatabase> {
  return TuningDatabase.open(defaultDatabasePath(process.env, homedir(), process.platform));
}

/**
 * Reads a tuning database shipped with a package (a file `autotune db export` or `autotune tune`
 * wrote), read-only: nothing is ever written to it. A file that cannot be read or is not a
 * database throws `ShippedDatabaseError` naming it; malformed entries are skipped and reported.
 * Give it after your own database: `compile(device, p, sizes, { tuning: [await
 * openDefaultTuningDatabase(), shipped] })`.
 */
export async function readTuningSourceFile(path: string | URL, options: MemoryDatabaseOptions & { readonly name?: string } = {}): Promise<MemoryTuningDatabase> {
  const name = options.name ?? (path instanceof URL ? path.href : path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ShippedDatabaseError(name, `cannot be read: ${(e as Error).message}`, { cause: e });
  }
  return tuningSourceFromJson(text, { ...options, name });
}

/**
 * Compiles a program for a device using its tuned schedule when `autotune tune` recorded one for
 * this device, program and sizes (or sizes in the same bucket), else the schedule the device's
 * cost model predicts fastest (`deviceCostModel`: its ceilings and the kernels tuned on it,
 * beside the default database), else the default schedule. `tuning: false` skips the lookup;
 * `tuning: [own, shipped]` asks several sources in order (see `tunedScheduleOf`), the default
 * database only when named. `model: false` takes the fixed default where nothing is tuned.
 */
export async function compile(
  device: Device,
  program: Program,
  sizes: Sizes,
  options: CompileOptions & { readonly tuning?: CompileOptions['tuning'] | false; readonly model?: boolean } = {},
): Promise<Executable> {
  const { tuning, model, ...rest } = options;
  const given = tuning === false ? [] : [tuning ?? (await openDefaultTuningDatabase())].flat();
  const sources = model === false || rest.schedule ? given : [...given, modelScheduleSource(deviceCostModel(device.info))];
  return Executable.create(device, program, sizes, sources.length ? { ...rest, tuning: sources } : rest);
}
