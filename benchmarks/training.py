#!/usr/bin/env python3
"""Training figures on this machine (prints one JSON object; not a timed test).

- input pipeline: images/s decoding SIIM-like 1024² JPEG Baseline DICOMs through the display pipeline and the shared
  preprocess (first epoch, before the cache) and images/s of the cached, augmented, batched pipeline (later epochs);
- training step time (s per batch of 8 at 256², after the first traced step) for the demo architectures.

    .venv/bin/python benchmarks/training.py [--n 48] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=48, help="phantom images (1024²) for the pipeline figures")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=5)
    args = ap.parse_args()

    from pneumoviewer.phantom import generate_dataset

    tmp = tempfile.mkdtemp(prefix="pv-bench-train-")
    ds_info = generate_dataset(tmp, args.n, seed=11, size=1024, positive_rate=0.5)

    import numpy as np
    import tensorflow as tf

    from pneumoviewer.training import architectures as A
    from pneumoviewer.training import data, losses

    labelled = data.collect_examples(ds_info.root, ds_info.csv_path)
    steps = max(1, args.n // args.batch)
    pipe = data.training_dataset(labelled.examples, labelled.table, task="segmenter", size=args.size,
                                 batch=args.batch, epochs=10, steps_per_epoch=steps, seed=0,
                                 augment=data.AugmentConfig())
    it = iter(pipe)
    t0 = time.perf_counter()
    for _ in range(steps):  # first pass: every image decoded once (the shuffle buffer fills from the cache)
        next(it)
    first = steps * args.batch / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(3 * steps):
        next(it)
    cached = 3 * steps * args.batch / (time.perf_counter() - t0)

    step_times = {}
    x = np.random.default_rng(0).random((args.batch, args.size, args.size, 1), dtype=np.float32)
    for task, arch in (("classifier", "small"), ("classifier", "unet-mil"), ("segmenter", "unet-small")):
        model = A.builder(task)(arch, args.size, None)
        if task == "classifier":
            y = np.ones((args.batch, 1), np.float32)
            model.compile("adam", "binary_crossentropy", metrics=losses.classifier_metrics())
        else:
            y = (x > 0.8).astype(np.float32)
            model.compile("adam", losses.BceDiceLoss(), metrics=losses.segmenter_metrics())
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        first_step = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(args.steps):
            model.train_on_batch(x, y)
        step_times[f"{task}:{arch}"] = {
            "first_step_s_incl_tracing": round(first_step, 2),
            "step_s": round((time.perf_counter() - t0) / args.steps, 3),
            "images_per_s": round(args.batch * args.steps / (time.perf_counter() - t0), 1),
        }
    print(json.dumps({
        "benchmark": "training",
        "cpu_count": os.cpu_count(),
        "device": "GPU" if tf.config.list_physical_devices("GPU") else "CPU",
        "input": f"{args.n} phantom DICOMs 1024² JPEG Baseline 8-bit → {args.size}²",
        "pipeline_first_epoch_img_per_s": round(first, 1),
        "pipeline_cached_augmented_img_per_s": round(cached, 1),
        "batch": args.batch,
        "size": args.size,
        "train_step": step_times,
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
