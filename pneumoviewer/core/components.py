"""Connected components of a binary mask: the one labelling and min-area filter that editing (islands tool) and
inference (post-processing) share, so "a component" and "too small" mean the same in both.

8-connectivity by default, as the SIIM instances (one training-CSV row per 8-connected component).
"""

from __future__ import annotations

import numpy as np

#: 1 = 4-connectivity (edges), 2 = 8-connectivity (edges and corners), as scikit-image counts it.
STRUCTURES: dict[int, np.ndarray] = {
    1: np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool),
    2: np.ones((3, 3), dtype=bool),
}


def label_components(mask: np.ndarray, connectivity: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(labels, sizes): each component's label image and the pixel count per label; ``sizes[0]`` (the background)
    is set to 0."""
    from scipy import ndimage  # ~0.4 s to import: paid on first use, not by the window's cold start

    labels, n = ndimage.label(np.asarray(mask, dtype=bool), structure=STRUCTURES[connectivity])
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    return labels, sizes


def remove_small_components(mask: np.ndarray, min_area: int, connectivity: int = 2) -> np.ndarray:
    """A new bool mask without the components of fewer than `min_area` pixels (≤ 1 keeps everything)."""
    m = np.asarray(mask, dtype=bool)
    if min_area <= 1 or not m.any():
        return m.copy()
    labels, sizes = label_components(m, connectivity)
    keep = sizes >= int(min_area)
    keep[0] = False
    return keep[labels]
