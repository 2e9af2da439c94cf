#!/usr/bin/env bash
# tests/install/check.sh [BUILD_DIR] — does an installed drust work for a user outside the tree?
#
#   1. meson install --destdir SCRATCH          (headers, libdrust, drust.pc, drun)
#   2. pkg-config --cflags --libs drust          from the installed drust.pc
#   3. c++ -std=c++20 app.cpp $(pkg-config ...)  in a directory outside the repository
#   4. ./app            prints num_nodes=1 and runs its thread on node 0 (no drun: one node)
#   5. drun -n 2 ./app  with the installed drun: num_nodes=2, the thread runs on node 1
#
# pkg-config reads the installed drust.pc through PKG_CONFIG_PATH, and PKG_CONFIG_SYSROOT_DIR
# points its -I/-L paths into SCRATCH, so the build's own prefix is never written to.
# Each run has a hard limit (timeout -k: SIGTERM, then SIGKILL to the whole process group).
# Environment: CXX (default c++), DRUST_KEEP_SCRATCH=1 keeps SCRATCH even on success.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="$(cd "${1:-$here/../../build}" && pwd)"
cxx="${CXX:-c++}"
scratch="$(mktemp -d "${TMPDIR:-/tmp}/drust-install-check.XXXXXX")"
log="$scratch/log"
step=""

say() { printf 'install check: %s\n' "$*"; }
finish() {
  local status=$?
  if ((status != 0)); then
    say "FAILED at: $step"
    [[ -s "$log" ]] && { echo "---- output ----"; tail -n 60 "$log"; echo "----------------"; }
    say "scratch directory kept for inspection: $scratch"
  elif [[ "${DRUST_KEEP_SCRATCH:-0}" == 1 ]]; then
    say "scratch directory kept: $scratch"
  else
    rm -rf "$scratch"
  fi
}
trap finish EXIT

# run STEP-DESCRIPTION COMMAND...: runs the command with its output in $log.
run() {
  step="$1"
  shift
  "$@" >"$log" 2>&1
}

# expect PATTERN: the last command's output contains the fixed string PATTERN.
expect() {
  grep -qF -- "$1" "$log" || { step="$step: expected output '$1'"; return 1; }
}

option() {
  meson introspect --buildoptions "$build_dir" | python3 -c \
    'import json,sys; print({o["name"]: o["value"] for o in json.load(sys.stdin)}[sys.argv[1]])' "$1"
}

destdir="$scratch/destdir"
prefix="$(option prefix)"
libdir="$(option libdir)"
bindir="$(option bindir)"
[[ "$libdir" == /* ]] || libdir="$prefix/$libdir"
[[ "$bindir" == /* ]] || bindir="$prefix/$bindir"

run "meson install -C $build_dir --no-rebuild --destdir $destdir" \
  meson install -C "$build_dir" --no-rebuild --destdir "$destdir"
say "installed into $destdir (prefix $prefix)"

pc_dir="$destdir$libdir/pkgconfig"
drun="$destdir$bindir/drun"
step="installed files"
for file in "$pc_dir/drust.pc" "$destdir$prefix/include/drust/runtime" \
  "$destdir$prefix/include/drust/std/thread"; do
  [[ -e "$file" ]] || { step="installed files: $file is missing"; exit 1; }
done

export PKG_CONFIG_PATH="$pc_dir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
export PKG_CONFIG_SYSROOT_DIR="$destdir"
run "pkg-config --cflags --libs drust" pkg-config --cflags --libs drust
read -r -a flags <"$log"
say "pkg-config --cflags --libs drust: ${flags[*]}"

app_dir="$scratch/app"
mkdir -p "$app_dir"
cp "$here/app.cpp" "$app_dir/"
cd "$app_dir"
run "$cxx -std=c++20 app.cpp \$(pkg-config --cflags --libs drust) -o app" \
  "$cxx" -std=c++20 app.cpp "${flags[@]}" -o app
say "built app.cpp outside the tree"

# Libraries a fallback subproject installed (shared) are found in the scratch prefix too.
export LD_LIBRARY_PATH="$destdir$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

run "./app (one node, no drun)" timeout -k 10 60 ./app
expect "num_nodes=1"
expect "thread ran on node 0"
expect "joined"
say "./app runs as a one-node program"

: >"$log"
step="installed files: $drun is missing (is launcher/meson.build installing drun?)"
[[ -x "$drun" ]]
run "drun -n 2 ./app (installed drun)" timeout -k 10 120 "$drun" -n 2 ./app
expect "num_nodes=2"
expect "thread ran on node 1"
expect "joined"
say "drun -n 2 ./app runs the thread on node 1"
say "passed"
