#!/usr/bin/env bash
# Installs the Debian packages that building and testing gpt.cc need. Idempotent.
#   --if-missing   do nothing (not even apt-get update) when everything is there
set -euo pipefail
PKGS=(g++ make libgtest-dev curl ca-certificates)
missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  [ "${1:-}" = "--if-missing" ] || echo "install_deps: all present (${PKGS[*]})"
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
