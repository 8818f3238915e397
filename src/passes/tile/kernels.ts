import { numel, shapeOf } from '../../ir/bind.js';
import { type Kernel } from '../../ir/kernel.js';
import type { NameAllocator } from '../../ir/names.js';
import { type TileKernel } from '../../ir/tile.js';
import { type Stmt, foldExprs, loadedTensors } from '../../ir/tensor.js';
import { type EmitScope } from '../emit.js';
import { type ContractionKnobs, DEFAULT_KNOBS, type ElementwiseKnobs, InvalidScheduleError, type RowsKnobs, type SerialKnobs, requirePow2 } from '../schedule.js';
import { type DType } from '../../ir/dtype.js';
import { splitSteps } from './split-steps.js';
import { type ContractionGroup, validateContraction } from './contraction-knobs.js';
import { type TargetLimits } from '../limits.js';
import { contractionTile } from './contraction.js';
import { foldOf, sizeOf, elementwiseTile, rowsTile } from './from-group.js';
import { fuseLoops } from './fuse-loops.js';
import { lowerTile } from './lower.js';
import { shareLanes } from './share-lanes.js';
import { splitBind } from './split-bind.js';
import { bindRows, stageOperands, tileRows } from './stage-operands.js';
import { unrollSteps } from './unroll-steps.js';
import { vectorize } from './vectorize.js';
import { type StepStore } from '../group.js';

/**
 * Each kernel group's schedule as the list of tile transforms it applies, then the one generic
 * lowering. A knob is the parameter of one transform.
 */
export interface Scheduled {
  readonly tiles: readonly TileKernel[];
  readonly kernels: readonly Kernel[];
  /** Global scratch tensors the kernels exchange (partial states of split folds). */
  readonly temps: readonly { readonly name: string; readonly dtype: DType; readonly shape: number[] }[];
}

export interface TileTarget {
  readonly scope: EmitScope;
  readonly maxWorkgroupsPerDimension: number;
  readonly maxWorkgroupStorageBytes: number;
  /** Where the scratch tensors' names come from (the plan's one allocator). */
  readonly names: NameAllocator;
}

/** Elementwise: vectorize the innermost axis → fuse the nest → split across workgroups. */
export function elementwiseKernel(name: string, s: Stmt, knobs: ElementwiseKnobs, target: TileTarget): Scheduled {
  requireCount(name, 'workgroupSize', knobs.workgroupSize);
  if (![1, 2, 4].includes(knobs.vectorWidth)) {
    throw new InvalidScheduleError(`${name}: vectorWidth must be 1, 2 or 4, got ${knobs.vectorWidth}`, name, 'vectorWidth');
  }
  let t = elementwiseTile(name, s, target.scope.dynamic);
  // a vector store past a dynamic extent would write the padding a run leaves as it was
  const innerDynamic = target.scope.dynamic?.axes[s.target.name]?.at(-1) !== undefined;
  t = vectorize(t, innerDynamic ? 1 : knobs.vectorWidth, s.target);
  t = fuseLoops(t, 'f');
  t = splitBind(t, knobs.workgroupSize);
  return { tiles: [t], kernels: [lowerTile(t, target.scope, target.maxWorkgroupsPerDimension)], temps: [] };
}

/** One invocation per output element: a row group whose rows are single outputs, one lane each. */
export function serialKernel(name: string, s: Stmt, knobs: SerialKnobs, target: TileTarget): Scheduled {
  requireCount(name, 'workgroupSize', knobs.workgroupSize);
  return rowsKernel(name, shapeOf(s.target), [s], { ...DEFAULT_KNOBS.rows, threadsPerRow: 1, workgroupSize: knobs.workgroupSize }, target);
}

/**
 * Rows: split the rows across workgroups (`workgroupSize / threadsPerRow` rows each) → share each
 * row's loops among `threadsPerRow` lanes, merging fold states across them.
 */
export function rowsKernel(name: string, rowShape: readonly number[], stmts: readonly Stmt[], knobs: RowsKnobs, target: TileTarget, steps: readonly StepStore[] = []): Scheduled {
  requireCount(name, 'workgroupSize', knobs.workgroupSize);
  requireCount(name, 'splitSteps', knobs.splitSteps);
  if (!Number.isSafeInteger(knobs.threadsPerRow) || knobs.threadsPerRow < 0) {
    throw new InvalidScheduleError(`${name}: threadsPerRow must be 0 (automatic) or a power of two, got ${knobs.threadsPerRow}`, name, 'threadsPerRow');
  }
  if (!Number.isSafeInteger(knobs.stageSteps) || knobs.stageSteps < 0) {
    throw new InvalidScheduleError(`${name}: stageSteps must be 0 (off) or a positive integer, got ${knobs.stageSteps}`, name, 'stageSteps');
  }
  requireCount(name, 'rowsPerLane', knobs.rowsPerLane);
  if (!Number.isSafeInteger(knobs.unrollSteps) || knobs.unrollSteps < 0 || knobs.unrollSteps > 64) {
    throw new InvalidScheduleError(`${name}: unrollSteps must be 0 (automatic) or 1 to 64, got ${knobs.unrollSteps}`, name, 'unrollSteps');
  }
  if (steps.length && (knobs.stageSteps > 0 || knobs.rowsPerLane > 1)) {
    const knob = knobs.stageSteps > 0 ? 'stageSteps' : 'rowsPerLane';
    throw new InvalidScheduleError(`${name}: ${knob} does not combine with storing ${steps.map((x) => x.stmt.target.name).join(', ')} at the reduction's steps`, name, knob);
  }
  if (knobs.stageSteps > 0) {
    if (knobs.unrollSteps > 1) throw new InvalidScheduleError(`${name}: unrollSteps ${knobs.unrollSteps} does not combine with stageSteps (a staged tile's steps are its own loop)`, name, 'unrollSteps');
    return stagedRowsKernel(name, rowShape, stmts, knobs, target);
  }
  const block = knobs.unrollSteps || packingOf(stmts, target.scope.tensors);
  if (knobs.rowsPerLane > 1) return tiledRowsKernel(name, rowShape, stmts, knobs, block, target);
  const hasScan = stmts.some((s) => foldOf(s)?.def.kind === 'scan');
  let T = knobs.threadsPerRow > 0 ? knobs.threadsPerRow : hasScan ? 1 : defaultThreadsPerRow(longestRow(rowShape, stmts), knobs.workgroupSize);
  requirePow2(name, 'threadsPerRow', T);
  if (T > knobs.workgroupSize) {
    throw new InvalidScheduleError(`${name}: threadsPerRow ${T} exceeds workgroupSize ${knobs.workgroupSize}`, name, 'threadsPerRow');
  }
  // Subgroups need not follow local indices, so one may straddle two row teams: a team that
  // merges with subgroup operations is a whole workgroup (one row per workgroup).
  const useSubgroups = knobs.subgroups && T > 1;
  let R = useSubgroups ? 1 : Math.max(1, Math.floor(knobs.workgroupSize / T));
  const rows = unrollSteps(rowsTile(name, rowShape, stmts, target.scope.stored, target.scope.dynamic, 1, steps), block);
  const pieces = splitSteps(rows, knobs.splitSteps, (f) => target.names.fresh(`${name}_${f.name}_parts`));
  // the kernel whose lanes run the steps: the row kernel, or the one computing the parts
  let t = pieces.length === 1 ? rows : fuseLoops(pieces[0]!, 'rp');
  // a team merges its states through workgroup memory: every lane publishes its whole state
  const perLane = mergeBytesPerLane(t);
  if (T > 1 && perLane * T * R > target.maxWorkgroupStorageBytes) {
    if (knobs.threadsPerRow > 0) {
      throw new InvalidScheduleError(
        `${name}: merging ${perLane} bytes of fold state per lane across ${T * R} lanes needs ${perLane * T * R} bytes of workgroup memory; the device has ${target.maxWorkgroupStorageBytes} (fewer threadsPerRow or a smaller workgroupSize fit)`,
        name,
        'threadsPerRow',
      );
    }
    // the automatic team keeps its lanes and takes fewer rows per workgroup; where not even one
    // row's merge fits (attention's wide accumulator row), fewer lanes and one row
    const fit = Math.floor(target.maxWorkgroupStorageBytes / (perLane * T));
    if (fit >= 1) R = fit;
    else {
      while (T > 1 && perLane * T > target.maxWorkgroupStorageBytes) T /= 2;
      R = 1;
    }
  }
  t = shareLanes(splitBind(t, R), T, 'lane', useSubgroups ? 'subgroup' : 'workgroup');
  const tiles = [t];
  // the parts are merged by one invocation per row, a workgroup of rows at a time
  if (pieces.length > 1) tiles.push(splitBind(pieces[1]!, knobs.workgroupSize));
  return {
    tiles,
    kernels: tiles.map((x) => lowerTile(x, target.scope, target.maxWorkgroupsPerDimension)),
    temps: (pieces[0]!.scratch ?? []).map((s) => ({ name: s.name, dtype: s.dtype as DType, shape: [s.slots, s.size] })),
  };
}

/**
 * Rows with staged operands: `rowsPerLane` rows per lane, `workgroupSize` lanes per workgroup,
 * the workgroup's rows sharing all but their last coordinate (padded to a multiple) → bind the
 * rows to workgroups and lanes → stage the operands the rows share a tile of steps at a time
 * (see stage-operands.ts).
 */
function stagedRowsKernel(name: string, rowShape: readonly number[], stmts: readonly Stmt[], knobs: RowsKnobs, target: TileTarget): Scheduled {
  if (knobs.threadsPerRow > 1) {
    throw new InvalidScheduleError(`${name}: stageSteps needs one lane per row (threadsPerRow 1 or 0), got ${knobs.threadsPerRow}`, name, 'threadsPerRow');
  }
  if (knobs.splitSteps > 1) throw new InvalidScheduleError(`${name}: stageSteps does not combine with splitSteps ${knobs.splitSteps}`, name, 'splitSteps');
  const R = knobs.workgroupSize;
  const Rl = knobs.rowsPerLane;
  const rows = rowsTile(name, rowShape, stmts, target.scope.stored, target.scope.dynamic, R * Rl);
  const t = stageOperands(bindRows(rows, R, Rl), {
    steps: knobs.stageSteps,
    lane: 'row_l',
    lanes: R,
    rowsPerGroup: R * Rl,
    tensors: target.scope.tensors,
    maxWorkgroupStorageBytes: target.maxWorkgroupStorageBytes,
  });
  return { tiles: [t], kernels: [lowerTile(t, target.scope, target.maxWorkgroupsPerDimension)], temps: [] };
}

/**
 * Rows whose lanes each own `rowsPerLane` rows without staging: a register tile of rows (see
 * bindRows, tileRows) whose steps run side by side, sharing what they read that the rows share (a
 * GEMV's activation: one load for several weight rows). One lane per row; not split.
 */
function tiledRowsKernel(name: string, rowShape: readonly number[], stmts: readonly Stmt[], knobs: RowsKnobs, block: number, target: TileTarget): Scheduled {
  if (knobs.threadsPerRow > 1) {
    throw new InvalidScheduleError(`${name}: rowsPerLane ${knobs.rowsPerLane} needs one lane per row (threadsPerRow 1 or 0), got ${knobs.threadsPerRow}`, name, 'rowsPerLane');
  }
  if (knobs.splitSteps > 1) throw new InvalidScheduleError(`${name}: rowsPerLane ${knobs.rowsPerLane} does not combine with splitSteps ${knobs.splitSteps}`, name, 'splitSteps');
  if (stmts.some((s) => foldOf(s)?.def.kind === 'scan')) throw new InvalidScheduleError(`${name}: rowsPerLane needs folds, not scans`, name, 'rowsPerLane');
  const R = knobs.workgroupSize;
  const rows = unrollSteps(rowsTile(name, rowShape, stmts, target.scope.stored, target.scope.dynamic, R * knobs.rowsPerLane), block);
  const t = tileRows(bindRows(rows, R, knobs.rowsPerLane));
  return { tiles: [t], kernels: [lowerTile(t, target.scope, target.maxWorkgroupsPerDimension)], temps: [] };
}

/**
 * A tiled contraction (see contraction.ts); with split-K, the parts are merged by a combine kernel
 * built from the row form of the same statements, which also applies the epilogue.
 */
export function contractionKernel(name: string, id: string, g: ContractionGroup, knobs: ContractionKnobs, target: TileTarget, limits: TargetLimits): Scheduled {
  validateContraction(id, knobs, limits, g);
  const scratch = target.names.fresh(`${g.stmt.target.name}_splitk`);
  const { tile, parts, stores } = contractionTile(name, g, knobs, { ...target.scope, subgroupSize: limits.subgroupSize }, scratch);
  const tiles = [tile];
  if (parts > 1) {
    const epilogue = stores.filter((s) => s.target.name !== g.stmt.target.name);
    const rows = rowsTile(name, shapeOf(g.stmt.target), [g.stmt, ...epilogue], target.scope.stored, target.scope.dynamic);
    tiles.push(splitBind(splitSteps(rows, parts, () => scratch)[1]!, 256));
  }
  return {
    tiles,
    kernels: tiles.map((x) => lowerTile(x, target.scope, target.maxWorkgroupsPerDimension)),
    temps: (tile.scratch ?? []).map((s) => ({ name: s.name, dtype: s.dtype as DType, shape: [s.slots, s.size] })),
  };
}

/**
 * Elements per 32-bit word of the narrowest tensor the group's folds read: 8 for 4-bit, 4 for
 * 8-bit, else 1 (the steps a lane runs side by side by default).
 */
function packingOf(stmts: readonly Stmt[], tensors: ReadonlyMap<string, { readonly dtype: string }>): number {
  let per = 1;
  for (const s of stmts) {
    const f = foldOf(s);
    if (!f) continue;
    for (const e of foldExprs(f.def)) {
      for (const t of loadedTensors(e)) {
        const dtype = tensors.get(t)?.dtype;
        per = Math.max(per, dtype === 'u4' || dtype === 'i4' ? 8 : dtype === 'i8' ? 4 : 1);
      }
    }
  }
  return per;
}

/** A knob that counts something: a positive integer, or the schedule is invalid. */
function requireCount(name: string, knob: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidScheduleError(`${name}: ${knob} must be a positive integer, got ${n}`, name, knob);
}

/** Workgroup memory one lane needs to publish the states of the folds a team merges (4-byte elements). */
function mergeBytesPerLane(t: TileKernel): number {
  return t.folds.filter((f) => f.def.kind === 'fold').reduce((a, f) => a + 4 * f.def.state.reduce((n, s) => n + numel(s.axes.map(sizeOf)), 0), 0);
}

/** The longest loop of a row: a reduction's or fold's steps, or an elementwise statement's columns. */
export function longestRow(rowShape: readonly number[], stmts: readonly Stmt[]): number {
  return Math.max(
    ...stmts.map((s) => {
      const f = foldOf(s);
      return f ? numel(f.def.over.map(sizeOf)) : numel(shapeOf(s.target).slice(rowShape.length));
    }),
  );
}

/** Threads per row for a row group whose longest row has `length` elements. */
export function defaultThreadsPerRow(length: number, workgroup: number): number {
  // about 16 elements per invocation, at most 64 invocations per row: long enough loops to hide
  // the cost of the merge's barriers, short enough teams to fill the machine with rows
  let t = 1;
  while (t < Math.min(64, workgroup) && t * 16 < length) t *= 2;
  return t;
}
