"""Cost of the dataset dashboard / `pneumoviewer report` statistics at SIIM scale (12,000 images of 1024²).

Builds a review store in a temporary folder (on /dev/shm when there is one, so building is not the figure) with an
AI result for every image (22 % positive, as SIIM) and reviews of two thirds of them, then times reading the store
(`read_store_rows`), the whole one-pass computation (`dataset_stats`), the JSON numbers, and the figures
(chart descriptions, and their PNGs as the CLI draws them).

Prints one JSON object. `.venv/bin/python benchmarks/dataset_stats.py [--n 12000]`
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from _harness import load_avg, machine

from pneumoviewer.charts import png_bytes, render_chart
from pneumoviewer.core.types import ImageMeta, ModelInfo, Prediction
from pneumoviewer.review.dataset_stats import dataset_stats, read_store_rows
from pneumoviewer.review.store import ReviewStore

SIZE = 1024


def _build(root: Path, n: int, rng: np.random.Generator) -> tuple[list[ImageMeta], float]:
    metas = [
        ImageMeta(f"1.2.826.0.1.{i}", patient_sex="MF"[i % 2], patient_age=int(rng.integers(10, 90)),
                  view_position="PA" if rng.random() < 0.6 else "AP", rows=SIZE, columns=SIZE)
        for i in range(n)
    ]
    yy, xx = np.ogrid[:SIZE, :SIZE]
    model = ModelInfo("demo", "1.0.0", synthetic=True)
    started = time.perf_counter()
    with ReviewStore(root / "review.sqlite") as store:
        store.register_images((m.image_id, SIZE, SIZE) for m in metas)
        for i, m in enumerate(metas):
            positive = rng.random() < 0.22
            p = float(np.clip(rng.normal(0.75 if positive else 0.25, 0.18), 0, 1))
            if p >= 0.5:
                cy, cx, r = rng.integers(200, 800), rng.integers(150, 450), rng.integers(20, 120)
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            else:
                mask = np.zeros((SIZE, SIZE), dtype=bool)
            store.set_ai_result(Prediction(m.image_id, p, mask, model))
            kind = i % 3
            if kind == 0:
                store.accept_ai(m.image_id)
            elif kind == 1:
                if positive:
                    store.set_final_mask(m.image_id, np.roll(mask, 15, axis=1) if mask.any()
                                         else (yy - 500) ** 2 + (xx - 300) ** 2 < 60 ** 2)
                else:
                    store.mark_negative(m.image_id)
    return metas, time.perf_counter() - started


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=12_000)
    args = ap.parse_args(argv)
    load_before = load_avg()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        metas, build_s = _build(Path(tmp), args.n, np.random.default_rng(0))
        with ReviewStore(Path(tmp) / "review.sqlite") as store:
            t0 = time.perf_counter()
            rows = read_store_rows(store)
            t1 = time.perf_counter()
            progress: list[int] = []
            stats = dataset_stats(metas, store, 0.5, progress=lambda done, total: progress.append(done))
            t2 = time.perf_counter()
        numbers = stats.to_dict()
        t3 = time.perf_counter()
        specs = stats.figures()
        t4 = time.perf_counter()
        pngs = [png_bytes(render_chart(spec)) for spec in specs]
        t5 = time.perf_counter()
    print(json.dumps({
        "images": args.n,
        "store_rows": len(rows),
        "labelled": numbers["labelled"],
        "auc": numbers["roc"]["auc"] if numbers["roc"] else None,
        "build_store_s": round(build_s, 1),
        "read_store_rows_ms": _ms(t1 - t0),
        "dataset_stats_ms": _ms(t2 - t1),  # includes reading the store
        "progress_reports": len(progress),
        "to_dict_ms": _ms(t3 - t2),
        "figures_ms": _ms(t4 - t3),
        "png_render_ms": _ms(t5 - t4),
        "png_figures": len(pngs),
        **machine(load_before),
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
