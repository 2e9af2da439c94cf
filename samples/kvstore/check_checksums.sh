#!/usr/bin/env bash
# The kvstore sample's test: the original (kvstore-std) and the port (kvstore-drust, under drun on
# 1 and 4 nodes, shm) run the default workload and must print the same checksum.
#   check_checksums.sh DRUN KVSTORE_STD KVSTORE_DRUST
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 DRUN KVSTORE_STD KVSTORE_DRUST" >&2; exit 2; }
drun="$1" original="$2" port="$3"

# Runs "$@" with a hard timeout, prints its output, and sets `checksum` from its "checksum" line.
run() {
  local out
  if ! out="$(timeout --kill-after=5 60 "$@" 2>&1)"; then
    printf '%s\n' "$out"
    echo "FAIL: '$*' failed or timed out" >&2
    exit 1
  fi
  printf '%s\n' "$out"
  checksum="$(sed -n 's/^checksum \([0-9a-f]*\)$/\1/p' <<<"$out")"
  [[ -n "$checksum" ]] || { echo "FAIL: '$*' printed no checksum" >&2; exit 1; }
}

run "$original"
expected="$checksum"
for nodes in 1 4; do
  run "$drun" -n "$nodes" --provider shm "$port"
  if [[ "$checksum" != "$expected" ]]; then
    echo "FAIL: the port on $nodes nodes printed checksum $checksum, the original $expected" >&2
    exit 1
  fi
  echo "ok: the port on $nodes nodes prints the original's checksum $expected"
done
