import { describe, expect, it } from 'vitest';
import { type KExpr, I32, kadd, kconst, kmul, kref, ksub } from '../../src/ir/kernel.js';
import { kdivNonneg, kmodNonneg, letValues } from '../../src/passes/affine.js';
import { binaryValue } from '../helpers/naive.js';

/** Evaluates an i32 index expression over named values, with the kernel IR's own arithmetic. */
function evalI32(e: KExpr, env: Readonly<Record<string, number>>): number {
  if (e.op === 'const') return e.value;
  if (e.op === 'ref') {
    if (!(e.name in env)) throw new Error(`unbound ${e.name}`);
    return env[e.name]!;
  }
  if (e.op === 'binary') return binaryValue(e.fn, evalI32(e.a, env), evalI32(e.b, env), 'i32');
  throw new Error(`unexpected ${e.op}`);
}

const v = (name: string) => kref(name, I32);
const c = (n: number) => kconst(n);
const print = (e: KExpr): string =>
  e.op === 'const' ? String(e.value) : e.op === 'ref' ? e.name : e.op === 'binary' ? `(${print(e.a)} ${{ add: '+', sub: '-', mul: '*', div: '/', mod: '%' }[e.fn as 'add']} ${print(e.b)})` : '?';

describe('affine division and remainder by a constant', () => {
  it('reads the eight nibbles of a word at 8·kb + u as word kb, shift 4u, and their group scale once', () => {
    const at = (u: number) => kadd(kadd(kmul(v('n'), c(4096)), kmul(v('kb'), c(8))), c(u));
    for (let u = 0; u < 8; u++) {
      expect(print(kdivNonneg(at(u), 8))).toBe('((n * 512) + kb)');
      expect(print(kmodNonneg(at(u), 8))).toBe(String(u));
    }
    expect(print(kdivNonneg(kadd(kmul(v('kb'), c(8)), c(5)), 128))).toBe('(kb / 16)');
    expect(print(kdivNonneg(c(77), 8))).toBe('9');
    expect(print(kmodNonneg(c(77), 8))).toBe('5');
  });

  it('leaves alone what does not simplify', () => {
    const e = kadd(kmul(v('i'), c(3)), v('j'));
    expect(print(kdivNonneg(e, 8))).toBe('(((i * 3) + j) / 8)');
    expect(print(kmodNonneg(e, 8))).toBe('(((i * 3) + j) % 8)');
  });

  it('looks through lets that read no mutable variable, only where the index as written does not simplify', () => {
    const body = [
      { op: 'let' as const, name: 'base', value: kmul(v('kb'), c(8)) },
      { op: 'var' as const, name: 'acc', type: I32 },
      { op: 'let' as const, name: 'moving', value: kmul(v('acc'), c(8)) },
    ];
    const lets = letValues(body);
    expect([...lets.keys()]).toEqual(['base']);
    expect(print(kdivNonneg(kadd(v('base'), c(3)), 8, lets))).toBe('kb');
    expect(print(kdivNonneg(kadd(v('moving'), c(3)), 8, lets))).toBe('((moving + 3) / 8)');
    // written in a form that simplifies already: the lets stay unexpanded
    expect(print(kdivNonneg(kadd(kmul(v('base'), c(4)), c(3)), 4, lets))).toBe('base');
  });

  it('equals floor division and remainder at every non-negative point (exhaustive over small ranges)', () => {
    let x = 11;
    const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n);
    let checked = 0;
    for (let trial = 0; trial < 300; trial++) {
      const ca = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32][rnd(10)]! * (rnd(4) === 0 ? -1 : 1);
      const cb = [1, 2, 4, 8, 16, 64][rnd(6)]!;
      const k = rnd(40) - 10;
      const d = [1, 2, 3, 4, 6, 8, 12, 16, 32, 128][rnd(10)]!;
      // ca·a + (cb·b - k), written with a subtraction and a nested product
      const e = kadd(kmul(v('a'), c(ca)), ksub(kmul(c(cb), v('b')), c(k)));
      const q = kdivNonneg(e, d);
      const r = kmodNonneg(e, d);
      for (let a = 0; a < 12; a++) {
        for (let b = 0; b < 12; b++) {
          const n = ca * a + cb * b - k;
          if (n < 0) continue;
          expect([evalI32(q, { a, b }), evalI32(r, { a, b })], `${print(e)} at a=${a} b=${b}, d=${d}`).toEqual([Math.floor(n / d), n % d]);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(10000);
  });
});
