#!/usr/bin/env bash
# Records a kvstore run's history and checks it: runs COMMAND with `--history FILE` added (FILE a
# fresh temporary file, removed at the end), then kvstore-check-history on FILE. Both must exit 0;
# the run has a hard timeout of LIMIT seconds, the check 60 s.
#
#   check_recorded_history.sh CHECKER LIMIT COMMAND...
#   e.g. check_recorded_history.sh kvstore-check-history 60 drun -n 4 --provider shm kvstore-drust --ops 50000
set -euo pipefail
[[ $# -ge 3 ]] || { echo "usage: $0 CHECKER LIMIT COMMAND..." >&2; exit 2; }
checker="$1" limit="$2"
shift 2

history="$(mktemp "${TMPDIR:-/tmp}/kvstore-history.XXXXXX")"
trap 'rm -f "$history"' EXIT

if ! timeout --kill-after=5 "$limit" "$@" --history "$history"; then
  echo "FAIL: '$* --history $history' failed or timed out (limit $limit s)" >&2
  exit 1
fi
operations="$(grep -vc '^#' "$history" || true)"
[[ "$operations" -gt 0 ]] || { echo "FAIL: the run recorded no operation" >&2; exit 1; }
if ! output="$(timeout --kill-after=5 60 "$checker" "$history" 2>&1)"; then
  printf '%s\n' "$output"
  echo "FAIL: the history of '$*' is not linearizable (or the check failed)" >&2
  exit 1
fi
printf '%s\n' "$output"
grep -q "^history ok: $operations operations" <<<"$output" || { echo "FAIL: the checker did not check all $operations operations" >&2; exit 1; }
