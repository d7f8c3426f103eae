"""Kaggle SIIM mean Dice, ROC AUC, sensitivity/specificity, agreement (numpy), and the score of two SIIM CSVs.

The SIIM-ACR leaderboard metric is the mean over images of the per-image Dice coefficient, where an image whose
predicted and true masks are both empty scores 1 (so a model is rewarded for keeping negatives empty). Images in
the truth that a prediction file leaves out count as predicted empty, as on Kaggle.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pneumoviewer.io.siim_csv import RleTable

__all__ = [
    "binary_report", "cohen_kappa", "dice", "finite_or_none", "mean_dice", "roc_auc", "roc_curve", "score_csv",
]


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice = 2|P∩T| / (|P| + |T|); 1.0 when both masks are empty."""
    p = np.asarray(pred, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise ValueError(f"mask shapes differ: prediction {p.shape}, truth {t.shape}")
    total = int(np.count_nonzero(p)) + int(np.count_nonzero(t))
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(p & t)) / total


def mean_dice(pred: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]) -> tuple[float, dict[str, float]]:
    """Kaggle mean Dice over the images in `truth` and the per-image table (truth order).

    An image missing from `pred` counts as an empty prediction; predictions for images not in `truth` are ignored.
    """
    if not truth:
        raise ValueError("no ground-truth images to score")
    per_image: dict[str, float] = {}
    for image_id, t in truth.items():
        p = pred.get(image_id)
        if p is None:
            per_image[image_id] = 1.0 if not np.any(t) else 0.0
        else:
            per_image[image_id] = dice(p, t)
    return float(np.mean(list(per_image.values()))), per_image


def _binary(y_true: np.ndarray | list) -> np.ndarray:
    y = np.asarray(y_true)
    if y.dtype != np.bool_:
        values = set(np.unique(y).tolist())
        if not values <= {0, 1}:
            raise ValueError(f"labels must be 0/1 or bool, got values {sorted(values)[:5]}")
        y = y.astype(bool)
    return y.ravel()


def roc_auc(y_true: np.ndarray | list, scores: np.ndarray | list) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U), ties counted half; NaN when only one class occurs."""
    y = _binary(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    # Average 1-based ranks with ties sharing their mean rank.
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    mean_rank = first + (counts + 1) / 2.0  # 1-based average of ranks first+1 .. first+count
    ranks = np.empty_like(s)
    ranks[order] = np.repeat(mean_rank, counts)
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def roc_curve(y_true: np.ndarray | list, scores: np.ndarray | list) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) from (0, 0) to (1, 1), one vertex per distinct score; ties move diagonally, as `roc_auc` counts
    them, so the trapezoid area under these points equals `roc_auc`."""
    y = _binary(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    if s.size == 0:
        return np.zeros(1), np.zeros(1)
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), ys.size - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    n_pos, n_neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def _ratio(a: int, b: int) -> float:
    return a / b if b else math.nan


def binary_report(y_true: np.ndarray | list, scores: np.ndarray | list, threshold: float = 0.5) -> dict:
    """Confusion counts and rates with ``score >= threshold`` as positive; undefined rates are NaN."""
    y = _binary(y_true)
    s = np.asarray(scores, dtype=np.float64).ravel()
    if y.shape != s.shape:
        raise ValueError(f"{y.size} labels but {s.size} scores")
    pred = s >= threshold
    tp = int(np.count_nonzero(pred & y))
    fp = int(np.count_nonzero(pred & ~y))
    tn = int(np.count_nonzero(~pred & ~y))
    fn = int(np.count_nonzero(~pred & y))
    sens = _ratio(tp, tp + fn)
    prec = _ratio(tp, tp + fp)
    return {
        "threshold": float(threshold),
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
        "sensitivity": sens,
        "specificity": _ratio(tn, tn + fp),
        "precision": prec,
        "npv": _ratio(tn, tn + fn),
        "accuracy": _ratio(tp + tn, y.size),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


def cohen_kappa(a: np.ndarray | list, b: np.ndarray | list) -> float:
    """Cohen's kappa of two binary raters (e.g. AI vs reviewer positive calls); NaN when chance agreement is 1."""
    x = _binary(a)
    y = _binary(b)
    if x.shape != y.shape:
        raise ValueError(f"{x.size} vs {y.size} ratings")
    if x.size == 0:
        return math.nan
    po = float(np.mean(x == y))
    px, py = float(x.mean()), float(y.mean())
    pe = px * py + (1 - px) * (1 - py)
    return math.nan if pe >= 1.0 else (po - pe) / (1 - pe)


def finite_or_none(value: Any) -> Any:
    """NaN/inf → None, recursively through dicts: what JSON (and a reader of a score) can take."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    return value


def score_csv(
    pred_csv: Path,
    truth_csv: Path | RleTable,
    *,
    probs_csv: Path | None = None,
    threshold: float = 0.5,
    size: tuple[int, int] = (1024, 1024),
    sizes: dict[str, tuple[int, int]] | None = None,
    per_image_out: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The Kaggle score of mask CSV `pred_csv` against `truth_csv` (a path, or the table already read from it),
    plus AUC and friends with `probs_csv`; `per_image_out` receives the per-image table. Masks are decoded one
    image at a time (12,000 images at 1024² never sit in memory together). Raises CsvError/RleError/ValueError for
    bad input."""
    from pneumoviewer.io.siim_csv import CsvError, RleTable, read_probabilities_csv, read_rle_csv

    truth = truth_csv if isinstance(truth_csv, RleTable) else read_rle_csv(truth_csv)
    pred = read_rle_csv(pred_csv)
    if len(truth) == 0:
        raise CsvError(truth.path or "<table>", None, "no images in the ground truth")
    probs = read_probabilities_csv(probs_csv) if probs_csv is not None else None
    if probs is not None:
        missing = [i for i in truth.image_ids if i not in probs]
        if missing:
            raise CsvError(
                probs_csv, None, f"no probability for {len(missing)} ground-truth image(s), e.g. {missing[0]}"
            )
    sizes = sizes or {}
    rows: list[dict[str, Any]] = []
    ids = truth.image_ids
    for done, image_id in enumerate(ids, start=1):
        if progress is not None:
            progress(done, len(ids))
        h, w = sizes.get(image_id, size)
        t = truth.union_mask(image_id, h, w)
        p = pred.union_mask(image_id, h, w) if image_id in pred else np.zeros((h, w), dtype=bool)
        rows.append(
            {
                "image_id": image_id,
                "truth_positive": bool(t.any()),
                "pred_positive": bool(p.any()),
                "truth_pixels": int(np.count_nonzero(t)),
                "pred_pixels": int(np.count_nonzero(p)),
                "dice": dice(p, t),
                "probability": probs[image_id] if probs is not None else None,
            }
        )
    d = np.array([r["dice"] for r in rows])
    y = np.array([r["truth_positive"] for r in rows])
    mask_pos = np.array([r["pred_positive"] for r in rows])
    result: dict[str, Any] = {
        "mean_dice": float(d.mean()),
        "n_images": len(rows),
        "n_positive_truth": int(y.sum()),
        "n_negative_truth": int((~y).sum()),
        "mean_dice_positive": float(d[y].mean()) if y.any() else math.nan,
        "mean_dice_negative": float(d[~y].mean()) if (~y).any() else math.nan,
        "n_missing_from_pred": sum(1 for i in ids if i not in pred),
        "n_extra_in_pred": sum(1 for i in pred.image_ids if i not in truth),
        "mask_detection": {
            k: v
            for k, v in binary_report(y, mask_pos.astype(float), 0.5).items()
            if k in ("sensitivity", "specificity", "precision", "accuracy")
        },
    }
    if probs is not None:
        scores = np.array([r["probability"] for r in rows], dtype=float)
        rep = binary_report(y, scores, threshold)
        result.update(
            {
                "auc": roc_auc(y, scores),
                "threshold": threshold,
                "sensitivity": rep["sensitivity"],
                "specificity": rep["specificity"],
                "precision": rep["precision"],
                "accuracy": rep["accuracy"],
                "confusion": {k: rep[k] for k in ("tp", "fp", "tn", "fn")},
            }
        )
    if per_image_out is not None:
        _write_table(per_image_out, rows)
    return finite_or_none(result)


def _write_table(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    from pneumoviewer.io.atomic import atomic_write

    cols = ["image_id", "truth_positive", "pred_positive", "truth_pixels", "pred_pixels", "dice", "probability"]
    with atomic_write(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(cols)
        for r in rows:
            writer.writerow(
                [
                    r["image_id"],
                    int(r["truth_positive"]),
                    int(r["pred_positive"]),
                    r["truth_pixels"],
                    r["pred_pixels"],
                    f"{r['dice']:.6f}",
                    "" if r["probability"] is None else f"{r['probability']:.6f}",
                ]
            )
