#!/usr/bin/env python3
"""Rebuild the shipped real-data bundle (`models/siim/`) from the real-data kit, with the exact recipe used.

RESEARCH USE ONLY, NOT FOR CLINICAL USE. Trained on SIIM-ACR (no open licence: local training and evaluation only)
and NIH ChestX-ray14 images rebuilt by `../shared/data/get-real-data.sh`; no image or mask is ever written into the
repository (every intermediate lives under --work).

    .venv/bin/python packaging/real/train_real_bundle.py --kit KIT/siim-train --stage2 KIT/siim-stage2-test \
        [--work /tmp/pv-real] [--out models/siim] [--only split|segmenter|segmenter2|classifier|finish]

Stages, every one through the public CLI or the scripts beside this one:
1. `split.py`: fixed, stratified dev/test split (seed 2026, 20 % test), NIH patients kept on one side;
2. `pneumoviewer train segmenter` on dev (its own seeded split picks the best epoch by validation loss), then a
   second, longer `train segmenter --init-from` the first at half the learning rate (the two stages are two CPU
   sessions' budgets; the same validation split, so the second stage's best epoch is still chosen on validation);
3. `pneumoviewer train classifier --arch unet-mil --init-from` the second-stage segmenter (the MIL classifier is
   the segmenter's probability map, max-pooled, fine-tuned on image labels), and the same map max-pooled as it is
   (`--epochs 0`); the one with the better validation AUC is shipped;
4. `report.py`: post-processing (classifier threshold, mask threshold, minimum area) chosen on the validation split,
   then test figures with bootstrap intervals, the codec-confound check, written into the manifest and the card;
5. `pneumoviewer predict` on the stage-2 test files: positive rate and throughput.
CPU training is multi-threaded, so reruns match to a few 1e-3 in the figures, not bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

NAME, VERSION = "siim", "1.1.0"
COMMON = ["--size", "256", "--seed", "0", "--name", NAME, "--model-version", VERSION, "-q"]
SEGMENTER = ["--arch", "unet-small", "--epochs", "20", "--steps-per-epoch", "60", "--batch", "8", "--lr", "1e-3",
             "--bce-weight", "2.7", "--dice-weight", "0.9"]
#: stage 2: continue stage 1's weights for 28 × 100 more steps at half the learning rate
SEGMENTER2 = ["--arch", "unet-small", "--epochs", "28", "--steps-per-epoch", "100", "--batch", "8", "--lr", "5e-4",
              "--bce-weight", "2.7", "--dice-weight", "0.9"]
CLASSIFIER = ["--arch", "unet-mil", "--epochs", "3", "--steps-per-epoch", "30", "--batch", "8", "--lr", "2e-4"]
#: the other candidate: the segmenter's map max-pooled as it is (no fine-tuning); the one with the better validation
#: AUC (`train` scores both on the same validation split) becomes the bundle's classifier
POOLED = ["--arch", "unet-mil", "--epochs", "0"]
#: the runs of this recipe predate elastic deformation (issue 10's later step): keep them as they were
AUGMENT = ["--no-elastic"]


def run(*cmd: str, out: Path | None = None) -> str:
    env = {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    print("$ " + " ".join(cmd), flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(list(cmd), cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    if out is not None:
        out.write_text(proc.stdout, encoding="utf-8")
    return proc.stdout


def pv(*args: str) -> str:
    return run(sys.executable, "-m", "pneumoviewer", *args)


def choose_classifier(work: Path) -> tuple[str, dict[str, float]]:
    """The classifier stage with the best validation AUC, and every candidate's AUC (for the card)."""
    from pneumoviewer.inference.bundle import read_manifest

    aucs = {name: float(read_manifest(work / name).models["classifier"].validation["auc"])
            for name in ("stage-classifier", "stage-classifier-pooled") if (work / name).is_dir()}
    return max(aucs, key=lambda k: aucs[k]), aucs


def merge(work: Path, post: dict, classifier: str) -> Path:
    """One bundle from the staging bundles (the classifier from stage folder ``classifier``), with the
    post-processing chosen on validation."""
    from train_demo_bundle import merge as merge_stages  # the one merge of staging bundles (packaging/)

    root = merge_stages(work, notes="Research use only; not for clinical use. Trained on SIIM-ACR (no open "
                        "licence) and NIH ChestX-ray14 radiographs.", sources={"segmenter": "stage-segmenter2",
                                                                     "classifier": classifier},
                        synthetic=False,
                        classifier_threshold=post["classifier_threshold"], mask_threshold=post["mask_threshold"],
                        min_area_px_1024=post["min_area_px_1024"])
    # the first stage's epochs, beside the second's own log (the card reads both)
    shutil.copy2(work / "stage-segmenter" / "segmenter-training-log.csv", root / "segmenter-stage1-training-log.csv")
    from pneumoviewer.inference.bundle import rehash

    rehash(root)
    return root


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kit", type=Path, required=True, help="the kit's siim-train folder")
    ap.add_argument("--stage2", type=Path, required=True, help="the kit's siim-stage2-test folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/pv-real"))
    ap.add_argument("--out", type=Path, default=ROOT / "models" / NAME)
    ap.add_argument("--only", choices=("split", "segmenter", "segmenter2", "classifier", "finish"), default=None)
    args = ap.parse_args()
    w = args.work
    w.mkdir(parents=True, exist_ok=True)
    split = w / "split"
    if args.only in (None, "split"):
        run(sys.executable, str(HERE / "split.py"), str(args.kit), str(split))
    data = ["--data", str(args.kit), "--labels", str(split / "dev-rle.csv"), "--cache", str(w / "cache" / "dev256")]
    (w / "cache").mkdir(exist_ok=True)
    stages = (("segmenter", "segmenter", SEGMENTER, None), ("segmenter2", "segmenter", SEGMENTER2, "segmenter"),
              ("classifier", "classifier", CLASSIFIER, "segmenter2"),
              ("classifier-pooled", "classifier", POOLED, "segmenter2"))
    for stage_name, task, extra, init in stages:
        if args.only in (None, stage_name, stage_name.removesuffix("-pooled")):
            shutil.rmtree(w / f"stage-{stage_name}", ignore_errors=True)
            start = ["--init-from", str(w / f"stage-{init}" / "segmenter.keras")] if init else []
            pv("train", task, *data, "--out", str(w / f"stage-{stage_name}"), *COMMON, *AUGMENT, *extra, *start)
    if args.only not in (None, "finish"):
        return 0

    # post-processing chosen on validation (the report searches it), then the merged bundle is scored on test
    chosen, aucs = choose_classifier(w)
    probe = merge(w, {"classifier_threshold": 0.5, "mask_threshold": 0.5, "min_area_px_1024": 0}, chosen)
    report = json.loads(run(sys.executable, str(HERE / "report.py"), str(probe), "--kit", str(args.kit),
                            "--split", str(split)))
    stage = merge(w, report["postprocess"], chosen)
    t0 = time.perf_counter()
    pv("predict", str(args.stage2), "--out", str(w / "stage2-pred.csv"), "--probs", str(w / "stage2-probs.csv"),
       "--model", str(stage))
    seconds = time.perf_counter() - t0
    from pneumoviewer.io.siim_csv import read_probabilities_csv

    probs = read_probabilities_csv(w / "stage2-probs.csv")
    t = report["postprocess"]["classifier_threshold"]
    report["stage2"] = {"images": len(probs), "positive_rate": round(sum(p >= t for p in probs.values()) /
                        max(len(probs), 1), 4), "images_per_s": round(len(probs) / seconds, 2),
                        "note": "unlabelled; throughput includes TensorFlow start-up and the folder scan"}
    demo_json = w / "demo-on-real.json"  # the demo bundle never changes here: its figures are measured once
    if not demo_json.is_file():
        run(sys.executable, str(HERE / "report.py"), str(ROOT / "models" / "demo"), "--kit", str(args.kit),
            "--split", str(split), "--fixed", "0.5,0.5,500", "--json", str(demo_json))
    demo = json.loads(demo_json.read_text(encoding="utf-8"))
    from card import model_card  # beside this script
    from seed_table import load_results  # the seed recipe table's committed runs, if any

    from pneumoviewer.inference.bundle import read_manifest

    stage1 = read_manifest(w / "stage-segmenter").models["segmenter"].training
    report["classifier_choice"] = {"chosen": chosen, "validation_auc": aucs}
    (stage / "MODEL_CARD.md").write_text(model_card(stage, report, demo, load_results(), stage1), encoding="utf-8")
    metrics = {"siim": report, "demo_on_real": demo, "segmenter_stage1": stage1}
    (stage / "real-metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    from pneumoviewer.inference.bundle import rehash

    rehash(stage)
    if args.out.exists():
        shutil.rmtree(args.out)
    shutil.copytree(stage, args.out, ignore=shutil.ignore_patterns(".*"))
    size = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"bundle written to {args.out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    raise SystemExit(main())
