"""Memory the review app keeps per AI result: `ReviewSession` (summary + small LRU, masks in the store as RLE) against
the old window's dict of full-size masks, for N results at a given size. Prints JSON; asserts nothing.

    .venv/bin/python benchmarks/session_memory.py [N] [SIZE]
"""

from __future__ import annotations

import gc
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from pneumoviewer.core.types import ImageMeta, ModelInfo, Prediction
from pneumoviewer.io.folder import FolderIndex, IndexedImage
from pneumoviewer.review.session import ReviewSession


def masks(n: int, size: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        m = np.zeros((size, size), bool)
        r, c = rng.integers(0, size // 2, 2)
        m[r : r + size // 8, c : c + size // 6] = True
        out.append(m)
    return out


def main(n: int = 1000, size: int = 1024) -> dict[str, object]:
    model = ModelInfo("bench", "1", True, sha256="0" * 64)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ids = [f"1.2.{i}" for i in range(n)]
        index = FolderIndex(root, [IndexedImage(root / f"{i}.dcm", ImageMeta(i, rows=size, columns=size)) for i in ids])
        session = ReviewSession()
        session.open_folder(root)
        session.set_index(index)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        t0 = time.perf_counter()
        for image_id, mask in zip(ids, masks(n, size), strict=True):
            session.add_prediction(Prediction(image_id, 0.5, mask, model))
        gui_s = time.perf_counter() - t0
        session.flush()
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        t1 = time.perf_counter()
        queued = session.ai_queue(ids, model.sha256)
        queue_s = time.perf_counter() - t1
        session.close()
    old = n * size * size  # the old window: one full-size bool mask per result, for the whole folder
    return {
        "n_results": n,
        "size": size,
        "session_held_mb": round(held / 2**20, 2),
        "session_bytes_per_result": round(held / n),
        "old_window_masks_mb": round(old / 2**20, 1),
        "ratio_old_to_session": round(old / max(held, 1), 1),
        "add_prediction_ms_mean_gui_thread": round(1000 * gui_s / n, 3),
        "ai_queue_ms": round(1000 * queue_s, 2),
        "ai_queue_len_same_bundle": len(queued),
        "loadavg": os.getloadavg(),
    }


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    print(json.dumps(main(*args)))
