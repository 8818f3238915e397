import { ProgramError } from './errors.js';
import type { Program } from './tensor.js';
import { verifyProgram } from './verify.js';

/**
 * Programs are plain immutable data, so they travel as JSON (to a tuning worker process, into a
 * file). JSON has no infinities or NaN, which masks and reductions use: those numbers travel as
 * `{ "$number": "Infinity" }`.
 */
export function serializeProgram(p: Program): string {
  return JSON.stringify({ format: 'tilecraft-program', version: 1, program: p }, (_k, v: unknown) =>
    typeof v === 'number' && !Number.isFinite(v) ? { $number: String(v) } : v,
  );
}

export function deserializeProgram(text: string): Program {
  let doc: unknown;
  try {
    doc = JSON.parse(text, (_k, v: unknown) => {
      if (v && typeof v === 'object' && '$number' in v) {
        const s = (v as { $number: unknown }).$number;
        if (s === 'Infinity' || s === '-Infinity' || s === 'NaN') return Number(s);
      }
      return v;
    });
  } catch (e) {
    throw new ProgramError(`not a serialized tilecraft program: ${(e as Error).message}`);
  }
  const d = doc as { format?: unknown; version?: unknown; program?: Program };
  if (d?.format !== 'tilecraft-program' || d.version !== 1 || !d.program) {
    throw new ProgramError('not a serialized tilecraft program (format tilecraft-program, version 1)');
  }
  verifyProgram(d.program);
  return d.program;
}
