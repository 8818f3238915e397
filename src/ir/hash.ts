/**
 * Structural hashing: two IR values that print the same canonical JSON hash the same, whatever
 * object identity or key order they have. Synchronous and dependency-free so it runs in browsers.
 */

const cache = new WeakMap<object, string>();

/** JSON with object keys sorted, so structurally equal values give equal strings. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) return JSON.stringify(String(v));
    return JSON.stringify(v) ?? 'null';
  }
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v).sort();
  const rec = v as Record<string, unknown>;
  return `{${keys
    .filter((k) => rec[k] !== undefined)
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(rec[k])}`)
    .join(',')}}`;
}

/** 64-bit FNV-1a of a string's UTF-16 code units, as 16 hex digits. */
export function fnv1a64(s: string): string {
  // two 32-bit lanes of the 64-bit state; prime 2^40 + 2^8 + 0xb3
  let h0 = 0x2325,
    h1 = 0x8422,
    h2 = 0x9ce4,
    h3 = 0xcbf2; // 0xcbf29ce484222325 as four 16-bit limbs, low first
  for (let i = 0; i < s.length; i++) {
    // the low octet, then the high octet when there is one (so ASCII hashes as plain FNV-1a)
    h0 ^= s.charCodeAt(i) & 0xff;
    [h0, h1, h2, h3] = mulPrime(h0, h1, h2, h3);
    const hi = s.charCodeAt(i) >>> 8;
    if (hi !== 0) {
      h0 ^= hi;
      [h0, h1, h2, h3] = mulPrime(h0, h1, h2, h3);
    }
  }
  const hex = (x: number) => x.toString(16).padStart(4, '0');
  return hex(h3) + hex(h2) + hex(h1) + hex(h0);
}

function mulPrime(a0: number, a1: number, a2: number, a3: number): [number, number, number, number] {
  // multiply by 0x100000001b3 modulo 2^64 in 16-bit limbs
  const t0 = a0 * 0x1b3;
  const t1 = a1 * 0x1b3;
  const t2 = a2 * 0x1b3;
  const t3 = a3 * 0x1b3;
  let r0 = t0;
  let r1 = t1 + (r0 >>> 16);
  r0 &= 0xffff;
  let r2 = t2 + (r1 >>> 16);
  r1 &= 0xffff;
  let r3 = t3 + (r2 >>> 16);
  r2 &= 0xffff;
  // + a << 40: limb 2 gets a0 << 8, limb 3 gets a1 << 8 plus the carry of a0 << 8
  r2 += (a0 << 8) & 0xffff;
  r3 += ((a0 >>> 8) + (a1 << 8)) & 0xffff;
  r3 += r2 >>> 16;
  r2 &= 0xffff;
  r3 &= 0xffff;
  return [r0, r1, r2, r3];
}

/** Structural hash of an immutable IR value; cached per object. */
export function structuralHash(v: object): string {
  const hit = cache.get(v);
  if (hit !== undefined) return hit;
  const h = fnv1a64(canonicalJson(v));
  cache.set(v, h);
  return h;
}
