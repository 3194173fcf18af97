#!/usr/bin/env bash
# `make bench`: GEMM GFLOP/s per GPT shape, training tokens/s and GFLOP/s on the
# two reference configs, sampling ms/token, and both on a busy machine (default threads
# against the best --threads, scripts/bench_busy.sh); prints one report and writes it to
# bench/results/DATE-cpu.md. Run on an idle machine; numbers are medians.
#
#   scripts/bench.sh        (no arguments; BENCH_STEPS=N sets the training steps, default 6)
#
# The report goes to a temp file beside it and replaces DATE-cpu.md only when complete,
# so a stopped run (Ctrl-C) leaves an earlier report of the day as it was.
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  "") ;;
  -h | --help) usage; exit 0 ;;
  *) { echo "bench.sh: takes no arguments (got '$1'); usage:"; usage; } >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
BIN=bin/gpt
STEPS=${BENCH_STEPS:-6}
tmp=$(mktemp -d)
out=bench/results/$(date +%Y-%m-%d)-cpu.md
partial=$out.partial.$$
trap 'rm -rf "$tmp" "$partial"' EXIT

# Synthetic token shards (uniform random ids): vocab 65 (char level) and 50257 (GPT-2).
/usr/bin/env python3 scripts/synthetic_shards.py "$tmp/char" 65 300000 30000
/usr/bin/env python3 scripts/synthetic_shards.py "$tmp/gpt2" 50257 300000 30000

# median ms/step over steps 2..N (step 1 pays first-touch page faults)
median_ms() {
  /usr/bin/env python3 -c '
import json, sys, statistics
ms = [json.loads(l)["ms_per_step"] for l in open(sys.argv[1]) if l.strip()][1:]
print("%.1f" % statistics.median(ms))' "$1"
}

# PyTorch baseline (scripts/torch_bench.py) when python3-torch is installed; "n/a" otherwise.
TORCH_THREADS=$(nproc)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
torch_json() {
  if $PY -c 'import torch' 2>/dev/null; then
    env -u OPENBLAS_CORETYPE OMP_WAIT_POLICY=PASSIVE $PY scripts/torch_bench.py "$@" --threads "$TORCH_THREADS" --steps "$STEPS"
  else
    echo '{}'
  fi
}
# Debian's torch runs fp32 products on whatever libblas.so.3 points to; on the reference
# (netlib) BLAS it runs at a few GFLOP/s, no baseline at all (make bench installs OpenBLAS:
# scripts/install_deps.sh --bench). Said in the report, and the ratios are left out, when so.
# (Run by hand without OpenBLAS, the report claimed 70x PyTorch's training speed.)
TORCH_BLAS=""
if $PY -c 'import torch' 2>/dev/null; then
  TORCH_BLAS=$($PY -c '
import torch
a = torch.ones(64, 64); a @ a
libs = sorted({l.split()[-1] for l in open("/proc/self/maps") if "libblas" in l or "openblas" in l or "libmkl" in l})
print(" ".join(libs) or "its own")' 2>/dev/null || echo "unknown")
fi
TORCH_REFERENCE_BLAS=no
case "$TORCH_BLAS" in */blas/libblas.so*) TORCH_REFERENCE_BLAS=yes ;; esac
field() { $PY -c 'import json,sys; d=json.load(sys.stdin); v=d.get(sys.argv[1]); print("n/a" if v is None else "%.1f" % v)' "$1"; }
PEAK=$(build/bench_matmul --peak-only)
PEAK16=$(build/bench_matmul --bf16-peak-only)

train_row() {  # name data L H C T B V dtype (fp32 | bf16: PyTorch then runs under bf16 autocast)
  local name=$1 data=$2 L=$3 H=$4 C=$5 T=$6 B=$7 Vt=$8 dt=${9:-fp32}
  local run=$tmp/run_${name}_$dt
  $BIN train --data "$data" --vocab-size "$Vt" --out "$run" --layers "$L" --heads "$H" --dim "$C" --context "$T" --batch "$B" \
    --steps "$STEPS" --log-every 1 --eval-every 0 --save-every 0 --dtype "$dt" 2>/dev/null
  local ms; ms=$(median_ms "$run/metrics.jsonl")
  local V; V=$([ "$data" = "$tmp/gpt2" ] && echo 50304 || echo 128)
  local ac; ac=$([ "$dt" = bf16 ] && echo bf16 || echo off)
  local peak; peak=$([ "$dt" = bf16 ] && echo "$PEAK16" || echo "$PEAK")
  # training FLOPs/token: 6 x (matmul params incl. the tied classifier) + causal attention 6 L T C
  local pt; pt=$(torch_json train --layers "$L" --heads "$H" --dim "$C" --context "$T" --batch "$B" --vocab "$Vt" --autocast "$ac" | field tokens_per_s)
  /usr/bin/env python3 -c "
L,C,T,B,V,ms,peak,pt=$L,$C,$T,$B,$V,$ms,$peak,'$pt'
N=L*12*C*C+V*C
flops=6*N+6*L*T*C
tps=B*T/(ms/1000)
ratio='%.2fx' % (tps/float(pt)) if pt!='n/a' else 'n/a'
if '$TORCH_REFERENCE_BLAS'=='yes' and '$dt'=='fp32': ratio='n/a (reference BLAS)'
print('| %s | %s | %d/%d/%d, T %d, B %d | %.0f | %.0f | %.0f | %.0f%% | %s | %s |' % ('$name','$dt',L,$H,C,T,B,ms,tps,tps*flops/1e9,100*tps*flops/1e9/peak,pt,ratio))"
}

{
  echo "# CPU benchmark, $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "Command: make bench (scripts/bench.sh, BENCH_STEPS=$STEPS)"
  echo
  echo "## GEMM (bench/matmul.cpp)"
  echo
  env -u OPENBLAS_CORETYPE build/bench_matmul --peaks "$PEAK" "$PEAK16"
  echo
  echo "## Training (gpt train, synthetic tokens, median of steps 2..$STEPS)"
  echo
  if [ "$TORCH_REFERENCE_BLAS" = yes ]; then
    echo "**PyTorch's fp32 figures are no baseline in this report:** torch runs its fp32 products on the"
    echo "reference BLAS ($TORCH_BLAS), a few GFLOP/s; the fp32 ratios and the sampling ratio are left"
    echo "out. \`make bench\` installs OpenBLAS first (scripts/install_deps.sh --bench)."
    echo
  fi
  echo "| config | dtype | layers/heads/dim | ms/step | tokens/s | GFLOP/s | % of peak | PyTorch tokens/s | ratio |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for dt in fp32 bf16; do
    train_row shakespeare-6L "$tmp/char" 6 6 384 256 16 65 $dt
    train_row gpt2-124M "$tmp/gpt2" 12 12 768 64 4 50257 $dt
  done
  echo
  echo "% of peak: fp32 rows against the fp32 FMA peak ($PEAK GFLOP/s), bf16 rows against the bf16 kernel's"
  echo "peak ($PEAK16 GFLOP/s; bench/matmul.cpp). PyTorch column: fp32 rows plain fp32, bf16 rows under"
  echo "torch.autocast(\"cpu\", bfloat16) (scripts/torch_bench.py --autocast bf16)."
  echo "PyTorch: scripts/torch_bench.py (nanoGPT-style model, same shapes, AdamW, $TORCH_THREADS threads,"
  echo "OMP_WAIT_POLICY=PASSIVE, OPENBLAS_CORETYPE unset), median of steps 2..$STEPS, in this run; its BLAS: ${TORCH_BLAS:-n/a}."
  echo "GFLOP/s counts 6 x matmul parameters (incl. the tied classifier) + 6 L T C per token."
  echo "Earlier figures quoted by the issue (not re-measured): llm.c train_gpt2.c 655 and 94 tokens/s."
  echo
  echo "## Sampling (6L/384 model, batch 1, KV cache, 200 tokens)"
  echo
  ours=$($BIN sample --ckpt "$tmp/run_shakespeare-6L_fp32" --prompt "0 1 2 3" --tokens 200 --stats 2>&1 >/dev/null | tail -1)
  ours_ms=$(echo "$ours" | grep -o '[0-9.]* ms/token' | tail -1 | cut -d' ' -f1)  # generated tokens
  ours16=$($BIN sample --ckpt "$tmp/run_shakespeare-6L_fp32" --prompt "0 1 2 3" --tokens 200 --stats --dtype bf16 2>&1 >/dev/null | tail -1)
  ours16_ms=$(echo "$ours16" | grep -o '[0-9.]* ms/token' | tail -1 | cut -d' ' -f1)
  torch_ms=$(torch_json sample --layers 6 --heads 6 --dim 384 --context 256 --vocab 65 --tokens 200 | field ms_per_token)
  echo "| | ms/token |"
  echo "|---|---|"
  echo "| gpt.cc (gpt sample --stats) | $ours_ms |"
  echo "| gpt.cc --dtype bf16 (bf16 weights) | $ours16_ms |"
  echo "| PyTorch KV-cache loop | $torch_ms |"
  echo
  /usr/bin/env python3 -c "
o,t='$ours_ms','$torch_ms'
if '$TORCH_REFERENCE_BLAS'=='yes': print('Sampling ratio: n/a (PyTorch on the reference BLAS: no baseline)')
else: print('Sampling ratio: gpt.cc is %.2fx faster than PyTorch per token.' % (float(t)/float(o)) if o and t and t!='n/a' else 'Sampling ratio: n/a (PyTorch not installed)')
print('bf16 weights: %.2fx the fp32 sampling speed.' % (float(o)/float('$ours16_ms')))"
  # Decoding streams every weight once per token: bytes per token / time vs this
  # machine's read bandwidth over a buffer of the same size.
  wbytes=$(/usr/bin/env python3 -c "L,C,Vp=6,384,128; print(4*(L*(12*C*C+13*C)+Vp*C+2*C))")
  bw=$(build/bench_matmul --bandwidth "$wbytes")
  /usr/bin/env python3 -c "
b,o,bw=$wbytes,float('$ours_ms'),float('$bw')
print('Weights streamed per token: %.1f MB; at %.2f ms/token that is %.1f GB/s, %.0f%% of the read bandwidth measured over a %.0f MB buffer here (%.1f GB/s, 2 threads).' % (b/1e6,o,b/o/1e6,100*b/o/1e6/bw,b/1e6,bw))"
  echo
  echo "## Busy machine (scripts/bench_busy.sh): the same commands idle and with 2 spinning processes"
  echo
  scripts/bench_busy.sh "$BIN"
} | tee "$partial"
mv -f "$partial" "$out"
echo "wrote $out"
