"""Segmentation loss (weighted BCE + soft Dice) and a Dice metric, registered so checkpoints reload by name.

Bundles are saved uncompiled, so inference never needs these; training checkpoints (for ``--resume``) do.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

_EPS = 1e-7


def soft_dice(y_true: Any, y_pred: Any, smooth: float = 1.0) -> Any:
    """Per-sample soft Dice (2|A·B| + s) / (|A| + |B| + s) over H, W, C; shape (batch,)."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    axes = tuple(range(1, len(y_pred.shape)))
    inter = ops.sum(y_true * y_pred, axis=axes)
    denom = ops.sum(y_true, axis=axes) + ops.sum(y_pred, axis=axes)
    return (2.0 * inter + smooth) / (denom + smooth)


def weighted_bce(y_true: Any, y_pred: Any, pos_weight: float = 1.0) -> Any:
    """Per-sample mean binary cross-entropy with positive pixels weighted by ``pos_weight``; shape (batch,)."""
    y_true = ops.cast(y_true, "float32")
    p = ops.clip(ops.cast(y_pred, "float32"), _EPS, 1.0 - _EPS)
    ll = -(pos_weight * y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
    axes = tuple(range(1, len(y_pred.shape)))
    return ops.mean(ll, axis=axes)


@keras.saving.register_keras_serializable(package="pneumoviewer")
class BceDiceLoss(keras.losses.Loss):
    """``bce_weight · weighted BCE + dice_weight · (1 − soft Dice)``, averaged over the batch."""

    def __init__(
        self,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
        pos_weight: float = 1.0,
        smooth: float = 1.0,
        name: str = "bce_dice",
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.bce_weight = float(bce_weight)
        self.dice_weight = float(dice_weight)
        self.pos_weight = float(pos_weight)
        self.smooth = float(smooth)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        loss = 0.0
        if self.bce_weight:
            loss = loss + self.bce_weight * weighted_bce(y_true, y_pred, self.pos_weight)
        if self.dice_weight:
            loss = loss + self.dice_weight * (1.0 - soft_dice(y_true, y_pred, self.smooth))
        return loss

    def get_config(self) -> dict[str, Any]:
        cfg = super().get_config()
        cfg.update(bce_weight=self.bce_weight, dice_weight=self.dice_weight, pos_weight=self.pos_weight,
                   smooth=self.smooth)
        return cfg


def mask_present(y_true: Any) -> Any:
    """Per-sample target of the empty-mask branch: 1 when the truth mask has any pixel (≥ 0.5), else 0; (batch, 1).

    The same binarisation as :class:`DiceCoefficient`, applied to the mask the model is trained on (after
    resizing and augmentation), so the branch learns exactly what the mask head is asked to draw.
    """
    y = ops.cast(y_true, "float32")
    flat = ops.reshape(y, (ops.shape(y)[0], -1))
    return ops.cast(ops.max(flat, axis=1, keepdims=True) >= 0.5, "float32")


class EmptyBranchLoss:
    """Per-sample ``mask_loss(mask) + empty_weight · BCE(mask present, P(non-empty))`` of a two-output segmenter.

    The SIIM 4th-place deep supervision: ``BceDiceLoss(2.7, 0.9)`` with ``empty_weight = 0.1``. Only training uses
    it (bundles are saved uncompiled, and the loss is never attached to the model), so it is not serialisable.
    """

    def __init__(self, mask_loss: keras.losses.Loss, empty_weight: float) -> None:
        self.mask_loss = mask_loss
        self.empty_weight = float(empty_weight)

    def __call__(self, y_true: Any, y_pred: Any) -> Any:
        mask, p_non_empty = y_pred
        return (self.mask_loss(y_true, mask)
                + self.empty_weight * weighted_bce(mask_present(y_true), p_non_empty))


@keras.saving.register_keras_serializable(package="pneumoviewer")
class DiceCoefficient(keras.metrics.Metric):
    """Mean per-image Dice of the thresholded prediction; an image with empty truth and prediction scores 1.

    This is the Kaggle SIIM definition (per image, then averaged), so the validation figure tracks the leaderboard
    metric rather than a pixel-pooled Dice dominated by large masks.
    """

    def __init__(self, threshold: float = 0.5, name: str = "dice", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.threshold = float(threshold)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        t = ops.cast(ops.cast(y_true, "float32") >= 0.5, "float32")
        p = ops.cast(ops.cast(y_pred, "float32") >= self.threshold, "float32")
        axes = tuple(range(1, len(y_pred.shape)))
        inter = ops.sum(t * p, axis=axes)
        denom = ops.sum(t, axis=axes) + ops.sum(p, axis=axes)
        per = ops.where(denom > 0, 2.0 * inter / ops.maximum(denom, 1.0), ops.ones_like(denom))
        w = ops.ones_like(per) if sample_weight is None else ops.reshape(ops.cast(sample_weight, "float32"), (-1,))
        self.total.assign_add(ops.sum(per * w))  # weight 0: validation padding, not counted
        self.count.assign_add(ops.sum(w))

    def result(self) -> Any:
        return ops.divide_no_nan(self.total, self.count)

    def reset_state(self) -> None:
        self.total.assign(0.0)
        self.count.assign(0.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


def classifier_metrics() -> list[Any]:
    return [
        keras.metrics.BinaryAccuracy(name="accuracy"),
        keras.metrics.Precision(name="precision"),
        keras.metrics.Recall(name="recall"),
        keras.metrics.AUC(name="auc"),
    ]


def segmenter_metrics() -> list[Any]:
    return [DiceCoefficient(name="dice")]


def empty_branch_metrics() -> list[Any]:
    """Of the empty-mask branch, against :func:`mask_present`: logged as ``empty_auc`` (``val_empty_auc``)."""
    return [keras.metrics.AUC(name="empty_auc")]
