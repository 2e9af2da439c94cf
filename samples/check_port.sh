#!/usr/bin/env bash
# The samples' test: a workload's original (std threading) and its drust port must print the same
# checksum. The original runs once; the port runs under drun (shm) on each node count of --nodes,
# then once per --extra-run. Every run has a hard timeout and must exit 0.
#
#   check_port.sh DRUN ORIGINAL PORT [--nodes "1 4"] [--timeout SECONDS] [--require REGEX]
#                 [--extra-run "NODES ARGS..."]... [-- ARGS...]
#
# Each program prints a line `checksum <token>` (samples/README.md). --require names a line (an
# extended regular expression) that every run must also print, such as a sample's own check.
# --extra-run runs the port once more on NODES nodes with ARGS added (e.g. "4 --threads 3"); its
# checksum must equal the original's too. ARGS after `--` go to every run, original included.
set -euo pipefail
usage() { echo "usage: $0 DRUN ORIGINAL PORT [--nodes LIST] [--timeout S] [--require REGEX] [--extra-run 'N ARGS'] [-- ARGS]" >&2; exit 2; }
[[ $# -ge 3 ]] || usage
drun="$1" original="$2" port="$3"
shift 3
node_counts="1 4" limit=60 require="" extra_runs=() common=()
while (($#)); do
  case "$1" in
    --nodes) node_counts="$2"; shift 2 ;;
    --timeout) limit="$2"; shift 2 ;;
    --require) require="$2"; shift 2 ;;
    --extra-run) extra_runs+=("$2"); shift 2 ;;
    --) shift; common=("$@"); break ;;
    *) usage ;;
  esac
done

# Runs "$@" with the hard timeout, prints its output, and sets `checksum` from its checksum line.
run() {
  local out
  if ! out="$(timeout --kill-after=5 "$limit" "$@" 2>&1)"; then
    printf '%s\n' "$out"
    echo "FAIL: '$*' failed or timed out (limit ${limit} s)" >&2
    exit 1
  fi
  printf '%s\n' "$out"
  checksum="$(sed -n 's/^checksum \(.*\)$/\1/p' <<<"$out")"
  [[ -n "$checksum" ]] || { echo "FAIL: '$*' printed no checksum line" >&2; exit 1; }
  if [[ -n "$require" ]] && ! grep -Eq "$require" <<<"$out"; then
    echo "FAIL: '$*' printed no line matching /$require/" >&2
    exit 1
  fi
}

# Runs the port on $1 nodes with the rest as extra arguments and compares its checksum.
check_port() {
  local nodes="$1"
  shift
  run "$drun" -n "$nodes" --provider shm "$port" "${common[@]}" "$@"
  if [[ "$checksum" != "$expected" ]]; then
    echo "FAIL: the port on $nodes nodes (${*:-default arguments}) printed checksum $checksum, the original $expected" >&2
    exit 1
  fi
  echo "ok: the port on $nodes nodes (${*:-default arguments}) prints the original's checksum $expected"
}

run "$original" "${common[@]}"
expected="$checksum"
for nodes in $node_counts; do check_port "$nodes"; done
for extra in "${extra_runs[@]}"; do
  read -r -a words <<<"$extra"
  check_port "${words[@]}"
done
