import { describe, expect, it } from 'vitest';
import { program } from '../../src/dsl/program.js';
import { ProgramError } from '../../src/ir/errors.js';
import { fromValues } from '../../src/ir/host.js';
import { deserializeProgram, serializeProgram } from '../../src/ir/serialize.js';
import { evaluate } from '../../src/reference/evaluate.js';

describe('the reference evaluator builds code only from numbers', () => {
  it('refuses a constant that is not a number (a .json program could otherwise run code)', () => {
    const p = program('p', (b) => {
      b.output('Y', b.input('X', 'f32', { i: 2 }).add(1));
    });
    const text = serializeProgram(p).replace('"value":1', '"value":"(globalThis.tcInjected=7)"');
    expect(text).toContain('tcInjected');
    const run = () => evaluate(deserializeProgram(text), {}, { X: fromValues('f32', [2], [1, 2]) });
    expect(run).toThrow(ProgramError);
    expect((globalThis as Record<string, unknown>).tcInjected).toBeUndefined();
  });
});
