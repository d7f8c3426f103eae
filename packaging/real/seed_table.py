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
``--only table`` renders ``packaging/real/seed/SEED_TABLE.md`` from those JSONs (``--card models/siim`` also puts it
into that bundle's card, through ``card.py``, and re-hashes the bundle).
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

from card import seed_recipe_table  # beside this script: the card owns how the table reads

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "seed"
TABLE_NAME = "SEED_TABLE.md"
SIZE, BATCH, SEED, EPOCHS = 256, 8, 0, 1  # one epoch: no best-epoch pick on validation, one validation pass


@dataclass(frozen=True)
class SeedRun:
    """One configuration of the blog's table, as ``pneumoviewer train`` arguments (its label and the blog's
    figure are ``card.BLOG[name]``)."""

    name: str
    task: str
    args: tuple[str, ...]
    note: str = ""  # what differs from the CLI's defaults for this architecture, shown in the table


RUNS: tuple[SeedRun, ...] = (
    SeedRun("densenet121-classifier", "classifier", ("--arch", "densenet121")),
    SeedRun("densenet121-unet", "segmenter", ("--arch", "unet-densenet121")),
    SeedRun("densenet121-unet-dropout", "segmenter", ("--arch", "unet-densenet121", "--dropout", "0.3"),
            "dropout 0.3"),
    SeedRun("densenet121-unet-noaug", "segmenter", ("--arch", "unet-densenet121", "--no-augment"),
            "--no-augment"),
    # width 16 (the CLI's `unet` default is 32): at 32 one step costs 26 s here, more than the three DenseNet
    # U-Nets' steps together, which would have cut every run's common budget by half
    SeedRun("unet", "segmenter", ("--arch", "unet", "--width", "16"), "width 16"),
)


def train_command(run: SeedRun, kit: Path, split: Path, out: Path, steps: int, cache: str,
                  resume: bool) -> list[str]:
    """The exact ``pneumoviewer train`` command of one run: ``steps`` steps of batch 8 (``EPOCHS`` epochs)."""
    per_epoch = max(1, steps // EPOCHS)
    cmd = [sys.executable, "-m", "pneumoviewer", "train", run.task, "--data", str(kit),
           "--labels", str(split / "dev-rle.csv"), "--out", str(out), *run.args, "--size", str(SIZE),
           "--batch", str(BATCH), "--epochs", str(EPOCHS), "--steps-per-epoch", str(per_epoch), "--lr", "1e-3",
           "--seed", str(SEED), "--name", f"seed-{run.name}", "--model-version", "0.1.0", "-q",
           "--no-elastic"]  # the committed runs predate elastic deformation (now on by default)
    if cache:
        cmd += ["--cache", cache]
    if resume:
        cmd.append("--resume")
    return cmd


def _env() -> dict[str, str]:
    # 2 cores: one op pool of 2 threads, no oversubscription between TF's pools and OpenMP
    return {**os.environ, "PYTHONHASHSEED": "0", "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "",
            "OMP_NUM_THREADS": "2", "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "1"}


def _portable(command: str, args: argparse.Namespace) -> str:
    """The command with this machine's folders replaced by the names the docstring uses."""
    for path, name in ((args.kit, "KIT/siim-train"), (args.split, "SPLIT"), (args.work, "WORK")):
        command = command.replace(str(path), name)
    return command.replace(args.cache, "CACHE") if args.cache else command


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
    record = {"command": _portable(" ".join(["python", *cmd[1:]]), args),
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
    return {"run": run.name, "task": run.task, "note": run.note,
            "training": _training_summary(bundle, run.task), "command": record["command"],
            "wall_s": record["wall_s"], "resumed": record.get("resumed", False),
            "postprocess": {"classifier_threshold": t, "mask_threshold": m, "min_area_px_1024": a,
                            "chosen_on": f"{what}, {chosen}"},
            "validation": figures,
            "kaggle_mean_dice_unpostprocessed": None if fixed is None else round(fixed, 4),
            "eval_seconds": round(time.perf_counter() - t0, 1),
            "load_avg": [round(x, 2) for x in os.getloadavg()]}


def load_results(folder: Path = RESULTS) -> list[dict[str, Any]]:
    """The per-run JSONs in the order of :data:`RUNS` (unknown or missing runs are left out)."""
    order = {r.name: i for i, r in enumerate(RUNS)}
    found = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
    return sorted((r for r in found if r.get("run") in order), key=lambda r: order[r["run"]])


def write_table(folder: Path = RESULTS) -> Path:
    """Write ``SEED_TABLE.md`` beside the JSONs, atomically (outside the bundle: its sha256s stay valid)."""
    sys.path.insert(0, str(ROOT))
    from pneumoviewer.io.atomic import atomic_write

    text = "# Seed recipe table (issue 10)\n\n" + seed_recipe_table(load_results(folder))
    target = folder / TABLE_NAME
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    return target


def write_card(bundle: Path, folder: Path = RESULTS) -> Path:
    """Rewrite ``bundle``'s MODEL_CARD.md with the seed recipe table, from the figures the bundle already carries
    (``real-metrics.json``, written by train_real_bundle.py), then re-hash its manifest: the card is one of the
    bundle's files, so the bundle's sha256 changes with it (its models and thresholds do not)."""
    sys.path.insert(0, str(ROOT))
    from card import model_card

    from pneumoviewer.inference.bundle import rehash
    from pneumoviewer.io.atomic import atomic_write

    metrics = json.loads((bundle / "real-metrics.json").read_text(encoding="utf-8"))
    text = model_card(bundle, metrics["siim"], metrics["demo_on_real"], load_results(folder),
                      metrics.get("segmenter_stage1"))
    with atomic_write(bundle / "MODEL_CARD.md", "w", encoding="utf-8") as fh:
        fh.write(text)
    rehash(bundle)
    return bundle / "MODEL_CARD.md"


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
    ap.add_argument("--card", type=Path, default=None, metavar="BUNDLE",
                    help="also put the table into BUNDLE's MODEL_CARD.md (e.g. models/siim) and re-hash it")
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
    if args.card is not None:
        print(f"card written to {write_card(args.card)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
