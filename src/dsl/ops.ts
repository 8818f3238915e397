import type { Tensor, FloatDt } from './tensor.js';

/**
 * Composite operators, written with the DSL from primitives so every pass sees primitives. Each
 * takes the axis it normalizes over by name.
 */

/** softmax over `axis`: exp(x - max x) / sum exp(x - max x). */
export function softmax<D extends FloatDt, A extends string>(x: Tensor<D, A>, axis: A): Tensor<D, A> {
  const e = x.sub(x.max(axis)).exp();
  return e.div(e.sum(axis)) as Tensor<D, A>;
}

export function logSoftmax<D extends FloatDt, A extends string>(x: Tensor<D, A>, axis: A): Tensor<D, A> {
  const shifted = x.sub(x.max(axis));
  return shifted.sub(shifted.exp().sum(axis).log()) as Tensor<D, A>;
}

/** Layer normalization over `axis`, with optional scale `gamma` and shift `beta` along that axis. */
export function layernorm<D extends FloatDt, A extends string>(
  x: Tensor<D, A>,
  axis: A,
  opts: { gamma?: Tensor<D, A>; beta?: Tensor<D, A>; eps?: number } = {},
): Tensor<D, A> {
  const centered = x.sub(x.mean(axis));
  const variance = centered.mul(centered).mean(axis);
  let y = centered.mul(variance.add(opts.eps ?? 1e-5).rsqrt()) as Tensor<D, A>;
  if (opts.gamma) y = y.mul(opts.gamma) as Tensor<D, A>;
  if (opts.beta) y = y.add(opts.beta) as Tensor<D, A>;
  return y;
}

/** RMS normalization over `axis`: x / sqrt(mean(x^2) + eps) * weight. */
export function rmsnorm<D extends FloatDt, A extends string>(
  x: Tensor<D, A>,
  axis: A,
  opts: { weight?: Tensor<D, A>; eps?: number } = {},
): Tensor<D, A> {
  const y = x.mul(x.mul(x).mean(axis).add(opts.eps ?? 1e-6).rsqrt()) as Tensor<D, A>;
  return opts.weight ? (y.mul(opts.weight) as Tensor<D, A>) : y;
}

/** GELU, exact form: x * (1 + erf(x / sqrt 2)) / 2. */
export function gelu<D extends FloatDt, A extends string>(x: Tensor<D, A>): Tensor<D, A> {
  return x.mul(x.mul(Math.SQRT1_2).erf().add(1)).mul(0.5) as Tensor<D, A>;
}

/** GELU, tanh approximation (as in GPT-2). */
export function geluTanh<D extends FloatDt, A extends string>(x: Tensor<D, A>): Tensor<D, A> {
  const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(inner.tanh().add(1)).mul(0.5) as Tensor<D, A>;
}

/** SiLU (swish): x * sigmoid(x). */
export function silu<D extends FloatDt, A extends string>(x: Tensor<D, A>): Tensor<D, A> {
  return x.mul(x.sigmoid()) as Tensor<D, A>;
}

/** Contraction over the named axes: `sum[k](a * b)`, the einsum of two tensors. */
export function dot<D extends 'f32' | 'f16' | 'i32', A extends string, B extends string, K extends A & B>(
  a: Tensor<D, A>,
  b: Tensor<D, B>,
  ...over: [K, ...K[]]
): Tensor<D, Exclude<A | B, K>> {
  return a.mul(b).sum(...(over as unknown as [A | B])) as Tensor<D, Exclude<A | B, K>>;
}
