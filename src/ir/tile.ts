import { type ValueType } from './dtype.js';
import { assertNever } from './errors.js';
import { type IntExpr, printInt, substInt } from './intexpr.js';
import { NameAllocator } from './names.js';
import { printExpr } from './print.js';
import { type Expr, type FoldDef, substIndex } from './tensor.js';

/**
 * Loop/tile IR: how one kernel group's iteration space is laid out on the device, between the
 * tensor IR (what is computed) and the kernel IR (the instructions of one kernel).
 *
 * A tile kernel is a loop nest. Its outermost loops are *bound*: `grid` dimensions are the
 * workgroups of the launch, `lanes` the invocations of one workgroup; everything in `body` runs in
 * every invocation, with the bound variables known. Values are tensor-IR expressions whose index
 * variables are loop variables, so a schedule transform is a rewrite of loops and index
 * expressions (split a loop, bind it, stride it across lanes) and the meaning of each store stays
 * readable. Reductions and scans are *fold regions*: state declared once per region (`init`),
 * advanced by `step`, combined across the lanes that shared the steps (`merge`, using the fold's
 * own merge function), and read by stores through the tensors the fold computes.
 *
 * One generic lowering (passes/tile/lower.ts) turns any tile kernel into a kernel-IR kernel.
 */

/** A bound: a constant, or an expression of dynamic sizes (known when the kernel runs). */
export type Limit = number | IntExpr;

export const printLimit = (l: Limit): string => (typeof l === 'number' ? String(l) : printInt(l));

/** A dimension of the launch (a grid axis) or of the workgroup (a lane axis). */
export interface TDim {
  readonly var: string;
  readonly extent: number;
}

/** `serial`: a loop in the invocation; `unroll`: copied out at compile time (constant bounds). */
export type LoopKind = 'serial' | 'unroll';

export type TNode =
  /** `var` runs from `from` while below `to`, in steps of `step` (one invocation runs every step). */
  | {
      readonly op: 'loop';
      readonly var: string;
      readonly kind: LoopKind;
      readonly from: IntExpr;
      readonly to: IntExpr;
      readonly step: number;
      /** At most this many iterations, where `to - from` is not a constant (a split of a loop). */
      readonly count?: number;
      /** A serial loop the target compiler is asked to unroll (CUDA's `#pragma unroll`). */
      readonly unrollHint?: boolean;
      readonly body: readonly TNode[];
    }
  /** Names an index for the nodes after it (in this body and those nested in it). */
  | { readonly op: 'let'; readonly var: string; readonly value: IntExpr }
  /**
   * Runs `body` only where `index < below` (ragged tile edges, rows past the end, elements past a
   * dynamic size: `below` may read size symbols, the run-time values of dynamic sizes).
   */
  | { readonly op: 'guard'; readonly index: IntExpr; readonly below: Limit; readonly body: readonly TNode[] }
  /** Sets the fold region's state to its initial value. */
  | { readonly op: 'init'; readonly fold: string }
  /** One step of the fold region, at these values of its `over` axes. */
  | { readonly op: 'step'; readonly fold: string; readonly at: readonly IntExpr[]; readonly inputs?: readonly StepInput[] }
  /** Workgroup execution barrier (workgroup-memory writes before it are seen after it). */
  | { readonly op: 'barrier' }
  /**
   * One 16x16x16 multiply-accumulate of a fold held in matrix units (`TFold.matrix`): the tile
   * point's accumulator += a * b, the operands read from workgroup arrays (each loaded once per
   * value of the unrolled variable it is `per`).
   */
  | { readonly op: 'mma'; readonly fold: string; readonly a: MatrixOperand; readonly b: MatrixOperand }
  /** Stores the tile point's 16x16 accumulator row-major into a workgroup array. */
  | { readonly op: 'spill'; readonly fold: string; readonly to: string; readonly offset: IntExpr; readonly stride: number }
  /**
   * Computes `value` once here (per point of the enclosing unrolled loops named in `per`) for the
   * steps after it to read as the local `name`: an operand each lane loads for its subgroup.
   * With `guard`, 0 where it fails (and nothing is loaded there).
   */
  | {
      readonly op: 'fetch';
      readonly name: string;
      readonly value: Expr;
      readonly per: readonly string[];
      readonly guard?: readonly { readonly index: IntExpr; readonly below: Limit }[];
    }
  /**
   * Combines the region's state across the lanes of `lanes` (each holding the state of its own
   * steps, in lane order) with the fold's merge; afterwards every one of those lanes holds the
   * merged state. Every invocation of the workgroup must reach it (it synchronizes).
   */
  | { readonly op: 'merge'; readonly fold: string; readonly lanes: string; readonly via: 'workgroup' | 'subgroup' }
  /**
   * Writes the region's state to slot `index` of the global scratch tensor `to` (a partial state
   * of some of the steps, for another kernel to merge).
   */
  | { readonly op: 'save'; readonly fold: string; readonly to: string; readonly index: IntExpr }
  /** Merges the partial state saved in slot `index` of `from` into the region's state (it follows). */
  | { readonly op: 'absorb'; readonly fold: string; readonly from: string; readonly index: IntExpr }
  /**
   * `tensor[index] = value`. With `vector`, the store covers `width` consecutive values of the
   * innermost index, the variable `var` taking 0 .. width-1 in `value` and `index`.
   */
  | {
      readonly op: 'store';
      readonly tensor: string;
      readonly index: readonly IntExpr[];
      readonly value: Expr;
      readonly vector?: { readonly var: string; readonly width: 2 | 4 };
    };

/**
 * A value a step takes from the kernel rather than computing it from the fold's definition: the
 * definition reads it as the local `name` (a staged operand, read from workgroup memory). With
 * `vector`, consecutive values of the unrolled loop variable `var` are consecutive elements of a
 * load that is aligned at multiples of `width` of that variable, read as one vector. With `guard`,
 * the value is 0 where `index < below` does not hold, and the load is not executed there.
 */
export interface StepInput {
  readonly name: string;
  readonly value: Expr;
  /** The value held by this lane of the subgroup (`subgroup_lane` is each lane's own index). */
  readonly fromLane?: IntExpr;
  readonly vector?: { readonly var: string; readonly width: 4 };
  readonly guard?: readonly { readonly index: IntExpr; readonly below: Limit }[];
}

/** A 16x16 operand tile in a workgroup array: element (r, c) at offset + r * stride + c (row) or offset + r + c * stride (col). */
export interface MatrixOperand {
  readonly from: string;
  readonly offset: IntExpr;
  readonly stride: number;
  readonly layout: 'row' | 'col';
  /** The unrolled loop variable the operand varies with (its fragment is one per value). */
  readonly per: string;
}

/** A stateful reduction or scan computed in a kernel: its definition and where it is evaluated. */
export interface TFold {
  readonly name: string;
  readonly def: FoldDef;
  /** The values of the definition's outer axes (in loop variables). */
  readonly outer: readonly IntExpr[];
  /**
   * A register tile: one state per point of these unrolled loops, whose variables appear in
   * `outer`. A node of the region inside those loops acts on one point's state; outside, on all.
   */
  readonly tile?: readonly TDim[];
  /**
   * The register tile is held by matrix units (tensor cores): each point is a 16x16 accumulator
   * of f32 sums, advanced by `mma` and read out by `spill`. Only a sum starting at 0 is held so.
   */
  readonly matrix?: { readonly dtype: 'f16' | 'bf16' };
  /** Tensors the region computes: reading `tensor[outer..., own...]` is output `output` of the fold. */
  readonly results: readonly { readonly tensor: string; readonly output: number }[];
}

/** A global scratch tensor of partial fold states: `slots` states of `size` elements each. */
export interface TScratch {
  readonly name: string;
  readonly dtype: ValueType;
  readonly slots: number;
  readonly size: number;
}

/** An array in workgroup memory, read and written by `load`s and `store`s of its name with one flat index. */
export interface TShared {
  readonly name: string;
  readonly dtype: ValueType;
  readonly length: number;
  /**
   * A private array held once per point of this fold's register tile: reads and writes go to
   * the current point's (the tile's variables are constants there).
   */
  readonly point?: string;
}

export interface TileKernel {
  readonly name: string;
  readonly shared?: readonly TShared[];
  /**
   * Arrays each invocation holds for itself, read and written like workgroup arrays (registers
   * where every access has a constant index: a query row kept for all of a fold's steps).
   */
  readonly private?: readonly TShared[];
  /** Scratch tensors the kernel saves partial states to or absorbs them from. */
  readonly scratch?: readonly TScratch[];
  readonly grid: readonly TDim[];
  readonly lanes: readonly TDim[];
  readonly folds: readonly TFold[];
  readonly body: readonly TNode[];
}

/** Substitutes loop variables everywhere in a list of nodes. */
export function substNodes(body: readonly TNode[], map: Readonly<Record<string, IntExpr>>): TNode[] {
  const i = (e: IntExpr) => substInt(e, map);
  return body.map((n): TNode => {
    switch (n.op) {
      case 'loop':
        return { ...n, from: i(n.from), to: i(n.to), body: substNodes(n.body, map) };
      case 'guard':
        return { ...n, index: i(n.index), below: limit(n.below, map), body: substNodes(n.body, map) };
      case 'let':
        return { ...n, value: i(n.value) };
      case 'init':
      case 'merge':
        return n;
      case 'step':
        return {
          ...n,
          at: n.at.map(i),
          ...(n.inputs ? { inputs: n.inputs.map((x) => substInput(x, map)) } : {}),
        };
      case 'barrier':
        return n;
      case 'mma':
        return { ...n, a: { ...n.a, offset: i(n.a.offset) }, b: { ...n.b, offset: i(n.b.offset) } };
      case 'spill':
        return { ...n, offset: i(n.offset) };
      case 'fetch':
        return { ...n, value: substIndex(n.value, map), ...(n.guard ? { guard: n.guard.map((g) => ({ ...g, index: i(g.index), below: limit(g.below, map) })) } : {}) };
      case 'save':
      case 'absorb':
        return { ...n, index: i(n.index) };
      case 'store':
        return { ...n, index: n.index.map(i), value: substIndex(n.value, map) };
      default:
        return assertNever(n, 'tile node');
    }
  });
}

const limit = (l: Limit, map: Readonly<Record<string, IntExpr>>): Limit => (typeof l === 'number' ? l : substInt(l, map));

function substInput(x: StepInput, map: Readonly<Record<string, IntExpr>>): StepInput {
  const i = (e: IntExpr) => substInt(e, map);
  return {
    ...x,
    value: substIndex(x.value, map),
    ...(x.fromLane ? { fromLane: i(x.fromLane) } : {}),
    ...(x.guard ? { guard: x.guard.map((g) => ({ ...g, index: i(g.index), below: limit(g.below, map) })) } : {}),
  };
}

/** Substitutes loop variables in a whole kernel: its body and where its folds are evaluated. */
export function substKernel(k: TileKernel, map: Readonly<Record<string, IntExpr>>): TileKernel {
  return {
    ...k,
    folds: k.folds.map((f) => ({ ...f, outer: f.outer.map((e) => substInt(e, map)) })),
    body: substNodes(k.body, map),
  };
}

/** Rewrites nodes top-down: `f` returns the nodes that replace one (children are visited after). */
export function mapNodes(body: readonly TNode[], f: (n: TNode) => readonly TNode[]): TNode[] {
  return body.flatMap((n) =>
    f(n).map((m): TNode => (m.op === 'loop' || m.op === 'guard' ? { ...m, body: mapNodes(m.body, f) } : m)),
  );
}

/** Every node, parents before children. */
export function visitNodes(body: readonly TNode[], f: (n: TNode) => void): void {
  for (const n of body) {
    f(n);
    if (n.op === 'loop' || n.op === 'guard') visitNodes(n.body, f);
  }
}

/**
 * The names a tile kernel binds (grid and lane variables, loops, lets, folds and their tile
 * points, fetched locals, arrays), for a transform to add its own (`row_g`, `e_x_q`) without
 * shadowing one: an axis named `x_q` beside `x` is a loop `e_x_q` of its own.
 */
export function tileNames(k: TileKernel): NameAllocator {
  const names = new NameAllocator([...k.grid, ...k.lanes].map((d) => d.var));
  for (const f of k.folds) [f.name, ...(f.tile ?? []).map((d) => d.var)].forEach((n) => names.reserve(n));
  for (const a of [...(k.shared ?? []), ...(k.private ?? []), ...(k.scratch ?? [])]) names.reserve(a.name);
  visitNodes(k.body, (n) => {
    if (n.op === 'loop' || n.op === 'let') names.reserve(n.var);
    else if (n.op === 'fetch') names.reserve(n.name);
    else if (n.op === 'store' && n.vector) names.reserve(n.vector.var);
  });
  return names;
}

/** The loop nest as a person would write it. */
export function printTile(k: TileKernel): string {
  const lines: string[] = [`kernel ${k.name}`];
  for (const d of k.grid) lines.push(`  grid ${d.var} < ${d.extent}`);
  for (const d of k.lanes) lines.push(`  lanes ${d.var} < ${d.extent}`);
  for (const b of k.shared ?? []) lines.push(`  shared ${b.name}: ${b.dtype}[${b.length}]`);
  for (const b of k.private ?? []) lines.push(`  private ${b.name}: ${b.dtype}[${b.length}]${b.point ? ` per point of ${b.point}` : ''}`);
  for (const f of k.folds) {
    const over = f.def.over.map((a) => a.name).join(', ');
    const state = f.def.state.map((s) => s.name + (s.axes.length ? `[${s.axes.map((a) => a.name).join(', ')}]` : '')).join(', ');
    const outer = f.def.outer.map((a, i) => `${a.name}=${printInt(f.outer[i]!)}`).join(', ');
    const tile = f.tile?.length ? ` per ${f.tile.map((d) => `${d.var} < ${d.extent}`).join(', ')}` : '';
    lines.push(`  ${f.def.kind} ${f.name}[${over}] state(${state}) at(${outer})${tile} -> ${f.results.map((r) => r.tensor).join(', ')}`);
  }
  const walk = (body: readonly TNode[], pad: string): void => {
    for (const n of body) {
      switch (n.op) {
        case 'loop': {
          const step = n.step === 1 ? '' : ` step ${n.step}`;
          const from = n.from.op === 'int' && n.from.value === 0 ? '' : `${printInt(n.from)} <= `;
          lines.push(`${pad}${n.kind === 'unroll' ? 'unrolled ' : ''}for ${from}${n.var} < ${printInt(n.to)}${step}:`);
          walk(n.body, pad + '  ');
          break;
        }
        case 'guard':
          lines.push(`${pad}if ${printInt(n.index)} < ${printLimit(n.below)}:`);
          walk(n.body, pad + '  ');
          break;
        case 'let':
          lines.push(`${pad}${n.var} = ${printInt(n.value)}`);
          break;
        case 'init':
          lines.push(`${pad}${n.fold} = init`);
          break;
        case 'step': {
          const inputs = (n.inputs ?? []).map((x) => `; ${x.name} = ${printExpr(x.value)}${x.fromLane ? ` from lane ${printInt(x.fromLane)}` : ''}${x.vector ? ` (vector along ${x.vector.var})` : ''}${x.guard ? ` if ${x.guard.map((g) => `${printInt(g.index)} < ${printLimit(g.below)}`).join(' and ')}` : ''}`);
          lines.push(`${pad}${n.fold} = step(${n.fold}, ${n.at.map((e) => printInt(e)).join(', ')}${inputs.join('')})`);
          break;
        }
        case 'barrier':
          lines.push(`${pad}barrier`);
          break;
        case 'mma':
          lines.push(`${pad}${n.fold} += ${n.a.from}[${printInt(n.a.offset)}, ${n.a.layout} ${n.a.stride}] * ${n.b.from}[${printInt(n.b.offset)}, ${n.b.layout} ${n.b.stride}] (16x16x16)`);
          break;
        case 'spill':
          lines.push(`${pad}${n.to}[${printInt(n.offset)}, row ${n.stride}] = ${n.fold} (16x16)`);
          break;
        case 'fetch':
          lines.push(`${pad}${n.name} = ${printExpr(n.value)}${n.guard ? ` if ${n.guard.map((g) => `${printInt(g.index)} < ${printLimit(g.below)}`).join(' and ')}` : ''}`);
          break;
        case 'merge':
          lines.push(`${pad}${n.fold} = merge across ${n.lanes} (${n.via})`);
          break;
        case 'save':
          lines.push(`${pad}${n.to}[${printInt(n.index)}] = ${n.fold}`);
          break;
        case 'absorb':
          lines.push(`${pad}${n.fold} = merge(${n.fold}, ${n.from}[${printInt(n.index)}])`);
          break;
        case 'store': {
          const vec = n.vector ? ` for ${n.vector.var} < ${n.vector.width} (vector)` : '';
          lines.push(`${pad}${n.tensor}[${n.index.map((e) => printInt(e)).join(', ')}] = ${printExpr(n.value)}${vec}`);
          break;
        }
        default:
          assertNever(n, 'tile node');
      }
    }
  };
  walk(k.body, '  ');
  return lines.join('\n');
}
