"""Losses and metrics against hand-computed values."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from pneumoviewer.training.losses import BceDiceLoss, DiceCoefficient, soft_dice, weighted_bce


def _t(a):
    return np.asarray(a, np.float32)


def test_soft_dice_known_values():
    y = _t([[[[1.0], [1.0], [0.0], [0.0]]]])  # (1, 1, 4, 1)
    p = _t([[[[1.0], [0.0], [1.0], [0.0]]]])
    # inter 1, |A|+|B| = 4: (2·1 + 1) / (4 + 1) = 0.6 with smooth 1; 0.5 with smooth 0
    assert float(soft_dice(y, p)[0]) == pytest.approx(0.6)
    assert float(soft_dice(y, p, smooth=0.0)[0]) == pytest.approx(0.5)
    assert float(soft_dice(y, y, smooth=0.0)[0]) == pytest.approx(1.0)


def test_weighted_bce_known_values():
    y = _t([[[[1.0], [0.0]]]])
    p = _t([[[[0.8], [0.4]]]])
    plain = -(math.log(0.8) + math.log(0.6)) / 2
    assert float(weighted_bce(y, p)[0]) == pytest.approx(plain, rel=1e-5)
    weighted = -(3 * math.log(0.8) + math.log(0.6)) / 2
    assert float(weighted_bce(y, p, pos_weight=3.0)[0]) == pytest.approx(weighted, rel=1e-5)


def test_bce_dice_loss_combines_with_weights():
    y = _t([[[[1.0], [1.0], [0.0], [0.0]]]])
    p = _t([[[[0.9], [0.6], [0.2], [0.1]]]])
    bce = float(weighted_bce(y, p)[0])
    dice = float(soft_dice(y, p)[0])
    assert float(BceDiceLoss(1.0, 1.0)(y, p)) == pytest.approx(bce + 1 - dice, rel=1e-5)
    assert float(BceDiceLoss(0.5, 2.0)(y, p)) == pytest.approx(0.5 * bce + 2 * (1 - dice), rel=1e-5)
    assert float(BceDiceLoss(0.0, 1.0)(y, y)) == pytest.approx(0.0, abs=1e-6)
    cfg = BceDiceLoss(0.5, 2.0, pos_weight=3.0).get_config()
    assert keras.losses.deserialize(keras.losses.serialize(BceDiceLoss.from_config(cfg))).pos_weight == 3.0


def test_dice_metric_is_per_image_kaggle_style():
    m = DiceCoefficient()
    y = np.zeros((3, 4, 4, 1), np.float32)
    p = np.zeros((3, 4, 4, 1), np.float32)
    # image 0: both empty → 1; image 1: truth 4 px, prediction 2 of them → 2·2/(4+2) = 2/3; image 2: FP only → 0
    y[1, 0, :, 0] = 1
    p[1, 0, :2, 0] = 0.9
    p[2, 3, 3, 0] = 0.7
    m.update_state(y, p)
    assert float(m.result()) == pytest.approx((1 + 2 / 3 + 0) / 3, rel=1e-5)
    m.reset_state()
    m.update_state(y[:1], p[:1])
    assert float(m.result()) == pytest.approx(1.0)
