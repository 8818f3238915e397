import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, findExample } from '../../examples/index.js';
import { resolveProgram } from '../../src/cli/program-source.js';
import { InvalidNameError } from '../../src/dsl/names.js';
import { program } from '../../src/dsl/program.js';
import { TextDslError } from '../../src/dsl/text/errors.js';
import { parseProgram } from '../../src/dsl/text/parse.js';
import { ProgramError } from '../../src/ir/errors.js';
import { deserializeProgram, serializeProgram } from '../../src/ir/serialize.js';

const square = program('square', (b) => {
  const x = b.input('X', 'f32', { i: b.size('N') });
  b.output('Y', x.mul(x).add(1));
});

/** The serialized program with one name replaced everywhere it occurs. */
function renamed(from: string, to: string): string {
  const doc = JSON.parse(serializeProgram(square)) as unknown;
  const swap = (v: unknown): unknown =>
    v === from ? to : Array.isArray(v) ? v.map(swap) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swap(x)])) : v;
  return JSON.stringify(swap(doc));
}

function caught(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error');
}

describe('names in serialized programs go through the name check', () => {
  it('the examples round-trip', () => {
    for (const e of EXAMPLES) {
      const p = e.build(e.dtypes[0]!);
      expect(deserializeProgram(serializeProgram(p))).toEqual(p);
    }
  });

  // each of these prints as t__ in generated code
  for (const bad of ['é', ' ', '\0', '_', '1X']) {
    it(`a tensor named ${JSON.stringify(bad)} is an InvalidNameError saying where`, () => {
      const e = caught(() => deserializeProgram(renamed('X', bad), 'bad.json'));
      expect(e).toBeInstanceOf(InvalidNameError);
      expect(e).toBeInstanceOf(ProgramError);
      const err = e as InvalidNameError;
      expect(err.invalidName).toBe(bad);
      expect(err.what).toBe('tensor');
      expect(err.message).toBe(`bad.json: at program.inputs[0].name: tensor name ${JSON.stringify(bad)} must start with a letter and hold only letters, digits and _`);
    });
  }

  it('sizes, axes, the program and outputs are checked too', () => {
    expect((caught(() => deserializeProgram(renamed('N', 'é'))) as Error).message).toMatch(/^at program\.sizes\[0\]: size name "é"/);
    expect((caught(() => deserializeProgram(renamed('i', 'é'))) as Error).message).toMatch(/^at program\.inputs\[0\]\.axes\[0\]\.name: axis name "é"/);
    expect((caught(() => deserializeProgram(renamed('square', 'a b'))) as Error).message).toMatch(/^at program\.name: program name "a b"/);
    expect((caught(() => deserializeProgram(renamed('Y', 'Y\0'))) as Error).message).toMatch(/^at program\.outputs\[0\]: output name "Y\\u0000"/);
  });

  it('the CLI names the .json file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tilecraft-names-'));
    const file = join(dir, 'square.json');
    writeFileSync(file, renamed('X', 'é'));
    await expect(resolveProgram(file, undefined, ['N=4'])).rejects.toThrow(`${file}: at program.inputs[0].name: tensor name "é"`);
    await expect(resolveProgram(file, undefined, ['N=4'])).rejects.toBeInstanceOf(InvalidNameError);
  });

  it('the DSL and the text language reject the same names', () => {
    expect(() => program('p', (b) => b.input('é', 'f32', { i: 2 }))).toThrow(InvalidNameError);
    const e = caught(() => parseProgram('program p(N) {\n  input é: f32[i: N]\n}\n', 'bad.tc')) as TextDslError;
    expect(e).toBeInstanceOf(TextDslError);
    expect([e.line, e.column]).toEqual([2, 9]);
  });
});

describe('axis names the builder makes up', () => {
  it("are accepted in the form it makes (j', j'2) and no other", () => {
    expect(() => deserializeProgram(renamed('i', "i'2"))).not.toThrow(InvalidNameError);
    expect(() => deserializeProgram(renamed('i', "i'x"))).toThrow(InvalidNameError);
    expect(() => deserializeProgram(renamed('X', "X'"))).toThrow(InvalidNameError);
  });

  it('a malformed structure is a ProgramError naming the field, and a document nested too deep is refused without a stack overflow', () => {
    const doc = (program: unknown) => JSON.stringify({ format: 'tilecraft-program', version: 1, program });
    const good = JSON.parse(serializeProgram(findExample('matmul')!.build('f32'))) as { program: Record<string, unknown> };
    const bad = (edit: (p: Record<string, unknown>) => void) => {
      const p = structuredClone(good.program);
      edit(p);
      return () => deserializeProgram(doc(p), 'bad.json');
    };
    expect(bad((p) => (p.sizes = 'M'))).toThrow(ProgramError);
    expect(bad((p) => (p.sizes = 'M'))).toThrow(/bad.json: at program.sizes/);
    expect(bad((p) => ((p.stmts as { expr: { body: unknown } }[])[0]!.expr.body = { op: 'nope' }))).toThrow(/at program.stmts\[0\].expr.body.op/);
    expect(bad((p) => ((p.inputs as { axes: { size: unknown }[] }[])[0]!.axes[0]!.size = 7))).toThrow(/at program.inputs\[0\].axes\[0\].size/);
    // 5000 nested sums as a size, written as text (JSON.stringify itself overflows at that depth)
    const deep = '{"op":"add","a":'.repeat(5000) + '{"op":"int","value":1}' + ',"b":{"op":"int","value":1}}'.repeat(5000);
    const p = structuredClone(good.program);
    (p.inputs as { axes: { size: unknown }[] }[])[0]!.axes[0]!.size = '__DEEP__';
    expect(() => deserializeProgram(doc(p).replace('"__DEEP__"', deep), 'deep.json')).toThrow(/deep.json: the program nests deeper than 2000 levels/);
  });
});
