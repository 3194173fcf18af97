#!/usr/bin/env bash
# The "busy machine" rows of `make bench` (also runs alone): the same `gpt sample` and
# `gpt train` commands on an idle machine and with BUSY_LOAD (default 2) spinning
# background processes, each with the default threads (adaptive) and with every
# --threads 1..nproc; prints a markdown table of medians and the ratio default / best.
#   scripts/bench_busy.sh [BIN]     BIN defaults to bin/gpt
# Env: BUSY_LOAD (spinners), BUSY_REPS (rounds, median; default 3),
#      BUSY_TRAIN_STEPS (default 40), BUSY_TOKENS (default 200),
#      BUSY_CONDS (default "idle busy"), BUSY_BASE=OLD_BIN adds a column: OLD_BIN's default, in the same rounds (before/after).
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  -*) { echo "bench_busy.sh: unknown option '$1'; usage:"; usage; } >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "bench_busy.sh: one BIN at most (got $# arguments); see --help" >&2; exit 2; }
cd "$(dirname "$0")/.."
BIN=${1:-bin/gpt}
for b in "$BIN" ${BUSY_BASE:-}; do
  [ -x "$b" ] || { echo "bench_busy.sh: $b is not an executable gpt binary (relative paths are from the repository root; build with make)" >&2; exit 2; }
done
BASE=${BUSY_BASE:-}
LOAD=${BUSY_LOAD:-2}
REPS=${BUSY_REPS:-3}
STEPS=${BUSY_TRAIN_STEPS:-40}
TOKENS=${BUSY_TOKENS:-200}
NPROC=$(nproc)
tmp=$(mktemp -d)
spinners=()
stop_spinners() {
  for p in "${spinners[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${spinners[@]}"; do wait "$p" 2>/dev/null || true; done
  spinners=()
}
trap 'stop_spinners; rm -rf "$tmp"' EXIT

# Synthetic char-level shards (uniform random ids, vocab 65).
/usr/bin/env python3 scripts/synthetic_shards.py "$tmp/char" 65 200000 20000
# The 6-layer model the sampling row decodes (weights after one step; speed only).
${BASE:-$BIN} train --data "$tmp/char" --vocab-size 65 --out "$tmp/m6" --layers 6 --heads 6 --dim 384 --context 256 \
  --batch 1 --steps 1 --eval-every 0 --save-every 0 2>/dev/null

# One measurement in ms: sampling = generated ms/token (--stats); training = the sum of
# every step's ms (metrics.jsonl, first step included) of the default 4-layer model.
sample_ms() {  # threads flags...
  ${RUNBIN:-$BIN} sample --ckpt "$tmp/m6" --prompt "0 1 2 3" --tokens "$TOKENS" --stats "$@" 2>&1 >/dev/null |
    grep -o '[0-9.]* ms/token' | tail -1 | cut -d' ' -f1
}
train_ms() {
  rm -rf "$tmp/t"
  ${RUNBIN:-$BIN} train --data "$tmp/char" --vocab-size 65 --out "$tmp/t" --steps "$STEPS" --log-every 1 --eval-every 0 \
    --save-every 0 "$@" 2>/dev/null
  /usr/bin/env python3 -c '
import json, sys
print("%.1f" % sum(json.loads(l)["ms_per_step"] for l in open(sys.argv[1]) if l.strip()))' "$tmp/t/metrics.jsonl"
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# row NAME FN COND: default and each --threads N, REPS rounds taking each setting in
# turn (so a change in the machine hits them alike), medians, then default / best.
row() {
  local name=$1 fn=$2 cond=$3
  local settings=(default) n r
  for n in $(seq "$NPROC"); do settings+=("$n"); done
  [ -n "$BASE" ] && settings+=(base)
  declare -A vals=()
  for r in $(seq "$REPS"); do
    for n in "${settings[@]}"; do
      case $n in
        default) vals[$n]+="$("$fn") " ;;
        base) vals[$n]+="$(RUNBIN=$BASE "$fn") " ;;
        *) vals[$n]+="$("$fn" --threads "$n") " ;;
      esac
    done
  done
  local def best="" cells=""
  def=$(printf '%s\n' ${vals[default]} | median)
  for n in $(seq "$NPROC"); do
    local v; v=$(printf '%s\n' ${vals[$n]} | median)
    cells+=" $v |"
    if [ -z "$best" ] || awk "BEGIN {exit !($v < $best)}"; then best=$v; fi
  done
  local extra=""
  if [ -n "$BASE" ]; then
    local b; b=$(printf '%s\n' ${vals[base]} | median)
    extra=" $b | $(awk "BEGIN {printf \"%.2fx\", $b / $best}") |"
  fi
  echo "| $name, $cond | $def |$cells $(awk "BEGIN {printf \"%.2fx\", $def / $best}") |$extra"
}

header="| command, machine | default threads |"
sep="|---|---|"
for n in $(seq "$NPROC"); do header+=" --threads $n |"; sep+="---|"; done
if [ -n "$BASE" ]; then
  echo "$header default / best | base default | base / best |"
  echo "$sep---|---|---|"
else
  echo "$header default / best |"
  echo "$sep---|"
fi
for cond in ${BUSY_CONDS:-idle busy}; do
  if [ "$cond" = busy ]; then
    for _ in $(seq "$LOAD"); do sh -c 'while :; do :; done' & spinners+=($!); done
    sleep 0.5
  fi
  row "sample 6L/384, ms/token" sample_ms "$cond"
  row "train 4L/128 B16 T128, ms for $STEPS steps" train_ms "$cond"
  stop_spinners
done
echo
case " ${BUSY_CONDS:-idle busy} " in
  *" busy "*) echo "busy = $LOAD spinning background processes (sh -c 'while :; do :; done') on $NPROC cores; medians of $REPS rounds" ;;
  *) echo "idle machine only (BUSY_CONDS=${BUSY_CONDS:-}), $NPROC cores; medians of $REPS rounds" ;;
esac
echo "(each round runs every setting once); load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "default = no --threads flag (adaptive, src/threads.h). $BIN${BASE:+; base = $BASE}."
