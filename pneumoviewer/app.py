"""Builds the QApplication and the main window (Briefcase entry point); the only place that wires everything.

`main([])` opens the demo studies (generated on first run), `main([FOLDER])` opens that folder. TensorFlow is never
imported here: the inference worker loads it in a child process after the first image is on screen.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pneumoviewer.core.paths import APP_NAME


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumoviewer open", description="Open the PneumoViewer review app.")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `pneumoviewer open` and the GUI entry point."""
    parser.add_argument("folder", nargs="?", help="folder of DICOM studies (default: the bundled demo studies)")
    parser.add_argument("--model", metavar="DIR", help="model bundle folder (default: the bundled demo model)")
    parser.add_argument("--no-ai", action="store_true", help="do not run the AI on open (AI ▸ Run AI still can)")
    parser.add_argument(
        "--inference", choices=("process", "thread"), help="run the model in a child process (default) or a thread"
    )


def create_app(argv: Sequence[str] | None = None) -> tuple[object, object]:
    """(QApplication, MainWindow), the window shown and opening its folder; the caller runs `app.exec()`."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.gui.main_window import MainWindow
    from pneumoviewer.gui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else APP_NAME])
    app.setOrganizationName(APP_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    apply_dark_theme(app)  # type: ignore[arg-type]
    window = MainWindow(bundle_dir=args.model, inference_mode=args.inference, run_ai=not args.no_ai)
    window.show()
    if args.folder:
        folder = Path(args.folder).expanduser()
        if not folder.is_dir():
            raise SystemExit(f"pneumoviewer: {folder} is not a folder")
        window.open_folder(folder)
    else:
        window.open_demo()
    return app, window


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app until its window closes; returns the exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app, window = create_app(argv)
    _quit_on_ctrl_c(app, window)
    return int(app.exec())  # type: ignore[attr-defined]


def _quit_on_ctrl_c(app: object, window: object) -> None:
    """Ctrl+C in the terminal closes the window cleanly (workers joined, layout saved) instead of being ignored."""
    import signal

    from PySide6.QtCore import QTimer

    signal.signal(signal.SIGINT, lambda *_: window.close())  # type: ignore[attr-defined]
    signal.signal(signal.SIGTERM, lambda *_: window.close())  # type: ignore[attr-defined]
    timer = QTimer(app)  # type: ignore[arg-type]
    timer.timeout.connect(lambda: None)  # wakes the interpreter so Python sees the signal while Qt waits
    timer.start(250)


if __name__ == "__main__":
    raise SystemExit(main())
