import { readFile } from 'node:fs/promises';
import { KnobError, checkSchedule } from '../autotune/knobs.js';
import { type Sizes } from '../ir/bind.js';
import { type Program } from '../ir/tensor.js';
import { InvalidScheduleError, type Schedule } from '../passes/schedule.js';
import type { DeviceInfo } from '../runtime/device.js';
import { planFor } from '../runtime/target.js';
import { UsageError } from './sizes.js';

/**
 * `--schedule '{"contraction:C": {"blockK": 8}}'` or `--schedule best.json`: a schedule to replay. The JSON is
 * a schedule (knobs by group id, e.g. `contraction:C` — `run --json` lists a program's groups —, any knob left out takes its default), or what tilecraft prints
 * around one: a database entry or `tune --json`'s `best` (`{"schedule": ...}`), or `run --json`'s
 * output (`{"schedule": {"knobs": ...}}`).
 */
export async function readScheduleArg(spec: string): Promise<unknown> {
  const inline = spec.trim().startsWith('{');
  let text = spec;
  if (!inline) {
    try {
      text = await readFile(spec, 'utf8');
    } catch (e) {
      throw new UsageError(`--schedule ${spec}: not inline JSON (it starts with "{") and not a readable file (${(e as Error).message})`);
    }
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--schedule ${inline ? '' : `${spec} `}is not valid JSON: ${(e as Error).message}`);
  }
  return unwrap(raw);
}

function unwrap(raw: unknown): unknown {
  const inner = field(raw, 'schedule');
  if (inner === undefined) return raw;
  return field(inner, 'knobs') ?? inner;
}

function field(v: unknown, name: string): unknown {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>)[name] : undefined;
}

/**
 * Checks a schedule to replay against the program's groups on this device and lowers it once, so
 * a bad one fails before anything is compiled, as a KnobError naming the group and the knob.
 */
export function scheduleToReplay(info: DeviceInfo, program: Program, sizes: Sizes, raw: unknown): Schedule {
  const schedule = checkSchedule(planFor(info, program, sizes).groups, raw);
  try {
    planFor(info, program, sizes, { schedule });
  } catch (e) {
    if (e instanceof InvalidScheduleError) throw new KnobError(`--schedule: ${e.message}`, e.knob, e.group);
    throw e;
  }
  return schedule;
}
