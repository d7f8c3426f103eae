"""Review store at SIIM scale: fill a store with N images (AI result for all, a reviewer's decision for a third),
then time what opening a folder reads: the open itself (lock + ``PRAGMA quick_check`` + schema), the status map, the
comments and the stored AI results (``statuses()`` / ``comments()`` / ``stored_ai()``, one query each) against the
full worklist records the GUI used to restore probabilities from (``records()``), the export's entry list, and a
bare sqlite read of the same rows. Prints JSON (median and min of --repeat runs, seconds); never asserts times.

    python benchmarks/store_scale.py [--n 12000] [--size 1024] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _harness import load_avg, machine

from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
from pneumoviewer.review.store import ReviewStore

SHA = "ab" * 32  # the bundle every benchmark result comes from


def _masks(size: int, rng: np.random.Generator, k: int = 16) -> list[np.ndarray]:
    """A few realistic AI masks (empty, or one or two blobs at the lung apex/base) reused across the folder."""
    yy, xx = np.mgrid[0:size, 0:size]
    out = [np.zeros((size, size), bool)]
    for _ in range(k - 1):
        m = np.zeros((size, size), bool)
        for _ in range(int(rng.integers(1, 3))):
            cy, cx = rng.integers(size // 8, size - size // 8, 2)
            r = int(rng.integers(size // 40, size // 10))
            m |= (yy - cy) ** 2 + ((xx - cx) * 0.6) ** 2 < r * r
        out.append(m)
    return out


def _fill(folder: Path, n: int, size: int) -> float:
    rng = np.random.default_rng(0)
    masks = _masks(size, rng)
    model = ModelInfo("demo-unet", "2026.1", synthetic=True)
    t0 = time.perf_counter()
    with ReviewStore.open(folder, reviewer="bench") as store:
        ids = [f"1.2.826.0.1.3680043.8.498.{i:05d}" for i in range(n)]
        store.register_images([(i, size, size) for i in ids])
        for k, image_id in enumerate(ids):
            pred = Prediction(image_id, float(rng.random()), masks[k % len(masks)], model)
            store.set_ai_result(pred, model_sha256=SHA)
            if k % 3 == 0:
                store.accept_ai(image_id)
            elif k % 9 == 1:
                store.mark_negative(image_id)
            elif k % 50 == 2:
                store.flag(image_id, "check the apex")
    return time.perf_counter() - t0


def _time(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(runs), 5), "min_s": round(min(runs), 5)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    load_before = load_avg()
    # /dev/shm where there is one: the fill commits N durable transactions, which only the fill should not pay for
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as tmp:
        folder = Path(tmp)
        fill_s = _fill(folder, args.n, args.size)
        with ReviewStore.open(folder) as store:
            path = store.path
            figures = {
                "statuses": _time(store.statuses, args.repeat),
                "stored_ai": _time(lambda: store.stored_ai(SHA), args.repeat),  # one model's, as the session reads
                "comments": _time(store.comments, args.repeat),
                "records_old_restore_path": _time(store.records, args.repeat),
                "final_entries_export": _time(store.final_entries, args.repeat),
                "quick_check": _time(lambda: store._conn.execute("PRAGMA quick_check").fetchall(), args.repeat),
            }
            counts = {
                "statuses": len(store.statuses()),
                "stored_ai": len(store.stored_ai(SHA)),
                "reviewed": sum(s is not ReviewStatus.UNREVIEWED for s in store.statuses().values()),
            }

        def reopen() -> None:
            ReviewStore.open(folder).close()

        figures["open"] = _time(reopen, args.repeat)
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        figures["bare_sqlite_id_status"] = _time(
            lambda: conn.execute("SELECT image_id, status FROM images").fetchall(), args.repeat
        )
        figures["bare_sqlite_ai_summary"] = _time(  # the rows stored_ai() reads, without building anything
            lambda: conn.execute(
                "SELECT image_id, probability, mask_area, model_name, model_version, model_synthetic, model_sha256 "
                "FROM ai_results WHERE model_sha256=?",
                (SHA,),
            ).fetchall(),
            args.repeat,
        )
        conn.close()
        size_mb = round(path.stat().st_size / 1e6, 2)
    print(
        json.dumps(
            {
                "benchmark": "store_scale",
                "n_images": args.n,
                "image_size": args.size,
                "store_mb": size_mb,
                "fill_s": round(fill_s, 2),
                "counts": counts,
                "timings": figures,
                "machine": machine(load_before),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
