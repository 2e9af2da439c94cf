#!/bin/bash
# Builds the libFuzzer targets with clang and runs each for a bounded time (meson test suite
# 'fuzz', about a minute in all). Used by ./drust test; by hand:
#   tests/fuzz/run.sh [BUILD_DIR]     (default build-fuzz-clang, configured here when missing)
# Longer runs of one target: see docs/RELIABILITY.md, "Hostile input".
set -u

run_fuzz_targets() {
  local root dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  dir="${1:-$root/build-fuzz-clang}"
  if [[ ! -f "$dir/build.ninja" ]]; then
    CC=clang CXX=clang++ meson setup "$dir" "$root" -Dfuzz=true -Dwerror=true >/dev/null || {
      echo "fuzz: cannot configure $dir with clang (is clang and libclang-rt-14-dev installed? ./drust setup)"
      return 1
    }
  fi
  ninja -C "$dir" tests/fuzz/cluster_file_fuzz tests/fuzz/wire_fuzz || return 1
  meson test -C "$dir" --no-rebuild --suite fuzz --print-errorlogs
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  run_fuzz_targets "$@"
fi
