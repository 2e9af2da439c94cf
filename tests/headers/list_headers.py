#!/usr/bin/env python3
"""Lists drust's public headers, or checks that a recorded list is still current.

    list_headers.py INCLUDE_DIR                 print them, one per line, relative to INCLUDE_DIR
    list_headers.py INCLUDE_DIR --expect H...   exit 1 if the headers on disk are not exactly H...

A public header is a file without an extension directly under include/drust/ or include/drust/std/
(`drust/runtime`, `drust/std/thread`): the names a user writes in #include <...>.
"""

import pathlib
import sys

PUBLIC_DIRS = ("drust", "drust/std")


def public_headers(include_dir: pathlib.Path) -> list[str]:
    headers = []
    for sub in PUBLIC_DIRS:
        folder = include_dir / sub
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and not path.suffix and not path.name.startswith("."):
                headers.append(path.relative_to(include_dir).as_posix())
    return sorted(headers)


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    on_disk = public_headers(pathlib.Path(argv[1]))
    if len(argv) == 2:
        print("\n".join(on_disk))
        return 0
    if argv[2] != "--expect":
        print(__doc__, file=sys.stderr)
        return 2
    recorded = sorted(h for h in argv[3:] if h)
    if on_disk == recorded:
        print(f"all {len(on_disk)} public headers are checked for self-containment")
        return 0
    for header in sorted(set(on_disk) - set(recorded)):
        print(f"include/{header} is new since the build was configured, so nobody checked it compiles"
              " on its own", file=sys.stderr)
    for header in sorted(set(recorded) - set(on_disk)):
        print(f"include/{header} was removed since the build was configured", file=sys.stderr)
    print("fix: configure again (`meson setup --reconfigure BUILD_DIR`; `./drust build` does it for you)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
