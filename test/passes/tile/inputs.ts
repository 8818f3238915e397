import { bindProgram, shapeOf } from '../../../src/ir/bind.js';
import { type HostTensor, fromValues } from '../../../src/ir/host.js';
import { type Program } from '../../../src/ir/tensor.js';

/** Reproducible inputs in [-1, 1) (a small LCG, so a failure reruns the same way). */
export function inputsFor(p: Program, sizes: Record<string, number>, seed = 7): Record<string, HostTensor> {
  let x = seed;
  const next = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const bound = bindProgram(p, sizes);
  return Object.fromEntries(
    bound.inputs.map((t) => {
      const shape = shapeOf(t);
      return [t.name, fromValues(t.dtype, shape, Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, next))];
    }),
  );
}
