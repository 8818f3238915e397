import { describe, expect, it } from 'vitest';
import { canonicalJson, fnv1a64, structuralHash } from '../../src/ir/hash.js';
import { rng } from '../../src/ir/host.js';
import { iadd, int, ivar } from '../../src/ir/intexpr.js';
import { constant } from '../../src/ir/tensor.js';

/** FNV-1a 64 over the octets the project hashes: each UTF-16 unit's low octet, then its high octet if nonzero. */
function fnvBig(s: string): string {
  let h = 0xcbf29ce484222325n;
  const step = (octet: number) => {
    h ^= BigInt(octet);
    h = BigInt.asUintN(64, h * 0x100000001b3n);
  };
  for (let k = 0; k < s.length; k++) {
    const u = s.charCodeAt(k);
    step(u & 0xff);
    if (u >>> 8) step(u >>> 8);
  }
  return h.toString(16).padStart(16, '0');
}

describe('fnv1a64', () => {
  it('matches the published FNV-1a 64 test vectors for ASCII', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });

  it('matches a BigInt implementation on random strings, non-ASCII included', () => {
    const r = rng(3);
    for (let n = 0; n < 500; n++) {
      const len = Math.floor(r() * 40);
      let s = '';
      for (let k = 0; k < len; k++) {
        const kind = r();
        s += String.fromCharCode(kind < 0.6 ? 32 + Math.floor(r() * 95) : kind < 0.8 ? Math.floor(r() * 0x800) : Math.floor(r() * 0x10000));
      }
      expect(fnv1a64(s), JSON.stringify(s)).toBe(fnvBig(s));
    }
  });

  it('always gives 16 lowercase hex digits', () => {
    for (const s of ['x', 'é', '\u0000', 'a much longer string with spaces']) expect(fnv1a64(s)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level and skips undefined properties', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: 2 }], c: undefined } })).toBe('{"a":{"d":[1,{"y":2,"z":0}]},"b":1}');
  });
  it('writes non-finite numbers as strings and keeps array order', () => {
    expect(canonicalJson([NaN, Infinity, -Infinity, null, 'x', true])).toBe('["NaN","Infinity","-Infinity",null,"x",true]');
    expect(canonicalJson([undefined])).toBe('[null]');
  });
});

describe('structuralHash', () => {
  it('is equal for structurally equal values whatever the key order or identity', () => {
    const a = { op: 'add', a: { op: 'var', name: 'i' }, b: { op: 'int', value: 1 } };
    const b = { b: { value: 1, op: 'int' }, a: { name: 'i', op: 'var' }, op: 'add' };
    expect(structuralHash(a)).toBe(structuralHash(b));
    expect(structuralHash(iadd(ivar('i'), 1))).toBe(structuralHash(a));
  });
  it('differs when a value, a dtype or an order differs', () => {
    const h = new Set([
      structuralHash(int(1)),
      structuralHash(int(2)),
      structuralHash(constant(1, 'f32')),
      structuralHash(constant(1, 'f16')),
      structuralHash([1, 2]),
      structuralHash([2, 1]),
      structuralHash({ a: '1' }),
      structuralHash({ a: 1 }),
    ]);
    expect(h.size).toBe(8);
  });
  it('is cached per object and stable across calls', () => {
    const v = { x: [1, 2, 3] };
    const first = structuralHash(v);
    expect(structuralHash(v)).toBe(first);
    expect(first).toBe(fnv1a64(canonicalJson(v)));
  });
});
