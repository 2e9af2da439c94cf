#!/usr/bin/env bash
# The GEMM sample's test: the original (gemm-std) and the port (gemm-drust, under drun on 1, 2 and
# 4 nodes, shm; then with 3 workers) multiply at the default size; every run must pass its own check against one
# cblas_dgemm of the whole matrices and print the original's checksum.
#   check_gemm.sh DRUN GEMM_STD GEMM_DRUST
set -euo pipefail
[[ $# -eq 3 ]] || { echo "usage: $0 DRUN GEMM_STD GEMM_DRUST" >&2; exit 2; }
drun="$1" original="$2" port="$3"
export OPENBLAS_NUM_THREADS=1  # the programs set it too; this keeps OpenBLAS from starting threads at load

# Runs "$@" with a hard timeout, prints its output, and sets `checksum` from its checksum line;
# fails unless the run exits 0 and its check passed.
run() {
  local out
  if ! out="$(timeout --kill-after=5 40 "$@" 2>&1)"; then
    printf '%s\n' "$out"
    echo "FAIL: '$*' failed or timed out" >&2
    exit 1
  fi
  printf '%s\n' "$out"
  checksum="$(sed -n 's/^gemm checksum: \(.*\)$/\1/p' <<<"$out")"
  [[ -n "$checksum" ]] || { echo "FAIL: '$*' printed no checksum" >&2; exit 1; }
  grep -q '^gemm check against one dgemm: passed' <<<"$out" || { echo "FAIL: '$*' did not pass its check" >&2; exit 1; }
}

run "$original"
expected="$checksum"
for nodes in 1 2 4; do
  run "$drun" -n "$nodes" --provider shm "$port"
  if [[ "$checksum" != "$expected" ]]; then
    echo "FAIL: the port on $nodes nodes printed checksum $checksum, the original $expected" >&2
    exit 1
  fi
  echo "ok: the port on $nodes nodes passes its check and prints the original's checksum $expected"
done
# Three workers for eight block-rows: an uneven deal gives the same C, so the same checksum.
run "$drun" -n 4 --provider shm "$port" --threads 3
[[ "$checksum" == "$expected" ]] || { echo "FAIL: the port with 3 workers printed checksum $checksum" >&2; exit 1; }
echo "ok: the port with 3 workers on 4 nodes prints the original's checksum $expected"
