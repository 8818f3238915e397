import type { Example } from '../src/cli/examples.js';
import { attention } from './attention.js';
import { causalAttention } from './causal-attention.js';
import { decodeAttention } from './decode-attention.js';
import { elementwiseChain } from './elementwise.js';
import { gla, glaDecode } from './gla.js';
import { gqaAttention } from './gqa-attention.js';
import { linearAttention, linearAttentionPlain } from './linear-attention.js';
import { linearRecurrence } from './linear-recurrence.js';
import { int4Gemm, int4ZpGemm, int8ChannelGemm, int8Gemm, int8OutlierGemm, swigluInt4 } from './lowbit-gemm.js';
import { matmul } from './matmul.js';
import { layernormExample, rmsnormExample, softmaxExample } from './norms.js';
import { onlineSoftmax } from './online-softmax.js';
import { retention } from './retention.js';
import { ssd } from './ssd.js';

/** A named example: a program builder per dtype, default sizes, and a one-line description. */
export type { Example } from '../src/cli/examples.js';

export const EXAMPLES: readonly Example[] = [
  elementwiseChain,
  softmaxExample,
  layernormExample,
  rmsnormExample,
  matmul,
  attention,
  causalAttention,
  decodeAttention,
  gqaAttention,
  int8Gemm,
  int8ChannelGemm,
  int8OutlierGemm,
  int4Gemm,
  int4ZpGemm,
  swigluInt4,
  onlineSoftmax,
  linearRecurrence,
  linearAttention,
  linearAttentionPlain,
  retention,
  gla,
  glaDecode,
  ssd,
];

export function findExample(name: string): Example | undefined {
  return EXAMPLES.find((e) => e.name === name);
}
