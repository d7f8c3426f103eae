"""Builds the QApplication and the main window (Briefcase entry point); the only place that wires everything.

`main([])` opens the demo studies (generated on first run), `main([FOLDER])` opens that folder. TensorFlow is never
imported here: the inference worker loads it in a child process after the first image is on screen.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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


def needs_offscreen(env: dict[str, str], plat: str) -> bool:
    """True when Qt would find no display: Linux/BSD without X11 or Wayland and no platform chosen."""
    if env.get("QT_QPA_PLATFORM"):
        return False
    if plat.startswith(("win", "darwin")):
        return False
    return not (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def open_and_close_main_window(folder: Path, config_dir: Path, model_dir: Path | None,
                               timeout_s: float = 300.0) -> dict[str, Any]:
    """Start the real app on `folder` as a user would, wait for its first image and (with a model) its AI result.

    The AI runs the way the app runs it (a worker process by default), so a packaged app whose worker cannot start
    fails here. Offscreen when there is no display; settings go to `config_dir` so the user's layout is untouched.
    Returns what happened: painted/prediction times, errors, visibility, whether TensorFlow entered this process.
    """
    if needs_offscreen(dict(os.environ), sys.platform):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    saved_config = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(config_dir)
    tf_before = "tensorflow" in sys.modules
    events: dict[str, Any] = {"timeout": timeout_s}
    try:
        from PySide6.QtCore import QEventLoop, QTimer

        argv = [str(folder), *(["--model", str(model_dir)] if model_dir else ["--no-ai"])]
        t0 = time.perf_counter()
        app, window = create_app(argv)
        events["inference_mode"] = getattr(window, "inference_mode", "?")
        loop = QEventLoop()

        def done() -> bool:
            return "error" in events or ("painted" in events and (
                model_dir is None or "prediction" in events or "ai_error" in events))

        def note(key: str, value: Any) -> None:
            events.setdefault(key, value)
            if done():
                loop.quit()

        window.imagePainted.connect(lambda _iid: note("painted", time.perf_counter() - t0))
        window.scanFailed.connect(lambda msg: note("error", msg))
        if model_dir is not None:
            def arrived(_iid: str, probability: float) -> None:
                events.setdefault("prediction_s", time.perf_counter() - t0)
                note("prediction", float(probability))

            window.predictionArrived.connect(arrived)
            window.predictionFailed.connect(lambda _iid, msg: note("ai_error", msg))
            window.modelFailed.connect(lambda msg: note("ai_error", msg))
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        if not done():
            loop.exec()
        events["visible"] = window.isVisible()
        events["title"] = window.windowTitle()
        window.close()  # stops and joins the app's worker threads and processes
        events["visible_after_close"] = window.isVisible()
        window.deleteLater()
        del app
    finally:
        if saved_config is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved_config
    events["imported_tf"] = not tf_before and "tensorflow" in sys.modules
    events["platform"] = os.environ.get("QT_QPA_PLATFORM") or "default"
    return events


if __name__ == "__main__":
    raise SystemExit(main())
