/**
 * The entries the database chaos test's writers record, shared by the writer script and the test
 * so the test can tell an entry that came back intact from one that did not.
 */
import type { NewTuningEntry } from '../../src/autotune/db.js';

export const CHAOS_FINGERPRINT = 'c4a05c4a05c4a05c';
export const CHAOS_VERSION = '0.1.0';

/** Entry `i` of writer `writer` (unique per round): its own program hash, size N = i + 1. */
export function chaosEntry(writer: string, i: number): NewTuningEntry {
  return {
    fingerprint: CHAOS_FINGERPRINT,
    deviceSummary: 'Chaos GPU (test)',
    program: `chaos-${writer}`,
    programHash: `chaos-${writer}`,
    dtype: 'f32',
    shape: { N: i + 1 },
    sizes: { n: i + 1 },
    tilecraftVersion: CHAOS_VERSION,
    schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 32 << i % 4, vectorWidth: ([1, 2, 4] as const)[i % 3]! } },
    medianMs: 1 + i / 64,
    spread: 0.01 * (1 + (i % 3)),
    candidates: 1 + i,
    strategy: 'exhaustive',
    tieBreak: 'smallest-canonical-schedule',
    toleranceBand: 0.02,
    runnersUp: [{ schedule: { 'elementwise:Y': { kind: 'elementwise', workgroupSize: 64, vectorWidth: 1 } }, medianMs: 2 + i / 64 }],
  };
}
