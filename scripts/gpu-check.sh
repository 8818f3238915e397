#!/usr/bin/env bash
# The CUDA check, for a machine with an NVIDIA GPU:
#   0. runs the prebuilt check bundle (build/gpu-bundle, from `npm run gpu-bundle` on any machine
#      with nvcc): every example and the schedules that matter, checked against the CPU reference
#      and timed, with nothing but the NVIDIA driver. Where Node is missing, it stops there.
# With Node and node_modules (about ten minutes more):
#   1. builds the native addon (libcuda and libnvrtc are loaded at run time),
#   2. runs the device correctness suites on CUDA against the CPU reference,
#   3. tunes an f16 GEMM on the GPU and prints its TFLOP/s,
#   4. tunes streamed attention (f16 prefill, and decode against an 8192-key cache) and prints
#      its TFLOP/s and GB/s,
#   5. tunes the int4 GEMV (g128) at N = K = 4096, 8192, 16384 and a vec4 copy, and prints the
#      GEMV's weight GB/s beside the copy's (the bandwidth a kernel reaches on this device),
#   6. tunes chunked gated linear attention (GLA, B=1 H=8 K=V=64) at L = 4096 to 32768 and prints
#      its time and GFLOP/s,
#   7. prints PyTorch's matmul and scaled_dot_product_attention beside them when PyTorch is installed.
# A Node binary unpacked into .node/ is used when node is not on PATH.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
step() { echo; echo "== $1"; }
echo "gpu-check: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo 'nvidia-smi not found')"

step "the prebuilt check bundle (no Node, no toolkit)"
if [ -x build/gpu-bundle/tilecraft-check ]; then
  bash build/gpu-bundle/run.sh || status=1
else
  echo "no build/gpu-bundle here: build it with 'npm run gpu-bundle' where nvcc is, and bring build/gpu-bundle along"
fi

if ! command -v node >/dev/null && [ -x .node/bin/node ]; then export PATH="$PWD/.node/bin:$PATH"; fi
if ! command -v node >/dev/null || [ ! -d node_modules ]; then
  echo; echo "gpu-check: no Node or no node_modules here: the addon, the suites on CUDA and the tuning runs are skipped"
  exit $status
fi
echo "gpu-check: node $(node --version)"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/tilecraft-runtime}"; mkdir -p "$XDG_RUNTIME_DIR"

step "build the addon and the library"
timeout 120 node scripts/build-addon.mjs || status=1
[ -d dist ] || timeout 120 npx tsc -p tsconfig.build.json || status=1
timeout 30 node dist/src/cli/autotune.js devices || status=1

step "CUDA correctness suites (the WebGPU suites, on CUDA)"
TILECRAFT_TEST_DEVICES=cuda timeout 150 npx vitest run test/dsl/ops.test.ts test/runtime/primitives.test.ts \
  test/runtime/dtypes.test.ts test/runtime/cuda.test.ts test/passes/online-softmax.test.ts \
  test/passes/attention-examples.test.ts test/passes/tile/stage-operands.test.ts \
  test/passes/lowbit-examples.test.ts test/passes/tile/unroll-steps.test.ts --reporter=dot || status=1

step "tune an f16 GEMM (4096^3, tensor cores among the candidates)"
SHAPE=M=4096,N=4096,K=4096
timeout 100 node dist/src/cli/autotune.js tune matmul --device cuda --dtype f16 --shape "$SHAPE" \
  --budget 24,75s --db /tmp/tilecraft-gpu-check.json --json > /tmp/tilecraft-gpu-tune.json || status=1
node -e '
  const r = JSON.parse(require("fs").readFileSync("/tmp/tilecraft-gpu-tune.json", "utf8"));
  const flops = 2 * 4096 ** 3;
  const tf = (ms) => (ms ? (flops / (ms * 1e-3) / 1e12).toFixed(1) : "n/a");
  console.log(`tilecraft f16 GEMM 4096^3: tuned ${r.best?.medianMs?.toFixed(3)} ms = ${tf(r.best?.medianMs)} TFLOP/s; default ${tf(r.default?.medianMs)} TFLOP/s; ${r.measured} candidates`);
  console.log("winner", JSON.stringify(r.best?.schedule));
' || status=1

step "tune streamed attention: f16 prefill B=1 H=8 N=M=2048 D=64, f32 decode H=32 M=8192 D=128"
timeout 80 node dist/src/cli/autotune.js tune attention --device cuda --dtype f16 --shape B=1,H=8,N=2048,M=2048,D=64 \
  --budget 16,60s --db /tmp/tilecraft-gpu-check.json --json > /tmp/tilecraft-gpu-attn.json || status=1
timeout 80 node dist/src/cli/autotune.js tune decode-attention --device cuda --dtype f32 --shape B=1,H=32,M=8192,D=128 \
  --budget 16,60s --db /tmp/tilecraft-gpu-check.json --json > /tmp/tilecraft-gpu-decode.json || status=1
node -e '
  const read = (f) => JSON.parse(require("fs").readFileSync(f, "utf8"));
  const a = read("/tmp/tilecraft-gpu-attn.json");
  const flops = 4 * 8 * 2048 * 2048 * 64;
  console.log(`tilecraft attention f16 prefill: tuned ${a.best?.medianMs?.toFixed(3)} ms = ${(flops / (a.best?.medianMs * 1e-3) / 1e12).toFixed(1)} TFLOP/s`);
  console.log("winner", JSON.stringify(a.best?.schedule));
  const d = read("/tmp/tilecraft-gpu-decode.json");
  const bytes = 2 * 32 * 8192 * 128 * 4;
  console.log(`tilecraft decode f32: tuned ${d.best?.medianMs?.toFixed(3)} ms = ${(bytes / (d.best?.medianMs * 1e-3) / 1e9).toFixed(0)} GB/s of K and V`);
  console.log("winner", JSON.stringify(d.best?.schedule));
' || status=1

step "tune the int4 GEMV (f32 activations, groups of 128) and a vec4 copy: weight GB/s against the copy's"
printf 'program copy(n) {\n  input X: f32[i: n]\n  output Y = X\n}\n' > /tmp/tilecraft-copy.tc
timeout 40 node dist/src/cli/autotune.js tune /tmp/tilecraft-copy.tc --device cuda --shape n=67108864 --knob vectorWidth=4 \
  --budget 6,30s --db /tmp/tilecraft-gpu-check.json --json > /tmp/tilecraft-gpu-copy.json || status=1
for n in 4096 8192 16384; do
  timeout 50 node dist/src/cli/autotune.js tune int4-gemm --device cuda --dtype f32 --shape M=1,N=$n,K=$n,G=128 \
    --budget 16,40s --db /tmp/tilecraft-gpu-check.json --json > /tmp/tilecraft-gpu-gemv-$n.json || status=1
done
node -e '
  const read = (f) => { try { return JSON.parse(require("fs").readFileSync(f, "utf8")); } catch { return {}; } };
  const copy = read("/tmp/tilecraft-gpu-copy.json");
  const copyGbs = copy.best ? (2 * 67108864 * 4) / (copy.best.medianMs * 1e-3) / 1e9 : undefined;
  console.log(`vec4 copy of 256 MiB: ${copyGbs?.toFixed(0) ?? "n/a"} GB/s (read + written)`);
  for (const n of [4096, 8192, 16384]) {
    const r = read(`/tmp/tilecraft-gpu-gemv-${n}.json`);
    const bytes = n * n / 2 + n * (n / 128) * 4;
    const gbs = r.best ? bytes / (r.best.medianMs * 1e-3) / 1e9 : undefined;
    console.log(`int4 GEMV N=K=${n}: ${r.best?.medianMs?.toFixed(4) ?? "n/a"} ms = ${gbs?.toFixed(0) ?? "n/a"} GB/s of weights and scales = ${gbs && copyGbs ? ((100 * gbs) / copyGbs).toFixed(0) : "n/a"}% of the copy; winner ${JSON.stringify(r.best?.schedule)}`);
  }
' || status=1

step "tune chunked gated linear attention (GLA f32, B=1 H=8 K=V=64) at L = 4096, 8192, 16384, 32768"
for L in 4096 8192 16384 32768; do
  timeout 90 node dist/src/cli/autotune.js tune gla --device cuda --dtype f32 --shape B=1,H=8,L=$L,K=64,V=64 \
    --budget 16,60s --db /tmp/tilecraft-gpu-check.json --json > /tmp/tilecraft-gpu-gla-$L.json || status=1
done
node -e '
  const read = (f) => { try { return JSON.parse(require("fs").readFileSync(f, "utf8")); } catch { return {}; } };
  for (const L of [4096, 8192, 16384, 32768]) {
    const r = read(`/tmp/tilecraft-gpu-gla-${L}.json`);
    const flops = 4 * 8 * L * 64 * 64;
    const gf = r.best ? flops / (r.best.medianMs * 1e-3) / 1e9 : undefined;
    console.log(`GLA L=${L}: tuned ${r.best?.medianMs?.toFixed(3) ?? "n/a"} ms = ${gf?.toFixed(0) ?? "n/a"} GFLOP/s (4·B·H·L·K·V); default ${r.default?.medianMs?.toFixed(3) ?? "n/a"} ms`);
  }
' || status=1

step "PyTorch matmul and scaled_dot_product_attention, same shapes and dtypes"
if python3 -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  timeout 60 python3 - <<'PY'
import torch
a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
b = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
for _ in range(5): a @ b
torch.cuda.synchronize()
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
times = []
for _ in range(20):
    start.record(); a @ b; end.record(); torch.cuda.synchronize(); times.append(start.elapsed_time(end))
times.sort(); ms = times[len(times) // 2]
print(f"torch f16 matmul 4096^3: {ms:.3f} ms = {2 * 4096 ** 3 / (ms * 1e-3) / 1e12:.1f} TFLOP/s")

def timed(f):
    for _ in range(5): f()
    torch.cuda.synchronize()
    ts = []
    for _ in range(20):
        start.record(); f(); end.record(); torch.cuda.synchronize(); ts.append(start.elapsed_time(end))
    ts.sort(); return ts[len(ts) // 2]

F = torch.nn.functional
q, k, v = (torch.randn(1, 8, 2048, 64, device="cuda", dtype=torch.float16) for _ in range(3))
ms = timed(lambda: F.scaled_dot_product_attention(q, k, v))
print(f"torch sdpa f16 prefill B=1 H=8 N=M=2048 D=64: {ms:.3f} ms = {4 * 8 * 2048 * 2048 * 64 / (ms * 1e-3) / 1e12:.1f} TFLOP/s")
q = torch.randn(1, 32, 1, 128, device="cuda")
k, v = (torch.randn(1, 32, 8192, 128, device="cuda") for _ in range(2))
ms = timed(lambda: F.scaled_dot_product_attention(q, k, v))
print(f"torch sdpa f32 decode H=32 M=8192 D=128: {ms:.3f} ms = {2 * 32 * 8192 * 128 * 4 / (ms * 1e-3) / 1e9:.0f} GB/s of K and V")
PY
else
  echo "PyTorch with CUDA is not installed here; skipping the comparison"
fi
exit $status
