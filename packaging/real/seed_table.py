#!/usr/bin/env python3
"""The reference blog's five SIIM configurations, retrained on the real-data kit with one common budget (issue 10).

The blog trained on the full SIIM set on a GPU and reported validation Dice: simple U-Net 0.2509, DenseNet121-encoder
U-Net 0.4608, the same with dropout 0.4096, the same without augmentation 0.4209, and a DenseNet121 classifier
(Adam, BCE; accuracy / precision / recall). This script trains each of them through the public CLI
(``python -m pneumoviewer train``) on the dev part of the fixed split (``packaging/real/split.py``) with the same seed,
the same input size (256²), the same batch and **the same number of steps for every segmenter** (the classifier has
its own stated budget), then scores every run on the **same validation images** (the validation part of dev that
``train`` derives from seed 0 / 20 %; the held-out test split is never read here) with ``report.py``'s functions:
post-processing chosen on validation, figures with 95 % bootstrap intervals. Like the blog's, the figures are
validation figures, so they are optimistic (validation also picked the best epoch and the thresholds).

    .venv/bin/python packaging/real/seed_table.py --kit KIT/siim-train --split SPLIT --work WORK \\
        [--steps 60] [--classifier-steps 60] [--cache PREFIX] [--only train|evaluate|table] [--runs a,b]

Background-friendly: each run trains into ``WORK/<run>/`` with its own log ``WORK/<run>.log``; a run whose
``WORK/<run>/done.json`` exists is skipped, one that stopped half-way continues with ``--resume``. Each finished run
is evaluated at once and written to ``packaging/real/seed/<run>.json`` (figures only: no image, no weights);
``--only table`` renders ``packaging/real/seed/SEED_TABLE.md`` from those JSONs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "seed"
TABLE_NAME = "SEED_TABLE.md"
SIZE, BATCH, SEED, EPOCHS = 256, 8, 0, 1  # one epoch: no best-epoch pick on validation, one validation pass


@dataclass(frozen=True)
class SeedRun:
    """One configuration of the blog's table, as ``pneumoviewer train`` arguments."""

    name: str
    label: str
    task: str
    args: tuple[str, ...]
    blog: str  # the blog's reported validation figure, as it printed it


RUNS: tuple[SeedRun, ...] = (
    SeedRun("densenet121-classifier", "DenseNet121 classifier (Adam, BCE)", "classifier",
            ("--arch", "densenet121"), "accuracy / precision / recall (figures not quoted in issue 10)"),
    SeedRun("densenet121-unet", "DenseNet121-encoder U-Net", "segmenter", ("--arch", "unet-densenet121"),
            "Dice 0.4608"),
    SeedRun("densenet121-unet-dropout", "same, with dropout 0.3", "segmenter",
            ("--arch", "unet-densenet121", "--dropout", "0.3"), "Dice 0.4096"),
    SeedRun("densenet121-unet-noaug", "same, without augmentation", "segmenter",
            ("--arch", "unet-densenet121", "--no-augment"), "Dice 0.4209"),
    # width 16 (the CLI's `unet` default is 32): at 32 one step costs 26 s here, more than the three DenseNet
    # U-Nets' steps together, which would have cut every run's common budget by half
    SeedRun("unet", "simple U-Net, width 16", "segmenter", ("--arch", "unet", "--width", "16"), "Dice 0.2509"),
)


def train_command(run: SeedRun, kit: Path, split: Path, out: Path, steps: int, cache: str,
                  resume: bool) -> list[str]:
    """The exact ``pneumoviewer train`` command of one run: ``steps`` steps of batch 8 (``EPOCHS`` epochs)."""
    per_epoch = max(1, steps // EPOCHS)
    cmd = [sys.executable, "-m", "pneumoviewer", "train", run.task, "--data", str(kit),
           "--labels", str(split / "dev-rle.csv"), "--out", str(out), *run.args, "--size", str(SIZE),
           "--batch", str(BATCH), "--epochs", str(EPOCHS), "--steps-per-epoch", str(per_epoch), "--lr", "1e-3",
           "--seed", str(SEED), "--name", f"seed-{run.name}", "--model-version", "0.1.0", "-q"]
    if cache:
        cmd += ["--cache", cache]
    if resume:
        cmd.append("--resume")
    return cmd


def _env() -> dict[str, str]:
    # 2 cores: one op pool of 2 threads, no oversubscription between TF's pools and OpenMP
    return {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
            "OMP_NUM_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"}


def train_run(run: SeedRun, args: argparse.Namespace) -> dict[str, Any] | None:
    """Train one run unless it is done; returns its done record (command, wall seconds) or None on failure."""
    out = args.work / run.name
    done = out / "done.json"
    if done.is_file():
        return json.loads(done.read_text(encoding="utf-8"))
    steps = args.classifier_steps if run.task == "classifier" else args.steps
    resume = (out / f".train-{run.task}" / "state.json").is_file()
    cmd = train_command(run, args.kit, args.split, out, steps, args.cache, resume)
    log = args.work / f"{run.name}.log"
    print(f"{time.strftime('%H:%M:%S')} {run.name}: $ {' '.join(cmd[1:])}", flush=True)
    t0 = time.perf_counter()
    with log.open("a", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, cwd=ROOT, env=_env(), stdout=fh, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - t0
    if rc != 0:
        print(f"{run.name}: train failed ({rc}); see {log}", flush=True)
        return None
    record = {"command": " ".join(["python", *cmd[1:]]).replace(str(args.kit), "KIT/siim-train")
              .replace(str(args.split), "SPLIT").replace(str(args.work), "WORK"),
              "wall_s": round(wall, 1), "resumed": resume}
    done.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"{time.strftime('%H:%M:%S')} {run.name}: trained in {wall:.0f} s", flush=True)
    return record


def _training_summary(bundle: Path, task: str) -> dict[str, Any]:
    import csv

    from pneumoviewer.inference.bundle import read_manifest

    entry = read_manifest(bundle).models[task]
    tr = entry.training
    with (bundle / f"{task}-training-log.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    epoch_s = sum(float(r["seconds"]) for r in rows)
    steps = int(tr["epochs"]) * int(tr["steps_per_epoch"])
    return {"arch": entry.arch, "input_size": entry.input_size, "steps": steps, "batch": int(tr["batch"]),
            "images_seen": steps * int(tr["batch"]), "epochs": int(tr["epochs"]), "lr": tr.get("lr"),
            "augmentation": tr.get("augmentation") is not None, "dropout": tr.get("dropout"),
            "split": tr.get("split"), "images_train": tr.get("images_train"), "best_epoch": tr.get("best_epoch"),
            "epoch_seconds": round(epoch_s, 1), "s_per_step": round(epoch_s / max(steps, 1), 2),
            "log": rows}


def evaluate_run(run: SeedRun, args: argparse.Namespace, record: dict[str, Any]) -> dict[str, Any]:
    """Score one trained run on the validation images of dev; post-processing / threshold chosen on them."""
    import numpy as np
    import report  # beside this script

    bundle = args.work / run.name
    val_ex, table, what = report.validation_examples(bundle, args.kit, args.split)
    t0 = time.perf_counter()
    scored = report._score(bundle, val_ex, table)
    if run.task == "segmenter":
        t, m, a = report.choose_postprocess(scored)
        chosen = "by Kaggle mean Dice; image score = the segmenter's max probability (no classifier)"
    else:
        t, m, a = report.choose_threshold(scored.truth_area > 0, scored.p), 0.5, 0
        chosen = "by Youden J (no mask: Dice columns do not apply)"
    figures = report._figures(scored, t, m, a)
    if run.task == "classifier":
        for key in ("kaggle_mean_dice", "mean_dice_positive", "auc_segmenter_max"):
            figures.pop(key, None)
            figures.pop(f"{key}_ci95", None)
    fixed = float(np.mean(scored.dice(0.0, 0.5, 0))) if run.task == "segmenter" else None
    return {"run": run.name, "label": run.label, "task": run.task, "blog": run.blog,
            "training": _training_summary(bundle, run.task), "command": record["command"],
            "wall_s": record["wall_s"], "resumed": record.get("resumed", False),
            "postprocess": {"classifier_threshold": t, "mask_threshold": m, "min_area_px_1024": a,
                            "chosen_on": f"{what}, {chosen}"},
            "validation": figures,
            "kaggle_mean_dice_unpostprocessed": None if fixed is None else round(fixed, 4),
            "eval_seconds": round(time.perf_counter() - t0, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def _ci(fig: dict[str, Any], key: str) -> str:
    v, ci = fig.get(key), fig.get(f"{key}_ci95")
    if v is None:
        return "—"
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{v:.3f}"


def render_table(results: list[dict[str, Any]]) -> str:
    """The markdown "Seed recipe table" from the per-run JSONs: the blog's figure beside ours, with intervals."""
    head = ("| run | blog (full SIIM, GPU) | Kaggle mean Dice, all | mean Dice, positives | AUC | sensitivity | "
            "specificity | accuracy | precision | steps × batch | wall | s/step |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for r in results:
        v, tr = r["validation"], r["training"]
        rows.append(f"| {r['label']} (`{tr['arch']}`) | {r['blog']} | {_ci(v, 'kaggle_mean_dice')} | "
                    f"{_ci(v, 'mean_dice_positive')} | {_ci(v, 'auc')} | {_ci(v, 'sensitivity')} | "
                    f"{_ci(v, 'specificity')} | {_ci(v, 'accuracy')} | {_ci(v, 'precision')} | "
                    f"{tr['steps']} × {tr['batch']} | {r['wall_s'] / 60:.0f} min | {tr['s_per_step']:.1f} |")
    if not results:
        return "No seed run has finished yet.\n"
    v0 = results[0]["validation"]
    seg = [r for r in results if r["task"] == "segmenter"]
    seg_steps = sorted({r["training"]["steps"] for r in seg})
    budget = (f"every segmenter {seg_steps[0]} steps of batch {seg[0]['training']['batch']} "
              f"({seg_steps[0] * seg[0]['training']['batch']} images seen)" if len(seg_steps) == 1
              else f"segmenter steps differ: {seg_steps}")
    note = (f"Validation images: {v0['n_images']} ({v0['n_positive']} positive), the validation part of dev "
            "(`train`'s split, seed 0, 20 %), the same for every run; the held-out test split is not used here. "
            f"Budget: {budget}; input 256², seed 0, Adam lr 1e-3 with cosine decay, one epoch at the dataset's "
            "own positive share (the final weights: no epoch picked on validation). Post-processing (segmenters: "
            "classifier threshold on the map's max probability, mask threshold, minimum area) and the classifier's "
            "threshold (Youden J) are chosen on the same validation images, so every figure here is a little "
            "optimistic, like the blog's own validation figures. 95 % bootstrap intervals over images (2,000 "
            "resamples). s/step = epoch time (validation included) / steps, on 2 shared CPU cores.")
    return f"{head}\n" + "\n".join(rows) + f"\n\n{note}\n"


def load_results(folder: Path = RESULTS) -> list[dict[str, Any]]:
    """The per-run JSONs in the order of :data:`RUNS` (unknown or missing runs are left out)."""
    order = {r.name: i for i, r in enumerate(RUNS)}
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return sorted((r for r in found if r.get("run") in order), key=lambda r: order[r["run"]])


def write_table(folder: Path = RESULTS) -> Path:
    """Write ``SEED_TABLE.md`` beside the JSONs, atomically (outside the bundle: its sha256s stay valid)."""
    sys.path.insert(0, str(ROOT))
    from pneumoviewer.io.atomic import atomic_write

    text = "# Seed recipe table (issue 10)\n\n" + render_table(load_results(folder))
    target = folder / TABLE_NAME
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return target


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kit", type=Path, required=True, help="the kit's siim-train folder")
    ap.add_argument("--split", type=Path, required=True, help="output folder of packaging/real/split.py")
    ap.add_argument("--work", type=Path, required=True, help="where the runs' bundles and logs go (never committed)")
    ap.add_argument("--steps", type=int, default=60, help="steps of batch 8 for EVERY segmenter (default 60)")
    ap.add_argument("--classifier-steps", type=int, default=60, help="steps of batch 8 for the classifier")
    ap.add_argument("--cache", default="", help="decoded-input cache prefix passed to train --cache")
    ap.add_argument("--only", choices=("train", "evaluate", "table"), default=None)
    ap.add_argument("--runs", default="", help="comma-separated run names (default: all, in table order)")
    args = ap.parse_args()
    if args.steps < EPOCHS or args.classifier_steps < EPOCHS:
        ap.error(f"--steps and --classifier-steps must be at least {EPOCHS}")
    sys.path[:0] = [str(ROOT), str(HERE)]
    wanted = [r for r in RUNS if not args.runs or r.name in args.runs.split(",")]
    args.work.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    if args.only != "table":
        for run in wanted:
            out_json = RESULTS / f"{run.name}.json"
            record = train_run(run, args) if args.only != "evaluate" else (
                json.loads((args.work / run.name / "done.json").read_text(encoding="utf-8"))
                if (args.work / run.name / "done.json").is_file() else None)
            if record is None or args.only == "train" or out_json.is_file():
                continue
            try:
                result = evaluate_run(run, args, record)
            except Exception:  # keep training the next runs; `--only evaluate` retries this one
                traceback.print_exc()
                continue
            out_json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
            print(f"{time.strftime('%H:%M:%S')} {run.name}: {json.dumps(result['validation'])}", flush=True)
    print(f"table written to {write_table()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
