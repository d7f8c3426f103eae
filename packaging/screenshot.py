"""Save the README screenshot: the main window on phantom studies with the AI mask of the top triage image shown.

    .venv/bin/python packaging/screenshot.py [--model DIR] [--out resources/docs/main_window.png]

Uses the real model bundle (default: the shipped demo bundle) and the phantom generator; offscreen Qt.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    from pneumoviewer.core.paths import default_model_dir, resources_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--out", type=Path, default=resources_dir() / "docs" / "main_window.png")
    ap.add_argument("--images", type=int, default=12)
    ap.add_argument("--size", type=int, default=1024)
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="pv-shot-"))
    for var, sub in (("PNEUMOVIEWER_CACHE", "cache"), ("PNEUMOVIEWER_DATA", "data"), ("XDG_CONFIG_HOME", "config")):
        os.environ[var] = str(tmp / sub)
    if not (args.model / "manifest.json").is_file():
        print(f"no model bundle at {args.model}: the screenshot must show a real AI result", file=sys.stderr)
        return 2

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.app import build_window
    from pneumoviewer.gui.theme import apply_dark_theme
    from pneumoviewer.phantom import generate_dataset

    data = generate_dataset(tmp / "studies", args.images, seed=11, size=args.size, positive_rate=0.5)
    app = QApplication([])
    app.setApplicationName("PneumoViewer")
    apply_dark_theme(app)
    w = build_window(bundle_dir=args.model)
    w.resize(1600, 1000)
    w.show()

    def wait(signal: object, start: object = None, timeout_ms: int = 300000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        if start is not None:
            QTimer.singleShot(0, start)
        loop.exec()

    wait(w.parts.ai.inferenceIdle, lambda: w.parts.folders.open_folder(data.root))
    w.parts.worklist.sort_by_probability()
    # the highest-probability image that has a mask: what a triaging reader opens first
    ids = w.parts.worklist.visible_image_ids()
    predicted = w.parts.session.predictions()
    target = next((i for i in ids if i in predicted and predicted[i].mask_area), ids[0])
    w.parts.worklist.select_image(target)
    w.parts.session.mark_negative(ids[-1])  # a reviewed row or two, as mid-session
    w.parts.session.flag(ids[-2])
    wait(w.parts.nav.imagePainted, timeout_ms=5000)
    w.statusBar().clearMessage()
    w.parts.viewer.graphics.setFocus()
    mask = w.parts.session.ai_mask(target)
    if mask is not None and mask.any():  # the status bar read-out, as with the pointer over the finding
        rows, cols = mask.nonzero()
        w.parts.viewer.cursorMoved.emit(float(rows[len(rows) // 2]), float(cols[len(cols) // 2]))
    loop = QEventLoop()
    QTimer.singleShot(300, loop.quit)
    loop.exec()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = w.grab().save(str(args.out))
    w.close()
    print(f"{'saved' if ok else 'FAILED to save'} {args.out} (image …{target[-12:]})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
