/**
 * What a device reaches, measured by probe kernels built from the same IR as every program
 * (`npm run bench -- roofline`), kept beside the tuning database keyed by device fingerprint.
 * The benches report their share of these; the cost model takes its first coefficients from them.
 */
export interface Ceilings {
  readonly measuredAt: string;
  readonly device: string;
  /** Independent chains of dependent multiply-adds per element, vec4 per lane: GFLOP/s (f16 where the device has it). */
  readonly fmaF32: number;
  readonly fmaF16?: number;
  /** A copy in vec4 and in scalars: GB/s of bytes read and written. */
  readonly copyVec4: number;
  readonly copyScalar: number;
  /** A one-element kernel: device time and wall time of one run, in microseconds. */
  readonly launchDeviceUs: number;
  readonly launchWallUs: number;
  /**
   * ns of device time per f32 arithmetic operation (one add or one multiply) per invocation:
   * 1 / `fmaF32`, the FMA probe's time over the adds and multiplies it counts. What a cost model
   * charges an instruction of arithmetic.
   *
   * The fields below come from loop probes: hand-built kernels of 64 invocations per workgroup in
   * which every invocation repeats one operation a few hundred times, four independent ones per
   * iteration, accumulating what it reads and writing the sum out so nothing is dropped. Each is
   * net of its loop: timed side by side with the same kernel in which every operation is replaced
   * by an i32-to-f32 conversion of its index (index arithmetic, accumulation, filling workgroup
   * memory and the launch are the same in both), the median of the paired differences taken. Where
   * that median is below the differences' spread (half their interquartile range) the operation
   * costs less than the probe resolves, and the spread is recorded: an upper bound on a time, a
   * lower bound on a rate. Absent in ceilings recorded before these probes existed.
   */
  readonly flopNs?: number;
  /**
   * Workgroup-memory loads from 16 KiB of workgroup memory: GB/s of bytes loaded, summed over all
   * invocations (4 bytes per f32 load, 16 per vec4 load), net of the loop. Scalar: consecutive
   * invocations read consecutive f32 elements. Vec4: consecutive invocations read consecutive
   * aligned vec4s. Broadcast: every invocation reads the same element (the address is uniform).
   * Divergent: invocation l reads element 33·l + 65·k at its k-th load, scattered elements with a
   * stride that is no multiple of the bank count.
   */
  readonly workgroupLoadScalar?: number;
  readonly workgroupLoadVec4?: number;
  readonly workgroupLoadBroadcast?: number;
  readonly workgroupLoadDivergent?: number;
  /** Workgroup-memory f32 stores, consecutive invocations to consecutive elements: GB/s of bytes stored, summed over all invocations, net of the loop. */
  readonly workgroupStore?: number;
  /**
   * ns of device time per scalar workgroup-memory load per invocation, from the scalar load probe:
   * net kernel time / (invocations × loads per invocation), over a launch of thousands of
   * invocations, so it is the device's throughput cost of one load in one invocation (4 bytes /
   * `workgroupLoadScalar`). What a per-instruction cost model charges a shared-memory load.
   */
  readonly sharedLoadNs?: number;
  /** The same per scalar global-memory load: consecutive invocations read consecutive f32 elements of a 16 KiB buffer every workgroup reads (cache-resident), net of the loop. */
  readonly globalLoadNs?: number;
  /**
   * ns of device time per scalar global-memory load per invocation, net of the loop, when the
   * launch streams a buffer larger than any cache (64 MiB of f32, less where the device binds
   * less) coalesced: with G invocations in the launch, invocation g's k-th load reads element
   * k·G + g, so at each step consecutive invocations read consecutive elements and the launch reads
   * the whole buffer once. What a cost model charges a load of a tensor streamed from DRAM.
   */
  readonly globalStreamLoadNs?: number;
  /**
   * The same with the same loads scattered: invocation g's k-th load reads element g·L + k (L loads
   * per invocation), so each invocation walks its own contiguous strip, neighbours are 4·L bytes
   * apart at every step (never in one 32-byte sector), and the launch still reads the whole buffer
   * once: the access of a kernel with one lane per row. Its excess over `globalStreamLoadNs` is
   * what a cost model charges a load whose lanes do not read consecutive addresses.
   */
  readonly globalScatteredLoadNs?: number;
  /**
   * ns of device time per subgroup shuffle per invocation, net of the loop: `subgroupShuffle` of an
   * f32 from lane (l + k) mod the subgroup size at invocation l's k-th shuffle. Absent on devices
   * without the `subgroups` feature.
   */
  readonly shuffleNs?: number;
  /** The same per subgroup broadcast: a shuffle from one lane the whole subgroup reads (a uniform lane). Absent without `subgroups`. */
  readonly broadcastNs?: number;
  /** ns of device time per `workgroupBarrier` per invocation, in workgroups of 64 invocations, net of the loop (one barrier per four index steps). */
  readonly barrierNs?: number;
}
