#!/usr/bin/env python3
"""Evaluate a model bundle on the real-data kit: choose post-processing on validation, report on held-out test.

Never chooses anything on the images it reports: the classifier threshold, the mask threshold and the minimum
component area (the Kaggle 4th-place post-process "empty if p < t or total mask area < a") are picked by Kaggle
mean Dice on the *validation* images of the bundle's own training split (re-derived exactly as ``train`` derives
it, from the manifest's seed and fraction), then applied once to the held-out ``test-rle.csv`` of
``packaging/real/split.py``. Figures come with 95 % bootstrap intervals (2,000 image resamples, fixed seed).

Also measures two things a reader of the figures must know:
- **codec confound**: the same test images re-encoded identically (JPEG quality 75 at full size) → classifier AUC
  again; if it moves a lot, the model was reading compression, not lungs;
- **source confound**: every positive in the kit is a SIIM image and every negative an NIH one, so AUC mixes
  pathology with source; the stage-2 positive rate from ``pneumoviewer predict`` (SIIM's is about 22 %) is the
  check against a model that calls every SIIM film positive.

    .venv/bin/python packaging/real/report.py BUNDLE --kit KIT/siim-train --split SPLIT [--json OUT.json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

T_GRID = (0.0, *np.round(np.arange(0.05, 0.951, 0.05), 2))
M_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
A_GRID = (0, 256, 512, 1024, 2048, 4096)  # px at 1024²
N_BOOT = 2000


def _components(binary: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per connected component of ``binary``: (area, pixels also in ``truth``)."""
    from scipy import ndimage

    labels, n = ndimage.label(binary)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    area = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    inter = np.bincount(labels.ravel(), weights=truth.ravel().astype(np.float64), minlength=n + 1)[1:]
    return area.astype(np.int64), inter.astype(np.int64)


def _dice(pred_area: int, truth_area: int, inter: int) -> float:
    if pred_area == 0 and truth_area == 0:
        return 1.0
    return 2.0 * inter / (pred_area + truth_area)


class Scored:
    """Everything needed to score any (t, m, a) on a set of images without re-running the networks."""

    def __init__(self, ids: list[str], p: np.ndarray, truth_area: np.ndarray,
                 comps: dict[float, list[tuple[np.ndarray, np.ndarray]]], seg_max: np.ndarray) -> None:
        self.ids, self.p, self.truth_area, self.comps, self.seg_max = ids, p, truth_area, comps, seg_max

    def dice(self, t: float, m: float, a: int) -> np.ndarray:
        out = np.empty(len(self.ids))
        for k, (area, inter) in enumerate(self.comps[m]):
            keep = area >= a  # components smaller than the minimum area are removed one by one
            pa, pi = int(area[keep].sum()), int(inter[keep].sum())
            if self.p[k] < t or pa == 0:
                pa, pi = 0, 0
            out[k] = _dice(pa, int(self.truth_area[k]), pi)
        return out


def _score(bundle: Path, examples: list[Any], table: Any, reencode: bool = False) -> Scored:
    from PIL import Image

    from pneumoviewer.inference.backend import make_predictor
    from pneumoviewer.inference.bundle import load_bundle
    from pneumoviewer.inference.preprocess import preprocess_image, resize_probability
    from pneumoviewer.io.dicom import load_image

    b = load_bundle(bundle)
    cfg = b.manifest.config
    # a bundle of one model is scored too (the seed table's runs): without a classifier the image score is the
    # segmenter's max probability; without a segmenter every mask is empty (classification figures only)
    cls = make_predictor(b.models["classifier"]) if "classifier" in b.models else None
    seg = make_predictor(b.models["segmenter"]) if "segmenter" in b.models else None
    ids, ps, tareas, smax = [], [], [], []
    comps: dict[float, list[tuple[np.ndarray, np.ndarray]]] = {m: [] for m in M_GRID}
    for ex in examples:
        display = np.asarray(load_image(ex.path).display, np.float32)
        if reencode:
            buf = io.BytesIO()
            Image.fromarray(np.round(display * 255).astype(np.uint8)).save(buf, "JPEG", quality=75)
            display = np.asarray(Image.open(buf), np.float32) / 255.0
        h, w = display.shape
        if seg is not None:
            prob = resize_probability(seg(preprocess_image(display, cfg.segmenter_size)[None])[0], h, w)
        else:
            prob = np.zeros((h, w), np.float32)
        ps.append(float(cls(preprocess_image(display, cfg.classifier_size)[None])[0, 0]) if cls is not None
                  else float(prob.max()))
        truth = table.union_mask(ex.image_id, h, w).astype(bool)
        ids.append(ex.image_id)
        tareas.append(int(truth.sum()))
        smax.append(float(prob.max()))
        scale = (h * w) / 1024.0**2
        for m in M_GRID:
            area, inter = _components(prob >= m, truth)
            comps[m].append((np.round(area / scale).astype(np.int64) if scale != 1 else area, inter))
    return Scored(ids, np.array(ps), np.array(tareas), comps, np.array(smax))


def _bootstrap(values: dict[str, Any], n: int, fn: Any, seed: int = 7) -> tuple[float, float] | None:
    """95 % percentile interval of ``fn`` over image resamples; None where no resample defines it (e.g. the
    precision of a model that never calls positive)."""
    rng = np.random.default_rng(seed)
    stats = []
    size = len(next(iter(values.values())))
    for _ in range(n):
        idx = rng.integers(0, size, size)
        v = fn({k: np.asarray(x)[idx] for k, x in values.items()})
        if np.isfinite(v):
            stats.append(v)
    if not stats:
        return None
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return round(float(lo), 4), round(float(hi), 4)


def _figures(s: Scored, t: float, m: float, a: int) -> dict[str, Any]:
    from pneumoviewer.metrics import binary_report, finite_or_none, roc_auc

    y = s.truth_area > 0
    d = s.dice(t, m, a)
    vals = {"y": y, "p": s.p, "d": d}

    def kaggle(v: dict) -> float:
        return float(np.mean(v["d"]))

    def dpos(v: dict) -> float:
        return float(np.mean(v["d"][v["y"]])) if v["y"].any() else float("nan")

    def auc(v: dict) -> float:
        return roc_auc(v["y"], v["p"]) if 0 < v["y"].sum() < len(v["y"]) else float("nan")

    def sens(v: dict) -> float:
        return binary_report(v["y"], v["p"], t)["sensitivity"]

    def spec(v: dict) -> float:
        return binary_report(v["y"], v["p"], t)["specificity"]

    out: dict[str, Any] = {"n_images": len(y), "n_positive": int(y.sum())}
    def acc(v: dict) -> float:
        return binary_report(v["y"], v["p"], t)["accuracy"]

    def prec(v: dict) -> float:
        return binary_report(v["y"], v["p"], t)["precision"]

    for name, fn in (("kaggle_mean_dice", kaggle), ("mean_dice_positive", dpos), ("auc", auc),
                     ("sensitivity", sens), ("specificity", spec), ("accuracy", acc), ("precision", prec)):
        out[name] = finite_or_none(round(float(fn(vals)), 4))
        out[name + "_ci95"] = _bootstrap(vals, N_BOOT, fn)
    out["auc_segmenter_max"] = round(roc_auc(y, s.seg_max), 4) if 0 < y.sum() < len(y) else None
    out["all_empty_kaggle_dice"] = round(float(np.mean(~y)), 4)
    return out


def validation_examples(bundle: Path, kit: Path, split: Path) -> tuple[list[Any], Any, str]:
    """The validation images of ``bundle``'s own training split of dev, re-derived exactly as ``train`` derives it
    (seed and fraction from the manifest); returns (examples, label table, what the split was)."""
    from pneumoviewer.inference.bundle import read_manifest
    from pneumoviewer.training.data import collect_examples
    from pneumoviewer.training.split import patient_split

    man = read_manifest(bundle)
    training = (man.models.get("segmenter") or next(iter(man.models.values()))).training
    split_text = str(training.get("split", "seed 0, val_fraction 0.2"))
    seed = int(split_text.split("seed ")[1].split(",")[0])
    frac = float(split_text.split("val_fraction ")[1].split()[0])
    dev = collect_examples(kit, split / "dev-rle.csv")
    by_id = {e.image_id: e for e in dev.examples}
    sp = patient_split([e.image_id for e in dev.examples], {e.image_id: e.patient_key for e in dev.examples},
                       {e.image_id: e.positive for e in dev.examples}, frac, seed)
    val_ex = [by_id[i] for i in sp.val]
    return val_ex, dev.table, f"validation split of the bundle ({len(val_ex)} images, seed {seed}, fraction {frac})"


def choose_postprocess(val: Scored) -> tuple[float, float, int]:
    """(classifier threshold, mask threshold, min area) with the best Kaggle mean Dice on ``val``."""
    _, t, m, a = max((float(np.mean(val.dice(t, m, a))), t, m, a) for t in T_GRID for m in M_GRID for a in A_GRID)
    return float(t), float(m), int(a)


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Classifier-only threshold: the grid value with the best Youden J (sensitivity + specificity - 1); ties go to
    the lower threshold. Used where no mask exists to score (a classifier trained alone)."""
    from pneumoviewer.metrics import binary_report

    def j(t: float) -> float:
        r = binary_report(y, p, t)
        return r["sensitivity"] + r["specificity"] - 1.0

    return float(max(T_GRID[1:], key=lambda t: (j(t), -t)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--kit", type=Path, required=True, help="the kit's siim-train folder")
    ap.add_argument("--split", type=Path, required=True, help="output folder of packaging/real/split.py")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--fixed", default=None, metavar="T,M,A",
                    help="skip the validation search and use these thresholds (e.g. the bundle's own)")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

    from pneumoviewer.inference.bundle import read_manifest
    from pneumoviewer.training.data import collect_examples

    t0 = time.time()
    man = read_manifest(args.bundle)
    test = collect_examples(args.kit, args.split / "test-rle.csv")

    report: dict[str, Any] = {"bundle": str(args.bundle.name), "model": f"{man.config.name} {man.config.version}",
                              "synthetic": man.config.synthetic}
    if args.fixed:
        t, m, a = (float(x) for x in args.fixed.split(","))
        choice = {"classifier_threshold": t, "mask_threshold": m, "min_area_px_1024": int(a),
                  "chosen_on": "fixed by --fixed (not searched)"}
    else:
        val_ex, table, what = validation_examples(args.bundle, args.kit, args.split)
        val = _score(args.bundle, val_ex, table)
        t, m, a = choose_postprocess(val)
        choice = {"classifier_threshold": t, "mask_threshold": m, "min_area_px_1024": a,
                  "chosen_on": f"{what}, by Kaggle mean Dice"}
        report["validation"] = _figures(val, t, m, a)
    report["postprocess"] = choice
    t, m, a = choice["classifier_threshold"], choice["mask_threshold"], choice["min_area_px_1024"]
    scored = _score(args.bundle, test.examples, test.table)
    report["test"] = _figures(scored, t, m, a)
    recoded = _score(args.bundle, test.examples, test.table, reencode=True)
    report["test_reencoded_jpeg75"] = {k: v for k, v in _figures(recoded, t, m, a).items()
                                       if k in ("auc", "auc_ci95", "kaggle_mean_dice", "mean_dice_positive")}
    report["seconds"] = round(time.time() - t0, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
