#!/usr/bin/env bash
# Installs the Debian packages that building (and, with --test, testing) gpt.cc need. Idempotent.
#   --if-missing   do nothing (not even apt-get update) when everything is there
#   --test         also the PyTorch reference (python3-torch) that the loss-curve and
#                  logits tests compare against (without it those tests skip), and clang-14
#                  with libFuzzer and LLVM's OpenMP for the fuzz harnesses (make fuzz-smoke)
#   --bench        what `make bench` compares against: PyTorch and OpenBLAS (Debian's PyTorch
#                  runs fp32 on whatever libblas.so.3 points to; without OpenBLAS that is the
#                  reference BLAS, ~5 GFLOP/s, which would make a meaningless baseline)
set -euo pipefail
PKGS=(g++ make libgtest-dev libsentencepiece-dev curl ca-certificates)
quiet=0
for arg in "$@"; do
  case "$arg" in
    --if-missing) quiet=1 ;;
    --test) PKGS+=(python3 python3-numpy python3-torch openmpi-bin libopenmpi-dev clang-14 libfuzzer-14-dev
                   libomp-14-dev) ;;
    --bench) PKGS+=(python3 python3-torch libopenblas-dev) ;;
    *) echo "install_deps: unknown option '$arg' (use --if-missing, --test, --bench)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  [ "$quiet" = 1 ] || echo "install_deps: all present (${PKGS[*]})"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "install_deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
