/** The error `f` throws (so tests can check its class, message and fields together). */
export function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw, but nothing was thrown');
}
