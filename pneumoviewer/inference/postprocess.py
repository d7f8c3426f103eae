"""Turning a segmenter's probability map into a reviewable mask (numpy/scipy only)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def remove_small_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """Drop 8-connected components with fewer than ``min_area`` pixels; returns a new bool mask."""
    m = np.asarray(mask, dtype=bool)
    if min_area <= 1 or not m.any():
        return m.copy()
    labels, _ = ndimage.label(m, structure=np.ones((3, 3), dtype=bool))
    areas = np.bincount(labels.ravel())
    keep = areas >= min_area
    keep[0] = False
    return keep[labels]


def binarize(prob: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """Threshold a probability map (``>= threshold``) and remove components below ``min_area`` pixels."""
    return remove_small_components(np.asarray(prob) >= threshold, min_area)
