import { DeviceLimitError } from '../ir/errors.js';
import { I32_INDEX_MAX, type Kernel, wideIndexNeed } from '../ir/kernel.js';

/**
 * WGSL has no 64-bit integers, so its index arithmetic is i32: a kernel some index of which can
 * pass 2³¹−1 (`wideIndexNeed`: a global buffer or a grid that large) is refused with a
 * DeviceLimitError naming the buffer and its length, before anything is printed.
 */
export function checkWgslIndexRange(k: Kernel): void {
  const need = wideIndexNeed(k);
  if (!need) return;
  const what = need.buffer
    ? `buffer ${need.buffer} has ${need.length} elements`
    : `its launch has ${need.invocations} invocations (grid ${k.grid.join(' x ')} of ${k.workgroup.join(' x ')})`;
  throw new DeviceLimitError(
    `kernel ${k.name}: ${what}, past the ${I32_INDEX_MAX} that WGSL's 32-bit index arithmetic can address (WGSL has no 64-bit integers): split the tensor or use the CUDA backend`,
    need.buffer ? 'maxIndexableElements' : 'maxIndexableInvocations',
    need.length,
    I32_INDEX_MAX,
  );
}
