#!/usr/bin/env python3
"""Compiles one file and checks that drust refused it with the right message, or accepted it.

    run_case.py SOURCE INCLUDE_DIR --expect TEXT -- COMPILER [FLAGS...]
    run_case.py SOURCE INCLUDE_DIR --must-compile -- COMPILER [FLAGS...]

With --expect the test passes only if the compile fails and TEXT appears in the compiler's output,
so a file that fails for another reason (a typo, a missing include) does not pass. With
--must-compile it passes only if the compile succeeds: a control that keeps a broken runner or a
broken set of flags from passing every case vacuously.
"""

import subprocess
import sys


def main(argv: list[str]) -> int:
    if "--" not in argv or len(argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    options, compiler = argv[1:split], argv[split + 1:]
    source, include_dir, mode = options[0], options[1], options[2]
    if mode == "--expect" and len(options) == 4:
        expected = options[3]
    elif mode == "--must-compile" and len(options) == 3:
        expected = None
    else:
        print(__doc__, file=sys.stderr)
        return 2

    command = compiler + ["-I" + include_dir, source]
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = result.stdout

    if expected is None:
        if result.returncode == 0:
            print(f"{source} compiles, as it should")
            return 0
        print(f"{source} should compile but does not:\n$ {' '.join(command)}\n{output}")
        return 1
    if result.returncode == 0:
        print(f"{source} compiled, but drust should have refused it with:\n  {expected}\n"
              f"$ {' '.join(command)}")
        return 1
    if expected not in output:
        print(f"{source} was refused, but without the expected message:\n  {expected}\n"
              f"$ {' '.join(command)}\n{output}")
        return 1
    print(f"{source} is refused with: {expected}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
