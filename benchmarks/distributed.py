#!/usr/bin/env python3
"""Scaling figures on this machine (prints one JSON object; not a timed test).

- ``predict --workers 1`` vs ``--workers 2``: images/s over SIIM-like 1024² JPEG Baseline DICOMs with the shipped
  demo bundle, decoding included. Marginal throughput: (images of the big run − of the small run) / (time
  difference), so process start, TensorFlow import and model load cancel out; the wall time of the big run too.
- ``train``: seconds per step of one worker (no TF_CONFIG) vs two MultiWorkerMirroredStrategy workers on
  localhost (same per-replica batch, so two workers do twice the images per step), read from the training log
  (epochs after the first, which traces). On one machine the two workers share its cores: this measures the
  strategy's overhead, not a speed-up.

    .venv/bin/python benchmarks/distributed.py [--images 160] [--size 128] [--batch 4] [--steps 6] [--epochs 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _harness

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cli() -> list[str]:
    return [sys.executable, "-m", "pneumoviewer"]


def _predict_seconds(folder: Path, workers: int, tmp: Path, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([*_cli(), "predict", str(folder), "--out", str(tmp / f"pred-{workers}.csv"), "--workers",
                    str(workers), "--no-cache"], env=env, check=True, capture_output=True, timeout=1800)
    return time.perf_counter() - t0


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _step_seconds(out: Path, steps: int) -> float:
    with open(out / "segmenter-training-log.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    later = [float(r["seconds"]) for r in rows[1:]] or [float(rows[0]["seconds"])]
    return round(sum(later) / len(later) / steps, 4)


def _train(ds, workers: int, tmp: Path, env: dict[str, str], args: argparse.Namespace) -> float:
    common = ["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--size", str(args.size),
              "--batch", str(args.batch), "--steps-per-epoch", str(args.steps), "--epochs", str(args.epochs),
              "--val-fraction", "0", "-q"]
    out = tmp / f"train-{workers}"
    if workers == 1:
        subprocess.run([*_cli(), *common, "--out", str(out)], env=env, check=True, capture_output=True,
                       timeout=1800)
        return _step_seconds(out, args.steps)
    hosts = [f"127.0.0.1:{p}" for p in _free_ports(workers)]
    procs = []
    for i in range(workers):
        tf_config = json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
        procs.append(subprocess.Popen([*_cli(), *common, "--out", str(out)], env={**env, "TF_CONFIG": tf_config},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode:
            raise SystemExit(f"worker failed:\n{err[-2000:]}")
    return _step_seconds(out, args.steps)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=160, help="1024² phantoms for the big predict run")
    ap.add_argument("--small", type=int, default=32, help="phantoms for the small predict run")
    ap.add_argument("--size", type=int, default=128, help="training input side")
    ap.add_argument("--batch", type=int, default=4, help="training batch per replica")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    load0 = _harness.load_avg()

    from pneumoviewer.io.phantom import generate_dataset

    tmp = Path(tempfile.mkdtemp(prefix="pv-bench-dist-"))
    env = {**_harness.isolated_env(tmp), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    big = generate_dataset(tmp / "big", args.images, seed=3, size=1024, positive_rate=0.5)
    small = generate_dataset(tmp / "small", args.small, seed=4, size=1024, positive_rate=0.5)
    predict = {}
    for workers in (1, 2):
        t_small = _predict_seconds(small.root, workers, tmp, env)
        t_big = _predict_seconds(big.root, workers, tmp, env)
        predict[f"workers_{workers}"] = {
            "images_per_s": round((args.images - args.small) / max(t_big - t_small, 1e-6), 2),
            "wall_s_big_run": round(t_big, 2),
        }
    same = (tmp / "pred-1.csv").read_bytes() == (tmp / "pred-2.csv").read_bytes()

    train_ds = generate_dataset(tmp / "train", 24, seed=6, size=256, positive_rate=0.5)
    one = _train(train_ds, 1, tmp, env, args)
    two = _train(train_ds, 2, tmp, env, args)
    out = {
        "predict": {**predict, "images": args.images, "csv_identical_1_vs_2_workers": same,
                    "model": "models/demo (default)"},
        "train_step_s": {"one_worker": one, "two_workers": two, "ratio_two_vs_one": round(two / one, 2),
                         "arch": "unet-small", "size": args.size, "batch_per_replica": args.batch,
                         "images_per_s_one": round(args.batch / one, 2),
                         "images_per_s_two": round(2 * args.batch / two, 2)},
        "machine": _harness.machine(load0),
        "python": sys.version.split()[0],
    }
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
