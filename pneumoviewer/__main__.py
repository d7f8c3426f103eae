"""`python -m pneumoviewer` → the CLI. Also the entry point of the Briefcase-packaged app."""

from __future__ import annotations

import runpy
import sys

from pneumoviewer.cli import main


def interpreter_request(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """``("-c"|"-m", code_or_module, rest)`` when argv asks for the Python interpreter itself, else None.

    In a Briefcase-packaged app ``sys.executable`` is the app's own binary, which always runs this module. Child
    processes that the app starts the usual way, ``[sys.executable, "-m", "pneumoviewer.…", …]`` (the AI worker)
    or multiprocessing's ``[sys.executable, flags…, "-c", "from multiprocessing…", …]``, arrive here instead of
    at a plain ``python``. Only those two shapes are honoured: our own modules and multiprocessing's bootstrap.
    """
    for i, arg in enumerate(argv[1:], start=1):
        if arg in ("-c", "-m"):
            target = argv[i + 1] if i + 1 < len(argv) else ""
            if (arg == "-m" and (target == "pneumoviewer" or target.startswith("pneumoviewer."))) or (
                arg == "-c" and target.startswith("from multiprocessing.")
            ):
                return arg, target, argv[i + 2:]
            return None
        if not arg.startswith("-") or arg.startswith("--"):
            return None  # a CLI command or option, not interpreter flags (-B, -S, -I, ...)
    return None


def run_interpreter_request(kind: str, target: str, rest: list[str]) -> None:
    if kind == "-m":
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        sys.argv = ["-c", *rest]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})


if __name__ == "__main__":
    request = interpreter_request(sys.argv)
    if request is not None:
        run_interpreter_request(*request)
        sys.exit(0)
    sys.exit(main())
