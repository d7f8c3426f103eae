"""Kaggle mean Dice and classification metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pneumoviewer.metrics import binary_report, cohen_kappa, dice, mean_dice, roc_auc


def test_dice_known_values() -> None:
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    assert dice(a, b) == 1.0  # both empty
    a[0, :2] = True  # 2 px
    assert dice(a, b) == 0.0
    b[0, 1:4] = True  # 3 px, overlap 1
    assert dice(a, b) == pytest.approx(2 * 1 / 5)
    assert dice(a, a) == 1.0
    with pytest.raises(ValueError, match="shapes differ"):
        dice(a, np.zeros((3, 3), bool))


def test_mean_dice_missing_prediction_counts_as_empty() -> None:
    pos = np.zeros((3, 3), bool)
    pos[1, 1] = True
    empty = np.zeros((3, 3), bool)
    truth = {"a": pos, "b": empty, "c": empty, "d": pos}
    pred = {"a": pos, "b": pos, "extra": pos}  # c, d missing; extra ignored
    score, table = mean_dice(pred, truth)
    assert table == {"a": 1.0, "b": 0.0, "c": 1.0, "d": 0.0}
    assert score == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mean_dice(pred, {})


def test_auc_known_values_and_ties() -> None:
    assert roc_auc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc([0, 1], [0.5, 0.5]) == 0.5  # a tie counts half
    # pairs (pos, neg): pos .8 vs negs .1 .4 .8 -> 1 + 1 + .5; pos .35 vs -> 1 + 0 + 0
    assert roc_auc([1, 0, 0, 1, 0], [0.8, 0.1, 0.4, 0.35, 0.8]) == pytest.approx(3.5 / 6)
    assert math.isnan(roc_auc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        roc_auc([0, 1], [0.1])


def test_auc_matches_pairwise_definition() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(40) < 0.3
        if y.all() or not y.any():
            continue
        s = np.round(rng.random(40), 1)  # many ties
        pos, neg = s[y], s[~y]
        diff = pos[:, None] - neg[None, :]
        expected = ((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size
        assert roc_auc(y, s) == pytest.approx(expected)


def test_binary_report_known_values() -> None:
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    s = [0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.5, 0.5]  # >= .5: tp 3 (0.9, 0.6, 0.5), fp 2 (0.7, 0.5), fn 1, tn 2
    r = binary_report(y, s, 0.5)
    assert (r["tp"], r["fp"], r["tn"], r["fn"]) == (3, 2, 2, 1)
    assert r["sensitivity"] == pytest.approx(0.75)
    assert r["specificity"] == pytest.approx(0.5)
    assert r["precision"] == pytest.approx(0.6)
    assert r["accuracy"] == pytest.approx(5 / 8)
    r2 = binary_report(y, s, 0.95)
    assert r2["tp"] == 0 and math.isnan(r2["precision"]) and r2["specificity"] == 1.0


def test_cohen_kappa() -> None:
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == -1.0
    # po = .75, px = .5, py = .25 -> pe = .125 + .375 = .5 -> kappa = .5
    assert cohen_kappa([1, 1, 0, 0], [1, 0, 0, 0]) == pytest.approx(0.5)
