import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LOOP_ELEMENTS,
  LOOP_UNROLL,
  LOOP_WORKGROUP,
  type LoopSpec,
  benchRoofline,
  loopProbeKernel,
  loopSpecs,
  referenceSpec,
  streamIterations,
  streamReferenceSpec,
  streamSpecs,
} from '../../bench/roofline.js';
import type { Ceilings } from '../../src/autotune/ceilings.js';
import { ceilingsPath, recordedCeilings } from '../../src/autotune/device-model.js';
import { randomHost } from '../../src/ir/host.js';
import { gpu } from '../helpers/device.js';

const dir = mkdtempSync(join(tmpdir(), 'tilecraft-roofline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ceilings the loop probes add; the subgroup ones only where the device has subgroups. */
const LOOP_FIELDS = ['flopNs', 'workgroupLoadScalar', 'workgroupLoadVec4', 'workgroupLoadBroadcast', 'workgroupLoadDivergent', 'workgroupStore', 'sharedLoadNs', 'globalLoadNs', 'globalStreamLoadNs', 'globalScatteredLoadNs', 'barrierNs'] as const;
const SUBGROUP_FIELDS = ['shuffleNs', 'broadcastNs'] as const;

/** A small, quick run: the numbers mean nothing, only that they are there and recorded. */
const small = (db: string) => ({ n: 4096, depth: 4, rounds: 3, groups: 4, iterations: 16, streamElements: 1 << 16, db });

function expectPositive(c: Ceilings, fields: readonly (keyof Ceilings)[]): void {
  for (const f of fields) {
    const v = c[f];
    expect(typeof v, f).toBe('number');
    expect(Number.isFinite(v) && (v as number) > 0, `${f} = ${v}`).toBe(true);
  }
}

describe('benchRoofline', () => {
  it('records every probe ceiling as a finite positive number, and reads the file back as recorded', async () => {
    const d = await gpu();
    const db = join(dir, 'tuning.json');
    const c = await benchRoofline(d, small(db), () => {});
    expectPositive(c, [...LOOP_FIELDS, ...(d.hasFeature('subgroups') ? SUBGROUP_FIELDS : [])]);
    expect(ceilingsPath(db)).toBe(join(dir, 'ceilings.json'));
    expect(recordedCeilings(d.info, db)).toEqual(c);
  });

  it('skips the subgroup probes with a note on a device without subgroups', async () => {
    const d = await gpu({ withoutFeatures: ['subgroups'] });
    const db = join(dir, 'without-subgroups', 'tuning.json');
    const log: string[] = [];
    const c = await benchRoofline(d, small(db), (s) => log.push(s));
    expectPositive(c, LOOP_FIELDS);
    for (const f of SUBGROUP_FIELDS) expect(c[f], f).toBeUndefined();
    expect(log.join('\n')).toMatch(/lacks the 'subgroups' feature: the subgroup shuffle and broadcast probes are skipped/);
    expect(recordedCeilings(d.info, db)).toEqual(c);
  });
});

/**
 * What invocation `inv` of a loop probe writes, computed on the host: the kernel fills unit e of
 * the workgroup array with e (splat for vec4) and sums what each operation reads, indexed by the
 * invocation's index in its workgroup (`lid`), or in the launch for a streaming probe.
 */
function expectedY(s: LoopSpec, iterations: number, global: Float32Array, inv: number): number {
  const lid = inv % LOOP_WORKGROUP;
  const l = s.streamElements ? inv : lid;
  const units = s.streamElements ?? LOOP_ELEMENTS / s.lanes;
  const acc = Array.from({ length: LOOP_UNROLL }, (_, u) => Math.fround(lid + u));
  for (let j = 0; j < iterations; j++) {
    for (let u = 0; u < LOOP_UNROLL; u++) {
      const i = (l * s.perLane + (j * LOOP_UNROLL + u) * s.perOp) & (units - 1);
      acc[u] = Math.fround(acc[u]! + (s.op === 'globalLoad' ? global[i]! : i));
    }
  }
  const total = Math.fround(Math.fround(Math.fround(Math.fround(acc[0]! + acc[1]!) + acc[2]!) + acc[3]!) + lid);
  return s.lanes === 1 ? total : Math.fround(Math.fround(Math.fround(total + total) + total) + total);
}

describe('the loop probes', () => {
  const groups = 2;
  // streamed: 1024 elements over 128 invocations, 8 loads each, 32 bytes apart in the scattered probe
  const streamed = 1024;
  const streamedIterations = streamIterations(streamed, groups * LOOP_WORKGROUP);
  // stores race between invocations and shuffles depend on how the device lays out subgroups: their
  // results are not the host's to predict
  const predictable = [
    ...[referenceSpec(1), referenceSpec(4), ...loopSpecs(false).filter((s) => s.op !== 'sharedStore')].map((s) => [s.name, s, 16] as const),
    ...[streamReferenceSpec(streamed, groups * LOOP_WORKGROUP), ...streamSpecs(streamed, groups * LOOP_WORKGROUP, streamedIterations * LOOP_UNROLL)].map((s) => [s.name, s, streamedIterations] as const),
  ];

  it('the streaming probes read every element of their buffer once, neighbours 4 bytes apart or at least 32', () => {
    const invocations = groups * LOOP_WORKGROUP;
    const [coalesced, scattered] = streamSpecs(streamed, invocations, streamedIterations * LOOP_UNROLL);
    for (const s of [coalesced!, scattered!]) {
      const reads = new Array<number>(streamed).fill(0);
      const gaps = new Set<number>();
      for (let inv = 0; inv < invocations; inv++) {
        for (let k = 0; k < streamedIterations * LOOP_UNROLL; k++) {
          const at = (g: number) => (g * s.perLane + k * s.perOp) & (streamed - 1);
          reads[at(inv)]!++;
          if (inv > 0) gaps.add(Math.abs(at(inv) - at(inv - 1)));
        }
      }
      expect(new Set(reads), s.name).toEqual(new Set([1]));
      if (s === coalesced) expect(gaps).toEqual(new Set([1]));
      else expect(Math.min(...gaps)).toBeGreaterThanOrEqual(8);
    }
  });

  it.each(predictable)('%s reads the elements it says it reads', async (_, s, iterations) => {
    const d = await gpu();
    const elements = s.streamElements ?? LOOP_ELEMENTS;
    const g = randomHost('f32', [elements], 5);
    const G = d.createBuffer(4 * elements, 'G');
    d.write(G, g.data);
    const Y = d.createBuffer(4 * groups * LOOP_WORKGROUP, 'Y');
    await d.run([{ kernel: await d.compile(loopProbeKernel(s, groups, iterations)), buffers: [G, Y] }]);
    const y = new Float32Array((await d.read(Y)).buffer);
    for (let inv = 0; inv < groups * LOOP_WORKGROUP; inv++) {
      const want = expectedY(s, iterations, g.data as Float32Array, inv);
      expect(y[inv], `invocation ${inv}`).toBeCloseTo(want, 2);
    }
    d.destroyBuffer(G);
    d.destroyBuffer(Y);
  });
});
