#!/usr/bin/env bash
# `make bench-mpi`: data-parallel training on this machine (2 ranks x 1 thread vs 1 rank
# x 2 threads, the 6-layer/384/context-256 config), the measured all-reduce time per
# message size on loopback, and from those an estimate of step time and scaling
# efficiency on 2/8/64 nodes at 10 and 100 Gbit/s. Writes bench/results/DATE-mpi.md.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/gpt
STEPS=${BENCH_STEPS:-8}
MPIRUN="mpirun --allow-run-as-root --oversubscribe"
command -v mpirun >/dev/null || { echo "bench-mpi: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=bench/results/$(date +%Y-%m-%d)-mpi.md
/usr/bin/env python3 scripts/synthetic_shards.py "$tmp/char" 65 300000 30000
CFG="--data $tmp/char --vocab-size 65 --layers 6 --heads 6 --dim 384 --context 256 --steps $STEPS \
  --eval-every 0 --log-every 1 --save-every 0 --sampling sequential"
# median over steps 2..N of a metrics.jsonl field
med() { /usr/bin/env python3 -c '
import json, sys, statistics
v = [json.loads(l).get(sys.argv[2], 0) for l in open(sys.argv[1]) if l.strip()][1:]
print("%.1f" % statistics.median(v))' "$1" "$2"; }
echo "bench-mpi: 1 rank x 2 threads (batch 16) ..."
$BIN train $CFG --batch 16 --threads 2 --out "$tmp/one" 2>"$tmp/one.err"
echo "bench-mpi: 2 ranks x 1 thread (batch 8 each) ..."
$MPIRUN -np 2 $BIN train $CFG --batch 8 --threads 1 --out "$tmp/two" 2>/dev/null
echo "bench-mpi: 2 ranks x 1 thread, --zero 1 ..."
$MPIRUN -np 2 $BIN train $CFG --batch 8 --threads 1 --zero 1 --out "$tmp/zero" 2>/dev/null
one_ms=$(med "$tmp/one/metrics.jsonl" ms_per_step); two_ms=$(med "$tmp/two/metrics.jsonl" ms_per_step)
two_comm=$(med "$tmp/two/metrics.jsonl" comm_ms)
zero_ms=$(med "$tmp/zero/metrics.jsonl" ms_per_step); zero_comm=$(med "$tmp/zero/metrics.jsonl" comm_ms)
params=$(sed -n 's/^gpt train: \([0-9,]*\) parameters.*/\1/p' "$tmp/one.err" | tr -d ,)
echo "bench-mpi: all-reduce sizes ..."
$MPIRUN -np 2 build/bench_allreduce > "$tmp/ar.txt"
/usr/bin/env python3 - "$tmp/ar.txt" "$one_ms" "$two_ms" "$two_comm" "$params" "$out" "$zero_ms" "$zero_comm" <<'PY'
import sys
ar = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
one_ms, two_ms, two_comm, params6 = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
out = sys.argv[6]
zero_ms, zero_comm = float(sys.argv[7]), float(sys.argv[8])
tok = 16 * 256
L = []
L.append("# Data parallel over MPI (%s)\n" % out.split("/")[-1][:10])
L.append("Machine: this 2-core VM, Open MPI 4.1 over shared memory (loopback). Commands: `make bench-mpi` "
         "(scripts/bench_mpi.sh).\n")
L.append("## Training, 6-layer/384/context-256 (%s parameters), global batch 16 x 256, median of steps 2..N\n" % format(params6, ","))
L.append("| layout | ms/step | tokens/s | comm ms/step |\n|---|---|---|---|")
L.append("| 1 rank x 2 threads | %.0f | %.0f | - |" % (one_ms, tok / one_ms * 1e3))
L.append("| 2 ranks x 1 thread, ZeRO 0 | %.0f | %.0f | %.1f |" % (two_ms, tok / two_ms * 1e3, two_comm))
L.append("| 2 ranks x 1 thread, ZeRO 1 | %.0f | %.0f | %.1f |" % (zero_ms, tok / zero_ms * 1e3, zero_comm))
L.append("\nratio 2 ranks / 1 rank tokens/s: %.2fx. comm includes waiting for the slower rank.\n" % (one_ms / two_ms))
L.append("## All-reduce (float sum, in place), 2 ranks on this machine\n")
L.append("| bytes | median s | algorithm GB/s (bytes/s) |\n|---|---|---|")
for b, s in ar: L.append("| %s | %.6f | %.2f |" % (format(int(b), ","), s, b / s / 1e9))
big = ar[-1]
L.append("\nLargest message: %.2f GB/s on loopback (memory bandwidth, not a network).\n" % (big[0] / big[1] / 1e9))
# Estimate: ring all-reduce moves 2(N-1)/N of the gradient bytes per rank; latency 2(N-1) hops.
lat = 20e-6
models = [("6-layer/384 (%.1fM)" % (params6 / 1e6), params6, one_ms / 1e3),
          ("GPT-2 124M", 124439808, 0.80)]
L.append("## Estimated scaling (one rank per node, same per-node batch; no overlap of compute and communication)\n")
L.append("Model: step = compute + ring all-reduce of fp32 gradients, t_ar = 2(N-1)/N x 4P bytes / bandwidth + "
         "2(N-1) x %.0f us latency; efficiency = compute / step. Compute per node: the 6-layer step measured above (1 rank x 2 threads); GPT-2 124M 0.80 s (bench/results/2026-11-25-cpu.md: 322 tok/s at B4 x T64 on this VM).\n" % (lat * 1e6))
L.append("| model | nodes | link | all-reduce s | compute s | step s | efficiency |\n|---|---|---|---|---|---|---|")
for name, P, comp in models:
    for n in (2, 8, 64):
        for gbit in (10, 100):
            bw = gbit * 1e9 / 8
            t = 2 * (n - 1) / n * 4 * P / bw + 2 * (n - 1) * lat
            L.append("| %s | %d | %d Gbit/s | %.3f | %.3f | %.3f | %.0f%% |" % (name, n, gbit, t, comp, comp + t, 100 * comp / (comp + t)))
open(out, "w").write("\n".join(L) + "\n")
print("\n".join(L))
print("\nwritten to " + out)
PY
