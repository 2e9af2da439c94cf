#!/usr/bin/env python3
"""Prints the ninja targets (paths relative to the build directory) that the named meson tests
or suites need: each test's own executable and everything it depends on. run.sh builds only
these, not the whole tree (samples and benchmarks are not part of the sanitizer passes).

usage: suite_targets.py BUILD_DIR SELECTOR...   (SELECTOR: suite:NAME or NAME, a test's name)
"""
import json
import os
import subprocess
import sys


def introspect(build_dir, what):
    out = subprocess.run(["meson", "introspect", build_dir, what], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def main():
    build_dir, selectors = os.path.abspath(sys.argv[1]), sys.argv[2:]
    suites = {s.split(":", 1)[1] for s in selectors if s.startswith("suite:")}
    names = {s for s in selectors if not s.startswith("suite:")}
    outputs = {}
    for target in introspect(build_dir, "--targets"):
        outputs[target["id"]] = target["filename"]
    wanted = set()
    for test in introspect(build_dir, "--tests"):
        test_suites = {s.split(":", 1)[-1] for s in test["suite"]}
        if test["name"] not in names and not (test_suites & suites):
            continue
        for dep in test["depends"]:
            wanted.update(outputs.get(dep, []))
        if test["cmd"] and test["cmd"][0].startswith(build_dir + os.sep):
            wanted.add(test["cmd"][0])
    for path in sorted(wanted):
        print(os.path.relpath(path, build_dir))


if __name__ == "__main__":
    main()
