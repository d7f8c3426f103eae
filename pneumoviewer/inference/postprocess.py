"""Turning a segmenter's probability map into a reviewable mask (numpy/scipy only)."""

from __future__ import annotations

import numpy as np

from pneumoviewer.core.components import remove_small_components


def binarize(prob: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """Threshold a probability map (``>= threshold``) and remove 8-connected components below ``min_area`` pixels
    (the same component filter as the editor's islands tool)."""
    return remove_small_components(np.asarray(prob) >= threshold, min_area)
