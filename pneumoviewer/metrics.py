"""Kaggle SIIM mean Dice, ROC AUC, sensitivity/specificity, agreement (numpy only).

The SIIM-ACR leaderboard metric is the mean over images of the per-image Dice coefficient, where an image whose
predicted and true masks are both empty scores 1 (so a model is rewarded for keeping negatives empty). Images in
the truth that a prediction file leaves out count as predicted empty, as on Kaggle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["binary_report", "cohen_kappa", "dice", "mean_dice", "roc_auc", "roc_curve"]


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
