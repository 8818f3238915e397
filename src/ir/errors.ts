/**
 * Typed errors. Every error tilecraft throws on bad input is one of these, and its message says
 * which tensor, axis, limit, file, line or column is at fault and, where it can, what to do.
 */
export class TilecraftError extends Error {
  override name = 'TilecraftError';
}

/** A tensor's shape does not fit where it is used (mismatched axis sizes, unknown axis, out-of-range view). */
export class ShapeError extends TilecraftError {
  override name = 'ShapeError';
  constructor(
    message: string,
    readonly tensor?: string,
    readonly axis?: string,
  ) {
    super(message);
  }
}

/** A value's dtype is not allowed where it is used (mixing f16 and f32 without a cast, arithmetic on packed ints). */
export class DTypeError extends TilecraftError {
  override name = 'DTypeError';
  constructor(
    message: string,
    readonly tensor?: string,
  ) {
    super(message);
  }
}

/** A program is malformed: undefined tensor, unbound size, a name used twice. */
export class ProgramError extends TilecraftError {
  override name = 'ProgramError';
  constructor(
    message: string,
    /** The tensor whose definition is at fault, where one is. */
    readonly tensor?: string,
  ) {
    super(message);
  }
}

/** A kernel needs a device feature or exceeds a device limit. */
export class DeviceLimitError extends TilecraftError {
  override name = 'DeviceLimitError';
  constructor(
    message: string,
    readonly limit: string,
    readonly requested?: number,
    readonly available?: number,
  ) {
    super(message);
  }
}

/** A device feature the program needs is missing (shader-f16, subgroups, timestamp-query). */
export class MissingFeatureError extends TilecraftError {
  override name = 'MissingFeatureError';
  constructor(
    message: string,
    readonly feature: string,
  ) {
    super(message);
  }
}

/** No device could be acquired, or the device was lost while running. */
export class DeviceError extends TilecraftError {
  override name = 'DeviceError';
}

export class DeviceLostError extends DeviceError {
  override name = 'DeviceLostError';
  constructor(
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** The backend rejected generated or user-supplied code or a dispatch (WebGPU validation, NVRTC, ptxas). */
export class BackendValidationError extends DeviceError {
  override name = 'BackendValidationError';
  constructor(
    message: string,
    readonly kernel?: string,
    readonly source?: string,
  ) {
    super(message);
  }
}

/** A shader or kernel did not compile; `line` and `column` point into `source`. */
export class KernelCompileError extends BackendValidationError {
  override name = 'KernelCompileError';
  constructor(
    message: string,
    kernel: string,
    source: string,
    readonly line?: number,
    readonly column?: number,
  ) {
    super(message, kernel, source);
  }
}

/** Host data handed to a kernel does not match the tensor it is bound to. */
export class BindingError extends TilecraftError {
  override name = 'BindingError';
  constructor(
    message: string,
    readonly tensor: string,
  ) {
    super(message);
  }
}

export function assertNever(x: never, what = 'value'): never {
  throw new TilecraftError(`internal: unexpected ${what} ${JSON.stringify(x)}`);
}
