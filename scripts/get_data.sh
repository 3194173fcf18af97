#!/usr/bin/env bash
# Fetches Tiny Shakespeare (Karpathy's char-rnn corpus, 1,115,394 bytes) and
# verifies its SHA-256. Does not tokenize: run `gpt prepare` on the result.
#
#   scripts/get_data.sh [DEST]          DEST defaults to data/tinyshakespeare.txt
#   GPT_DATA_MIRROR=DIR scripts/get_data.sh
#                                       copy DIR/tinyshakespeare.txt (offline machines)
#
# Idempotent: a DEST that already has the right checksum is left alone.
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
case "${1:-}" in
  -h | --help) usage; exit 0 ;;
  -*) { echo "get_data.sh: unknown option '$1'; usage:"; usage; } >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { echo "get_data.sh: one DEST at most (got $# arguments); see --help" >&2; exit 2; }

URL="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SIZE=1115394
DEST="${1:-data/tinyshakespeare.txt}"

die() { echo "get_data.sh: error: $*" >&2; exit 1; }
# How this user gets permission PERM (r, rx, w) on PATH: chmod u+ when it owns it, else its
# owner's chmod a+ (helper-44: "chmod u+rx" on another user's directory changes nothing).
perm_fix() {
  local uid
  uid="$(stat -c %u "$1" 2>/dev/null || id -u)"
  if [[ "$uid" == "$(id -u)" ]]; then echo "chmod u+$2 $1"; else echo "have its owner (uid $uid) run chmod a+$2 $1"; fi
}
# The first directory on the way to PATH that this user cannot search (nothing when none):
# a path under it read as "does not exist" or "is not a directory".
blocked_on_way() {
  local d found=""
  d="$(dirname "$1")"
  while :; do
    [[ -d "$d" && ! -x "$d" ]] && found="$d"  # (going up: the last one found is the first on the way)
    [[ "$d" == / || "$d" == . ]] && break
    d="$(dirname "$d")"
  done
  echo "$found"
}
# (A directory as DEST took the final mv into it: "wrote DEST", and the file sat in
# DEST/DEST.tmp.PID.)
[[ -d "$DEST" ]] && die "$DEST is a directory; give the file's path (e.g. ${DEST%/}/tinyshakespeare.txt)"
# (A DEST ending in / that does not exist yet: cp failed naming DEST/.tmp.PID.)
[[ "$DEST" == */ ]] && { echo "get_data.sh: $DEST ends in /, a directory; give the file's path (e.g. ${DEST%/}/tinyshakespeare.txt)" >&2; exit 2; }
# (DEST/.. reported "wrote" and left the file as a hidden DEST/...tmp.PID; DEST/. failed in mv)
case "$(basename "$DEST")" in
  . | ..) echo "get_data.sh: $DEST ends in $(basename "$DEST"), a directory; give the file's path (e.g. $DEST/tinyshakespeare.txt)" >&2; exit 2 ;;
esac

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum found; install coreutils (or perl's shasum) to verify the download"
  fi
}

if [[ -f "$DEST" && "$(sha256_of "$DEST")" == "$SHA256" ]]; then
  echo "get_data.sh: $DEST already present and verified (sha256 $SHA256); nothing to do"
  exit 0
fi

if [[ -e "$DEST" ]]; then
  echo "get_data.sh: $DEST exists but its checksum is not the expected one; fetching a fresh copy to replace it"
fi
# Download next to DEST and rename only once verified: DEST is never half-written. A
# failure also removes the directories this run created for DEST (they were left empty).
TMP="$DEST.tmp.$$"
MADE=""  # the highest directory above DEST that did not exist before
d="$(dirname "$DEST")"
while [[ ! -e "$d" ]]; do MADE="$d"; d="$(dirname "$d")"; done
EXISTING="$d"  # the nearest directory above DEST that is there
cleanup() {
  rm -f "$TMP" 2>/dev/null
  [[ -n "$MADE" ]] || return 0
  local d b
  d="$(dirname "$DEST")"
  while :; do
    b="$(basename "$d")"
    # (a/b/.. is no directory of its own: rmdir refused it, and a and a/b stayed)
    if [[ "$b" != .. && "$b" != . ]]; then rmdir "$d" 2>/dev/null || break; fi
    [[ "$d" == "$MADE" ]] && break
    d="$(dirname "$d")"
  done
  return 0
}
trap cleanup EXIT
# A directory this user cannot search or write, named before anything is made (it failed as
# mkdir's own error, "cannot create directory", and a stray "rm: cannot remove"; or later as
# "cannot copy ..." or "download failed")
b="$(blocked_on_way "$DEST")"
[[ -z "$b" ]] || die "$DEST: this user cannot read the directory $b (Permission denied); $(perm_fix "$b" rx) (read and search permission), or give a destination in a directory of yours"
[[ -w "$EXISTING" && -x "$EXISTING" ]] || die "this user cannot write in $EXISTING (Permission denied); $(perm_fix "$EXISTING" w), or give a destination in a directory you can write to: $0 DIR/tinyshakespeare.txt"
# Another user's DEST in a sticky directory (as /tmp) cannot be replaced: said before the copy
# (helper-45: mv's own "Operation not permitted" came after it).
if [[ -e "$DEST" && -k "$(dirname "$DEST")" && "$(id -u)" != 0 ]]; then
  owner="$(stat -c %u "$DEST")"
  [[ "$owner" == "$(id -u)" || "$(stat -c %u "$(dirname "$DEST")")" == "$(id -u)" ]] || die "$DEST belongs to uid $owner, and in $(dirname "$DEST") (sticky, as /tmp) only its owner may replace it; give another destination, or have its owner remove $DEST"
fi
mkdir -p "$(dirname "$DEST")" || die "cannot create directory $(dirname "$DEST")"

if [[ -n "${GPT_DATA_MIRROR:-}" ]]; then
  SRC="$GPT_DATA_MIRROR/tinyshakespeare.txt"
  if [[ -f "$GPT_DATA_MIRROR" ]]; then
    die "GPT_DATA_MIRROR=$GPT_DATA_MIRROR is a file; it names the directory that holds tinyshakespeare.txt (GPT_DATA_MIRROR=$(dirname "$GPT_DATA_MIRROR"))"
  fi
  # (a mirror this user cannot search read as "does not exist", one under it as "not a directory")
  b="$(blocked_on_way "$GPT_DATA_MIRROR/x")"
  [[ -z "$b" ]] || die "GPT_DATA_MIRROR=$GPT_DATA_MIRROR: this user cannot read the directory $b (Permission denied); $(perm_fix "$b" rx) (read and search permission), or copy tinyshakespeare.txt to a directory of yours"
  [[ -d "$GPT_DATA_MIRROR" ]] || die "GPT_DATA_MIRROR=$GPT_DATA_MIRROR is not a directory; set it to the directory that holds tinyshakespeare.txt, or unset it to download from $URL"
  [[ -e "$SRC" ]] || die "GPT_DATA_MIRROR is set but $SRC does not exist; put tinyshakespeare.txt there or unset GPT_DATA_MIRROR to download from $URL"
  [[ -f "$SRC" ]] || die "$SRC is not a regular file (a directory?); the mirror needs the corpus itself there"
  [[ -r "$SRC" ]] || die "$SRC: this user cannot read it (Permission denied); $(perm_fix "$SRC" r) (read permission), or copy it to a directory of yours"
  echo "get_data.sh: copying $SRC -> $DEST"
  cp "$SRC" "$TMP" || die "cannot copy $SRC to $TMP"
  FROM="$SRC"
else
  echo "get_data.sh: downloading $URL -> $DEST"
  AGAIN="$0 $DEST"
  [[ -n "${MAKELEVEL:-}" ]] && AGAIN="make run"  # (make run calls this script)
  HINT="no network? copy tinyshakespeare.txt from a machine that has it into a directory DIR and run: GPT_DATA_MIRROR=DIR $AGAIN"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 --connect-timeout 20 -o "$TMP" "$URL" || die "download failed (curl) from $URL; $HINT"
  elif command -v wget >/dev/null 2>&1; then
    wget -q --tries=3 --timeout=20 -O "$TMP" "$URL" || die "download failed (wget) from $URL; $HINT"
  else
    die "neither curl nor wget is installed; install one, or $HINT"
  fi
  FROM="$URL"
fi

GOT_SHA="$(sha256_of "$TMP")"
if [[ "$GOT_SHA" != "$SHA256" ]]; then
  GOT_SIZE="$(wc -c <"$TMP" | tr -d ' ')"
  rm -f "$TMP"
  die "checksum mismatch for $FROM: expected sha256 $SHA256 ($SIZE bytes), found $GOT_SHA ($GOT_SIZE bytes); its copy was deleted and $DEST left as it was. The source is corrupt or is a different file; fetch it again or fix the mirror"
fi
mv -f "$TMP" "$DEST"
trap - EXIT
echo "get_data.sh: wrote $DEST ($SIZE bytes, sha256 verified). Next: gpt prepare"
