"""Brush event cost on the real canvas: mouse event → tool → MaskDocument → overlay slice → Qt repaint.

Drives the real `ImageViewer` (shown, offscreen platform unless a display is set) with synthetic mouse drags sent
to its viewport (press → moves → release, pyqtgraph `mouseRateLimit` 0), with an `EditingController` and the brush
active. One brush event = one mouse move; its cost is measured from sending the QMouseEvent until the event queue
is drained, which includes pyqtgraph's scene dispatch, the stamp, the RGBA slice write and the actual paint of the
dirty region into the window's backing store (the paint is counted to prove it happened). Also reports the old
path (full `MaskOverlay.update_rect` → `updateImage`, whole-item repaint) for comparison.

Prints one JSON object: p50/p95/max in ms per brush event for 1024² and 3000×3000 images.

    .venv/bin/python benchmarks/brush_canvas.py [--moves 300] [--radius 20]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from pneumoviewer.editing import MaskDocument
from pneumoviewer.gui import overlay as overlay_mod
from pneumoviewer.gui.editing_controller import EditingController
from pneumoviewer.gui.viewer import ImageViewer


def _send(widget: object, kind: QMouseEvent.Type, pos: QPoint, button: Qt.MouseButton, held: Qt.MouseButton) -> None:
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, held, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, ev)


def run_case(app: QApplication, size: int, moves: int, radius: int, partial: bool) -> dict[str, float]:
    rng = np.random.default_rng(0)
    data = rng.normal(0.5, 0.1, (size, size)).astype(np.float32)
    viewer = ImageViewer()
    viewer.resize(1200, 900)
    viewer.show()
    viewer.set_image(None, data, (0.5, 1.0), False)
    overlay = viewer.add_overlay("review", "#2fd0c8", z=11)
    ctl = EditingController(viewer, overlay)
    doc = MaskDocument(size, size)
    ctl.set_document(doc)
    ctl.set_tool("brush")
    ctl.set_option("radius", radius)
    paints = {"n": 0}
    orig_paint = overlay.paint

    def counting_paint(p: object, *args: object) -> None:
        paints["n"] += 1
        orig_paint(p, *args)

    overlay.paint = counting_paint  # type: ignore[method-assign]
    if not partial:  # the old path: every change re-renders the whole overlay item
        shares_buffer = overlay_mod._shares_buffer
        overlay_mod._shares_buffer = lambda *a: False
    for _ in range(5):
        app.processEvents()
    vp = viewer.graphics.viewport()
    times, cpu, painted, strokes = _drive(app, vp, viewer, size, moves, paints)
    if not partial:
        overlay_mod._shares_buffer = shares_buffer
    assert doc.mask.any(), "the drags did not paint"
    viewer.close()
    viewer.deleteLater()
    app.processEvents()
    return _summary(times, cpu, painted, strokes)


def _drive(app: QApplication, vp: object, viewer: ImageViewer, size: int, moves: int, count: dict) -> tuple:
    """Synthetic wavy drags across the middle of the image; returns (wall times, cpu times, painted, strokes)."""
    c0 = viewer.image_to_scene(size * 0.5, size * 0.2)
    c1 = viewer.image_to_scene(size * 0.5, size * 0.8)
    x0, x1, yc = int(c0.x()), int(c1.x()), int(c0.y())
    left = Qt.MouseButton.LeftButton
    times: list[float] = []
    cpu: list[float] = []
    painted = strokes = done = 0
    pos = QPoint(x0, yc)
    while done < moves:
        strokes += 1
        start = QPoint(x0, yc + (strokes % 5) * 20 - 40)
        _send(vp, QMouseEvent.Type.MouseButtonPress, start, left, left)
        app.processEvents()
        for i in range(1, min(100, moves - done) + 1):
            t = i / 100
            pos = QPoint(round(x0 + (x1 - x0) * t), round(start.y() + 25 * math.sin(t * 6 * math.pi)))
            before = count["n"]
            t0, cpu0 = time.perf_counter(), time.thread_time()
            _send(vp, QMouseEvent.Type.MouseMove, pos, Qt.MouseButton.NoButton, left)
            app.processEvents()
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - cpu0)
            painted += count["n"] > before
            done += 1
        _send(vp, QMouseEvent.Type.MouseButtonRelease, pos, left, Qt.MouseButton.NoButton)
        app.processEvents()
    return times, cpu, painted, strokes


def _summary(times: list[float], cpu: list[float], painted: int, strokes: int) -> dict[str, float]:
    ms, cpu_ms = np.asarray(times) * 1e3, np.asarray(cpu) * 1e3
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "max_ms": round(float(ms.max()), 3),
        "cpu_p50_ms": round(float(np.percentile(cpu_ms, 50)), 3),
        "cpu_p95_ms": round(float(np.percentile(cpu_ms, 95)), 3),
        "events": len(times),
        "events_painted": int(painted),
        "strokes": strokes,
    }


def run_window_case(app: QApplication, size: int, moves: int, radius: int) -> dict[str, float]:
    """The same drags in the whole main window (worklist, status bar cursor read-outs, review store autosave)."""
    import tempfile
    from pathlib import Path

    from pneumoviewer.app import build_window
    from pneumoviewer.phantom import write_siim_like

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "studies"
        folder.mkdir()
        write_siim_like(folder / "image.dcm", size=size, seed=1)
        w = build_window(run_ai=False)
        w.resize(1500, 950)
        w.show()
        w.parts.folders.open_folder(folder)
        deadline = time.monotonic() + 60
        while w.parts.editor.document is None and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.005)
        w.parts.editor.set_tool("brush")
        w.parts.editor.set_option("radius", radius)
        overlay = w.parts.editor.overlay
        count = {"n": 0}
        orig_paint = overlay.paint

        def counting_paint(p: object, *args: object) -> None:
            count["n"] += 1
            orig_paint(p, *args)

        overlay.paint = counting_paint  # type: ignore[method-assign]
        for _ in range(5):
            app.processEvents()
        result = _summary(*_drive(app, w.parts.viewer.graphics.viewport(), w.parts.viewer, size, moves, count))
        w.parts.session.flush()
        assert w.parts.session.store.final_mask(w.parts.nav.shown).any(), "the strokes were not saved"
        w.close()
        w.deleteLater()
        app.processEvents()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--moves", type=int, default=300)
    ap.add_argument("--radius", type=int, default=20)
    ap.add_argument("--no-baseline", action="store_true", help="skip the old whole-item repaint path")
    ap.add_argument("--no-window", action="store_true", help="skip the whole-main-window variant")
    args = ap.parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    out: dict[str, object] = {
        "what": "brush event on the real canvas: mouse move -> tool -> document -> overlay slice -> paint",
        "platform": os.environ.get("QT_QPA_PLATFORM", ""),
        "python": platform.python_version(),
        "radius_px": args.radius,
        "cpus": os.cpu_count(),
        "load_average_1min_before": round(os.getloadavg()[0], 2),
        "note": "p50/p95 are wall time per mouse move (event + stamp + slice + paint); cpu_* is this thread's CPU time "
        "for the same span (what the event costs when the machine is not shared)",
    }
    for size in (1024, 3000):
        run_case(app, size, 30, args.radius, True)  # warm-up (imports, caches)
        out[f"partial_{size}"] = run_case(app, size, args.moves, args.radius, True)
        if not args.no_baseline:
            out[f"full_item_update_{size}"] = run_case(app, size, args.moves, args.radius, False)
        if not args.no_window:
            out[f"main_window_{size}"] = run_window_case(app, size, args.moves, args.radius)
    out["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
