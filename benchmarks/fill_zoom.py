"""Fill click and wheel-zoom notch on the real main window, 1024² phantom (JSON on stdout).

Opens a folder with one 1024² SIIM-like phantom in the real window (AI off, offscreen unless a display is set),
then times, from the synthetic mouse event until the window has painted the result:

* **Fill**: a left click inside a hole of a ring mask with the Fill tool (press + release on the viewport), the
  overlay repainted. Between clicks the fill is undone (not timed).
* **Zoom**: one wheel notch on the viewport (120 units; three out, three in, again: a reader zooming around the
  fitted view, which crosses 50 %), the radiograph repainted.
* **First Fill** of the session, in a fresh child process: `first_fill_after_idle` clicks 2 s after the first image
  was painted (what a reader meets: the first Fill a moment after the image appears), `first_fill_at_once` clicks
  as soon as it is painted. The main process's own first Fill is reported as `first_fill_in_main`.

    .venv/bin/python benchmarks/fill_zoom.py [--repeats 40]
    PYTHONPATH=/path/to/other/checkout .venv/bin/python benchmarks/fill_zoom.py   # the same figures for another tree

`cpu_*` is the GUI thread's CPU time for the same spans: what the step costs when the machine is not shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import isolated_env, load_avg, machine

SIZE = 1024


def _stats(runs: list[tuple[float, float]]) -> dict[str, float]:
    """p50 / p95 / max of the wall times, and p50 / p95 of the GUI thread's CPU time for the same spans."""
    out: dict[str, float] = {"n": len(runs)}
    for key, xs in (("", sorted(r[0] for r in runs)), ("cpu_", sorted(r[1] for r in runs))):
        p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
        out[f"{key}p50_ms"] = round(1000 * statistics.median(xs), 1)
        out[f"{key}p95_ms"] = round(1000 * p95, 1)
        if not key:
            out["max_ms"] = round(1000 * xs[-1], 1)
    return out


class Bench:
    """The real window on one phantom, with paint counters on the radiograph and the reviewer overlay."""

    def __init__(self, folder: Path) -> None:
        from PySide6.QtWidgets import QApplication

        from pneumoviewer.app import build_window
        from pneumoviewer.gui.theme import apply_dark_theme

        self.app = QApplication.instance() or QApplication([])
        apply_dark_theme(self.app)
        self.w = build_window(run_ai=False)
        self.w.resize(1500, 950)
        self.w.show()
        self.painted = {"image": 0, "overlay": 0}
        self.t_painted: float | None = None
        self.w.parts.nav.imagePainted.connect(self._first_paint)
        self.w.parts.folders.open_folder(folder)
        self._until(lambda: self.t_painted is not None and self.w.parts.editor.document is not None, 60)
        parts = self.w.parts
        for key, item in (("image", parts.viewer.image_item), ("overlay", parts.editor.overlay)):
            self._count(key, item)
        self.vp = parts.viewer.graphics.viewport()

    def _first_paint(self, _image_id: str) -> None:
        if self.t_painted is None:
            self.t_painted = time.perf_counter()

    def _count(self, key: str, item: Any) -> None:
        orig = item.paint

        def counting(p: Any, *args: Any) -> None:
            self.painted[key] += 1
            orig(p, *args)

        item.paint = counting

    def _until(self, cond: Any, timeout_s: float) -> bool:
        """Run the event loop until `cond()` holds (polled every 1 ms) or `timeout_s` passes; no processEvents()
        (PySide6 6.12 on Python 3.11 leaks a reference to None on each call: ARCHITECTURE.md)."""
        from PySide6.QtCore import QEventLoop, QTimer

        if cond():
            return True
        loop, poll = QEventLoop(), QTimer()
        poll.setInterval(1)
        poll.timeout.connect(lambda: loop.quit() if cond() else None)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        poll.start()
        loop.exec()
        poll.stop()
        return bool(cond())

    def idle(self, seconds: float) -> None:
        """Let the event loop run for `seconds`."""
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def prepare_fill(self) -> tuple[int, int]:
        """A ring mask (hole in the middle) and the Fill tool; returns the hole's centre."""
        import numpy as np

        doc = self.w.parts.editor.document
        yy, xx = np.ogrid[:SIZE, :SIZE]
        d2 = (yy - 512) ** 2 + (xx - 400) ** 2
        doc.replace((d2 <= 200**2) & (d2 > 120**2))
        self.w.parts.editor.set_tool("fill")
        self.w.parts.editor.set_option("mode", "add")
        self.idle(0.2)
        return 512, 400

    def fill(self, at: tuple[int, int]) -> tuple[float, float]:
        """(wall, GUI-thread CPU) seconds from the click until the filled overlay is painted."""
        from PySide6.QtCore import QPoint, QPointF, Qt
        from PySide6.QtGui import QMouseEvent

        viewer, doc = self.w.parts.viewer, self.w.parts.editor.document
        scene = viewer.image_to_scene(at[0] + 0.5, at[1] + 0.5)
        p = viewer.graphics.mapFromScene(scene)
        pos = QPointF(QPoint(p.x(), p.y()))
        left, none, mods = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier
        version, painted = doc.version, self.painted["overlay"]
        t0, cpu0 = time.perf_counter(), time.thread_time()
        for kind, button, held in ((QMouseEvent.Type.MouseButtonPress, left, left),
                                   (QMouseEvent.Type.MouseButtonRelease, left, none)):
            self.app.sendEvent(self.vp, QMouseEvent(kind, pos, QPointF(self.vp.mapToGlobal(pos)), button, held, mods))
        ok = self._until(lambda: doc.version != version and self.painted["overlay"] > painted, 10)
        dt = (time.perf_counter() - t0, time.thread_time() - cpu0)
        if not ok:
            raise RuntimeError("the fill click changed nothing")
        doc.undo()
        self._until(lambda: self.painted["overlay"] > painted + 1, 5)
        return dt

    def zoom(self, step: int) -> tuple[float, float]:
        """(wall, GUI-thread CPU) seconds from the wheel event until the radiograph is repainted."""
        from PySide6.QtCore import QPoint, QPointF, Qt
        from PySide6.QtGui import QWheelEvent

        centre = QPointF(self.vp.width() / 2, self.vp.height() / 2)
        painted = self.painted["image"]
        ev = QWheelEvent(centre, QPointF(self.vp.mapToGlobal(centre)), QPoint(0, 0), QPoint(0, 120 * step),
                         Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        t0, cpu0 = time.perf_counter(), time.thread_time()
        self.app.sendEvent(self.vp, ev)
        if not self._until(lambda: self.painted["image"] > painted, 10):
            raise RuntimeError("the wheel notch did not repaint the image")
        return time.perf_counter() - t0, time.thread_time() - cpu0

    def close(self) -> None:
        self.w.close()
        self.w.deleteLater()
        self.idle(0.05)


def child(folder: Path, wait_s: float) -> dict[str, float]:
    """A fresh process: the first Fill of its session, `wait_s` after the first image was painted."""
    b = Bench(folder)
    at = b.prepare_fill()
    assert b.t_painted is not None
    b.idle(max(0.0, wait_s - (time.perf_counter() - b.t_painted)))
    first = b.fill(at)[0]
    second = b.fill(at)[0]
    b.close()
    return {"first_ms": round(1000 * first, 1), "second_ms": round(1000 * second, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--child", type=float, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.folder, args.child)))
        return 0
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-fillzoom-"))
    env = isolated_env(tmp)
    os.environ.update(env)
    try:
        from pneumoviewer.phantom import write_siim_like

        folder = tmp / "studies"
        folder.mkdir()
        write_siim_like(folder / "image.dcm", size=SIZE, seed=1)
        first: dict[str, Any] = {}
        for name, wait_s in (("first_fill_after_idle", 2.0), ("first_fill_at_once", 0.0)):
            out = subprocess.run([sys.executable, __file__, "--child", str(wait_s), "--folder", str(folder)],
                                 env=env, capture_output=True, text=True, timeout=300, check=True)
            first[name] = json.loads(out.stdout.strip().splitlines()[-1])
        b = Bench(folder)
        at = b.prepare_fill()
        first["first_fill_in_main"] = {"first_ms": round(1000 * b.fill(at)[0], 1)}
        fills = [b.fill(at) for _ in range(args.repeats)]
        b.idle(0.2)
        zooms = [b.zoom(-1 if i % 6 < 3 else 1) for i in range(args.repeats)]
        b.close()
        print(json.dumps({
            "machine": machine(load0),
            "benchmark": "fill_zoom",
            "what": "1024² phantom in the real window (1500×950 offscreen): event sent -> result painted",
            "fill": _stats(fills),
            "zoom_notch": _stats(zooms),
            **first,
            "target_ms": 50,
        }, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
