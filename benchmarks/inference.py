#!/usr/bin/env python3
"""Inference figures on this machine (prints one JSON object; not a timed test).

- per-image end-to-end latency (display image → Prediction: preprocess, classifier, segmenter, resize, threshold,
  min-area) for the shipped bundle at its own input size, and for the same small architectures at 512²
  (untrained weights: the cost is the same), with the segmenter forced to run (worst case, gate open);
- batch throughput (images/s) with batches of 8;
- model load + warm-up time.

    .venv/bin/python benchmarks/inference.py [--model models/demo] [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _phantom_displays(n: int, size: int = 1024) -> list[np.ndarray]:
    from pneumoviewer.io.dicom import load_image
    from pneumoviewer.phantom import generate_dataset

    tmp = tempfile.mkdtemp(prefix="pv-bench-")
    ds = generate_dataset(tmp, n, seed=5, size=size, positive_rate=0.5)
    return [load_image(ds.paths[i]).display for i in ds.image_ids]


def _bundle_at(src: Path, size: int) -> Path:
    """A bundle with the same architectures as `src` at `size`² (fresh weights; timing only)."""
    from pneumoviewer.inference.bundle import ModelEntry, read_manifest, write_manifest
    from pneumoviewer.training import architectures as A

    m = read_manifest(src)
    out = Path(tempfile.mkdtemp(prefix=f"pv-bench-{size}-"))
    entries = {}
    for task, e in m.models.items():
        opts = A.arch_options(e.arch, **{k: v for k, v in e.training.get("arch_options", {}).items()})
        A.builder(task)(e.arch, size, opts).save(out / e.file)
        entries[task] = ModelEntry(task, e.file, e.arch, size)
    write_manifest(out, replace(m.config, classifier_threshold=0.0), entries)  # gate always open
    return out


def _measure(bundle: Path, displays: list[np.ndarray], repeats: int) -> dict:
    from pneumoviewer.inference.engine import InferenceEngine

    t0 = time.perf_counter()
    eng = InferenceEngine(bundle, keep_probability_maps=False)
    eng.load()
    load_s = time.perf_counter() - t0
    # force the segmenter to run for every image (worst case): threshold 0 via a patched config copy
    eng._manifest = replace(eng.manifest, config=replace(eng.config, classifier_threshold=0.0))
    single = []
    stages: dict[str, list[float]] = {}
    for r in range(repeats):
        d = displays[r % len(displays)]
        t0 = time.perf_counter()
        p = eng.predict_array(d)
        single.append(time.perf_counter() - t0)
        for k, v in p.timings.items():
            stages.setdefault(k, []).append(v)
    batch = displays[:8]
    eng.predict_arrays(batch, [str(i) for i in range(len(batch))])
    t0 = time.perf_counter()
    n_rounds = max(1, repeats // 4)
    for _ in range(n_rounds):
        eng.predict_arrays(batch, [str(i) for i in range(len(batch))])
    thr = n_rounds * len(batch) / (time.perf_counter() - t0)
    return {
        "input_size": eng.config.classifier_size,
        "segmenter_size": eng.config.segmenter_size,
        "device": eng.device,
        "load_and_warmup_s": round(load_s, 3),
        "latency_per_image_s_median": round(float(np.median(single)), 4),
        "latency_per_image_s_p90": round(float(np.percentile(single, 90)), 4),
        "stages_median_s": {k: round(float(np.median(v)), 4) for k, v in stages.items()},
        "batch8_throughput_img_per_s": round(thr, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    displays = _phantom_displays(8)
    from pneumoviewer.inference.bundle import read_manifest

    m = read_manifest(args.model)
    out = {
        "benchmark": "inference",
        "cpu_count": os.cpu_count(),
        "source_images": "phantom 1024x1024 display images",
        "model": f"{m.name} {m.version}",
        "archs": {t: e.arch for t, e in m.models.items()},
        "at_bundle_size": _measure(args.model, displays, args.repeats),
        "at_512": _measure(_bundle_at(args.model, 512), displays, args.repeats),
        "goal": "<= 1.5 s per image end to end at 512² on 2 CPU cores",
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
