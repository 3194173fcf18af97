#!/usr/bin/env bash
# Runs the libFuzzer harnesses (tests/fuzz/fuzz_*.cpp, built by `make fuzz-build`), each
# for SECONDS, on a corpus that grows across runs (FUZZ_BUILD/corpus/NAME) seeded by
# gpt.cc's own writers (FUZZ_BUILD/seeds/NAME). A crash, a sanitizer report, a leak, an
# input slower than -timeout (a quadratic path) or more memory than -rss_limit_mb fails
# the harness; the input is kept in FUZZ_BUILD/artifacts/. Prints executions and
# coverage per harness; exit status non-zero when any harness failed.
#   scripts/fuzz.sh SECONDS [NAME...]       (make fuzz FUZZ_SECONDS=600; make fuzz-smoke)
set -uo pipefail
secs=${1:?usage: fuzz.sh SECONDS [harness...]}
shift
B=${FUZZ_BUILD:-build-fuzz}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in "$B"/fuzz_*; do [ -x "$f" ] && names+=("${f##*/fuzz_}"); done
fi
[ ${#names[@]} -gt 0 ] || { echo "fuzz.sh: no harnesses in $B (run make fuzz-build)"; exit 1; }
mkdir -p "$B/artifacts"
failed=0
printf '%-16s %10s %8s %8s %8s  %s\n' harness execs exec/s cov ft result
for n in "${names[@]}"; do
  mkdir -p "$B/corpus/$n"
  log="$B/logs/$n.log"
  mkdir -p "$B/logs"
  # -timeout 10: one input slower than 10 s fails; -rss_limit_mb 2048 (and malloc limit):
  # a reader that allocates what a header claims without checking fails.
  "$B/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$B/artifacts/$n-" "$B/corpus/$n" "$B/seeds/$n" >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED (exit $rc; see $log)"
    failed=$((failed + 1))
    grep -m3 -E 'ERROR|SUMMARY|timeout|out-of-memory' "$log" | sed 's/^/    /'
  fi
  printf '%-16s %10s %8s %8s %8s  %s\n' "$n" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result"
done
echo "fuzz: ${#names[@]} harnesses, $failed failed"
[ "$failed" -eq 0 ]
