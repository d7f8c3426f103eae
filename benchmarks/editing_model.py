"""Model-side cost of editing (no drawing): brush move/press/release, history size, undo/redo.

Drives `pneumoviewer.editing` exactly as the canvas does (tool.press / tool.move / tool.release on a MaskDocument)
with synthetic but realistic drags: mouse events 4–12 px apart along smooth curves, 20–80 events per stroke,
radius 20 on 1024² (and 3000² for scale). Prints one JSON object.

    .venv/bin/python benchmarks/editing_model.py [--strokes 1000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np

from pneumoviewer.editing import MaskDocument
from pneumoviewer.editing.tools import BrushTool, EraserTool


def make_strokes(n: int, size: int, seed: int) -> list[np.ndarray]:
    """Smooth drags: a random walk of direction, 4–12 px per mouse event, clipped to the image."""
    rng = np.random.default_rng(seed)
    strokes = []
    for _ in range(n):
        k = int(rng.integers(20, 81))
        p = rng.uniform(0.1 * size, 0.9 * size, 2)
        angle = rng.uniform(0, 2 * np.pi)
        pts = [p.copy()]
        for _ in range(k):
            angle += rng.normal(0, 0.25)
            step = rng.uniform(4, 12)
            p = np.clip(p + step * np.array([np.sin(angle), np.cos(angle)]), 0, size - 1)
            pts.append(p.copy())
        strokes.append(np.array(pts))
    return strokes


def pct(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1e3
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 4),
        "p95_ms": round(float(np.percentile(a, 95)), 4),
        "max_ms": round(float(a.max()), 4),
        "n": len(a),
    }


def run(size: int, n_strokes: int, seed: int, radius: int = 20) -> dict:
    strokes = make_strokes(n_strokes, size, seed)
    doc = MaskDocument(size, size, max_levels=max(1000, n_strokes))
    boxes = []
    doc.subscribe(boxes.append)  # a listener as the canvas has one (cheap append)
    brush, eraser = BrushTool(radius=radius), EraserTool(radius=radius)
    press, move, release = [], [], []
    clock = time.perf_counter
    for i, pts in enumerate(strokes):
        tool = eraser if i % 4 == 3 else brush  # some erasing keeps the mask from saturating
        t = clock()
        tool.press(doc, (pts[0, 0], pts[0, 1]))
        press.append(clock() - t)
        for r, c in pts[1:]:
            t = clock()
            tool.move(doc, (r, c))
            move.append(clock() - t)
        t = clock()
        tool.release(doc)
        release.append(clock() - t)
        boxes.clear()
    levels = doc.history.undo_levels
    history_bytes = doc.history_nbytes
    undo_t, redo_t = [], []
    n_ur = min(200, levels)
    for _ in range(n_ur):
        t = clock()
        doc.undo()
        undo_t.append(clock() - t)
    for _ in range(n_ur):
        t = clock()
        doc.redo()
        redo_t.append(clock() - t)
    return {
        "image": f"{size}x{size}",
        "radius_px": radius,
        "strokes": n_strokes,
        "moves": len(move),
        "move": pct(move),
        "press": pct(press),
        "release_commit": pct(release),
        "history_levels": levels,
        "history_bytes": int(history_bytes),
        "history_MB": round(history_bytes / 1e6, 3),
        "history_bytes_per_stroke": round(history_bytes / max(levels, 1), 1),
        "undo": pct(undo_t),
        "redo": pct(redo_t),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    out = {
        "benchmark": "editing_model",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "results": [run(1024, args.strokes, args.seed), run(3000, min(args.strokes, 300), args.seed)],
        "napari_reference_issue_6": {
            "version": "0.9.2",
            "move_p50_ms": [0.2, 0.26],
            "move_p95_ms": [0.33, 0.53],
            "history_MB_per_100_strokes": 1.6,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
