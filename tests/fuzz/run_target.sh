#!/bin/bash
# Runs one libFuzzer target for a bounded time on its seed corpus (a meson test of suite 'fuzz').
#   run_target.sh FUZZER SEED_DIR WORK_DIR SECONDS
# New inputs go to WORK_DIR/corpus (the seeds in the source tree stay as they are); a crash, leak
# or timeout leaves its input in WORK_DIR/ and fails the test, and the last lines of the run
# (executions per second, total executions) are printed either way. libFuzzer's own failure
# status (77) would read as "skipped" to meson: every failure exits 1 here.
set -u
fuzzer="$1" seeds="$2" work="$3" seconds="$4"
mkdir -p "$work/corpus"
rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-*
"$fuzzer" "$work/corpus" "$seeds" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
  -error_exitcode=1 -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$work/" 2>"$work/log"
status=$?
grep -E '^(#[0-9]+ *DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' "$work/log"
if ((status != 0)); then
  tail -n 60 "$work/log"
  echo "$(basename "$fuzzer") failed (exit $status); its input is in $work/ (replay: $fuzzer $work/crash-...)"
fi
exit $status
