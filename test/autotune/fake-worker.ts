/**
 * A measuring worker that misbehaves on request, speaking the real protocol: the group
 * "elementwise:Y" knob `workgroupSize` of the plan's schedule chooses the behaviour (1: crash the
 * process, 2: hang, 3: wrong result, else a measurement of `workgroupSize / 100` ms).
 *
 * The program text of `init`, when it is `{"crashAfter": n, "marker": path}`, makes it crash on
 * the measurement after n good ones and leave the marker file, and refuse to start while the
 * marker exists: a device lost for good. With `{"startDelayMs": n}` it takes n ms to start (a
 * slow device or reference).
 */
import { existsSync, writeFileSync } from 'node:fs';
import type { FromWorker, ToWorker } from '../../src/autotune/protocol.js';
import { syntheticDeviceInfo } from './fixtures.js';

const send = (m: FromWorker) => process.send?.(m);
const info = syntheticDeviceInfo;
let config: { crashAfter?: number; marker?: string; startDelayMs?: number } = {};
let measured = 0;

process.on('message', (raw) => {
  const m = raw as ToWorker;
  if (m.type === 'init') {
    config = JSON.parse(m.program) as typeof config;
    if (config.marker && existsSync(config.marker)) send({ type: 'init-failed', error: 'device lost' });
    else setTimeout(() => send({ type: 'ready', info }), config.startDelayMs ?? 0);
    return;
  }
  if (config.crashAfter !== undefined && ++measured > config.crashAfter) {
    if (config.marker) writeFileSync(config.marker, '');
    process.exit(7);
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
