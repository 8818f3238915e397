import { numel } from '../../ir/bind.js';
import { type DType } from '../../ir/dtype.js';
import { TilecraftError } from '../../ir/errors.js';
import { type KExpr, type KType, I32, kadd, kbinary, kcast, kconst, kload, klt, kmul, kref, ksub, kt } from '../../ir/kernel.js';
import { type TFold } from '../../ir/tile.js';
import { type Expr, type StateField, visitExpr } from '../../ir/tensor.js';
import { type KernelBuilder, decode } from '../kernel-builder.js';
import { InvalidScheduleError } from '../schedule.js';
import { reduceFnOf } from './as-fold.js';
import { sizeOf } from './from-group.js';

/**
 * A fold region's state in one invocation: a local per scalar field, a private array per field
 * with axes. Steps and merges update every field from the state before them: scalar fields
 * through temporaries, array fields in place, element by element (which is why an array field's
 * update may read array fields only at its own element).
 */
export class FoldState {
  private readonly slots = new Map<string, { name: string; type: KType; length: number }>();
  /** Scalar fields as immutable values, valid until the state next changes (see `settle`). */
  private readonly settled = new Map<string, KExpr>();

  constructor(
    readonly k: KernelBuilder,
    readonly fold: TFold,
  ) {
    for (const f of fold.def.state) {
      const type = kt(f.dtype);
      const length = fieldLength(f);
      const name = f.axes.length === 0 ? k.var(`${fold.name}_${f.name}`, type, kconst(0, type)) : k.private_(`${fold.name}_${f.name}`, f.dtype as DType, length);
      this.slots.set(f.name, { name, type, length });
    }
    checkInPlace(fold);
  }

  /** Field `field` at flat element `at` (0 for a scalar field). */
  read(field: string, at: KExpr): KExpr {
    const fixed = this.settled.get(field);
    if (fixed) return fixed;
    const s = this.slot(field);
    return s.length === 1 && !this.isArray(field) ? kref(s.name, s.type) : kload(s.name, at, s.type);
  }

  write(field: string, at: KExpr, value: KExpr): void {
    this.settled.clear();
    const s = this.slot(field);
    if (!this.isArray(field)) this.k.emit({ op: 'assign', name: s.name, value: kcast(value, s.type) });
    else this.k.emit({ op: 'store', buffer: s.name, index: at, value: kcast(value, s.type) });
  }

  /**
   * Binds the scalar fields to immutable values for the reads that follow (a merged state read
   * in a row's loop: a value the compiler keeps in a register, where a variable may be re-read).
   */
  settle(): void {
    for (const f of this.fold.def.state) {
      if (f.axes.length !== 0) continue;
      const value = this.read(f.name, kconst(0));
      const name = this.k.fresh(`${this.fold.name}_${f.name}_`);
      this.k.emit({ op: 'let', name, value });
      this.settled.set(f.name, kref(name, value.type));
    }
  }

  isArray(field: string): boolean {
    return this.field(field).axes.length > 0;
  }

  field(name: string): StateField {
    const f = this.fold.def.state.find((s) => s.name === name);
    if (!f) throw new TilecraftError(`fold ${this.fold.name} has no state field ${name}`);
    return f;
  }

  private slot(field: string) {
    const s = this.slots.get(field);
    if (!s) throw new TilecraftError(`fold ${this.fold.name} has no state field ${field}`);
    return s;
  }

  /** Total state elements, for the workgroup memory a merge needs. */
  get size(): number {
    return this.fold.def.state.reduce((a, f) => a + fieldLength(f), 0);
  }

  /**
   * Sets every field to `valueOf(field index, field)` computed from the state before: scalar
   * fields first into temporaries, then array fields in place, then the scalar assignments.
   */
  assignAll(valueOf: (fieldIndex: number, at: readonly KExpr[]) => KExpr, unroll = true): void {
    const k = this.k;
    const only = this.fold.def.state.length === 1 ? this.fold.def.state[0] : undefined;
    if (only && only.axes.length === 0) {
      // one scalar field: nothing else reads its old value
      this.write(only.name, kconst(0), valueOf(0, []));
      return;
    }
    const scalars: [string, KExpr][] = [];
    this.fold.def.state.forEach((f, fi) => {
      if (f.axes.length === 0) scalars.push([f.name, k.let(`n_${f.name}`, valueOf(fi, []))]);
    });
    this.fold.def.state.forEach((f, fi) => {
      if (f.axes.length === 0) return;
      const shape = f.axes.map(sizeOf);
      eachElement(k, 's', numel(shape), unroll, (e) => {
        const at = e.op === 'const' ? decode(e, shape) : decode(e, shape).map((c) => k.let('s', c));
        this.write(f.name, e, valueOf(fi, at));
      });
    });
    for (const [name, v] of scalars) this.write(name, kconst(0), v);
  }
}

const fieldLength = (f: StateField) => numel(f.axes.map(sizeOf));

/** State fields up to this many elements are read and written at constant indices (unrolled). */
export const UNROLL_FIELD_ELEMENTS = 128;

/**
 * Calls `f` for every element 0 .. length-1 of a state field: unrolled for a short field, so
 * that every access has a constant index and the field can live in registers (a private array
 * indexed at run time lives in memory), else a loop. Merges, saves and absorbs keep their loops
 * (`unroll` false): they run once per row, and unrolled in every round of a merge they made
 * kernels the software GPU's compiler took minutes over.
 */
export function eachElement(k: KernelBuilder, name: string, length: number, unroll: boolean, f: (e: KExpr) => void): void {
  if (unroll && length <= UNROLL_FIELD_ELEMENTS) for (let e = 0; e < length; e++) f(kconst(e));
  else k.for(name, kconst(0), kconst(length), kconst(1), f);
}

/** Where each field's elements sit in a flat copy of the state, and how many elements there are. */
export function stateLayout(state: readonly StateField[]): { offsets: Map<string, number>; size: number } {
  const offsets = new Map<string, number>();
  let size = 0;
  for (const f of state) {
    offsets.set(f.name, size);
    size += fieldLength(f);
  }
  return { offsets, size };
}

/** The one type a flat copy of the state is kept in: the fields' type if they share one, else f32. */
export function stateType(state: readonly StateField[]): DType {
  const first = state[0]?.dtype;
  return (first && state.every((f) => f.dtype === first) ? first : 'f32') as DType;
}

/** Calls `f` for every element of every field (a loop over the elements of a field with axes). */
export function forEachElement(st: FoldState, f: (field: StateField, at: KExpr) => void): void {
  for (const field of st.fold.def.state) {
    if (field.axes.length === 0) f(field, kconst(0));
    else eachElement(st.k, 'e', fieldLength(field), false, (e) => f(field, e));
  }
}

/**
 * Array fields are updated in place, one field after another: an update or merge of an array
 * field may read the running state's array fields only at its own element of its own field
 * (scalar fields are read before any is assigned, and a merge's other state does not change).
 */
function checkInPlace(fold: TFold): void {
  const def = fold.def;
  const check = (e: Expr, f: StateField, part: string) => {
    visitExpr(e, (n) => {
      if (n.op !== 'state' || n.of === 'other') return;
      if (!def.state.find((s) => s.name === n.field)?.axes.length) return;
      const own = n.field === f.name && n.index.length === f.axes.length && n.index.every((ix, i) => ix.op === 'var' && ix.name === f.axes[i]!.name);
      if (!own) {
        throw new TilecraftError(
          `fold ${fold.name}: the ${part} of ${f.name} reads array field ${n.field} of the running state at another element; array fields are updated in place, so each may read only its own element`,
        );
      }
    });
  };
  def.state.forEach((f, i) => {
    if (f.axes.length === 0) return;
    check(def.update[i]!, f, 'update');
    check(def.merge[i]!, f, 'merge');
  });
}

/**
 * Merges the state across a team of lanes through workgroup memory: every lane publishes its
 * state; in rounds, lanes merge in the state of a partner lane and publish the result; then every
 * lane takes lane 0's state. A merge not known to commute runs rounds s = 1, 2, 4, ... in which
 * lane t (a multiple of 2s) takes lane t + s, so it always sees a prefix and what follows it.
 */
export function mergeViaWorkgroup(
  st: FoldState,
  team: { lane: KExpr; lanes: number; stride: number; li: KExpr; invocations: number; commutative: boolean },
  merge: (fieldIndex: number, at: readonly KExpr[], other: (field: string, at: KExpr) => KExpr) => KExpr,
  buffers: Map<string, string>,
): void {
  const { k } = st;
  const { lanes, stride, li, invocations: W } = team;
  if ((lanes & (lanes - 1)) !== 0) {
    throw new InvalidScheduleError(`fold ${st.fold.name}: a team of ${lanes} lanes is not a power of two`, st.fold.name, 'threadsPerRow');
  }
  const def = st.fold.def;
  const { offsets, size: total } = stateLayout(def.state);
  const dtype = stateType(def.state);
  // every merge ends with a barrier, so merges of one type and size share their buffer
  const key = `${dtype}:${total * W}`;
  const shared = buffers.get(key) ?? k.shared('red', dtype, total * W);
  buffers.set(key, shared);
  const slotOf = (field: string, at: KExpr, lane: KExpr) => kadd(kmul(kadd(kconst(offsets.get(field)!), at), kconst(W)), lane);
  const publish = () =>
    forEachElement(st, (f, e) => k.emit({ op: 'store', buffer: shared, index: slotOf(f.name, e, li), value: kcast(st.read(f.name, e), kt(dtype)) }));
  publish();
  k.emit({ op: 'barrier' });
  // a commutative merge pairs lane t with t + s for s = lanes/2 .. 1: the active lanes stay
  // packed at the front, so whole subgroups skip the step; any other merge keeps blocks in order
  const rounds: number[] = [];
  for (let s = 1; s < lanes; s *= 2) rounds.push(s);
  if (team.commutative) rounds.reverse();
  for (const s of rounds) {
    const partner = k.let('pl', kadd(li, kconst(s * stride)));
    const active = team.commutative ? klt(team.lane, kconst(s)) : kbinary('eq', kbinary('and', team.lane, kconst(2 * s - 1)), kconst(0));
    k.if(active, () => {
      st.assignAll((fi, at) => {
        const other = (field: string, e: KExpr) => kcast(kload(shared, slotOf(field, e, partner), kt(dtype)), kt(st.field(field).dtype));
        return merge(fi, at, other);
      }, false);
      publish();
    });
    k.emit({ op: 'barrier' });
  }
  const first = k.let('l0', ksub(li, kmul(team.lane, kconst(stride))));
  forEachElement(st, (f, e) => st.write(f.name, e, kcast(kload(shared, slotOf(f.name, e, first), kt(dtype)), kt(f.dtype))));
  st.settle();
  k.emit({ op: 'barrier' }); // the buffer is reused by the next merge
}

/**
 * Merges a sum, max or min across the lanes of a workgroup with subgroup operations: each
 * subgroup reduces in registers, claims a slot in workgroup memory through an atomic counter
 * (subgroups need not follow local indices), and every invocation folds the filled slots.
 */
export function mergeViaSubgroups(st: FoldState, li: KExpr, invocations: number, slots: { counter?: string; values?: string }): void {
  const { k } = st;
  const fn = reduceFnOf(st.fold.def);
  if (!fn) throw new TilecraftError(`internal: fold ${st.fold.name} is not a sum, max or min`);
  const field = st.fold.def.state[0]!;
  const type = kt(field.dtype);
  const partial = k.let('part', { op: 'subgroup', type, fn, x: st.read(field.name, kconst(0)) });
  const values = (slots.values ??= k.shared('red', field.dtype as DType, invocations));
  const counter = (slots.counter ??= k.shared('count', 'u32', 1, true));
  const U = kt('u32');
  k.if(kbinary('eq', li, kconst(0)), () => k.emit({ op: 'store', buffer: counter, index: kconst(0), value: kconst(0, U) }));
  k.emit({ op: 'barrier' });
  k.if(kbinary('eq', { op: 'builtin', type: I32, name: 'subgroup_lane' }, kconst(0)), () => {
    const old = k.fresh('claim');
    k.emit({ op: 'atomic', fn: 'add', buffer: counter, index: kconst(0), value: kconst(1, U), result: old });
    k.emit({ op: 'store', buffer: values, index: kcast(kref(old, U), I32), value: partial });
  });
  k.emit({ op: 'barrier' });
  const filled = k.let('filled', kcast(kload(counter, kconst(0), U), I32));
  st.write(field.name, kconst(0), kload(values, kconst(0), type));
  k.for('s', kconst(1), filled, kconst(1), (v) =>
    st.write(field.name, kconst(0), kbinary(fn === 'sum' ? 'add' : fn, st.read(field.name, kconst(0)), kload(values, v, type))),
  );
  st.settle();
  k.emit({ op: 'barrier' }); // the slots are reused by the next merge
}
