import { type KStmt, type Kernel, kmapStmts, kvisit } from '../ir/kernel.js';

/**
 * Drops locals that nothing reads: `let`s and `var`s (with their assignments) whose values are
 * pure, and the unused result names of atomics (the atomic itself stays). Repeats until nothing
 * changes, since dropping one local can leave the locals it read unused.
 *
 * CUDA's front end warns about a local that is declared and never read (#177-D, #550-D), and
 * tilecraft compiles with warnings as errors so that real warnings are not lost among these.
 * (A candidate for src/passes: nothing here is CUDA-specific.)
 */
export function dropUnusedLocals(k: Kernel): Kernel {
  let body: readonly KStmt[] = k.body;
  for (;;) {
    const read = new Set<string>();
    kvisit(body, (e) => {
      if (e.op === 'ref') read.add(e.name);
    });
    let changed = false;
    const next = kmapStmts(body, (s): KStmt[] => {
      switch (s.op) {
        case 'let':
        case 'var':
        case 'assign':
          if (read.has(s.name)) return [s];
          changed = true;
          return [];
        case 'atomic':
          if (s.result === undefined || read.has(s.result)) return [s];
          changed = true;
          return [{ op: 'atomic', fn: s.fn, buffer: s.buffer, index: s.index, value: s.value }];
        default:
          return [s];
      }
    });
    if (!changed) return body === k.body ? k : { ...k, body };
    body = next;
  }
}
