"""Save the README screenshots of the review app, on the bundled demo studies (SYNTHETIC phantoms, never real data).

    .venv/bin/python packaging/screenshot.py [--model DIR] [--out-dir resources/docs] [--shots main difference dataset]

Opens the demo studies exactly as `pneumoviewer` does on a first run (generated into a temporary user folder), lets
the real model bundle (default: the shipped demo bundle) predict every image, then takes each picture of the window
with `widget.grab()` (offscreen Qt):

* ``main_window.png``: the worklist sorted by AI probability, the top image with a mask and its AI overlay;
* ``difference_view.png``: the reviewer has corrected that mask (its lower third erased, its top extended) and
  pressed D: pixels added to the AI mask in green, removed in red, the AI-vs-mine Dice in the details; zoomed in;
* ``dataset_view.png``: View ▸ Dataset…, the dashboard dock undocked to a reading size, with a third of the demo
  reviewed along the phantoms' ground truth (statistics computed by the app's own background thread).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

SHOTS = ("main", "difference", "dataset")
FILES = {"main": "main_window.png", "difference": "difference_view.png", "dataset": "dataset_view.png"}


def main() -> int:
    from pneumoviewer.core.paths import default_model_dir, resources_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--out-dir", type=Path, default=resources_dir() / "docs")
    ap.add_argument("--shots", nargs="+", choices=SHOTS, default=list(SHOTS))
    args = ap.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = Path(tempfile.mkdtemp(prefix="pv-shot-"))
    for var, sub in (("PNEUMOVIEWER_CACHE", "cache"), ("PNEUMOVIEWER_DATA", "data"), ("XDG_CONFIG_HOME", "config")):
        os.environ[var] = str(tmp / sub)
    if not (args.model / "manifest.json").is_file():
        print(f"no model bundle at {args.model}: the screenshots must show real AI results", file=sys.stderr)
        return 2

    import numpy as np
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from pneumoviewer.app import build_window
    from pneumoviewer.editing.algorithms import bbox_of, morphology
    from pneumoviewer.gui.folders import demo_folder
    from pneumoviewer.gui.theme import apply_dark_theme
    from pneumoviewer.io.siim_csv import read_rle_csv
    from pneumoviewer.metrics import dice

    app = QApplication([])
    app.setApplicationName("PneumoViewer")
    app.setApplicationDisplayName("PneumoViewer")
    apply_dark_theme(app)
    w = build_window(bundle_dir=args.model)
    w.resize(1600, 1000)
    w.show()
    parts = w.parts

    def wait(signal: object, start: object = None, timeout_ms: int = 600000) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)  # type: ignore[attr-defined]
        QTimer.singleShot(timeout_ms, loop.quit)
        if start is not None:
            QTimer.singleShot(0, start)
        loop.exec()

    def settle(ms: int = 300) -> None:  # let queued repaints land before a grab
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def save(shot: str, widget: object) -> bool:
        out = args.out_dir / FILES[shot]
        out.parent.mkdir(parents=True, exist_ok=True)
        ok = widget.grab().save(str(out))  # type: ignore[attr-defined]
        print(f"{'saved' if ok else 'FAILED to save'} {out}")
        return bool(ok)

    wait(parts.ai.inferenceIdle, parts.folders.open_demo)  # generates the demo studies, opens them, runs the AI
    folder = demo_folder()
    truth = read_rle_csv(folder / "train-rle.csv")
    session = parts.session
    parts.worklist.sort_by_probability()
    ids = parts.worklist.visible_image_ids()
    predicted = session.predictions()
    shape = {r.meta.image_id: (r.meta.rows, r.meta.columns) for r in parts.worklist_model.rows()}

    # what a triaging reader opens first: the most probable image with both an AI mask and a true one
    with_mask = [i for i in ids if i in predicted and predicted[i].mask_area and truth.union_mask(i, *shape[i]).any()]
    target = with_mask[0] if with_mask else ids[0]
    ok = True
    parts.worklist.select_image(target)
    wait(parts.nav.imagePainted, timeout_ms=5000)
    if "main" in args.shots:
        session.mark_negative(ids[-1])  # a reviewed row or two, as mid-session
        session.flag(ids[-2])
        w.statusBar().clearMessage()
        parts.viewer.graphics.setFocus()
        mask = session.ai_mask(target)
        if mask is not None and mask.any():  # the status bar read-out, as with the pointer over the finding
            rows, cols = mask.nonzero()
            parts.viewer.cursorMoved.emit(float(rows[len(rows) // 2]), float(cols[len(cols) // 2]))
        settle()
        ok &= save("main", w)
    if "difference" in args.shots and with_mask:
        ai_mask = session.ai_mask(target)
        box = bbox_of(ai_mask)
        assert box is not None
        r0, r1, c0, c1 = box
        rows = np.arange(ai_mask.shape[0])[:, None]
        # a reader's correction: the AI mask runs too low (its lower third erased) and stops short at the top
        # (extended by 12 px there with the brush), as one undo step
        mine = ai_mask & (rows < r0 + 2 * (r1 - r0) // 3)
        mine |= morphology(ai_mask, "dilate", 12) & (rows < r0 + (r1 - r0) // 3)
        parts.editor.document.set_mask(mine, label="Brush")
        parts.actions["difference"].trigger()  # D
        pad = max(r1 - r0, c1 - c0) + 60  # zoomed on the finding, as a reader checks an edit
        cy, cx = (r0 + r1) / 2, (c0 + c1) / 2
        parts.viewer.view_box.setRange(xRange=(cx - pad, cx + pad), yRange=(cy - pad, cy + pad), padding=0)
        parts.viewer.zoom_by(1.0)  # no change of zoom: refreshes the status bar's zoom read-out
        parts.viewer.graphics.setFocus()
        w.statusBar().clearMessage()
        settle()
        ok &= save("difference", w)
        parts.actions["difference"].trigger()
        parts.viewer.fit()
    if "dataset" in args.shots:
        for k, image_id in enumerate(sorted(ids)):  # a third reviewed along the ground truth, as mid-session
            if k % 3:
                continue
            true_mask = truth.union_mask(image_id, *shape[image_id])
            ai_mask = session.ai_mask(image_id)
            if not true_mask.any():
                session.mark_negative(image_id)
            elif ai_mask is not None and dice(ai_mask, true_mask) >= 0.8:
                session.accept_ai(image_id)
            else:
                session.document(image_id).set_mask(true_mask, label="corrected to the reference")
        session.flush()
        wait(parts.dataset.statsReady, lambda: parts.actions["dataset"].trigger())
        dock = parts.dataset.dock
        dock.setFloating(True)  # undocked to a reading size, as a reader would to study it
        dock.resize(1500, 950)
        settle(600)
        ok &= save("dataset", dock)
    w.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
