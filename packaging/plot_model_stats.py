"""Draw one PNG of dataset and model statistics for the shipped demo model bundle.

Why a script: the README shows how the demo model was trained and how it scores on held-out phantom images; the
picture is derived from the training logs in models/demo/ and a held-out prediction run, so it is regenerated here
instead of being edited by hand. matplotlib is not a project dependency, so this draws with Pillow + numpy
(`pneumoviewer.charts`).

Panels (2 x 2): classifier training curves (train/val loss, val AUC), segmenter training curves (train/val loss,
val Dice), ROC curve of held-out probabilities (AUC in the legend), and the probability histogram of positives vs
negatives with the manifest's classifier threshold.

Usage (from the repository root, with the project's environment):

    .venv/bin/python packaging/plot_model_stats.py --probs test-probs.csv --truth phantom-test/train-rle.csv

Prints one JSON object (auc, n_pos, n_neg, final validation metrics) to stdout.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pneumoviewer.charts import (
    BLUE,
    GREEN,
    GREY,
    INK,
    ORANGE,
    RED,
    SCALE,
    Axes,
    draw_placeholder,
    font,
    save_png,
)
from pneumoviewer.metrics import roc_curve

ROOT = Path(__file__).resolve().parents[1]
MODEL_DIR = ROOT / "models" / "demo"
DEFAULT_OUT = ROOT / "resources" / "docs" / "demo_model_stats.png"
TITLE = "PneumoViewer demo model — SYNTHETIC phantom data, not for clinical use"


class StatsError(ValueError):
    """Bad input file: the message names the file (and line where it applies)."""


# ---------------------------------------------------------------------------------------------------------------
# Inputs


def read_log(path: Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    """Per-epoch Keras CSV log → {column: float array}; StatsError naming file and line on bad rows/missing columns."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise StatsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    reader = csv.DictReader(text.splitlines())
    names = [n.strip() for n in (reader.fieldnames or [])]
    missing = [c for c in required if c not in names]
    if missing:
        raise StatsError(f"{path}: line 1: missing column(s) {', '.join(missing)} (header: {', '.join(names)})")
    cols: dict[str, list[float]] = {n: [] for n in names}
    for row in reader:
        line = reader.line_num
        for key, value in row.items():
            if key is None:
                raise StatsError(f"{path}: line {line}: more fields than the header")
            try:
                cols[key.strip()].append(float(value) if value not in (None, "") else math.nan)
            except ValueError:
                raise StatsError(f"{path}: line {line}: {key.strip()}={value!r} is not a number") from None
    out = {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}
    if not out[required[0]].size:
        raise StatsError(f"{path}: no epochs")
    return out


def read_threshold(manifest: Path) -> float:
    """The bundle's classifier probability threshold (thresholds.classifier_probability in manifest.json)."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return float(data["thresholds"]["classifier_probability"])
    except OSError as exc:
        raise StatsError(f"{manifest}: cannot read: {exc.strerror or exc}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StatsError(f"{manifest}: no usable thresholds.classifier_probability ({exc})") from None


def read_heldout(probs: Path, truth: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(labels bool, scores, n_extra_probs) for every image in the truth CSV; every one must have a probability."""
    from pneumoviewer.io.siim_csv import read_probabilities_csv, read_rle_csv

    prob = read_probabilities_csv(probs)
    table = read_rle_csv(truth)
    ids = list(table.image_ids)
    if not ids:
        raise StatsError(f"{truth}: no images")
    lacking = [i for i in ids if i not in prob]
    if lacking:
        raise StatsError(f"{probs}: no probability for {len(lacking)} of {len(ids)} images in {truth}")
    y = np.array([table.is_positive(i) for i in ids], dtype=bool)
    s = np.array([prob[i] for i in ids], dtype=np.float64)
    return y, s, len(set(prob) - set(ids))


# ---------------------------------------------------------------------------------------------------------------
# Drawing


def _padded(values: Sequence[np.ndarray], pad: float = 0.06, floor: float | None = None,
            ceil: float | None = None) -> tuple[float, float]:
    v = np.concatenate([np.asarray(a, float).ravel() for a in values])
    v = v[np.isfinite(v)]
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
    span = hi - lo or max(abs(hi), 1.0) * 0.1
    lo, hi = lo - span * pad, hi + span * pad
    if floor is not None:
        lo = max(lo, floor)
    if ceil is not None:
        hi = min(hi, ceil)
    return lo, hi


def _epoch_ticks(epochs: np.ndarray) -> list[float]:
    n = int(np.nanmax(epochs))
    step = max(1, math.ceil(n / 10))
    return [float(e) for e in range(1, n + 1, step)]


def draw_training(ax: Axes, log: dict[str, np.ndarray], title: str, metric: str, metric_label: str,
                  metric_range: tuple[float, float] | None = None, legend: str = "ur") -> None:
    """Train/val loss on the left axis, validation ``metric`` on the right axis, per epoch."""
    ep = log["epoch"]
    xlim = (float(ep.min()) - 0.3, float(ep.max()) + 0.3)
    y2 = metric_range or _padded([log[metric]], 0.15, 0.0, 1.0)
    ax.set_limits(xlim, _padded([log["loss"], log["val_loss"]], 0.08, floor=0.0), y2)
    ax.frame(title, "epoch", "loss", f"validation {metric_label}", GREEN, xticks=_epoch_ticks(ep))
    ax.plot(ep, log["loss"], BLUE, "train loss", markers=True)
    ax.plot(ep, log["val_loss"], ORANGE, "val loss", markers=True)
    ax.plot(ep, log[metric], GREEN, f"val {metric_label} (right axis)", dashed=True, right=True, markers=True)
    ax.legend(legend)


def render(cls_log: dict[str, np.ndarray], seg_log: dict[str, np.ndarray], dice_col: str,
           heldout: tuple[np.ndarray, np.ndarray] | None, auc: float, threshold: float,
           size: tuple[int, int] = (1400, 900)) -> Image.Image:
    """The 2 x 2 figure as an RGB image of ``size``."""
    w, h = size
    canvas = Image.new("RGB", (w * SCALE, h * SCALE), "white")
    draw = ImageDraw.Draw(canvas)
    top = 56
    draw.text((w * SCALE / 2, 20 * SCALE), TITLE, font=font(20, bold=True), fill=INK, anchor="ma")
    pw, ph = w // 2, (h - top) // 2
    boxes = [(c * pw, top + r * ph, (c + 1) * pw, top + (r + 1) * ph) for r in range(2) for c in range(2)]
    axes = [Axes(draw, canvas, b) for b in boxes]

    draw_training(axes[0], cls_log, "Classifier training", "val_auc", "AUC")
    draw_training(axes[1], seg_log, "Segmenter training", dice_col, "Dice", (0.0, 1.0), legend="mr")

    if heldout is None:
        draw_placeholder(axes[2], "ROC (held-out)", "no --probs/--truth given")
        draw_placeholder(axes[3], "Probability histogram (held-out)", "no --probs/--truth given")
    else:
        y, s = heldout
        n_pos, n_neg = int(y.sum()), int((~y).sum())
        roc = axes[2]
        roc.set_limits((0.0, 1.0), (0.0, 1.0))
        roc.frame(f"ROC, held-out images ({n_pos} pos / {n_neg} neg)", "false positive rate (1 − specificity)",
                  "true positive rate (sensitivity)")
        roc.plot(np.array([0.0, 1.0]), np.array([0.0, 1.0]), GREY, "chance", width=1, dashed=True)
        fpr, tpr = roc_curve(y, s)
        roc.plot(fpr, tpr, BLUE, f"classifier (AUC = {auc:.3f})", width=3)
        if n_pos and n_neg:
            pred = s >= threshold
            sens, fp_rate = float(pred[y].mean()), float(pred[~y].mean())
            (px, py), = roc.to_px(np.array([fp_rate]), np.array([sens]))
            r = 6 * SCALE
            draw.ellipse([px - r, py - r, px + r, py + r], fill=RED, outline=INK)
            roc.legend_items.append((f"threshold {threshold:g}: sens {sens:.2f}, spec {1 - fp_rate:.2f}", RED, "dot"))
        roc.legend("lr")

        hist = axes[3]
        edges = np.linspace(0.0, 1.0, 21)
        hp = np.histogram(s[y], edges)[0] / max(n_pos, 1)
        hn = np.histogram(s[~y], edges)[0] / max(n_neg, 1)
        top_y = max(float(hp.max(initial=0)), float(hn.max(initial=0)), 0.05) * 1.12
        hist.set_limits((0.0, 1.0), (0.0, top_y))
        hist.frame("Predicted probability, held-out images", "classifier probability",
                   "fraction of class per bin", xticks=[i / 10 for i in range(11)])
        bw = edges[1] - edges[0]
        hist.bars(edges[:-1] + bw * 0.06, bw * 0.44, hn, BLUE, f"negatives (n={n_neg})")
        hist.bars(edges[:-1] + bw * 0.5, bw * 0.44, hp, ORANGE, f"positives (n={n_pos})")
        hist.plot(np.array([threshold, threshold]), np.array([0.0, top_y]), RED, f"threshold {threshold:g}",
                  width=2, dashed=True)
        hist.legend("ur")

    return canvas.resize((w, h), Image.Resampling.LANCZOS)


# ---------------------------------------------------------------------------------------------------------------


def _last_finite(a: np.ndarray) -> float | None:
    ok = np.flatnonzero(np.isfinite(a))
    return round(float(a[ok[-1]]), 6) if ok.size else None


def _json_number(v: object) -> object:
    """Floats rounded for the summary; NaN (undefined rate) becomes null so the output stays strict JSON."""
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v


def _dice_column(names: Sequence[str], path: Path) -> str:
    for cand in ("val_dice", "val_dice_coef", "val_dice_coefficient"):
        if cand in names:
            return cand
    others = [n for n in names if n.startswith("val_") and "dice" in n]
    if others:
        return others[0]
    raise StatsError(f"{path}: line 1: no validation Dice column (header: {', '.join(names)})")


def build_parser() -> argparse.ArgumentParser:
    """Command-line options; every path has a default inside the repository except the held-out CSVs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classifier-log", type=Path, default=MODEL_DIR / "classifier-training-log.csv")
    p.add_argument("--segmenter-log", type=Path, default=MODEL_DIR / "segmenter-training-log.csv")
    p.add_argument("--manifest", type=Path, default=MODEL_DIR / "manifest.json",
                   help="bundle manifest (thresholds.classifier_probability)")
    p.add_argument("--probs", type=Path, help="held-out predictions CSV: ImageId,probability")
    p.add_argument("--truth", type=Path, help="held-out ground truth, SIIM RLE CSV (positive = any row not -1)")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--width", type=int, default=1400)
    p.add_argument("--height", type=int, default=900)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Read the logs (and held-out predictions), write the PNG, print the JSON summary; 2 on bad input."""
    args = build_parser().parse_args(argv)
    if (args.probs is None) != (args.truth is None):
        print("error: --probs and --truth go together", file=sys.stderr)
        return 2
    from pneumoviewer.io.siim_csv import CsvError
    from pneumoviewer.metrics import binary_report, roc_auc

    try:
        cls_log = read_log(args.classifier_log, ["epoch", "loss", "val_loss", "val_auc"])
        seg_log = read_log(args.segmenter_log, ["epoch", "loss", "val_loss"])
        dice_col = _dice_column(list(seg_log), args.segmenter_log)
        threshold = read_threshold(args.manifest)
        heldout = None
        extra = 0
        if args.probs is not None:
            y, s, extra = read_heldout(args.probs, args.truth)
            heldout = (y, s)
    except (StatsError, CsvError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    auc = roc_auc(heldout[0], heldout[1]) if heldout is not None else math.nan
    img = render(cls_log, seg_log, dice_col, heldout, auc, threshold, (args.width, args.height))
    nbytes = save_png(img, args.out)

    summary: dict[str, object] = {
        "out": str(args.out),
        "bytes": nbytes,
        "size": [img.width, img.height],
        "auc": None if math.isnan(auc) else round(auc, 6),
        "n_pos": int(heldout[0].sum()) if heldout is not None else None,
        "n_neg": int((~heldout[0]).sum()) if heldout is not None else None,
        "threshold": threshold,
        "classifier": {
            "epochs": int(cls_log["epoch"].size),
            "final_val_loss": _last_finite(cls_log["val_loss"]),
            "final_val_auc": _last_finite(cls_log["val_auc"]),
            "best_val_auc": _json_number(float(np.nanmax(cls_log["val_auc"]))),
        },
        "segmenter": {
            "epochs": int(seg_log["epoch"].size),
            "final_val_loss": _last_finite(seg_log["val_loss"]),
            "final_val_dice": _last_finite(seg_log[dice_col]),
            "best_val_dice": _json_number(float(np.nanmax(seg_log[dice_col]))),
        },
    }
    if heldout is not None:
        report = binary_report(heldout[0], heldout[1], threshold=threshold)
        summary["at_threshold"] = {k: _json_number(v) for k, v in report.items()}
        summary["probs_without_truth"] = extra
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
