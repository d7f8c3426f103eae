#!/usr/bin/env python3
"""Cost of the training augmentation per batch (prints one JSON object; not a timed test).

Times the augment map of ``pneumoviewer.training.data`` on cached in-memory image+mask pairs (what later epochs run),
batched, for: the augmentation without the elastic deformation, the default (elastic with its probability), elastic
on every image, and the default followed by a random crop (``--size 2S --crop S``). Rounds alternate the variants so
other load on the machine hits them alike; the figure is the median ms per batch.

    .venv/bin/python benchmarks/augment_cost.py [--size 256] [--batch 8] [--batches 30] [--rounds 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _harness import load_avg, machine  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--batches", type=int, default=30, help="batches per timed run")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="tf.data / op thread pool size (the 2-core case)")
    args = ap.parse_args()
    load_before = load_avg()

    import numpy as np
    import tensorflow as tf

    from pneumoviewer.training import data

    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    def pairs(side: int) -> tf.data.Dataset:
        rng = np.random.default_rng(0)
        images = rng.random((32, side, side, 1), dtype=np.float32)
        masks = (rng.random((32, side, side, 1)) > 0.97).astype(np.float32)
        return tf.data.Dataset.from_tensor_slices((images, masks)).cache().repeat()

    def pipeline(cfg: data.AugmentConfig, crop: int | None) -> tf.data.Dataset:
        side = 2 * args.size if crop else args.size
        seeds = tf.data.Dataset.random(seed=4).batch(2)

        def aug(xy: tuple[tf.Tensor, tf.Tensor], s: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            x, y = data.augment_pair(xy[0], xy[1], s, cfg, True)
            return data.random_crop(x, y, s, crop) if crop else (x, y)

        ds = tf.data.Dataset.zip((pairs(side), seeds)).map(aug, num_parallel_calls=tf.data.AUTOTUNE,
                                                            deterministic=True)
        opts = tf.data.Options()
        opts.threading.private_threadpool_size = args.threads
        return ds.batch(args.batch, drop_remainder=True).prefetch(1).with_options(opts)

    default = data.AugmentConfig()
    variants = {
        "no_elastic": (dataclasses.replace(default, elastic_p=0.0), None),
        "default": (default, None),
        "elastic_always": (dataclasses.replace(default, elastic_p=1.0), None),
        f"default_then_crop_{args.size}_of_{2 * args.size}": (default, args.size),
    }
    streams = {name: iter(pipeline(cfg, crop)) for name, (cfg, crop) in variants.items()}
    for it in streams.values():  # trace and fill the caches before timing
        for _ in range(5):
            next(it)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, it in streams.items():
            t0 = time.perf_counter()
            for _ in range(args.batches):
                next(it)
            times[name].append((time.perf_counter() - t0) / args.batches * 1000)
    ms = {name: round(statistics.median(v), 2) for name, v in times.items()}
    print(json.dumps({
        "benchmark": "augment_cost",
        "size": args.size, "batch": args.batch, "threads": args.threads,
        "ms_per_batch_median": ms,
        "elastic_default_vs_none": round(ms["default"] / ms["no_elastic"] - 1, 3),
        "elastic_always_vs_none": round(ms["elastic_always"] / ms["no_elastic"] - 1, 3),
        "tensorflow": tf.__version__,
        **machine(load_before),
    }, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
