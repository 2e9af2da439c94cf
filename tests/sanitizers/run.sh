#!/bin/bash
# The sanitizer passes of ./drust test (issue 6 item 4; docs/RELIABILITY.md, "Sanitizers"):
#   - AddressSanitizer + UndefinedBehaviorSanitizer (gcc) on the unit and cluster suites, in
#     BUILD_ROOT-asan;
#   - ThreadSanitizer (gcc) on the concurrency core, in BUILD_ROOT-tsan: the unit tests of the
#     transport and its progress engine, the allocator and global heap, the read cache and copy
#     arena, channels and mutex/sync, and the multi-node sync and channel tests under drun.
# Each build directory is configured when missing and only the targets of those tests are built.
# Any sanitizer report fails its test (the options below); the exit status is non-zero when any
# build or test fails.
#
#   tests/sanitizers/run.sh BUILD_ROOT     (e.g. build: uses build-asan and build-tsan)
set -u

readonly SANITIZERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SOURCE_ROOT="$(cd "$SANITIZERS_DIR/../.." && pwd)"

# Every report is fatal and visible: halt at the first one and abort, so that a node of a drun job
# dies with SIGABRT (drun then fails the job) and a one-process test fails. Leak checking stays on:
# LeakSanitizer runs at the exit of node 0, of drun and of every unit test (other nodes end with
# _Exit once the job is over, so their leaks are not checked).
readonly ASAN_RUN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:print_summary=1"
readonly UBSAN_RUN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
# second_deadlock_stack: both stacks of a lock-order report. history_size=4: deeper per-thread
# history, so the other side of a race still has its stack in the progress engine's long runs.
readonly TSAN_RUN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$SANITIZERS_DIR/tsan.supp"

# The concurrency core under ThreadSanitizer: test names (unit, and cluster where both exist).
readonly TSAN_TESTS=(transport spin_budget doorbell allocator global_heap coherence_read_cache coherence_copy_arena coherence_mirror sync sync_leases channel)

# Both trees compile with -O1 and line tables only (-g1), not the usual -O2 -g: ./drust test has
# 30 minutes on 2 cores, and a cold sanitizer build takes less than half the CPU time that way
# (control_frame_test.cpp under ASan: 21 s instead of 47 s). -O1 is what both sanitizers' manuals
# suggest, and -g1 still gives every frame of a report its file and line.
readonly COMMON_OPTIONS=(-Doptimization=1 -Ddebug=false)

say() { printf 'sanitizers: %s\n' "$*"; }

# True when DIR's options differ from the -Dname=value arguments that follow.
options_differ() {
  local dir="$1"
  shift
  meson introspect --buildoptions "$dir" 2>/dev/null | python3 -c '
import json, sys
current = {o["name"]: o["value"] for o in json.load(sys.stdin)}
for argument in sys.argv[1:]:
    name, value = argument[2:].split("=", 1)
    have = current.get(name)
    have = " ".join(have) if isinstance(have, list) else str(have).lower() if isinstance(have, bool) else str(have)
    if have != value:
        sys.exit(0)
sys.exit(1)' "$@"
}

# configure DIR MESON_OPTIONS...: meson setup DIR, or meson configure when it was configured with
# other options (an older run.sh); nothing when it matches.
configure() {
  local dir="$1"
  shift
  if [[ -f "$dir/build.ninja" ]]; then
    options_differ "$dir" -Dwerror=true "$@" || return 0
    say "configuring $dir again ($*)"
    meson configure "$dir" -Dwerror=true "$@" >/dev/null || { say "meson configure of $dir failed"; return 1; }
    return 0
  fi
  say "configuring $dir ($*)"
  meson setup "$dir" "$SOURCE_ROOT" -Dwerror=true "$@" >"$dir.setup.log" 2>&1 || {
    say "meson setup of $dir failed; log: $dir.setup.log"
    return 1
  }
  rm -f "$dir.setup.log"
}

# build DIR SELECTOR...: the executables of the selected tests and what they depend on.
build() {
  local dir="$1" targets
  shift
  targets="$(python3 "$SANITIZERS_DIR/suite_targets.py" "$dir" "$@")" || return 1
  # shellcheck disable=SC2086  # one target per word
  ninja -C "$dir" $targets
}

run_asan() {
  local dir="$1"
  # -Wno-maybe-uninitialized: with the sanitizers' instrumentation gcc 12 warns about
  # <regex>'s own std::function members (tests/cluster/*_test.cpp use <regex>); gcc's manual says
  # sanitizers raise that warning's false positives. Every other warning stays an error.
  configure "$dir" "${COMMON_OPTIONS[@]}" -Db_sanitize=address,undefined -Db_lundef=false \
    "-Dcpp_args=-g1 -Wno-maybe-uninitialized" || return 1
  build "$dir" suite:unit suite:cluster || { say "the ASan+UBSan build failed"; return 1; }
  say "AddressSanitizer + UndefinedBehaviorSanitizer: unit and cluster suites ($dir)"
  ASAN_OPTIONS="$ASAN_RUN_OPTIONS" UBSAN_OPTIONS="$UBSAN_RUN_OPTIONS" \
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 3 \
    --suite unit --suite cluster
}

run_tsan() {
  local dir="$1" annotations
  # -Wno-tsan: gcc cannot instrument a standalone std::atomic_thread_fence and says so (an error
  # under werror). The only fences are the doorbell's (src/fabric/doorbell.cpp): a store-load
  # order between processes so that a wake-up is never lost, which hands over no data; what they
  # order is outside what TSan sees anyway (shared memory written by another process).
  configure "$dir" "${COMMON_OPTIONS[@]}" -Db_sanitize=thread -Db_lundef=false "-Dcpp_args=-g1 -Wno-tsan" || return 1
  build "$dir" "${TSAN_TESTS[@]}" || { say "the TSan build failed"; return 1; }
  # Debian's Abseil is not instrumented: teach TSan its locking (see absl_tsan_annotations.cpp).
  annotations="$dir/absl_tsan_annotations.so"
  if [[ ! -f "$annotations" || "$SANITIZERS_DIR/absl_tsan_annotations.cpp" -nt "$annotations" ]]; then
    # shellcheck disable=SC2046  # pkg-config prints several flags
    c++ -std=c++20 -O2 -shared -fPIC -Wall -Wextra -Werror $(pkg-config --cflags absl_synchronization) \
      "$SANITIZERS_DIR/absl_tsan_annotations.cpp" -o "$annotations" -ldl \
      || { say "cannot build $annotations"; return 1; }
  fi
  say "ThreadSanitizer: ${TSAN_TESTS[*]} ($dir)"
  LD_PRELOAD="$annotations" TSAN_OPTIONS="$TSAN_RUN_OPTIONS" \
    meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes 2 --timeout-multiplier 4 \
    "${TSAN_TESTS[@]}"
}

main() {
  if (($# != 1)); then
    echo "usage: tests/sanitizers/run.sh BUILD_ROOT   (builds and tests BUILD_ROOT-asan and BUILD_ROOT-tsan)" >&2
    return 2
  fi
  local root="$1" asan_status=0 tsan_status=0
  [[ "$root" == /* ]] || root="$PWD/$root"
  run_asan "$root-asan" || asan_status=1
  run_tsan "$root-tsan" || tsan_status=1
  say "AddressSanitizer+UBSan: $( ((asan_status)) && echo FAILED || echo passed); ThreadSanitizer: $( ((tsan_status)) && echo FAILED || echo passed)"
  ((asan_status == 0 && tsan_status == 0))
}

main "$@"
