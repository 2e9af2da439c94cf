#!/usr/bin/env bash
# The checker's own test: runs kvstore-check-history on a crafted history and requires the verdict
# that the history's `# expect:` line names:
#   # expect: ok                 exit 0 and `history ok: ...`
#   # expect: violation REGEX    exit 1 and a report matching REGEX (an extended regular expression,
#                                matched against the output with its lines joined by spaces)
#   # expect: error REGEX        exit 2 (not a history) and a message matching REGEX
# A `# skew: NS` line runs the checker with --skew NS. Hard timeout: 20 s.
#
#   check_checker.sh CHECKER HISTORY
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 CHECKER HISTORY" >&2; exit 2; }
checker="$1" history="$2"

expect="$(sed -n 's/^# expect: //p' "$history")"
skew="$(sed -n 's/^# skew: //p' "$history")"
[[ -n "$expect" ]] || { echo "FAIL: $history has no '# expect:' line" >&2; exit 1; }
verdict="${expect%% *}"
pattern=""
[[ "$expect" == *" "* ]] && pattern="${expect#* }"

status=0
output="$(timeout --kill-after=5 20 "$checker" ${skew:+--skew "$skew"} "$history" 2>&1)" || status=$?
printf '%s\n' "$output"
case "$verdict" in
  ok) wanted=0 pattern="^history ok: " ;;
  violation) wanted=1 ;;
  error) wanted=2 ;;
  *) echo "FAIL: $history: unknown verdict '$verdict' (ok, violation or error)" >&2; exit 1 ;;
esac
if [[ "$status" -ne "$wanted" ]]; then
  echo "FAIL: $history: the checker exited $status, expected $wanted ($verdict)" >&2
  exit 1
fi
if ! tr '\n' ' ' <<<"$output" | grep -Eq -- "$pattern"; then
  echo "FAIL: $history: the checker's output does not match /$pattern/" >&2
  exit 1
fi
echo "ok: $history: $verdict, as expected"
