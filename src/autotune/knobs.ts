import { TilecraftError } from '../ir/errors.js';
import { DEFAULT_KNOBS, type GroupKind, type Schedule } from '../passes/schedule.js';

/**
 * Checking knobs a person typed (`--knob`, `--schedule`) against the schedule vocabulary before
 * anything runs: a misspelled knob must be an error that names it, never a silently ignored
 * option that leaves the search or a replay running something else.
 */

export type KnobValue = number | string | boolean;

/** A knob name, value or group that does not exist or does not fit; `group` is set for a schedule's group. */
export class KnobError extends TilecraftError {
  override name = 'KnobError';
  constructor(
    message: string,
    readonly knob: string,
    readonly group?: string,
  ) {
    super(message);
  }
}

/** Knobs that are a choice among a few values; every other knob is a boolean, a string or a count. */
const CHOICES: Readonly<Record<string, Readonly<Record<string, readonly KnobValue[]>>>> = {
  elementwise: { vectorWidth: [1, 2, 4] },
  contraction: { staging: ['shared', 'direct'], vectorWidth: [1, 4], vectorK: [1, 4] },
};

const KINDS = Object.keys(DEFAULT_KNOBS) as GroupKind[];

/** A kind of group's knob names (without `kind`). */
export function knobNames(kind: GroupKind): string[] {
  return Object.keys(DEFAULT_KNOBS[kind]).filter((k) => k !== 'kind');
}

const hasKnob = (kind: GroupKind, knob: string) => knobNames(kind).includes(knob);
const allKnobs = () => [...new Set(KINDS.flatMap(knobNames))].sort();

/** Why `value` cannot be knob `knob` of a `kind` group, or undefined when it can. */
export function knobValueProblem(kind: GroupKind, knob: string, value: unknown): string | undefined {
  if (!hasKnob(kind, knob)) return `${kind} groups have no knob ${knob}; their knobs are ${knobNames(kind).join(', ')}`;
  const choices = CHOICES[kind]?.[knob];
  if (choices) return choices.includes(value as KnobValue) ? undefined : `${knob} of a ${kind} group is one of ${choices.join(', ')}, not ${JSON.stringify(value)}`;
  const dflt = (DEFAULT_KNOBS[kind] as unknown as Record<string, KnobValue>)[knob];
  if (typeof dflt === 'boolean') return typeof value === 'boolean' ? undefined : `${knob} is true or false, not ${JSON.stringify(value)}`;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return `${knob} is a non-negative integer, not ${JSON.stringify(value)}`;
  return undefined;
}

/** Restrictions from the command line: `blockK: [8, 16]` keeps those values, for every group. */
export type Restrictions = Readonly<Record<string, readonly KnobValue[]>>;

/**
 * Checks restricted knobs against the kinds of group they may apply to: by default every kind
 * (before the program is lowered), else the kinds a program's plan has. Each knob must belong to
 * one of them, and each value must suit one of those that have it.
 */
export function checkRestrictions(restrict: Restrictions, kinds: readonly GroupKind[] = KINDS): void {
  const present = [...new Set(kinds)];
  for (const [knob, values] of Object.entries(restrict)) {
    const owners = present.filter((k) => hasKnob(k, knob));
    if (owners.length === 0) throw new KnobError(unknownKnobMessage(knob, present), knob);
    for (const v of values) {
      const problems = owners.map((k) => knobValueProblem(k, knob, v));
      if (problems.every((p) => p !== undefined)) throw new KnobError(`--knob ${knob}: ${problems[0]!}`, knob);
    }
  }
}

function unknownKnobMessage(knob: string, present: readonly GroupKind[]): string {
  const anywhere = KINDS.filter((k) => hasKnob(k, knob));
  if (anywhere.length === 0) return `unknown knob ${knob}; the knobs are ${allKnobs().join(', ')}`;
  const valid = [...new Set(present.flatMap(knobNames))].sort();
  return `knob ${knob} belongs to ${anywhere.join(' and ')} groups, and this program has only ${present.join(' and ')} groups; its knobs are ${valid.join(', ') || 'none'}`;
}

/**
 * Checks a schedule a person wrote against a plan's groups (their ids and kinds): every group id
 * must exist, every knob must be one of its kind's with a value of the right sort. Returns it
 * typed as a schedule; the lowering then checks how the knobs combine.
 */
export function checkSchedule(groups: readonly { readonly id: string; readonly kind: GroupKind }[], schedule: unknown): Schedule {
  if (!isRecord(schedule)) throw new KnobError('a schedule is a JSON object of knobs by group id, e.g. {"contraction:C": {"blockK": 8}}', '');
  const ids = groups.map((g) => g.id).join(', ');
  for (const [id, knobs] of Object.entries(schedule)) {
    const g = groups.find((x) => x.id === id);
    if (!g) throw new KnobError(`the schedule has group ${id}, but this program's groups are ${ids}`, '', id);
    if (!isRecord(knobs)) throw new KnobError(`group ${id}: knobs are a JSON object, e.g. {"workgroupSize": 128}`, '', id);
    for (const [knob, value] of Object.entries(knobs)) {
      const problem = knob === 'kind' ? (value === g.kind ? undefined : `is a ${g.kind} group, not ${JSON.stringify(value)}`) : knobValueProblem(g.kind, knob, value);
      if (problem !== undefined) throw new KnobError(`group ${id} (${g.kind}): ${problem}`, knob, id);
    }
  }
  return schedule as Schedule;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
