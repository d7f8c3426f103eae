"""Why the GUI autosaves through a writer thread: cost of a durable `ReviewStore.set_final_mask` vs what a stroke
commit costs the GUI thread with `review.writer.StoreWriter` (mask snapshot + enqueue), and how long until the
write is durable.

Prints one JSON object (ms). `.venv/bin/python benchmarks/review_autosave.py [--saves 60]`
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time

import numpy as np

from pneumoviewer.review import ReviewStore


def _stats(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1e3
    return {k: round(float(v), 3) for k, v in (("p50_ms", np.percentile(ms, 50)), ("p95_ms", np.percentile(ms, 95)),
                                                ("max_ms", ms.max()))}


def main(argv: list[str] | None = None) -> int:
    from pneumoviewer.review.writer import StoreWriter

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--saves", type=int, default=60)
    args = ap.parse_args(argv)
    out: dict[str, object] = {"load_average_1min": round(os.getloadavg()[0], 2), "saves": args.saves}
    with tempfile.TemporaryDirectory() as tmp:
        store = ReviewStore.open(tmp)
        for n in (1024, 3000):
            yy, xx = np.ogrid[:n, :n]
            mask = (yy - n / 2) ** 2 + (xx - n / 3) ** 2 < (n / 6) ** 2
            sync: list[float] = []
            for i in range(args.saves):
                mask[50 + i % 200, 50:150] ^= True  # a small edit per save, as a stroke would make
                t = time.perf_counter()
                store.set_final_mask(f"sync{n}", mask)
                sync.append(time.perf_counter() - t)
            writer = StoreWriter()
            gui: list[float] = []
            durable: list[float] = []
            for i in range(args.saves):
                mask[50 + i % 200, 50:150] ^= True
                done = threading.Event()
                t = time.perf_counter()
                snap = mask.copy()
                key = f"async{n}"
                writer.submit(lambda s=snap, k=key, d=done: (store.set_final_mask(k, s), d.set()), key, "final")
                gui.append(time.perf_counter() - t)
                done.wait()
                durable.append(time.perf_counter() - t)
            writer.close()
            out[f"{n}"] = {
                "set_final_mask_on_gui_thread": _stats(sync),
                "gui_thread_cost_with_writer": _stats(gui),
                "commit_to_durable_with_writer": _stats(durable),
            }
        store.close()
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
