#!/usr/bin/env bash
# Runs the GoogleTest binary and ends with one line "N passed, N failed, N skipped"
# (what CI reads). Exit status: non-zero when any test failed or the binary crashed.
# GPT_EMU_TESTS="BINARY [gtest flags]": a second binary run after the first and counted
# in the same line (make test: the CUDA backend's rows on the CPU emulator).
set -uo pipefail
bin=${1:?usage: run_tests.sh TEST_BINARY [gtest flags]}
shift
log=$(mktemp)
"$bin" --gtest_color=no "$@" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ -n "${GPT_EMU_TESTS:-}" ]; then
  echo; echo "== the CUDA backend on the CPU emulator (tests/cuda_emu): $GPT_EMU_TESTS"
  # shellcheck disable=SC2086
  $GPT_EMU_TESTS --gtest_color=no 2>&1 | tee -a "$log"
  rc2=${PIPESTATUS[0]}
  [ "$rc" -ne 0 ] || rc=$rc2
fi
passed=$(grep -c '^\[       OK \]' "$log")
failed=$(grep -c '^\[  FAILED  \] [A-Za-z0-9_/]*\.[A-Za-z0-9_/]* (' "$log")
skipped=$(grep -c '^\[  SKIPPED \] [A-Za-z0-9_/]*\.[A-Za-z0-9_/]* (' "$log")
rm -f "$log"
# A failure the Makefile found before the suite ran (make test FUZZ_SMOKE=1: the fuzz smoke run).
extra=${GPT_EXTRA_FAILED:-0}
if [ "$extra" -gt 0 ]; then
  echo "fuzz smoke run failed (see its table above)"
  failed=$((failed + extra))
fi
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  echo "test binary exited with status $rc (crash?)"
  failed=$((failed + 1))
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
