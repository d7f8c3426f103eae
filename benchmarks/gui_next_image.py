"""Next-image latency in the review app: key press → next image painted (JSON on stdout).

Opens a folder of SIIM-like 1024² JPEG Baseline phantoms (AI off, so only display work is timed) and steps through
it with `next_image()` — what J / Down do — timing until the viewer's first paint of the new image. "prefetched":
the decoder had delivered the image ahead (the normal case when reading one image after another); "not
prefetched": the decode cache was emptied first, so the decode is inside the timed span.

    .venv/bin/python benchmarks/gui_next_image.py [--folder DIR] [--images 24]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _harness import isolated_env, load_avg, machine


def _stats(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    p95 = xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]
    return {
        "n": len(xs),
        "p50_ms": round(1000 * statistics.median(xs), 1),
        "p95_ms": round(1000 * p95, 1),
        "max_ms": round(1000 * xs[-1], 1),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path)
    ap.add_argument("--images", type=int, default=24)
    args = ap.parse_args()
    load0 = load_avg()
    tmp = Path(tempfile.mkdtemp(prefix="pv-next-"))
    os.environ.update(isolated_env(tmp))
    try:
        folder = args.folder
        if folder is None:
            from pneumoviewer.phantom import generate_dataset

            folder = generate_dataset(tmp / "phantoms", args.images, seed=1, size=1024).root
        from PySide6.QtCore import QEventLoop, QTimer
        from PySide6.QtWidgets import QApplication

        from pneumoviewer.app import build_window
        from pneumoviewer.gui.theme import apply_dark_theme

        app = QApplication([])
        apply_dark_theme(app)
        w = build_window(run_ai=False)
        w.resize(1600, 1000)
        w.show()

        def wait(signal: object, start: object = None, timeout_ms: int = 30000) -> None:
            loop = QEventLoop()
            signal.connect(loop.quit)  # type: ignore[attr-defined]
            QTimer.singleShot(timeout_ms, loop.quit)
            if start is not None:
                QTimer.singleShot(0, start)
            loop.exec()
            signal.disconnect(loop.quit)  # type: ignore[attr-defined]

        wait(w.parts.nav.imagePainted, lambda: w.parts.folders.open_folder(folder))
        ids = w.parts.worklist.visible_image_ids()
        prefetched: list[float] = []
        cold: list[float] = []
        for i in range(1, len(ids)):
            nxt = ids[i]
            want_cold = i % 4 == 0
            if want_cold:
                w.parts.nav._cache.pop(nxt, None)
            else:
                deadline = time.perf_counter() + 10
                while w.parts.nav.loaded_image(nxt) is None and time.perf_counter() < deadline:
                    wait(w.parts.nav.loader.loaded, timeout_ms=200)
            was_cached = w.parts.nav.loaded_image(nxt) is not None
            wait(w.parts.nav.imagePainted, lambda: w.parts.nav.step(+1))
            assert w.parts.session.current == nxt
            (prefetched if was_cached else cold).append(w.parts.nav.timings["navigate_to_painted_s"])
            t_hold = time.perf_counter()  # a reader looks at each image for a moment: let the prefetch run
            while time.perf_counter() - t_hold < 0.15:
                wait(w.parts.nav.loader.loaded, timeout_ms=30)
        w.close()
        print(
            json.dumps(
                {
                    "machine": machine(load0),
                    "benchmark": "gui_next_image",
                    "what": "next_image() -> new image painted; 1024² JPEG Baseline phantoms; 1600×1000 offscreen",
                    "prefetched": _stats(prefetched),
                    "not_prefetched": _stats(cold) if cold else None,
                    "target_prefetched_ms": 100,
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
