import { resolve } from 'node:path';
import { deviceSummary } from '../autotune/fingerprint.js';
import { cudaExport } from '../export/cuda.js';
import { manifestOf } from '../export/manifest.js';
import { EXPORT_FILES, writeExport } from '../export/write.js';
import { InvalidScheduleError } from '../passes/schedule.js';
import { DeviceLimitError, ShapeError } from '../ir/errors.js';
import { atBounds, tunedScheduleOf } from '../runtime/executable.js';
import { deviceCostModel } from '../autotune/device-model.js';
import { modelScheduleSource } from '../autotune/model-search.js';
import { planFor } from '../runtime/target.js';
import { openDatabase } from './database.js';
import { EXIT } from './exit-codes.js';
import { openDevice } from './open-device.js';
import { resolveProgram } from './program-source.js';
import { checkFitsDevice, programTensors } from './run.js';
import { UsageError, parseDynamicBounds } from './sizes.js';
import { type Program } from '../ir/tensor.js';
import { withDynamicSizes } from '../ir/bind.js';

export interface ExportOptions {
  readonly dtype?: string;
  readonly shape: readonly string[];
  /** Sizes to make dynamic, `N<=8192`: exported at the bound, run at any value up to it. */
  readonly dynamic?: readonly string[];
  readonly out: string;
  readonly db?: string;
  readonly tuned: boolean;
  /** Where nothing is tuned, the cost model's choice (`--no-model`: the fixed default schedule). */
  readonly model?: boolean;
  readonly shaderF16: boolean;
  /** Also write the C header and CUDA source, printed for this compute capability (80 = sm_80). */
  readonly cuda?: number;
  readonly json: boolean;
}

const ORIGINS = { exact: 'tuned', bucket: 'tuned for sizes in the same bucket', model: "the cost model's choice (nothing tuned)" } as const;

/**
 * Writes a program's kernels for another runtime: lowered for the default WebGPU device with the
 * schedule tuned there (for these sizes, else the same bucket) or the default one, into a folder
 * with its manifest, WGSL and a dependency-free loader (see src/export/).
 */
export async function exportCommand(name: string, o: ExportOptions): Promise<number> {
  const resolved = await resolveProgram(name, o.dtype, o.shape);
  const bounds = parseDynamicBounds(o.dynamic ?? []);
  const src = { ...resolved, program: dynamicProgram(resolved.program, bounds), sizes: { ...resolved.sizes, ...bounds } };
  const device = await openDevice('webgpu');
  try {
    const sizes = atBounds(src.program, src.sizes);
    checkFitsDevice(programTensors(src.program, sizes), device.info.limits, sizes);
    let provenance: { origin: string; device?: string } = { origin: 'default' };
    let plan = undefined;
    if (o.tuned) {
      const db = await openDatabase(o.db);
      const sources = o.model === false ? [db] : [db, modelScheduleSource(deviceCostModel(device.info, db.path))];
      const hit = await tunedScheduleOf(sources, device.info, src.program, sizes);
      if (hit) {
        try {
          plan = planFor(device.info, src.program, sizes, { schedule: hit.schedule });
          provenance = { origin: ORIGINS[hit.match], device: deviceSummary(device.info) };
        } catch (e) {
          if (!(e instanceof InvalidScheduleError || e instanceof DeviceLimitError)) throw e;
        }
      }
    }
    plan ??= planFor(device.info, src.program, sizes);
    const manifest = manifestOf(plan, { shaderF16: o.shaderF16, provenance });
    const dir = resolve(o.out);
    const files = await writeExport(dir, manifest, o.cuda !== undefined ? cudaExport(plan, o.cuda) : undefined);
    if (o.json) console.log(JSON.stringify({ program: src.name, device: deviceSummary(device.info), out: dir, files, kernels: manifest.kernels.map((k) => k.name), provenance }, null, 2));
    else {
      console.log(`exported ${src.name} (${src.dtype}) ${Object.entries(sizes).map(([k, v]) => `${k}=${v}`).join(' ')} to ${dir}`);
      console.log(`kernels   ${manifest.kernels.map((k) => k.name).join(', ')}`);
      console.log(`schedule  ${provenance.origin}${provenance.device ? ` on ${provenance.device}` : ''}`);
      if (Object.keys(manifest.dynamic).length) console.log(`dynamic   ${Object.entries(manifest.dynamic).map(([k, v]) => `${k} <= ${v}`).join(', ')}`);
      console.log(`files     ${files.filter((f) => !f.startsWith(EXPORT_FILES.kernels)).join(', ')}, ${EXPORT_FILES.kernels}/*.wgsl`);
    }
    return EXIT.ok;
  } finally {
    device.destroy();
  }
}

/** The program with the sizes `--dynamic` names made dynamic: one it lacks is the user's mistake. */
function dynamicProgram(program: Program, bounds: Readonly<Record<string, number>>): Program {
  try {
    return withDynamicSizes(program, bounds);
  } catch (e) {
    throw e instanceof ShapeError ? new UsageError(e.message) : e;
  }
}
