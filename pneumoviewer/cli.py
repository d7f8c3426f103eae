"""Command-line entry point: one small module per subcommand in `pneumoviewer.commands`.

Never imports Qt or TensorFlow at module level: `pneumoviewer info` must start in well under a second.
Each command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from pneumoviewer import __version__

# One line per subcommand module (in pneumoviewer/commands/). Keep the order: it is the order of --help.
COMMANDS: tuple[str, ...] = (
    "open",
    "info",
    "demo_data",
    "predict",
    "evaluate",
    "train",
    "export",
    "import_labels",
    "report",
    "selftest",
)


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"pneumoviewer.commands.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The full parser; subcommand modules add their own arguments."""
    parser = argparse.ArgumentParser(
        prog="pneumoviewer",
        description=(
            "Chest X-ray pneumothorax review with AI triage. Supports decisions; does not diagnose. "
            "With no arguments, opens the bundled demo studies in the review app."
        ),
    )
    parser.add_argument("--version", action="version", version=f"pneumoviewer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    # `pneumoviewer` alone opens the app; `pneumoviewer FOLDER` is short for `pneumoviewer open FOLDER`.
    if not args_list or (
        not args_list[0].startswith("-") and os.path.isdir(args_list[0]) and args_list[0] not in _command_names()
    ):
        args_list = ["open", *args_list]
    parser = build_parser()
    args = parser.parse_args(args_list)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _command_names() -> set[str]:
    return {_load(n).NAME for n in COMMANDS}
