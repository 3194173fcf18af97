#!/usr/bin/env bash
# Installs the Debian packages that building (and, with --test, testing) gpt.cc need. Idempotent.
#   --if-missing   do nothing (not even apt-get update) when everything is there
#   --test         also the PyTorch reference (python3-torch) that the loss-curve and
#                  logits tests compare against (without it those tests skip), clang-14
#                  with libFuzzer and LLVM's OpenMP for the fuzz harnesses (make fuzz-smoke),
#                  and Hugging Face's tokenizers.js (npm @huggingface/tokenizers, pinned) in
#                  build/node, which reads the tokenizer.json exports write (tests/
#                  test_hf_tokenizer.cpp); without node, npm or the registry that test skips
#                  and the install goes on
#   --bench        what `make bench` compares against: PyTorch and OpenBLAS (Debian's PyTorch
#                  runs fp32 on whatever libblas.so.3 points to; without OpenBLAS that is the
#                  reference BLAS, ~5 GFLOP/s, which would make a meaningless baseline)
set -euo pipefail
PKGS=(g++ make libgtest-dev libsentencepiece-dev curl ca-certificates)
quiet=0
node_pkgs=0
TOKENIZERS_JS=@huggingface/tokenizers@0.2.0
# Into build/node (ignored; `make clean` removes it with the rest of build/). A failure
# says so and is not the install's: the test that needs it skips, naming the reason.
install_node_packages() {
  local prefix pkg
  prefix="$(cd "$(dirname "$0")/.." && pwd)/build/node"
  pkg="$prefix/node_modules/@huggingface/tokenizers/package.json"
  if grep -qs "\"version\": \"${TOKENIZERS_JS##*@}\"" "$pkg"; then return 0; fi
  if ! command -v npm >/dev/null; then
    echo "install_deps: npm not found, so $TOKENIZERS_JS is not installed (the tokenizer.json test skips)" >&2
    return 0
  fi
  echo "install_deps: installing $TOKENIZERS_JS into $prefix"
  mkdir -p "$prefix"
  timeout 300 npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "$TOKENIZERS_JS" \
    >/dev/null 2>&1 || echo "install_deps: npm could not install $TOKENIZERS_JS (the tokenizer.json test skips)" >&2
}
for arg in "$@"; do
  case "$arg" in
    --if-missing) quiet=1 ;;
    --test) node_pkgs=1
            PKGS+=(python3 python3-numpy python3-torch openmpi-bin libopenmpi-dev clang-14 libfuzzer-14-dev
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
  if [ "$node_pkgs" = 1 ]; then install_node_packages; fi
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
if [ "$node_pkgs" = 1 ]; then install_node_packages; fi
