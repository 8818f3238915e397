import { type KBuffer, type KExpr, type KStmt, type Kernel, forEachStmt, kload, kmapStmtExprs, kref, kt, kvisit } from '../ir/kernel.js';
import { affineIndex } from './affine.js';
import { namer } from './legalize.js';

/** Elements per merged load: four, a 16-byte vector. */
const WIDTH = 4;

/**
 * Merges the loads of one straight-line block that read the same read-only global buffer at
 * neighbouring elements into one load, bound before the first statement that reads any of them:
 *
 * - loads of consecutive elements `base + 4w .. base + 4w + 3` (a base whose coefficients are
 *   multiples of 4, so the vector is aligned) become one vector load, each element a lane of it:
 *   the activation a GEMV's block of eight steps reads, `x[8·kb + u]`, is two vec4 loads;
 * - the same element read more than once is one load (the packed word all eight of a block's
 *   4-bit weights are unpacked from).
 *
 * Only buffers the kernel never writes, at indices built from constants, lets and loop variables
 * (never a variable assigned in the kernel, so the index means the same at the first statement),
 * outside any nested block (a loop body or branch is a block of its own). Run after legalization:
 * the words of packed buffers are then ordinary u32 loads.
 */
export function mergeLoads(k: Kernel): Kernel {
  const written = new Set<string>();
  const mutable = new Set<string>();
  forEachStmt(k.body, (s) => {
    if (s.op === 'store' || s.op === 'atomic' || s.op === 'matrixStore') written.add(s.buffer);
    if (s.op === 'var' || s.op === 'assign') mutable.add(s.name);
  });
  const buffers = new Map(k.buffers.filter((b) => b.scope === 'global' && !b.atomic && !written.has(b.name)).map((b) => [b.name, b]));
  if (buffers.size === 0) return k;
  const fresh = namer('ld', k);

  const stable = (e: KExpr): boolean => {
    let ok = true;
    kvisit([{ op: 'let', name: '', value: e }], (n) => {
      if (n.op === 'load' || (n.op === 'ref' && mutable.has(n.name))) ok = false;
    });
    return ok;
  };

  const block = (body: readonly KStmt[]): KStmt[] => {
    const stmts = body.map((s): KStmt => {
      if (s.op === 'for') return { ...s, body: block(s.body) };
      if (s.op === 'if') return { ...s, then: block(s.then), else: block(s.else) };
      return s;
    });
    const { replace, before } = bindGroups(groupLoads(stmts, buffers, stable), buffers, fresh);
    if (replace.size === 0) return stmts;
    return stmts.flatMap((s, i) => [...(before.get(i) ?? []), ownExprs(s, (e) => (e.op === 'load' ? (replace.get(JSON.stringify(e)) ?? e) : e))]);
  };
  return { ...k, body: block(k.body) };
}

/** A candidate load: the statement it is in, its text (to find it again), its index's constant part. */
interface Use {
  readonly stmt: number;
  readonly text: string;
  readonly c: number;
}

/** Loads of one buffer at one index base: `at(c)` is the base plus `c`; aligned bases may load vectors. */
interface Group {
  readonly buffer: string;
  readonly at: (c: number) => KExpr;
  readonly aligned: boolean;
  readonly uses: Use[];
}

/** The candidate loads of each statement's own expressions, grouped by buffer and index base. */
function groupLoads(stmts: readonly KStmt[], buffers: ReadonlyMap<string, KBuffer>, stable: (e: KExpr) => boolean): Map<string, Group> {
  const groups = new Map<string, Group>();
  stmts.forEach((s, i) =>
    ownExprs(s, (e) => {
      if (e.op !== 'load' || e.type.lanes !== 1 || !buffers.has(e.buffer) || !stable(e.index)) return e;
      const a = affineIndex(e.index);
      if (!a) return e;
      const key = `${e.buffer}:${a.key}`;
      let g = groups.get(key);
      if (!g) {
        const b = buffers.get(e.buffer)!;
        const vectorizable = b.dtype === 'f32' || b.dtype === 'u32' || b.dtype === 'i32' || b.dtype === 'f16';
        g = { buffer: e.buffer, at: a.at, aligned: vectorizable && a.multipleOf(WIDTH) && b.length % WIDTH === 0, uses: [] };
        groups.set(key, g);
      }
      g.uses.push({ stmt: i, text: JSON.stringify(e), c: a.c });
      return e;
    }),
  );
  return groups;
}

/**
 * One bound load per window of four aligned elements (or per element) read more than once: the
 * lets to put before each statement, and what each load's text becomes.
 */
function bindGroups(groups: ReadonlyMap<string, Group>, buffers: ReadonlyMap<string, KBuffer>, fresh: () => string) {
  const replace = new Map<string, KExpr>();
  const before = new Map<number, KStmt[]>();
  for (const g of groups.values()) {
    const windows = new Map<number, Use[]>();
    for (const u of g.uses) {
      const w = g.aligned ? Math.floor(u.c / WIDTH) : u.c;
      const list = windows.get(w);
      if (list) list.push(u);
      else windows.set(w, [u]);
    }
    for (const [w, uses] of windows) {
      if (uses.length < 2) continue;
      const first = Math.min(...uses.map((u) => u.stmt));
      const name = fresh();
      const dtype = buffers.get(g.buffer)!.dtype;
      const vector = g.aligned && new Set(uses.map((u) => u.c)).size > 1;
      const value = vector ? kload(g.buffer, g.at(w * WIDTH), kt(dtype, WIDTH)) : kload(g.buffer, g.at(uses[0]!.c), kt(dtype));
      const lets = before.get(first);
      if (lets) lets.push({ op: 'let', name, value });
      else before.set(first, [{ op: 'let', name, value }]);
      for (const u of uses) {
        const r = kref(name, value.type);
        replace.set(u.text, vector ? { op: 'extract', type: kt(dtype), x: r, lane: u.c - w * WIDTH } : r);
      }
    }
  }
  return { replace, before };
}

/** `s` with `f` applied (bottom-up) to the expressions of the statement itself, not of nested blocks. */
function ownExprs(s: KStmt, f: (e: KExpr) => KExpr): KStmt {
  if (s.op === 'for') return { ...(kmapStmtExprs([{ ...s, body: [] }], f)[0] as typeof s), body: s.body };
  if (s.op === 'if') return { ...(kmapStmtExprs([{ ...s, then: [], else: [] }], f)[0] as typeof s), then: s.then, else: s.else };
  return kmapStmtExprs([s], f)[0]!;
}

