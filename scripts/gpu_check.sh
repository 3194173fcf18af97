#!/usr/bin/env bash
# The prepared GPU check, in two halves (DEVELOPERS.md: GPU time is rare and short).
#   scripts/gpu_check.sh build   here, without a GPU: builds bin/gpt and the test binary
#                                for any x86-64-v3 CPU (no MPI, static cudart) into
#                                gpu-check/, with the libraries they load and the data.
#   scripts/gpu_check.sh run     on the GPU machine, from the repository root, with
#                                gpu-check/ carried: device probe, every CUDA layer
#                                against the CPU's double-precision layers (the test
#                                suite's /cuda rows), 20 training steps GPU vs CPU from
#                                one checkpoint, the same on a one-rank NCCL group
#                                (GPT_COMM=nccl, ZeRO 0 and 1), and a speed figure; report in $OUT
#                                (default /tmp/gpu-check-out), also on stdout.
# device tool: run(command="bash scripts/gpu_check.sh run", carry=["gpu-check"], timeout_s=480)
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
case "$mode" in
build)
  set -e
  make --no-print-directory -j"$(nproc)" BUILD=build-gpu OPT="-O3 -march=x86-64-v3" USE_MPI=0 \
    build-gpu/gpt_tests bin/gpt-gpu
  rm -rf gpu-check && mkdir -p gpu-check/lib
  cp bin/gpt-gpu gpu-check/gpt
  cp build-gpu/gpt_tests gpu-check/gpt_tests
  # Shared libraries outside glibc that the binaries load (SentencePiece, libgomp, libstdc++).
  for bin in gpu-check/gpt gpu-check/gpt_tests; do
    ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux)[.-]' |
      xargs -r -I{} cp -L -n {} gpu-check/lib/
  done
  data=${GPT_DATA_MIRROR:-../shared/data}/tinyshakespeare.txt
  [ -f "$data" ] || data=data/tinyshakespeare.txt
  cp "$data" gpu-check/tinyshakespeare.txt
  du -sh gpu-check
  echo "gpu_check: built; on the GPU machine: bash scripts/gpu_check.sh run (carry gpu-check)"
  ;;
run)
  OUT=${OUT:-/tmp/gpu-check-out}
  mkdir -p "$OUT"
  exec > >(tee "$OUT/report.md") 2>&1
  G=gpu-check
  [ -x $G/gpt ] || { echo "gpu_check: $G/gpt missing: run 'scripts/gpu_check.sh build' here and carry gpu-check"; exit 1; }
  # CUDA runtime is static; the driver comes with the machine. NCCL is dlopen'ed
  # (libnccl.so.2, never carried: ~200 MB): found in PyTorch's nvidia/*/lib folders, which
  # each python3 here is asked for (the machine's torch lives in a venv, e.g.
  # /opt/torch/.venv, Python 3.12), plus Debian's dist-packages and the CUDA toolkit.
  nvdirs=$(for py in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
      command -v "$py" >/dev/null 2>&1 || continue
      "$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null
    done | sort -u)
  extra=$(for d in $nvdirs; do ls -d "$d"/*/lib "$d"/*/*/lib 2>/dev/null; done
    ls -d /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/local/cuda/lib64 2>/dev/null)
  extra=$(echo "$extra" | awk 'NF && !seen[$0]++' | tr '\n' ':')
  export LD_LIBRARY_PATH="$PWD/$G/lib:${extra}${LD_LIBRARY_PATH:-}"
  export GPT_BIN="$PWD/$G/gpt"
  nccl_lib=$(IFS=:; for d in $LD_LIBRARY_PATH; do [ -n "$d" ] && [ -e "$d/libnccl.so.2" ] && { echo "$d/libnccl.so.2"; break; }; done)
  [ -n "$nccl_lib" ] || nccl_lib=$(ldconfig -p 2>/dev/null | awk '/libnccl\.so\.2 / {print $NF; exit}')
  echo "# gpt.cc GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo; echo '## Device'; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
  echo "libnccl.so.2: ${nccl_lib:-NOT FOUND (the NCCL phases below will say so)}"
  $G/gpt --help >/dev/null 2>&1 || { echo "gpt does not start:"; $G/gpt --help 2>&1 | head; ldd $G/gpt; }
  echo; echo '## Every CUDA table entry against the CPU (tests/test_backend.cpp), and the device self-test'
  timeout 240 $G/gpt_tests --gtest_color=no --gtest_filter='Devices/BackendTest.*:CudaDevice.*:Backend.*' 2>&1 |
    grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|Failure|Expected|actual|worst element|^\[==' | head -80
  echo; echo '## Training: 20 steps GPU vs CPU from one checkpoint (dropout 0.1, sequential)'
  w=$(mktemp -d)
  $G/gpt prepare --input $G/tinyshakespeare.txt --out $w/data >/dev/null 2>&1
  $G/gpt train --data $w/data --out $w/init --layers 4 --heads 4 --dim 128 --context 128 --steps 1 --batch 2 \
    --eval-every 0 >/dev/null 2>&1
  common="--data $w/data --init $w/init --sampling sequential --dropout 0.1 --steps 20 --batch 8 --log-every 1 --eval-every 0 --save-every 0"
  $G/gpt train $common --out $w/cpu --device cpu --threads 8 2>&1 | tail -1
  timeout 120 $G/gpt train $common --out $w/gpu --device cuda 2>&1 | tail -3
  python3 - "$w/cpu/metrics.jsonl" "$w/gpu/metrics.jsonl" <<'PY' || echo "(python3 missing: compare the files by hand)"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
try: b = [json.loads(l) for l in open(sys.argv[2])]
except OSError: b = []
print("| step | cpu loss | gpu loss | rel diff |\n|---|---|---|---|")
worst = 0
for x, y in zip(a, b):
    r = abs(x["train_loss"] - y["train_loss"]) / abs(x["train_loss"]); worst = max(worst, r)
    print("| %d | %.6f | %.6f | %.1e |" % (x["step"], x["train_loss"], y["train_loss"], r))
print("steps compared: %d of %d; worst relative difference %.2e (%s at 1e-4)" % (len(b), len(a), worst, "PASS" if b and len(b) == len(a) and worst < 1e-4 else "FAIL"))
PY
  echo; echo '## NCCL, one rank (GPT_COMM=nccl): its collectives on device buffers, then the 20 steps above'
  echo 'A sum over one rank is a copy: losses must be IDENTICAL to the plain GPU run (ZeRO 0 and 1;'
  echo 'plain --zero 1 too, which gathers m and v from the GPU for its checkpoint).'
  timeout 60 $G/gpt_tests --gtest_color=no --gtest_filter='Nccl*' 2>&1 |
    grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|^NCCL version|Failure|Expected|actual|Skipped|^no |cannot' | head -30
  timeout 90 env GPT_COMM=nccl $G/gpt train $common --out $w/nccl0 --device cuda 2>&1 | tail -2
  timeout 90 $G/gpt train $common --out $w/gpu_z1 --device cuda --zero 1 2>&1 | tail -2
  timeout 90 env GPT_COMM=nccl $G/gpt train $common --out $w/nccl1 --device cuda --zero 1 2>&1 | tail -2
  python3 - "$w/gpu/metrics.jsonl" "$w/nccl0" "$w/gpu_z1" "$w/nccl1" <<'PY' || echo "(python3 missing: compare the files by hand)"
import json, os, sys
def losses(path):
    try: return [json.loads(l)["train_loss"] for l in open(path)]
    except OSError: return []
ref = losses(sys.argv[1])
names = {"nccl0": "GPT_COMM=nccl", "gpu_z1": "plain --zero 1", "nccl1": "GPT_COMM=nccl --zero 1"}
for d in sys.argv[2:]:
    got = losses(os.path.join(d, "metrics.jsonl"))
    worst = max((abs(a - b) for a, b in zip(ref, got)), default=float("nan"))
    same = bool(ref) and len(got) == len(ref) and got == ref
    print("%-24s vs plain GPU: %d of %d steps, worst |diff| %.3g: %s" % (
        names[os.path.basename(d)], len(got), len(ref), worst, "PASS (identical)" if same else "FAIL"))
PY

  echo; echo '## Speed: 6-layer/384/context-256, batch 16, 30 steps (median ms/step of steps 2..30)'
  timeout 180 $G/gpt train --data $w/data --out $w/speed --layers 6 --heads 6 --dim 384 --context 256 --batch 16 \
    --steps 30 --log-every 1 --eval-every 0 --save-every 0 --device cuda 2>&1 | tail -2
  python3 -c "
import json,statistics,sys
ms=[json.loads(l)['ms_per_step'] for l in open('$w/speed/metrics.jsonl')][1:]
print('median %.1f ms/step, %.0f tokens/s' % (statistics.median(ms), 16*256/statistics.median(ms)*1e3))" 2>&1
  echo; echo '## Sampling on the GPU (200 tokens)'
  timeout 60 $G/gpt sample --ckpt $w/speed --device cuda --tokens 200 --stats 2>&1 | tail -3
  cp $w/gpu/metrics.jsonl "$OUT/gpu_metrics.jsonl" 2>/dev/null
  cp $w/cpu/metrics.jsonl "$OUT/cpu_metrics.jsonl" 2>/dev/null
  rm -rf "$w"
  ;;
*)
  echo "usage: scripts/gpu_check.sh build|run (see the top of this file)"; exit 2 ;;
esac
