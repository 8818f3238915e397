import { type Sizes } from '../ir/bind.js';
import { type Program } from '../ir/tensor.js';
import { type LowerOptions } from '../passes/pipeline.js';
import { type ResolvedSchedule, type Schedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import { fixedSubgroupSize, planFor } from '../runtime/target.js';
import { type KnobValue, type Restrictions, checkRestrictions } from './knobs.js';

export type { KnobValue, Restrictions } from './knobs.js';

/** One knob of one kernel group and the values the search may give it. */
export interface Dimension {
  readonly group: string;
  readonly knob: string;
  readonly values: readonly KnobValue[];
}

/**
 * What a search holds fixed while it moves the knobs: which rewrites run, how statements group,
 * the knob defaults it starts from. Everything `lower` takes but the schedule.
 */
export type SpaceLowering = Omit<LowerOptions, 'schedule'>;

export interface SearchSpace {
  readonly dims: readonly Dimension[];
  /** The default schedule (what a program runs with when nothing is tuned, under `lowering`). */
  readonly defaults: ResolvedSchedule;
  /**
   * The options every candidate is lowered with besides its schedule (none when left out): a space
   * read off a plan with the online-softmax rewrite off searches plans with it off.
   */
  readonly lowering?: SpaceLowering | undefined;
}

/** A point in the space: one value index per dimension. */
export type Point = readonly number[];

const pow2Range = (lo: number, hi: number) => {
  const out: number[] = [];
  for (let v = lo; v <= hi; v *= 2) out.push(v);
  return out;
};
const ceilPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

/**
 * The knobs worth searching for a program on a device, read off its default plan (lowered with
 * `lowering`, which the search then keeps for every candidate). Values beyond the device's limits
 * or the problem's extents are left out here; invalid combinations are pruned later, by lowering,
 * before anything is compiled. Throws KnobError for a restricted knob that none of the program's
 * groups has, or a value none of them can take.
 */
export function searchSpace(info: DeviceInfo, program: Program, sizes: Sizes, restrict: Restrictions = {}, lowering: SpaceLowering = {}): SearchSpace {
  const plan = planFor(info, program, sizes, lowering);
  // a restriction no group can take would otherwise be silently ignored
  checkRestrictions(restrict, plan.groups.map((g) => g.kind));
  const maxInv = info.limits.maxWorkgroupInvocations;
  const dims: Dimension[] = [];
  // A restriction replaces a knob's natural range (lowering still rejects what cannot work).
  // Otherwise the default value is always in the range, so the default schedule is a point of
  // the space (threadsPerRow 0, "chosen from the row length", for one).
  const add = (group: string, knob: string, natural: readonly KnobValue[]) => {
    const dflt = (plan.schedule[group] as unknown as Record<string, KnobValue>)[knob];
    const values = restrict[knob] ?? (dflt !== undefined && !natural.includes(dflt) ? [dflt, ...natural] : natural);
    if (values.length > 1 || restrict[knob]) dims.push({ group, knob, values });
  };
  for (const g of plan.groups) {
    const id = g.id;
    switch (g.kind) {
      case 'elementwise':
        add(id, 'workgroupSize', [64, 128, 256].filter((n) => n <= maxInv));
        add(id, 'vectorWidth', [1, 2, 4]);
        break;
      case 'serial':
        add(id, 'workgroupSize', [32, 64, 128, 256].filter((n) => n <= maxInv));
        break;
      case 'rows': {
        // many rows sharing a fold's operands (attention's queries): lanes own rows, operand
        // tiles staged (lowering refuses it where no operand is shared, so those points drop out)
        const { rows = 1, length = 1 } = g.extents;
        const staging = rows >= 64 && length >= 16;
        // small workgroups of lanes that each own several rows: on the software GPU, one subgroup
        // of 8 lanes with 8 rows each is the fastest staged attention by far (no barrier waits)
        add(id, 'workgroupSize', [...(staging ? [8, 16, 32] : []), 64, 128, 256, 512].filter((n) => n <= maxInv));
        add(id, 'threadsPerRow', pow2Range(1, Math.min(512, maxInv)));
        add(id, 'subgroups', info.features.includes('subgroups') ? [false, true] : [false]);
        // few long rows leave most of the device idle unless their steps split across workgroups
        add(id, 'splitSteps', rows < 256 && length >= 1024 ? pow2Range(1, Math.min(64, Math.floor(length / 256))) : [1]);
        add(id, 'stageSteps', staging ? [0, 8, 16, 32] : [0]);
        add(id, 'rowsPerLane', staging ? [1, 2, 4, 8] : [1]);
        // blocks of consecutive steps per lane: a packed word's weights, a group's scale read once
        add(id, 'unrollSteps', length >= 16 ? [0, 1, 4, 8, 16] : [0]);
        break;
      }
      case 'chunk': {
        // steps per chunk of a chunked scan: no longer than the sequence (a longer one is cut to it)
        const { length = 1 } = g.extents;
        add(id, 'chunk', [16, 32, 64, 128].filter((c) => c <= Math.max(16, length)));
        break;
      }
      case 'contraction': {
        const { M = 1, N = 1, K = 1 } = g.extents;
        add(id, 'blockM', pow2Range(1, Math.min(128, ceilPow2(M))));
        add(id, 'blockN', pow2Range(1, Math.min(128, ceilPow2(N))));
        add(id, 'blockK', pow2Range(4, Math.min(32, Math.max(4, ceilPow2(K)))));
        add(id, 'threadM', pow2Range(1, Math.min(16, ceilPow2(M))));
        add(id, 'threadN', pow2Range(1, Math.min(16, ceilPow2(N))));
        add(id, 'staging', ['shared', 'direct']);
        add(id, 'doubleBuffer', [false, true]);
        add(id, 'unrollK', [true, false]);
        add(id, 'splitK', pow2Range(1, Math.max(1, Math.min(8, Math.floor(K / 256)))));
        add(id, 'vectorWidth', [1, 4]);
        add(id, 'vectorK', [1, 4]);
        add(id, 'shuffleA', fixedSubgroupSize(info) !== undefined ? [false, true] : [false]);
        if (info.features.includes('tensor-cores')) add(id, 'tensorCores', [false, true]);
        break;
      }
    }
  }
  return { dims, defaults: plan.schedule, ...(Object.keys(lowering).length ? { lowering } : {}) };
}

export function scheduleAt(space: SearchSpace, point: Point): Schedule {
  const out: Record<string, Record<string, KnobValue>> = {};
  space.dims.forEach((d, i) => {
    (out[d.group] ??= {})[d.knob] = d.values[point[i]!]!;
  });
  return out as Schedule;
}

export function spaceSize(space: SearchSpace): number {
  return space.dims.reduce((a, d) => a * d.values.length, 1);
}

/** Every point, in lexicographic order (for exhaustive search of small spaces). */
export function* allPoints(space: SearchSpace): Generator<Point> {
  const n = space.dims.length;
  const p = new Array<number>(n).fill(0);
  for (;;) {
    yield [...p];
    let i = n - 1;
    while (i >= 0 && p[i] === space.dims[i]!.values.length - 1) p[i--] = 0;
    if (i < 0) return;
    p[i]!++;
  }
}

/**
 * The point closest to a schedule: each knob's value where the dimension has it, the default's
 * elsewhere (a schedule tuned for other sizes may use values this space does not offer).
 */
export function pointOf(space: SearchSpace, schedule: Schedule): Point {
  const dflt = defaultPoint(space);
  return space.dims.map((d, i) => {
    const v = (schedule[d.group] as Record<string, KnobValue> | undefined)?.[d.knob];
    const j = v === undefined ? -1 : d.values.findIndex((x) => x === v);
    return j < 0 ? dflt[i]! : j;
  });
}

/** The point of the default schedule (values not in a dimension map to its first value). */
export function defaultPoint(space: SearchSpace): Point {
  return space.dims.map((d) => {
    const v = (space.defaults[d.group] as unknown as Record<string, KnobValue>)[d.knob];
    const i = d.values.findIndex((x) => x === v);
    return i < 0 ? 0 : i;
  });
}
