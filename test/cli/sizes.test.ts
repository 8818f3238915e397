import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit-codes.js';
import { UsageError, parseSizes } from '../../src/cli/sizes.js';
import { autotune } from './autotune-process.js';

describe('parseSizes', () => {
  const defaults = { M: 64, N: 64 };

  it('takes positive integers', () => {
    expect(parseSizes(['M=128', 'N=1'], defaults)).toEqual({ M: 128, N: 1 });
  });

  it('rejects 0, naming the size', () => {
    expect(() => parseSizes(['M=0'], defaults)).toThrow(UsageError);
    expect(() => parseSizes(['M=0'], defaults)).toThrow(/size M .*positive integer.*got 0/);
  });

  it('rejects a value past the largest safe integer, naming the size', () => {
    expect(() => parseSizes(['N=99999999999999999999'], defaults)).toThrow(UsageError);
    expect(() => parseSizes(['N=99999999999999999999'], defaults)).toThrow(/size N .*too large/);
  });
});

describe('autotune --shape errors', () => {
  it('tune --shape M=0 is a usage error naming the size, found before any device is opened', () => {
    // cuda is not usable here: reaching the device would be a device failure, not a usage error
    const r = autotune('tune', 'matmul', '--shape', 'M=0', '--device', 'cuda', '--no-save', '--budget', '2');
    expect(r.status, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/size M .*positive integer/);
    expect(r.stderr).not.toMatch(/worker/);
  });

  it('tune with a size beyond any integer is a usage error naming the size', () => {
    const r = autotune('tune', 'matmul', '--shape', 'M=99999999999999999999', '--device', 'cuda', '--no-save', '--budget', '2');
    expect(r.status, r.stderr).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/size M .*too large/);
  });
});
