/**
 * A measuring worker that misbehaves on request, speaking the real protocol: the group
 * "elementwise:Y" knob `workgroupSize` of the plan's schedule chooses the behaviour (1: crash the
 * process, 2: hang, 3: wrong result, else a measurement of `workgroupSize / 100` ms).
 */
import type { FromWorker, ToWorker } from '../../src/autotune/protocol.js';
import { syntheticDeviceInfo } from './fixtures.js';

const send = (m: FromWorker) => process.send?.(m);
const info = syntheticDeviceInfo;

process.on('message', (raw) => {
  const m = raw as ToWorker;
  if (m.type === 'init') {
    send({ type: 'ready', info });
    return;
  }
  const knob = (m.plan.schedule['elementwise:Y'] as { workgroupSize?: number } | undefined)?.workgroupSize ?? 100;
  if (knob === 1) process.exit(7);
  if (knob === 2) return; // never answers
  if (knob === 3) {
    send({ type: 'result', id: m.id, status: 'mismatch', detail: 'Y[0] = 1, reference 2' });
    return;
  }
  const ms = knob / 100;
  send({ type: 'result', id: m.id, status: 'ok', measurement: { medianMs: ms, minMs: ms, maxMs: ms, spread: 0, samples: [ms], clock: 'device' } });
});
process.on('disconnect', () => process.exit(0));
