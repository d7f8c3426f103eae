"""`python -m pneumoviewer` → the CLI. Also the entry point of the Briefcase-packaged app."""

from __future__ import annotations

import sys

from pneumoviewer.cli import main


def multiprocessing_child_code(argv: list[str]) -> str | None:
    """The code of a multiprocessing child started as ``<exe> [flags] -c "from multiprocessing..." ...``, else None.

    In a Briefcase-packaged app ``sys.executable`` is the app's own binary, which always runs this module: the
    worker processes that multiprocessing spawns (the AI worker, its resource tracker) arrive here with the
    interpreter's ``-c`` arguments instead of being run by a plain ``python``.
    """
    for i, arg in enumerate(argv[1:], start=1):
        if arg == "-c":
            code = argv[i + 1] if i + 1 < len(argv) else ""
            return code if code.startswith("from multiprocessing.") else None
        if not arg.startswith("-"):
            return None
    return None


if __name__ == "__main__":
    child = multiprocessing_child_code(sys.argv)
    if child is not None:
        sys.argv = ["-c", *sys.argv[sys.argv.index("-c") + 2:]]
        exec(compile(child, "<multiprocessing>", "exec"), {"__name__": "__main__"})
        sys.exit(0)
    sys.exit(main())
