"""`pneumoviewer open [FOLDER]`: the review app (no arguments at all does the same on the demo studies)."""

from __future__ import annotations

import argparse

NAME = "open"
HELP = "open the review app on FOLDER (default: the bundled demo studies)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pneumoviewer.app import add_arguments as app_arguments

    app_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pneumoviewer.app import main

    argv: list[str] = []
    if args.folder:
        argv.append(args.folder)
    if args.model:
        argv += ["--model", args.model]
    if args.no_ai:
        argv.append("--no-ai")
    if args.inference:
        argv += ["--inference", args.inference]
    return main(argv)
