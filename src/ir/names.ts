import type { Program } from './tensor.js';

/**
 * Identifiers WGSL or CUDA predeclare that a generated local (a name followed by a number) could
 * spell: `f` + 32 is WGSL's `f32`, `float` + 4 is CUDA's `float4`. A local of that name shadows
 * the type, and the conversions after it fail to compile.
 */
const PREDECLARED = /^(?:[fiu](?:8|16|32|64)|vec[234]|mat[234]x[234]|u?(?:char|short|int|long|longlong)[1-4]|(?:float|double)[1-4]|half2|(?:nv_)?bfloat162|dim3)$/;

/**
 * Prefixes the printers keep for names of their own: buffers by scope (`t_`, `s_`, `p_`) and
 * tilecraft's helpers and built-ins (`tc_`). A local never starts with one.
 */
const PRINTER_PREFIX = /^(?:[tsp]|tc)_/;

/**
 * The one source of generated names. It knows every name taken (a program's own, and each it has
 * handed out) and never hands out one of them: a pass's tensors (`Y_max`, `C_sum_splitk`,
 * `o_scores`), kernel names, and a kernel's locals (`f0_acc2`, `row4`, `ld0`).
 */
export class NameAllocator {
  private readonly taken: Set<string>;
  private counter = 0;

  constructor(taken: Iterable<string> = []) {
    this.taken = new Set(taken);
  }

  /** Knows every name `p` spells: the program, its sizes, tensors and their axes. */
  static forProgram(p: Program): NameAllocator {
    const names = new NameAllocator([p.name, ...p.sizes]);
    for (const t of [...p.inputs, ...p.stmts.map((s) => s.target)]) {
      names.reserve(t.name);
      for (const a of t.axes) names.reserve(a.name);
    }
    return names;
  }

  has(name: string): boolean {
    return this.taken.has(name);
  }

  /** Marks `name` as taken (a name made elsewhere, or one a later pass must not reuse). */
  reserve(name: string): string {
    this.taken.add(name);
    return name;
  }

  /** `base` where no one has it, else `base2`, `base3`, ...: the tensors and kernels a pass adds. */
  fresh(base: string): string {
    let name = base;
    for (let n = 2; this.taken.has(name); n++) name = `${base}${n}`;
    return this.reserve(name);
  }

  /**
   * `base` followed by a number from a counter every base shares (`f0_acc2`, `row4`), as a
   * kernel's locals are named: a plain identifier (other characters become `_`), never one taken,
   * never a type WGSL or CUDA predeclares, never starting like a printer's own names.
   */
  numbered(base: string): string {
    let stem = base.replace(/[^A-Za-z0-9_]/g, '_');
    if (!/^[A-Za-z]/.test(stem) || PRINTER_PREFIX.test(stem)) stem = `v${stem}`;
    let name: string;
    do name = `${stem}${this.counter++}`;
    while (this.taken.has(name) || PREDECLARED.test(name));
    return this.reserve(name);
  }
}
