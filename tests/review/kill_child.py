"""Child process for the kill test: edits through the real editing API and saves after every stroke.

Usage: python kill_child.py FOLDER SEED. Prints "committed N" (flushed) after set_final_mask returned for stroke N,
then keeps going until killed.
"""

from __future__ import annotations

import sys

import numpy as np

from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.editing import MaskDocument
from pneumoviewer.editing.tools import BrushTool, EraserTool
from pneumoviewer.review import ReviewStore

SHAPE = (512, 384)
IMAGES = ("1.2.826.0.1.1", "1.2.826.0.1.2")


def strokes(seed: int):
    """Deterministic stroke list: (image index, tool name, points)."""
    rng = np.random.default_rng(seed)
    i = 0
    while True:
        p = rng.uniform(30, 350, 2)
        pts = [tuple(p)]
        for _ in range(8):
            p = np.clip(p + rng.normal(0, 12, 2), 0, 383)
            pts.append(tuple(p))
        yield i % 2, ("eraser" if i % 4 == 3 else "brush"), pts
        i += 1


def replay(seed: int, n: int) -> list[dict[str, np.ndarray]]:
    """Masks of both images after each of the first n strokes (what the store must hold)."""
    docs = {iid: MaskDocument(*SHAPE) for iid in IMAGES}
    tools = {"brush": BrushTool(radius=12), "eraser": EraserTool(radius=6)}
    out = []
    for (img, name, pts), _ in zip(strokes(seed), range(n)):
        doc, tool = docs[IMAGES[img]], tools[name]
        tool.press(doc, pts[0])
        for q in pts[1:]:
            tool.move(doc, q)
        tool.release(doc)
        out.append({iid: d.mask.copy() for iid, d in docs.items()})
    return out


def main() -> None:
    folder, seed = sys.argv[1], int(sys.argv[2])
    store = ReviewStore.open(folder, reviewer="kill-test")
    docs = {iid: MaskDocument(*SHAPE) for iid in IMAGES}
    tools = {"brush": BrushTool(radius=12), "eraser": EraserTool(radius=6)}
    for n, (img, name, pts) in enumerate(strokes(seed), start=1):
        iid = IMAGES[img]
        doc, tool = docs[iid], tools[name]
        tool.press(doc, pts[0])
        for q in pts[1:]:
            tool.move(doc, q)
        tool.release(doc)
        store.set_final_mask(iid, doc.mask, status=None)
        if n % 5 == 0:
            store.set_status(iid, ReviewStatus.FLAGGED, comment=f"after {n}")
        store.set_position(iid)
        print(f"committed {n}", flush=True)


if __name__ == "__main__":
    main()
