import { type Sizes } from '../ir/bind.js';
import { type DType } from '../ir/dtype.js';
import { structuralHash } from '../ir/hash.js';
import { canonicalProgram, canonicalSizes } from './canonical.js';
import { type Program } from '../ir/tensor.js';
import { type ResolvedSchedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import type { ScheduleSource, TunedSchedule } from '../runtime/executable.js';
import { VERSION } from '../version.js';
import { deviceFingerprint } from './fingerprint.js';

/** The key a tuning result is stored under, minus nothing: what `autotune tune` records. */
export interface TuningKeyFields {
  readonly fingerprint: string;
  readonly programHash: string;
  readonly dtype: DType;
  readonly shape: Sizes;
  readonly tilecraftVersion: string;
}

/**
 * Where tuned schedules come from: the tuning database (`TuningDatabase`) or anything with the
 * same lookup, such as a JSON file shipped inside an npm package.
 */
export interface TuningSource {
  lookup(
    key: TuningKeyFields,
    options?: { readonly allowBucket?: boolean | undefined },
  ): Promise<{ readonly entry: { readonly schedule: ResolvedSchedule }; readonly match: 'exact' | 'bucket' } | undefined>;
}

/** The dtype a program is tuned under: its first input's (the CLI's --dtype). */
export const programDtype = (p: Program): DType => p.inputs[0]?.dtype ?? 'f32';

/**
 * A program's tuning key on a device: the hash of its canonical form and its sizes under their
 * canonical names, so renaming axes or sizes keeps finding the same entries.
 */
export function tuningKeyFor(info: DeviceInfo, program: Program, sizes: Sizes): TuningKeyFields {
  const canonical = canonicalProgram(program);
  return {
    fingerprint: deviceFingerprint(info),
    programHash: structuralHash(canonical.program),
    dtype: programDtype(program),
    shape: canonicalSizes(canonical, sizes),
    tilecraftVersion: VERSION,
  };
}

/** Asks a tuning source for a program's schedule on a device: an exact entry, else one in the same bucket. */
export async function tunedScheduleFrom(source: TuningSource, info: DeviceInfo, program: Program, sizes: Sizes): Promise<TunedSchedule | undefined> {
  const hit = await source.lookup(tuningKeyFor(info, program, sizes), { allowBucket: true });
  return hit && { schedule: hit.entry.schedule, match: hit.match };
}

/** A tuning source as the runtime asks for tuned schedules (`Executable.create(..., { tuning })`). */
export function scheduleSource(source: TuningSource): ScheduleSource {
  return { tunedSchedule: (info, program, sizes) => tunedScheduleFrom(source, info, program, sizes) };
}
