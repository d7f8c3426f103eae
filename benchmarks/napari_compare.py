"""Same brush strokes through napari's Labels layer and through pneumoviewer.editing, in one process.

napari is not a dependency: run this with a separate environment that has napari installed, e.g.

    python3 -m venv /tmp/napari-venv && /tmp/napari-venv/bin/pip install napari
    /tmp/napari-venv/bin/python benchmarks/napari_compare.py [--strokes 300]

It puts the repository on sys.path (pneumoviewer.editing needs only numpy/scipy/scikit-image, which napari brings).
napari side: `Labels._draw(label, last, coord)` per mouse move inside a history block — exactly what its paint
mouse binding calls (interpolation + per-point paint + partial refresh; no canvas). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("editing_model", Path(__file__).with_name("editing_model.py"))
editing_model = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(editing_model)  # type: ignore[union-attr]


def _atom_nbytes(item: object) -> int:
    total = 0
    for atom in item:  # type: ignore[attr-defined]
        for part in atom:
            if isinstance(part, np.ndarray):
                total += part.nbytes
            elif isinstance(part, tuple):
                total += sum(p.nbytes for p in part if isinstance(p, np.ndarray))
    return total


def run_napari(strokes: list[np.ndarray], size: int, radius: int) -> dict:
    import napari
    from napari.layers import Labels

    layer = Labels(np.zeros((size, size), dtype=np.uint8))
    layer.brush_size = 2 * radius + 1
    layer.mode = "paint"
    layer.selected_label = 1
    moves, totals = [], []
    history_bytes_per_100: list[int] = []
    clock = time.perf_counter
    for i, pts in enumerate(strokes):
        label = 0 if i % 4 == 3 else 1
        with layer.block_history():
            t0 = clock()
            layer._draw(label, pts[0], pts[0])
            last = pts[0]
            for p in pts[1:]:
                t = clock()
                layer._draw(label, last, p)
                moves.append(clock() - t)
                last = p
        totals.append(clock() - t0)
        if (i + 1) % 100 == 0:
            history_bytes_per_100.append(sum(_atom_nbytes(it) for it in layer._undo_history))
    undo_t = []
    for _ in range(min(100, len(layer._undo_history))):
        t = clock()
        layer.undo()
        undo_t.append(clock() - t)
    return {
        "version": napari.__version__,
        "move": editing_model.pct(moves),
        "undo": editing_model.pct(undo_t),
        "history_levels_kept": len(layer._undo_history) + len(layer._redo_history),
        "history_MB_per_100_strokes": round(float(np.mean(history_bytes_per_100)) / 1e6, 3)
        if history_bytes_per_100
        else None,
    }


def run_ours(strokes: list[np.ndarray], size: int, radius: int) -> dict:
    from pneumoviewer.editing import MaskDocument
    from pneumoviewer.editing.tools import BrushTool, EraserTool

    doc = MaskDocument(size, size, max_levels=len(strokes) + 1)
    brush, eraser = BrushTool(radius=radius), EraserTool(radius=radius)
    moves = []
    clock = time.perf_counter
    for i, pts in enumerate(strokes):
        tool = eraser if i % 4 == 3 else brush
        tool.press(doc, tuple(pts[0]))
        for p in pts[1:]:
            t = clock()
            tool.move(doc, tuple(p))
            moves.append(clock() - t)
        tool.release(doc)
    levels = doc.history.undo_levels
    undo_t = []
    for _ in range(min(100, levels)):
        t = clock()
        doc.undo()
        undo_t.append(clock() - t)
    return {
        "move": editing_model.pct(moves),
        "undo": editing_model.pct(undo_t),
        "history_levels_kept": doc.history.undo_levels + doc.history.redo_levels,
        "history_MB_per_100_strokes": round(doc.history_nbytes / levels * 100 / 1e6, 3),
        "history_MB_all_strokes": round(doc.history_nbytes / 1e6, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--strokes", type=int, default=300)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--radius", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    strokes = editing_model.make_strokes(args.strokes, args.size, args.seed)
    napari_res = run_napari(strokes, args.size, args.radius)
    ours = run_ours(strokes, args.size, args.radius)
    out = {
        "benchmark": "napari_compare",
        "image": f"{args.size}x{args.size}",
        "radius_px": args.radius,
        "strokes": args.strokes,
        "moves": ours["move"]["n"],
        "napari": napari_res,
        "pneumoviewer": ours,
        "move_p50_ratio": round(ours["move"]["p50_ms"] / napari_res["move"]["p50_ms"], 3),
        "move_p95_ratio": round(ours["move"]["p95_ms"] / napari_res["move"]["p95_ms"], 3),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
