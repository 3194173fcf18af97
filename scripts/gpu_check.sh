#!/usr/bin/env bash
# The prepared GPU check (GPU time is rare and short: one H200, 15 minutes of device time a
# session, a fresh machine's start included). Correctness and speed are two calls, so that a
# first run that finds a bug leaves time to fix it and run it again.
#   scripts/gpu_check.sh build     here, without a GPU: builds bin/gpt and the test binary
#                                  for any x86-64-v3 CPU (no MPI, static cudart) into
#                                  gpu-check/, with the libraries they load and the data.
#   scripts/gpu_check.sh run       on the GPU machine, from the repository root, with
#                                  gpu-check/ carried: correctness. Device probe, every CUDA
#                                  layer against the CPU's double-precision layers (the test
#                                  suite's /cuda rows), 50 training steps GPU vs CPU from one
#                                  checkpoint (fp32, a second GPU run that samples as it
#                                  trains, bf16 on both), the same on a one-rank NCCL group
#                                  (GPT_COMM=nccl, ZeRO 0 and 1), then compute-sanitizer
#                                  memcheck on the small table tests and racecheck on the
#                                  attention kernels with what is left; all within
#                                  GPU_CHECK_SECONDS (default 230). Report in $OUT/report.md
#                                  (default OUT /tmp/gpu-check-out), also on stdout, with
#                                  cuda_tests.log and train.log (every program's whole output);
#                                  its last line is the verdict: PASS/FAIL per section, and
#                                  FAIL (a section failed or hung), INCOMPLETE (one did not
#                                  run; the sanitizers may go without) or PASS in all.
#   scripts/gpu_check.sh bench     speed, after a run that passed: a speed figure (6-layer
#                                  model), sampling, gpt.cc at GPT-2 124M's shapes (fp32,
#                                  bf16, bf16 with flash attention, --profile) and PyTorch on
#                                  the same GPU (scripts/torch_bench.py: eager bf16 and fp32,
#                                  torch.compile, sampling; at most GPU_CHECK_TORCH_BUDGET=180
#                                  s), one table of tokens/s and MFU; within GPU_CHECK_SECONDS
#                                  (default 300), the rows in order of need. Report in
#                                  $OUT/bench.md.
#   scripts/gpu_check.sh sanitize  the probe and the compute-sanitizer section alone (within
#                                  GPU_CHECK_SECONDS, default 180), for when run left it no time.
# Every program runs under `timeout -k 5` within what is left of the deadline, so a hung
# kernel costs its phase, not the report. $OUT gets at most 7 files. GPU_CHECK_SLOW=N
# multiplies every phase's own cap, for a dry run on a slow stand-in (the CPU emulator).
#
# The device tool, in this order (README.md, "The prepared check"):
#   1. run(command="bash scripts/gpu_check.sh run", carry=["gpu-check"], timeout_s=260)
#   2. verdict PASS: at once, while the machine is warm (30 s),
#      run(command="bash scripts/gpu_check.sh bench", carry=["gpu-check"], timeout_s=330),
#      then give_back().
#   3. verdict FAIL: give_back() at once; fix it here (train.log, cuda_tests.log),
#      `bash scripts/gpu_check.sh build`, call 1 again (a fresh machine; with
#      "GPU_CHECK_SECONDS=120 bash scripts/gpu_check.sh run" and timeout_s=150 if the
#      sanitizers passed the first time); then bench only if status's budget_left_s is 150
#      or more: "GPU_CHECK_SECONDS=<left - 40> bash scripts/gpu_check.sh bench" with
#      timeout_s=<left - 10>; with less, skip it.
# Budget (900 s of device time; a start counted as 150 s, each call at its timeout_s):
#   start 150 + run 260 + bench 330 = 740, 160 left;
#   with a rerun: (150 + 260) x 2 = 820, 80 left, no bench; with the short rerun
#   410 + 300 = 710, 190 left: a bench of GPU_CHECK_SECONDS=150.
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
  # Without their debug sections (symbols stay): 13.8 + 39 MB become 6.3 + 13 MB, which
  # leaves room under the device tool's 64 MiB for a baseline binary (GPU_CHECK_BASE).
  strip --strip-debug gpu-check/gpt gpu-check/gpt_tests
  # GPU_CHECK_BASE=FILE: another build of gpt (an earlier commit's gpu-check/gpt, with its
  # commit in FILE.commit or named after a dash: gpt-base-REV) that bench times beside
  # this one in the same run.
  if [ -n "${GPU_CHECK_BASE:-}" ]; then
    cp "$GPU_CHECK_BASE" gpu-check/gpt-base && strip --strip-debug gpu-check/gpt-base
    if [ -f "$GPU_CHECK_BASE.commit" ]; then cp "$GPU_CHECK_BASE.commit" gpu-check/base-commit
    else echo "${GPU_CHECK_BASE##*-}" >gpu-check/base-commit; fi
  fi
  # Shared libraries outside glibc that the binaries load (SentencePiece, libgomp, libstdc++).
  for bin in gpu-check/gpt gpu-check/gpt_tests; do
    ldd "$bin" | awk '/=> \// {print $3}' | grep -Ev '/(libc|libm|libpthread|libdl|librt|ld-linux)[.-]' |
      xargs -r -I{} cp -L -n {} gpu-check/lib/
  done
  data=${GPT_DATA_MIRROR:-../shared/data}/tinyshakespeare.txt
  [ -f "$data" ] || data=data/tinyshakespeare.txt
  cp "$data" gpu-check/tinyshakespeare.txt
  # The copy on the GPU machine has no .git: the commit travels in a file.
  c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  git diff --quiet HEAD -- 2>/dev/null || c="$c (with uncommitted changes)"
  echo "$c" >gpu-check/commit
  du -sh gpu-check
  echo "gpu_check: built; on the GPU machine: bash scripts/gpu_check.sh run (carry gpu-check)"
  ;;
run|bench|sanitize)
  # Each mode within its own deadline (GPU_CHECK_SECONDS), its call's timeout_s less 20-30 s:
  # run 230 (its correctness phases should take 60-90 s on a GPU, an estimate; the
  # sanitizers get the rest), bench 300, sanitize 180 (timeout_s=200). Later phases get
  # what is left of it.
  case $mode in run) dflt=230 ;; bench) dflt=300 ;; *) dflt=180 ;; esac
  DEADLINE=${GPU_CHECK_SECONDS:-$dflt}
  # GPU_CHECK_SLOW=N multiplies every phase's cap (not the deadline): N=20 with a large
  # GPU_CHECK_SECONDS runs the check on the CPU emulator (a dry run: top of this file).
  SLOW=${GPU_CHECK_SLOW:-1}
  # Seconds left of the deadline, less the 5 s grace of `timeout -k 5`: min(ARG x SLOW, that).
  tleft() { local l=$((DEADLINE - SECONDS - 5)) a=$(($1 * SLOW)); echo $((l < a ? l : a)); }
  # A timeout: tleft ARG, at least 1 (timeout 0 would mean none). Every run is under
  # `timeout -k 5`: gpt stops at a step's end on SIGTERM, which a hung kernel never
  # reaches; the KILL 5 s later ends it, still within the deadline.
  tl() { local t; t=$(tleft "$1"); echo $((t < 1 ? 1 : t)); }
  spent() { local l=$((DEADLINE - SECONDS)); echo "skipped: $((l < 0 ? 0 : l)) s left of the check's $DEADLINE (GPU_CHECK_SECONDS)"; }
  # T COMMAND...: timeout -k 5 T COMMAND..., then the end of what it left in its process
  # group (timeout makes one): a sanitizer's hung target outlives the sanitizer. Exit 125
  # without running it when under 3 s are left.
  tmo() {
    [ "$(tleft 3)" -ge 3 ] || return 125
    timeout -k 5 "$@" & local p=$! rc
    wait $p 2>/dev/null; rc=$?; kill -KILL -- -$p 2>/dev/null; return $rc
  }
  # What a gpt run printed, less the per-step lines and routine notes: its header (the
  # device and which engine does the matrix products), cuda: lines, errors, the done line.
  brief() { grep -vE '^(step [0-9]|  data |note: --steps|checkpoint: |host threads: |threads: |continue with: )'; }
  OUT=${OUT:-/tmp/gpu-check-out}
  mkdir -p "$OUT"
  exec > >(tee "$OUT/$(case $mode in run) echo report ;; *) echo "$mode" ;; esac).md") 2>&1
  tee_pid=$!
  G=gpu-check
  [ -x $G/gpt ] || { echo "gpu_check: $G/gpt missing: run 'scripts/gpu_check.sh build' here and carry gpu-check"; exit 1; }
  # The verdict: "SECTION STATUS" lines; STATUS starts with PASS, FAIL, TIMEOUT, SKIP or
  # INCOMPLETE. The last line of run's and sanitize's reports sums them up.
  verdict=() timed_out= skipped_runs=
  record() { verdict+=("$1 $2"); }
  # Whether one of the runs NAME... was skipped for want of time (then its comparison is a SKIP).
  was_skipped() { local n; for n; do case " $skipped_runs " in *" $n "*) return 0 ;; esac; done; return 1; }
  # PASS or FAIL as the first line of TEXT that holds PATTERN says (a comparison's result).
  pf() { local l; l=$(grep -m1 -e "$2" <<<"$1"); case $l in *FAIL*) echo FAIL ;; *PASS*) echo PASS ;; *) echo "SKIP (no result)" ;; esac; }
  # A gtest run's status from LOG, its exit code RC and its timeout T.
  # Tests that skip on a GPU machine by design: the emulator's switchable cuBLASLt GELU,
  # and what gpt says where there is no GPU.
  gpu_skips='CudaLayers.AnotherGeluInCublasLtIsNotUsed|CudaDevice.WithoutAGpuDeviceCudaSaysWhyAndExits2|Nccl.CommNcclWithoutAGpuExits2WithOneLine'
  gstatus() {
    local ok failed skipped expected
    ok=$(grep -cE '^\[ +OK +\] ' "$1") failed=$(grep -cE '^\[ +FAILED +\] .* \([0-9]+ ms\)$' "$1")
    skipped=$(grep -E '^\[ +SKIPPED +\] .* \([0-9]+ ms\)$' "$1" | grep -cvE "\] ($gpu_skips) \(")
    expected=$(grep -E '^\[ +SKIPPED +\] .* \([0-9]+ ms\)$' "$1" | grep -cE "\] ($gpu_skips) \(")
    case $2 in
      # Any other skipped test did not reach the GPU (no usable device, a library missing): a SKIP.
      0) if [ "$skipped" -gt 0 ]; then echo "SKIP ($skipped skipped, $ok ok)"
         elif [ "$ok" -gt 0 ]; then echo "PASS ($ok ok$([ "$expected" -gt 0 ] && echo ", $expected skipped as on any GPU"))"
         else echo "SKIP (no test ran)"; fi ;;
      124|137) echo "TIMEOUT (killed after $3 s; $ok ok, $failed failed before)" ;;
      125) echo "SKIP (no time left)" ;;
      *) echo "FAIL ($failed failed, $ok ok$([ "$2" -gt 128 ] && echo ", died of signal $(($2 - 128))"))" ;;
    esac
  }
  # NAME MAX_S COMMAND...: under timeout -k 5 min(MAX_S, seconds left); all it printed goes to
  # $OUT/train.log, brief's lines of it to the report (with -q first: only done/stopped/error/cuda).
  gptrun() {
    local q=; [ "$1" = -q ] && { q=1; shift; }
    local name=$1 t rc; t=$(tl "$2"); shift 2
    [ "$(tleft 3)" -ge 3 ] || { echo "$name: $(spent)"; skipped_runs="$skipped_runs $name"; return; }
    echo "### $name ($(date -u +%H:%M:%S), timeout $t s): $*" >>"$OUT/train.log"
    tmo "$t" "$@" >"$w/$name.log" 2>&1; rc=$?
    cat "$w/$name.log" >>"$OUT/train.log"
    if [ -n "$q" ]; then grep -E '^(done|stopped|error|cuda)' "$w/$name.log"; else brief <"$w/$name.log"; fi
    case $rc in
      0) ;;
      124|137) echo "$name: TIMED OUT after $t s (killed; the whole output is in train.log)"; timed_out="$timed_out $name" ;;
      *) echo "$name: exit $rc (the whole output is in train.log)" ;;
    esac
  }
  # CUDA runtime is static; the driver comes with the machine. NCCL is dlopen'ed
  # (libnccl.so.2, never carried: ~200 MB): found in PyTorch's nvidia/*/lib folders, which
  # each python3 here is asked for (the machine's torch lives in a venv, e.g.
  # /opt/torch/.venv, Python 3.12), plus Debian's dist-packages and the CUDA toolkit.
  nvdirs=$(for py in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
      command -v "$py" >/dev/null 2>&1 || continue
      timeout -k 2 20 "$py" -c 'import nvidia; print("\n".join(nvidia.__path__))' 2>/dev/null
    done | sort -u)
  extra=$(for d in $nvdirs; do ls -d "$d"/*/lib "$d"/*/*/lib 2>/dev/null; done
    ls -d /usr/local/lib/python3*/dist-packages/nvidia/*/lib /usr/local/cuda/lib64 2>/dev/null)
  extra=$(echo "$extra" | awk 'NF && !seen[$0]++' | paste -sd: -)
  # PyTorch runs under the machine's own library path: gpu-check/lib holds this build
  # machine's libstdc++, which must not stand in for a newer one that torch needs.
  LLP0=${LD_LIBRARY_PATH:-}
  export LD_LIBRARY_PATH="$PWD/$G/lib${extra:+:$extra}${LLP0:+:$LLP0}"
  export GPT_BIN="$PWD/$G/gpt"
  nccl_lib=$(IFS=:; for d in $LD_LIBRARY_PATH; do [ -n "$d" ] && [ -e "$d/libnccl.so.2" ] && { echo "$d/libnccl.so.2"; break; }; done)
  [ -n "$nccl_lib" ] || nccl_lib=$(ldconfig -p 2>/dev/null | awk '/libnccl\.so\.2 / {print $NF; exit}')
  # Nccl.LoadedAtRunTimeOrSaysHowToFindIt loads this copy (else it looks in the toolkit only).
  [ -z "$nccl_lib" ] || export GPT_TEST_NCCL_LIBRARY="$nccl_lib"
  echo "# gpt.cc GPU check ($mode), $(date -u +%Y-%m-%dT%H:%MZ), commit $(cat $G/commit 2>/dev/null || git rev-parse --short HEAD 2>/dev/null || echo ?)"
  echo; echo '## Device'
  smi=$(timeout -k 2 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1); smi_rc=$?
  echo "$smi" | head -3
  echo "libnccl.so.2: ${nccl_lib:-NOT FOUND (the NCCL phases below will say so)}"
  cublas_lib=$(IFS=:; for d in $LD_LIBRARY_PATH; do for n in libcublas.so.13 libcublas.so.12; do
      [ -n "$d" ] && [ -e "$d/$n" ] && { echo "$d/$n"; break 2; }; done; done)
  echo "cuBLAS: ${cublas_lib:-NOT FOUND: matrix products fall back to the own kernel of gpt.cc (slow); the train header says which}"
  cublaslt_lib=$(IFS=:; for d in $LD_LIBRARY_PATH; do for n in libcublasLt.so.13 libcublasLt.so.12; do
      [ -n "$d" ] && [ -e "$d/$n" ] && { echo "$d/$n"; break 2; }; done; done)
  echo "cuBLASLt: ${cublaslt_lib:-NOT FOUND: biases are added apart (GPT_CUDA_GEMM=cublas behaviour)}"
  if ! timeout -k 2 20 $G/gpt --help >/dev/null 2>&1; then
    echo "gpt does not start:"; timeout -k 2 20 $G/gpt --help 2>&1 | head; ldd $G/gpt; record probe "FAIL (gpt does not start)"
  elif [ $smi_rc != 0 ]; then record probe "FAIL (nvidia-smi: exit $smi_rc)"
  else record probe PASS; fi
  # The CUDA 13.0 runtime is linked statically: it needs an R580+ driver. An older one fails
  # every CUDA call (cudaErrorInsufficientDriver): nothing below could pass, so the check
  # stops here and the device can go back at once (rebuild with the machine's toolkit).
  driver=$(echo "$smi" | sed -n 2p | awk -F', *' '{print $2}')
  old_driver=
  if [ "${driver%%.*}" -lt 580 ] 2>/dev/null; then
    old_driver=$driver
    echo "driver $driver is older than the CUDA 13.0 runtime gpt is built with needs (580 or newer): every CUDA"
    echo "call would fail with cudaErrorInsufficientDriver; the sections below are skipped (give the device back)"
    record driver "FAIL ($driver < 580)"
  fi
  w=$(mktemp -d)
  # compute-sanitizer: memcheck on the small-shape table tests, racecheck on the attention
  # kernels, each with what is left of the deadline (run's last phases; sanitize's only ones).
  sanitizers() {
    echo; echo '## compute-sanitizer memcheck on the small-shape table tests (slow; refused on gVisor machines, then it says so)'
    local csan t rc
    csan=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
    if [ -z "$csan" ]; then
      echo "compute-sanitizer not found"; record memcheck "SKIP (no compute-sanitizer)"; record racecheck "SKIP (no compute-sanitizer)"; return
    fi
    # STATUS of a sanitizer run from LOG, RC, T and what it counts (errors or hazards).
    csan_status() {
      local found; found=$(grep -cE '^========= (Invalid|Error|Program hit|Uninitialized|Race|Warning: .*hazard)' "$1")
      if grep -qi 'device not supported' "$1"; then echo "SKIP (device not supported here)"; return; fi
      case $2 in
        0) echo PASS ;;
        3) echo "FAIL ($(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$1" | tail -1 | sed 's/^=* *//'))" ;;
        124|137) if [ "$found" -gt 0 ]; then echo "FAIL ($found reports before it was killed after $3 s)"
                 else echo "INCOMPLETE (killed after $3 s, nothing found before)"; fi ;;
        *) if grep -qE 'ERROR SUMMARY: 0 errors|RACECHECK SUMMARY: 0 hazards' "$1"; then
             echo "PASS (nothing found; its tests exit $2, see $(basename "$1"))"
           else echo "FAIL (exit $2: see $(basename "$1"))"; fi ;;
      esac
    }
    t=$(tleft 90)
    if [ "$t" -lt 20 ]; then
      echo "memcheck $(spent)"; record memcheck "SKIP (no time left)"
    else
      # GPT_TEST_NO_124M: the 124M-shape attention case would outlast the sanitizers' time.
      tmo "$t" env GPT_TEST_NO_124M=1 "$csan" --tool memcheck --error-exitcode 3 $G/gpt_tests --gtest_color=no \
        --gtest_filter='Devices/BackendTest.*/cuda:CudaLayers.FlashAttention*:CudaLayers.Bf16Table*:CudaLayers.BothGemm*:CudaLayers.GeluProducts*' \
        >"$OUT/memcheck.log" 2>&1
      rc=$?
      grep -E '^\[ +(OK|FAILED) +\]|ERROR SUMMARY|Invalid|not supported|Error' "$OUT/memcheck.log" | head -20
      echo "memcheck exit $rc (0: clean; 3: errors found; 124: timed out; other: see memcheck.log)"
      record memcheck "$(csan_status "$OUT/memcheck.log" $rc "$t")"
    fi
    # Shared-memory races between the threads of a block (the emulator runs a block's warps
    # in turn, so it shows a missing barrier but not every hazard a GPU has).
    t=$(tleft 60)
    if [ "$t" -lt 15 ]; then
      echo "racecheck $(spent)"; record racecheck "SKIP (no time left)"
    else
      tmo "$t" env GPT_TEST_NO_124M=1 "$csan" --tool racecheck --error-exitcode 3 $G/gpt_tests --gtest_color=no \
        --gtest_filter='CudaLayers.FlashAttention*' >"$OUT/racecheck.log" 2>&1
      rc=$?
      grep -E '^\[ +(OK|FAILED) +\]|RACECHECK SUMMARY|hazard|Error' "$OUT/racecheck.log" | head -12
      echo "racecheck exit $rc (0: clean; 3: hazards found; 124: timed out; other: see racecheck.log)"
      record racecheck "$(csan_status "$OUT/racecheck.log" $rc "$t")"
    fi
  }
  case ${old_driver:+old-driver-}$mode in
  old-driver-*) ;;
  run)
  echo; echo '## Every CUDA table entry against the CPU (tests/test_backend.cpp), the device self-test, and'
  echo '## tests/test_cuda.cpp (both GEMM engines, the bf16 table vs the CPU bf16 layers, flash vs row attention, train)'
  # About 15 s on a GPU (13-20 s on the CPU emulator); the whole output in cuda_tests.log.
  t=$(tl 60)
  tmo "$t" $G/gpt_tests --gtest_color=no --gtest_filter='Devices/BackendTest.*:CudaDevice.*:Backend.*:CudaLayers.*' \
    >"$OUT/cuda_tests.log" 2>&1; rc=$?
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|Failure|Expected|actual|worst element|^\[==' "$OUT/cuda_tests.log" | head -80
  grep -m1 -A1 ': Skipped$' "$OUT/cuda_tests.log" | tail -n +2 | sed 's/^/the first skipped test says: /'
  [ $rc -lt 124 ] || echo "exit $rc; the last test started: $(grep -E '^\[ RUN +\]' "$OUT/cuda_tests.log" | tail -1 | grep . || echo none)"
  st=$(gstatus "$OUT/cuda_tests.log" $rc "$t"); echo "CUDA tests: $st"; record cuda-tests "$st"
  echo; echo '## Training: 50 steps GPU vs CPU from one checkpoint (dropout 0.1, sequential)'
  # Each run about 2 s on 2 CPU threads (4 layers of 128, 8 x 128 tokens a step), a few s on
  # the GPU, most of it its start; every gpt run's whole output is in $OUT/train.log.
  : >"$OUT/train.log"
  gptrun -q prepare 30 $G/gpt prepare --input $G/tinyshakespeare.txt --out $w/data
  gptrun -q init 30 $G/gpt train --data $w/data --out $w/init --layers 4 --heads 4 --dim 128 --context 128 --steps 1 --batch 2 \
    --eval-every 0
  common="--data $w/data --init $w/init --sampling sequential --dropout 0.1 --steps 50 --batch 8 --log-every 1 --eval-every 0 --save-every 0"
  gptrun cpu 60 $G/gpt train $common --out $w/cpu --device cpu --threads 8
  gptrun gpu 30 $G/gpt train $common --out $w/gpu --device cuda
  cmp=$(LD_LIBRARY_PATH=$LLP0 python3 - "$w/cpu/metrics.jsonl" "$w/gpu/metrics.jsonl" <<'PY' 2>&1 || echo "(python3 missing: compare the files by hand)"
import json, sys
try: a = [json.loads(l) for l in open(sys.argv[1])]
except OSError: a = []
try: b = [json.loads(l) for l in open(sys.argv[2])]
except OSError: b = []
print("| step | cpu loss | gpu loss | rel diff |\n|---|---|---|---|")
worst = 0
for x, y in zip(a, b):
    r = abs(x["train_loss"] - y["train_loss"]) / abs(x["train_loss"]); worst = max(worst, r)
    print("| %d | %.6f | %.6f | %.1e |" % (x["step"], x["train_loss"], y["train_loss"], r))
print("steps compared: %d of %d; worst relative difference %.2e (%s at 1e-4)" % (len(b), len(a), worst, "PASS" if a and len(b) == len(a) and worst < 1e-4 else "FAIL"))
PY
)
  st=$(pf "$cmp" '^steps compared'); was_skipped cpu gpu && st="SKIP (no time left)"
  echo "$cmp"; record fp32-gpu-vs-cpu "$st"
  echo; echo '## The same 50 steps: a second GPU run (identical?) and --dtype bf16 on both devices'
  echo 'The second GPU run also samples at steps 25 and 50 (--sample-every): its losses must still be'
  echo "the first run's, and its last sample what gpt sample --device cuda gives from its checkpoint."
  gptrun -q gpu2 30 $G/gpt train $common --out $w/gpu2 --device cuda --sample-every 25 --sample-tokens 100
  echo "### sample50: gpt sample --ckpt $w/gpu2 --device cuda --tokens 100" >>"$OUT/train.log"
  tmo "$(tl 30)" $G/gpt sample --ckpt $w/gpu2 --device cuda --tokens 100 >$w/gpu2_sample50.txt 2>>"$OUT/train.log" ||
    { rc=$?; case $rc in
        125) echo "sample50: $(spent)"; skipped_runs="$skipped_runs sample50" ;;
        124|137) echo "sample50: gpt sample --device cuda TIMED OUT (killed)"; timed_out="$timed_out sample50" ;;
        *) echo "sample50: gpt sample --device cuda: exit $rc (see train.log)" ;;
      esac; }
  cmp=$(LD_LIBRARY_PATH=$LLP0 python3 - "$w/gpu2/samples.txt" "$w/gpu2_sample50.txt" <<'PY' 2>&1 || echo "(python3 missing: compare the files by hand)"
import re, sys
try: data, want = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
except OSError as e: print("samples during GPU training: FAIL (%s)" % e); sys.exit()
texts, pos = {}, 0
while pos < len(data):  # header "--- step N | ... | B bytes ---", B bytes of text, a blank line
    m = re.compile(rb"--- step (\d+) .*\| (\d+) bytes ---\n").match(data, pos)
    if not m: break
    n = int(m.group(2)); texts[int(m.group(1))] = data[m.end():m.end() + n]; pos = m.end() + n + 2
ok = sorted(texts) == [25, 50] and texts[50] + b"\n" == want
print("samples during GPU training: steps %s; the last is gpt sample --device cuda's text: %s"
      % (sorted(texts), "PASS" if ok else "FAIL"))
PY
)
  st=$(pf "$cmp" '^samples during'); was_skipped gpu2 sample50 && st="SKIP (no time left)"
  echo "$cmp"; record samples "$st"
  gptrun cpu16 60 $G/gpt train $common --out $w/cpu16 --device cpu --threads 8 --dtype bf16
  gptrun gpu16 30 $G/gpt train $common --out $w/gpu16 --device cuda --dtype bf16
  cmp=$(LD_LIBRARY_PATH=$LLP0 python3 - "$w" <<'PY' 2>&1 || echo "(python3 missing: compare the files by hand)"
import json, os, sys
w = sys.argv[1]
def losses(run):
    try: return [json.loads(l)["train_loss"] for l in open(os.path.join(w, run, "metrics.jsonl"))]
    except OSError: return []
def worst(a, b): return max((abs(x - y) / abs(x) for x, y in zip(a, b)), default=float("nan"))
cpu, gpu, gpu2, cpu16, gpu16 = (losses(r) for r in ("cpu", "gpu", "gpu2", "cpu16", "gpu16"))
ok = lambda a, b, tol: bool(a) and len(a) == len(b) and worst(a, b) < tol
print("two GPU fp32 runs: %s" % ("PASS (identical)" if gpu and gpu == gpu2 else "FAIL (worst rel %.2e)" % worst(gpu, gpu2)))
print("GPU bf16 vs CPU bf16: %d of %d steps, worst rel %.2e (%s at 1e-3: the same roundings, sums in other orders)"
      % (len(gpu16), len(cpu16), worst(cpu16, gpu16), "PASS" if ok(cpu16, gpu16, 1e-3) else "FAIL"))
print("GPU bf16 vs CPU fp32: worst rel %.2e (%s at 2e-2, the issue's bf16 bound)"
      % (worst(cpu, gpu16), "PASS" if ok(cpu, gpu16, 2e-2) else "FAIL"))
PY
)
  echo "$cmp"
  st=$(pf "$cmp" '^two GPU fp32'); was_skipped gpu gpu2 && st="SKIP (no time left)"; record fp32-repeat "$st"
  st=$(pf "$cmp" '^GPU bf16 vs CPU bf16'); was_skipped cpu16 gpu16 && st="SKIP (no time left)"; record bf16-gpu-vs-cpu "$st"
  st=$(pf "$cmp" '^GPU bf16 vs CPU fp32'); was_skipped cpu gpu16 && st="SKIP (no time left)"; record bf16-vs-fp32 "$st"
  echo; echo '## gpt eval --device cuda against --device cpu: the fp32 and bf16 runs above, the whole val split'
  for v in fp32:gpu bf16:gpu16; do
    gptrun -q eval_${v#*:}_cuda 30 $G/gpt eval --ckpt $w/${v#*:} --device cuda --dtype ${v%%:*}
    gptrun -q eval_${v#*:}_cpu 60 $G/gpt eval --ckpt $w/${v#*:} --device cpu --dtype ${v%%:*} --threads 8
  done
  # eval prints "val loss X.XXXX (...)": fp32 the same to its 4 decimals (5e-5 relative),
  # bf16 within 1e-3 (the bf16 bound of the training comparison).
  cmp=$(for v in fp32:gpu bf16:gpu16; do
      d=${v%%:*} r=${v#*:}
      a=$(grep -ho 'val loss [0-9.]*' $w/eval_${r}_cuda.log 2>/dev/null | awk '{print $3}')
      b=$(grep -ho 'val loss [0-9.]*' $w/eval_${r}_cpu.log 2>/dev/null | awk '{print $3}')
      awk -v a="$a" -v b="$b" -v d=$d 'BEGIN {
        if (a == "" || b == "") { print "eval " d ": FAIL (no loss printed: see train.log)"; exit }
        r = (a - b) / b; if (r < 0) r = -r; tol = d == "fp32" ? 5e-5 : 1e-3
        printf "eval %s: cuda %s, cpu %s, relative %.1e: %s at %g\n", d, a, b, r, (r <= tol ? "PASS" : "FAIL"), tol }'
    done)
  echo "$cmp"
  st=$(pf "$cmp" '^eval fp32'); was_skipped eval_gpu_cuda eval_gpu_cpu gpu cpu && st="SKIP (no time left)"; record eval-fp32 "$st"
  st=$(pf "$cmp" '^eval bf16'); was_skipped eval_gpu16_cuda eval_gpu16_cpu gpu16 && st="SKIP (no time left)"; record eval-bf16 "$st"
  echo; echo '## NCCL, one rank (GPT_COMM=nccl): its collectives on device buffers, then the 50 steps above'
  echo 'A sum over one rank is a copy: losses must be IDENTICAL to the plain GPU run (ZeRO 0 and 1;'
  echo 'plain --zero 1 too, which gathers m and v from the GPU for its checkpoint).'
  t=$(tl 30)
  tmo "$t" $G/gpt_tests --gtest_color=no --gtest_filter='Nccl*' >$w/nccl_tests.log 2>&1; rc=$?
  { echo "### gpt_tests --gtest_filter='Nccl*' (exit $rc)"; cat $w/nccl_tests.log; } >>"$OUT/cuda_tests.log"
  grep -E '^\[ +(OK|FAILED|SKIPPED) +\]|^\[==|^NCCL version|Failure|Expected|actual|Skipped|^no |cannot' $w/nccl_tests.log | head -30
  st=$(gstatus $w/nccl_tests.log $rc "$t"); echo "NCCL tests: $st"; record nccl-tests "$st"
  gptrun nccl0 30 env GPT_COMM=nccl $G/gpt train $common --out $w/nccl0 --device cuda
  gptrun gpu_z1 30 $G/gpt train $common --out $w/gpu_z1 --device cuda --zero 1
  gptrun nccl1 30 env GPT_COMM=nccl $G/gpt train $common --out $w/nccl1 --device cuda --zero 1
  cmp=$(LD_LIBRARY_PATH=$LLP0 python3 - "$w/gpu/metrics.jsonl" "$w/nccl0" "$w/gpu_z1" "$w/nccl1" <<'PY' 2>&1 || echo "(python3 missing: compare the files by hand)"
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
)
  echo "$cmp"
  # Its lines in the order nccl0, gpu_z1, nccl1: FAIL if one that ran failed, else SKIP if one
  # was skipped for time (or plain gpu was), else PASS.
  st=PASS i=0
  mapfile -t lines < <(grep 'vs plain GPU' <<<"$cmp")
  for n in nccl0 gpu_z1 nccl1; do
    if was_skipped gpu $n; then [ "$st" = PASS ] && st="SKIP (no time left)"
    else case ${lines[$i]:-} in *PASS*) ;; *) st=FAIL ;; esac; fi
    i=$((i + 1))
  done
  record nccl-runs "$st"
  cp $w/gpu/metrics.jsonl "$OUT/gpu_metrics.jsonl" 2>/dev/null
  cp $w/cpu/metrics.jsonl "$OUT/cpu_metrics.jsonl" 2>/dev/null
  sanitizers
  ;;
  sanitize) sanitizers ;;
  bench)
  # PyTorch (the baseline): the first python3 that imports torch.
  PYT= why=
  for py in python3 /opt/torch/.venv/bin/python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    if tv=$(LD_LIBRARY_PATH=$LLP0 tmo "$(tl 90)" "$py" -c "import torch; print(torch.__version__, torch.cuda.is_available())" 2>"$OUT/torch_bench.log"); then
      PYT=$(command -v "$py"); break
    fi
    why="$why; $py: $(grep -v '^[[:space:]]*$' "$OUT/torch_bench.log" | tail -1 | cut -c1-200)"
  done
  echo "PyTorch (python3 -c \"import torch; print(torch.__version__, torch.cuda.is_available())\"): $([ -n "$PYT" ] && echo "$PYT: $tv" || echo "not found (the PyTorch rows below will say so)${why}")"
  : >"$OUT/train.log"
  gptrun -q prepare 30 $G/gpt prepare --input $G/tinyshakespeare.txt --out $w/data
  echo; echo '## Speed: 6-layer/384/context-256, batch 16, 30 steps (median ms/step of steps 2..30)'
  gptrun speed 60 $G/gpt train --data $w/data --out $w/speed --layers 6 --heads 6 --dim 384 --context 256 --batch 16 \
    --steps 30 --log-every 1 --eval-every 0 --save-every 0 --device cuda
  LD_LIBRARY_PATH=$LLP0 python3 -c "
import json,statistics,sys
ms=[json.loads(l)['ms_per_step'] for l in open('$w/speed/metrics.jsonl')][1:]
print('median %.1f ms/step, %.0f tokens/s' % (statistics.median(ms), 16*256/statistics.median(ms)*1e3))" 2>&1 | tail -1
  echo; echo '## Sampling on the GPU (200 tokens)'
  tmo "$(tl 30)" $G/gpt sample --ckpt $w/speed --device cuda --tokens 200 --stats 2>&1 | tail -3 | tee $w/gptcc_sample.txt

  echo; echo '## PyTorch on the same GPU (scripts/torch_bench.py), beside gpt.cc'
  # Each run under its own timeout, capped by what is left of the section's budget (the
  # cheap runs first, torch.compile's ~1 min near the end); a run that fails or times out
  # says so in the table and the rest go on. JSON lines in $OUT/torch_bench.jsonl, stderr
  # of every run in $OUT/torch_bench.log.
  PT_BUDGET=${GPU_CHECK_TORCH_BUDGET:-180}
  pt0=$SECONDS pt_spent=0
  : >"$OUT/torch_bench.jsonl"
  # NAME MAX_S COMMAND...: stdout -> $w/NAME.out, stderr -> the log, status -> $w/NAME.status.
  # PyTorch's runs (BUDGETED=1) share PT_BUDGET; every run stops at the whole check's deadline.
  phase() {
    local name=$1 max=$2; shift 2
    local left t0=$SECONDS rc status dl=$((DEADLINE - SECONDS - 5))
    max=$((max * SLOW))
    if [ "${BUDGETED:-0}" = 1 ]; then left=$((PT_BUDGET - pt_spent)); else left=$max; fi
    left=$((left < dl ? left : dl))
    local t=$((max < left ? max : left))
    if [ "$left" -lt 15 ]; then
      status="skipped (the time for it was spent: $([ "${BUDGETED:-0}" = 1 ] && echo "PyTorch's $PT_BUDGET s or ")the check's $DEADLINE s)"
    else
      echo "### $name ($(date -u +%H:%M:%S), timeout $t s): $*" >>"$OUT/torch_bench.log"
      tmo "$t" "$@" >"$w/$name.out" 2>"$w/$name.err"; rc=$?
      cat "$w/$name.err" >>"$OUT/torch_bench.log"
      case $rc in
        0) status=ok ;;
        124|137) status="timed out after $t s" ;;
        *) status="failed (exit $rc: $(grep -v '^[[:space:]]*$' "$w/$name.err" | tail -1 | cut -c1-300))" ;;
      esac
    fi
    echo "$status" >"$w/$name.status"
    [ "${BUDGETED:-0}" = 1 ] && pt_spent=$((pt_spent + SECONDS - t0))
    echo "$name: $status ($((SECONDS - t0)) s)"
  }
  torch_phase() {  # NAME MAX_S torch_bench.py ARGS...
    local name=$1 max=$2; shift 2
    if [ -z "$PYT" ]; then echo "skipped (no python3 with torch)" >"$w/$name.status"; echo "$name: no PyTorch"; return; fi
    BUDGETED=1 phase "$name" "$max" env LD_LIBRARY_PATH="$LLP0" "$PYT" scripts/torch_bench.py "$@"
    [ -s "$w/$name.out" ] && sed "s/^{/{\"run\": \"$name\", /" "$w/$name.out" >>"$OUT/torch_bench.jsonl"
  }
  m124="--layers 12 --heads 12 --dim 768 --context 1024 --vocab 50257 --batch 8"  # GPT-2 124M shapes
  m6="--layers 6 --heads 6 --dim 384 --context 256 --vocab 65 --batch 16"        # the speed section's
  # In order of need: the 124M pair (PyTorch eager, gpt.cc), sampling, the 6-layer model,
  # torch.compile (~1 min of compiling, capped at 150 s), then the fp32 PyTorch rows (like
  # for like with gpt.cc's fp32 rows) with what is left.
  torch_phase pt124_bf16 60 train $m124 --device cuda --autocast bf16 --steps 12
  # gpt.cc at the 124M shapes (fp32 and bf16), llm.c-style random
  # GPT-2 tokens; a few steps (--max-seconds bounds a slow run, its logged steps still count).
  LD_LIBRARY_PATH=$LLP0 tmo "$(tl 60)" ${PYT:-python3} scripts/synthetic_shards.py "$w/gpt2" 50257 300000 30000 2>&1 | tail -1
  phase gptcc124 75 $G/gpt train --data "$w/gpt2" --vocab-size 50257 --out "$w/g124" --layers 12 --heads 12 \
    --dim 768 --context 1024 --batch 8 --steps 8 --max-seconds 20 --log-every 1 --eval-every 0 --save-every 0 --device cuda
  brief <"$w/gptcc124.err" 2>/dev/null
  phase gptcc124_bf16 75 $G/gpt train --data "$w/gpt2" --vocab-size 50257 --out "$w/g124b" --layers 12 --heads 12 \
    --dim 768 --context 1024 --batch 8 --steps 8 --max-seconds 20 --log-every 1 --eval-every 0 --save-every 0 \
    --device cuda --dtype bf16
  brief <"$w/gptcc124_bf16.err" 2>/dev/null
  # The same with a baseline build (GPU_CHECK_BASE at build time), in the same run.
  if [ -x $G/gpt-base ]; then
    phase gptcc124_bf16_base 75 $G/gpt-base train --data "$w/gpt2" --vocab-size 50257 --out "$w/g124base" --layers 12 \
      --heads 12 --dim 768 --context 1024 --batch 8 --steps 8 --max-seconds 20 --log-every 1 --eval-every 0 \
      --save-every 0 --device cuda --dtype bf16
    echo "base $(cat $G/base-commit 2>/dev/null)" >"$w/base-commit"
  fi
  # The same with attention on the CUDA cores (the fp32 flash kernels, bf16 roundings):
  # what the tensor-core attention kernels gain.
  phase gptcc124_bf16_flash 45 env GPT_CUDA_ATTENTION=flash $G/gpt train --data "$w/gpt2" --vocab-size 50257 \
    --out "$w/g124f" --layers 12 --heads 12 --dim 768 --context 1024 --batch 8 --steps 6 --max-seconds 12 \
    --log-every 1 --eval-every 0 --save-every 0 --device cuda --dtype bf16
  brief <"$w/gptcc124_bf16_flash.err" 2>/dev/null
  # Where a 124M bf16 step's time goes (gpt train --profile: every call waited for).
  phase gptcc124_profile 45 $G/gpt train --data "$w/gpt2" --vocab-size 50257 --out "$w/g124p" --layers 12 \
    --heads 12 --dim 768 --context 1024 --batch 8 --steps 4 --max-seconds 12 --log-every 1 --eval-every 0 \
    --save-every 0 --device cuda --dtype bf16 --profile
  sed -n '/^profile/,/outside the backend/p' "$w/gptcc124_profile.err" 2>/dev/null
  torch_phase pt_sample 45 sample $m6 --device cuda --tokens 200
  # 124M at batch 32 (4x the rows above; the H200's 141 GB hold it), gpt.cc and PyTorch eager.
  phase gptcc124_bf16_b32 60 $G/gpt train --data "$w/gpt2" --vocab-size 50257 --out "$w/g124b32" --layers 12 \
    --heads 12 --dim 768 --context 1024 --batch 32 --steps 6 --max-seconds 20 --log-every 1 --eval-every 0 \
    --save-every 0 --device cuda --dtype bf16
  brief <"$w/gptcc124_bf16_b32.err" 2>/dev/null | grep -E '^(done|error|gpt train: .*memory|memory)' | head -3
  torch_phase pt124_bf16_b32 45 train ${m124% --batch 8} --batch 32 --device cuda --autocast bf16 --steps 8
  torch_phase pt6_bf16 45 train $m6 --device cuda --autocast bf16 --steps 22
  torch_phase pt124_bf16_compile 150 train $m124 --device cuda --autocast bf16 --compile --steps 13
  torch_phase pt124_fp32 45 train $m124 --device cuda --steps 8
  torch_phase pt6_fp32 30 train $m6 --device cuda --steps 22
  echo "(section: $((SECONDS - pt0)) s, PyTorch's runs $pt_spent s of $PT_BUDGET)"
  echo
  LD_LIBRARY_PATH=$LLP0 "${PYT:-python3}" - "$w" "${GPU_PEAK_TFLOPS:-989}" <<'PY' || echo "(no table: python3 missing or failed; the raw numbers are in torch_bench.jsonl, the logs and above)"
import json, os, re, statistics, sys
w, peak = sys.argv[1], float(sys.argv[2])
def status(name):
    try: return open(os.path.join(w, name + ".status")).read().strip()
    except OSError: return "not run"
def torch_row(name):
    try: return json.loads(open(os.path.join(w, name + ".out")).read())
    except (OSError, ValueError): return None
def fpt(L, C, T, V):  # nanoGPT/PaLM 6N + 12LCT, N = parameters less the position embedding
    return 6 * (L * (12 * C * C + 13 * C) + V * C + 2 * C) + 12 * L * C * T
def gptcc(run, B, T):  # median ms/step of steps 2.. in a gpt train run's metrics.jsonl
    try: ms = [json.loads(l)["ms_per_step"] for l in open(os.path.join(w, run, "metrics.jsonl")) if l.strip()][1:]
    except (OSError, ValueError, KeyError): return None
    return (statistics.median(ms), B * T / statistics.median(ms) * 1e3, len(ms)) if ms else None
cfg6, cfg124 = (6, 384, 256, 65, 16), (12, 768, 1024, 50257, 8)
rows, tps = [], {}
def add(key, impl, cfg, dtype, got, note=""):
    L, C, T, V, B = cfg
    label = "%dL/%d, T %d, V %d, B %d" % (L, C, T, V, B)
    if got is None:
        rows.append("| %s | %s | %s | | | | | %s |" % (impl, label, dtype, note)); return
    ms, t = got[0], got[1]
    tf = t * fpt(L, C, T, V) / 1e12
    tps[key] = t
    rows.append("| %s | %s | %s | %.1f | %.0f | %.1f | %.1f%% | %s |" % (impl, label, dtype, ms, t, tf, 100 * tf / peak, note))
def add_torch(key, name, impl, cfg, dtype):
    d = torch_row(name)
    if d is None: return add(key, impl, cfg, dtype, None, status(name))
    note = "first step (compiling) %.1f s" % d.get("first_step_s", float("nan")) if d.get("compiled") else ""
    cfg = tuple(d[k] for k in ("layers", "dim", "context", "vocab", "batch"))  # what it ran
    if fpt(*cfg[:4]) != d["flops_per_token"]: note += " (torch_bench counts %d FLOPs/token)" % d["flops_per_token"]
    add(key, impl, cfg, dtype, (d["ms_per_step"], d["tokens_per_s"]), note)
g = gptcc("speed", 16, 256)
add("c6", "gpt.cc (speed section above)", cfg6, "fp32", g, "" if g else "no metrics (see the speed section)")
add_torch("p6", "pt6_fp32", "PyTorch eager", cfg6, "fp32")
add_torch("p6b", "pt6_bf16", "PyTorch eager", cfg6, "bf16 autocast")
g = gptcc("g124", 8, 1024)
add("c124", "gpt.cc", cfg124, "fp32", g, ("%d timed steps; " % g[2] if g else "") + status("gptcc124"))
g = gptcc("g124b", 8, 1024)
add("c124b", "gpt.cc", cfg124, "bf16", g, ("%d timed steps; " % g[2] if g else "") + status("gptcc124_bf16"))
try: base = open(os.path.join(w, "base-commit")).read().split()[1]
except (OSError, IndexError): base = None
if base:
    g = gptcc("g124base", 8, 1024)
    add("c124base", "gpt.cc at %s (GPU_CHECK_BASE)" % base, cfg124, "bf16", g,
        ("%d timed steps; " % g[2] if g else "") + status("gptcc124_bf16_base"))
g = gptcc("g124f", 8, 1024)
add("c124f", "gpt.cc, GPT_CUDA_ATTENTION=flash", cfg124, "bf16", g,
    "attention on the CUDA cores; " + ("%d timed steps; " % g[2] if g else "") + status("gptcc124_bf16_flash"))
add_torch("p124", "pt124_fp32", "PyTorch eager", cfg124, "fp32")
add_torch("p124b", "pt124_bf16", "PyTorch eager", cfg124, "bf16 autocast")
add_torch("p124c", "pt124_bf16_compile", "PyTorch torch.compile", cfg124, "bf16 autocast")
cfg124b32 = (12, 768, 1024, 50257, 32)
g = gptcc("g124b32", 32, 1024)
add("c124b32", "gpt.cc", cfg124b32, "bf16", g, ("%d timed steps; " % g[2] if g else "") + status("gptcc124_bf16_b32"))
add_torch("p124b32", "pt124_bf16_b32", "PyTorch eager", cfg124b32, "bf16 autocast")
print("| implementation | config | dtype | ms/step | tokens/s | TFLOP/s | MFU | note |")
print("|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
print()
print("MFU = tokens/s x FLOPs/token against %.0f TFLOP/s: the H200 SXM's dense BF16 Tensor Core peak" % peak)
print("(NVIDIA's H200 datasheet gives 1,979 TFLOPS BF16 *with sparsity*; dense is half; its FP32 non-tensor")
print("peak is 67 TFLOPS, so an fp32 row's MFU here is against the bf16 peak, for comparison across rows).")
print("FLOPs/token: nanoGPT's/PaLM's 6N + 12LCT (N = parameters less the position embedding, vocab unpadded),")
print("the same count for every row, so MFU ratios are tokens/s ratios. 124M batch 8 is a fast check, not the")
print("largest batch that fits. PyTorch: SDPA attention, fused AdamW, TF32 off, median of the timed steps.")
for a, b, what in (("c6", "p6", "6L fp32, gpt.cc / PyTorch eager fp32"), ("c124", "p124", "124M fp32, gpt.cc / PyTorch eager fp32"),
                   ("c124b", "p124b", "124M bf16, gpt.cc / PyTorch eager bf16 autocast"),
                   ("c124b", "p124c", "124M bf16, gpt.cc / PyTorch compiled bf16 (the issue's goal: >= 1)"),
                   ("c124b", "c124f", "124M bf16, gpt.cc tensor-core attention / CUDA-core flash attention"),
                   ("c124b", "c124base", "124M bf16, gpt.cc / gpt.cc at the baseline build (same run)"),
                   ("c124b32", "p124b32", "124M bf16 batch 32, gpt.cc / PyTorch eager bf16 autocast")):
    print("ratio %s: %s" % (what, "%.2fx" % (tps[a] / tps[b]) if a in tps and b in tps else "n/a"))
print()
ours = None
try:
    m = re.search(r"generated: \d+ tokens in [\d.]+ ms \(([\d.]+) ms/token", open(os.path.join(w, "gptcc_sample.txt")).read())
    ours = float(m.group(1)) if m else None
except OSError: pass
d = torch_row("pt_sample")
print("| sampling, 6L/384/T256, batch 1, KV cache, fp32 | ms/token |\n|---|---|")
print("| gpt.cc (gpt sample --device cuda --stats, section above) | %s |" % ("%.3f" % ours if ours else "n/a"))
print("| PyTorch KV-cache loop (eager, SDPA) | %s |" % ("%.3f (%d tokens)" % (d["ms_per_token"], d["tokens"]) if d else status("pt_sample")))
if ours and d: print("sampling ratio: PyTorch's ms/token / gpt.cc's = %.2f (the goal: > 1, gpt.cc faster)" % (d["ms_per_token"] / ours))
PY
  echo; echo "bench: $SECONDS s of the check's $DEADLINE (GPU_CHECK_SECONDS); bench.md, train.log and torch_bench.* in $OUT"
  ;;
  esac
  rm -rf "$w"
  if [ "$mode" != bench ]; then
    # The verdict, the report's last line: FAIL when a section failed or hung; INCOMPLETE
    # when none did but a required one did not run (run: every section but the sanitizers,
    # which get what time is left; sanitize: both); else PASS.
    overall=PASS
    for v in "${verdict[@]}"; do case ${v#* } in FAIL*|TIMEOUT*) overall=FAIL ;; esac; done
    if [ $overall = PASS ]; then
      for v in "${verdict[@]}"; do
        case $mode:${v%% *}:${v#* } in *:PASS*|run:memcheck:*|run:racecheck:*) ;; *) overall=INCOMPLETE ;; esac
      done
    fi
    echo; echo "($mode: $SECONDS s of the check's $DEADLINE; report in $OUT$([ $mode = run ] && echo ", with cuda_tests.log and train.log, every program's whole output"))"
    line="verdict: $overall"
    for v in "${verdict[@]}"; do line="$line | $v"; done
    [ -z "$timed_out" ] || line="$line | timed out:$timed_out"
    echo "$line"
  fi
  exec >/dev/null 2>&1  # tee reads to the end: wait for it, so the report keeps its last lines
  wait "$tee_pid" 2>/dev/null
  ;;
*)
  echo "usage: scripts/gpu_check.sh build|run|bench|sanitize (see the top of this file)"; exit 2 ;;
esac
