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


def run_components(starts: np.ndarray, lengths: np.ndarray, height: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The 8-connected components of a column-major run-length mask, computed on the runs (no image is decoded).

    `starts`/`lengths` are absolute 0-based column-major runs (sorted, disjoint; what `io.rle.parse` returns) of an
    image `height` rows high. Returns each component's runs (absolute starts, lengths), in column-major order of the
    component's first pixel — the same components, in the same order, as labelling the decoded mask (a run that
    wraps from the bottom of one column to the top of the next joins two pixels that do not touch in the image).
    Vectorised (binary search for the neighbours, scipy's graph components): ~0.2 ms for a 1024² mask.
    """
    s = np.asarray(starts, dtype=np.int64)
    if s.size == 0:
        return []
    e = s + np.asarray(lengths, dtype=np.int64)
    # Split every run at column boundaries: one piece per (run, column), rows [r0, r1) of column `col`.
    c_first, c_last = s // height, (e - 1) // height
    count = c_last - c_first + 1
    run = np.repeat(np.arange(s.size), count)
    col = c_first[run] + (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count))
    p_start = np.maximum(s[run], col * height)
    p_end = np.minimum(e[run], (col + 1) * height)
    r0, r1 = p_start - col * height, p_end - col * height
    # Pieces are in column-major order, so col*(H+2)+row increases along them: for each piece, the pieces of the
    # next column that overlap it (or touch it diagonally) are one contiguous range, found by binary search.
    stride = height + 2
    k0, k1 = col * stride + r0, col * stride + r1
    lo = np.searchsorted(k1, (col + 1) * stride + r0, side="left")
    hi = np.searchsorted(k0, (col + 1) * stride + r1, side="right")
    hi = np.maximum(hi, lo)
    n_edges = hi - lo
    src = np.repeat(np.arange(col.size), n_edges)
    dst = np.arange(int(n_edges.sum())) - np.repeat(np.cumsum(n_edges) - n_edges, n_edges) + np.repeat(lo, n_edges)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(col.size, col.size))
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)  # each component's first piece, by label
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(first.size)  # components in column-major order of their first pixel
    comp = rank[labels]
    order = np.argsort(comp, kind="stable")  # grouped by component, each in flat order
    comp, ps, pe = comp[order], p_start[order], p_end[order]
    new = np.ones(order.size, dtype=bool)
    new[1:] = (comp[1:] != comp[:-1]) | (ps[1:] != pe[:-1])  # pieces that continue each other are one run
    run_comp = comp[new]
    starts_out = ps[new]
    ends_out = pe[np.append(new[1:], True)]
    cuts = np.flatnonzero(np.diff(run_comp)) + 1
    return [(a, b - a) for a, b in zip(np.split(starts_out, cuts), np.split(ends_out, cuts), strict=True)]
