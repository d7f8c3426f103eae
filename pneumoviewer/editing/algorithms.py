"""Pure mask algorithms behind the editing tools (numpy + scipy/scikit-image, no state, no Qt).

Every function takes arrays and returns new arrays (or a modifier + bounding box); the tools are thin wrappers that
hand the result to :class:`~pneumoviewer.editing.document.MaskDocument`, which owns undo.

A bounding box is ``(r0, r1, c0, c1)``: half-open row and column ranges, like numpy slices.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

import numpy as np

from pneumoviewer.core.components import STRUCTURES, label_components, remove_small_components

BBox = tuple[int, int, int, int]
Point = tuple[float, float]

MORPHOLOGY_OPERATIONS = ("open", "close", "dilate", "erode")

def _ndi():
    """scipy.ndimage, imported on first use: it costs ~0.4 s, which the window's cold start should not pay."""
    from scipy import ndimage

    return ndimage


def warm_up() -> None:
    """Import the libraries the tools use (scipy.ndimage, skimage.draw) ahead of the first edit.

    The GUI runs this in a background thread after the first image is painted, so the first Fill of a session does
    not stall ~0.5 s on the import, and the window's cold start still does not pay for it.
    """
    _ndi()
    import skimage.draw  # noqa: F401  (the polygon and lasso fill)


# --------------------------------------------------------------------------- shapes


@functools.lru_cache(maxsize=64)
def disc(radius: int) -> np.ndarray:
    """A hard-edged filled disc of (2r+1)² pixels: centre distance ≤ r (radius 0 is one pixel). Read-only, cached."""
    r = max(0, int(radius))
    yy, xx = np.ogrid[-r : r + 1, -r : r + 1]
    out = (yy * yy + xx * xx) <= r * r
    out.setflags(write=False)
    return out


def disc_modifier(center: Point, radius: int, shape: tuple[int, int]) -> tuple[np.ndarray, BBox] | None:
    """The disc around `center` clipped to the image: (modifier, bbox), or None if it lies wholly outside."""
    r = max(0, int(radius))
    cr, cc = round(center[0]), round(center[1])
    h, w = shape
    r0, r1, c0, c1 = cr - r, cr + r + 1, cc - r, cc + r + 1
    cr0, cr1, cc0, cc1 = max(r0, 0), min(r1, h), max(c0, 0), min(c1, w)
    if cr0 >= cr1 or cc0 >= cc1:
        return None
    d = disc(r)
    return d[cr0 - r0 : cr1 - r0, cc0 - c0 : cc1 - c0], (cr0, cr1, cc0, cc1)


def capsule_modifier(a: Point, b: Point, radius: int, shape: tuple[int, int]) -> tuple[np.ndarray, BBox] | None:
    """Every pixel within `radius` of the segment a→b (a stroke between two mouse events, gap-free).

    Computed only on the segment's bounding box (distance to segment), so the cost follows the stroke, not the image.
    Endpoints are rounded to whole pixels, so a zero-length segment equals :func:`disc_modifier`.
    """
    ar, ac = round(a[0]), round(a[1])
    br, bc = round(b[0]), round(b[1])
    if ar == br and ac == bc:
        return disc_modifier((ar, ac), radius, shape)
    r = max(0, int(radius))
    h, w = shape
    r0, r1 = max(min(ar, br) - r, 0), min(max(ar, br) + r + 1, h)
    c0, c1 = max(min(ac, bc) - r, 0), min(max(ac, bc) + r + 1, w)
    if r0 >= r1 or c0 >= c1:
        return None
    dr, dc = br - ar, bc - ac
    pr = np.arange(r0 - ar, r1 - ar, dtype=np.float32)[:, None]
    pc = np.arange(c0 - ac, c1 - ac, dtype=np.float32)[None, :]
    t = pr * np.float32(dr / (dr * dr + dc * dc)) + pc * np.float32(dc / (dr * dr + dc * dc))
    np.clip(t, 0.0, 1.0, out=t)
    er = pr - t * np.float32(dr)
    ec = pc - t * np.float32(dc)
    er *= er
    ec *= ec
    er += ec
    # a small tolerance so float rounding never drops a pixel an exact disc at an endpoint would hold
    return er <= np.float32(r * r + 1e-3), (r0, r1, c0, c1)


def polygon_modifier(points: Sequence[Point], shape: tuple[int, int]) -> tuple[np.ndarray, BBox] | None:
    """The filled polygon (closed implicitly) clipped to the image; None when it has < 3 points or no area."""
    from skimage.draw import polygon

    if len(points) < 3:
        return None
    pts = np.asarray(points, dtype=np.float64)
    h, w = shape
    r0 = max(int(np.floor(pts[:, 0].min())), 0)
    r1 = min(int(np.ceil(pts[:, 0].max())) + 1, h)
    c0 = max(int(np.floor(pts[:, 1].min())), 0)
    c1 = min(int(np.ceil(pts[:, 1].max())) + 1, w)
    if r0 >= r1 or c0 >= c1:
        return None
    rr, cc = polygon(pts[:, 0] - r0, pts[:, 1] - c0, shape=(r1 - r0, c1 - c0))
    if rr.size == 0:
        return None
    mod = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    mod[rr, cc] = True
    return mod, (r0, r1, c0, c1)


# --------------------------------------------------------------------------- regions


def bbox_of(mask: np.ndarray) -> BBox | None:
    """Tight bounding box of the True pixels, or None for an empty mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def region_at(
    mask: np.ndarray, point: Point, connectivity: int = 1, *, enclosed: bool = False
) -> tuple[np.ndarray, BBox] | None:
    """The pixels of the same value as `point` connected to it, as (modifier, bbox); None when off the image.

    `enclosed`: None also when the region reaches the image border (a hole, not the outside). The region is
    labelled in a window around the point that doubles while the region touches a window edge inside the image,
    so a click costs what its region costs, not a label pass over the whole image (a hole in a 1024² mask: ~1 ms
    instead of ~10 ms); the result equals labelling the whole image.
    """
    h, w = mask.shape
    r, c = round(point[0]), round(point[1])
    if not (0 <= r < h and 0 <= c < w):
        return None
    value = bool(mask[r, c])
    half = 32
    while True:
        r0, r1, c0, c1 = max(r - half, 0), min(r + half + 1, h), max(c - half, 0), min(c + half + 1, w)
        crop = np.asarray(mask[r0:r1, c0:c1], dtype=bool)
        labels, _ = _ndi().label(crop if value else ~crop, structure=STRUCTURES[connectivity])
        region = labels == labels[r - r0, c - c0]
        top, bottom, left, right = region[0].any(), region[-1].any(), region[:, 0].any(), region[:, -1].any()
        if enclosed and ((top and r0 == 0) or (bottom and r1 == h) or (left and c0 == 0) or (right and c1 == w)):
            return None
        if not ((top and r0 > 0) or (bottom and r1 < h) or (left and c0 > 0) or (right and c1 < w)):
            box = bbox_of(region)
            assert box is not None  # the point itself is in its region
            br0, br1, bc0, bc1 = box
            return region[br0:br1, bc0:bc1], (r0 + br0, r0 + br1, c0 + bc0, c0 + bc1)
        half *= 2


def connected_region(mask: np.ndarray, point: Point, connectivity: int = 1) -> np.ndarray:
    """All pixels of the same value as `point` connected to it (4-connectivity by default). Empty if off-image."""
    out = np.zeros(mask.shape, dtype=bool)
    hit = region_at(mask, point, connectivity)
    if hit is not None:
        (r0, r1, c0, c1), mod = hit[1], hit[0]
        out[r0:r1, c0:c1] = mod
    return out


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """The mask with every enclosed hole filled."""
    return _ndi().binary_fill_holes(mask)


def keep_largest_island(mask: np.ndarray, connectivity: int = 2) -> np.ndarray:
    """Only the largest connected component (ties: the first in raster order); empty stays empty."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return mask.copy()
    labels, sizes = label_components(mask, connectivity)
    return labels == int(np.argmax(sizes))


def remove_small_islands(mask: np.ndarray, min_size: int, connectivity: int = 2) -> np.ndarray:
    """Drop every connected component with fewer than `min_size` pixels (the shared component filter)."""
    return remove_small_components(mask, min_size, connectivity)


def remove_island_at(mask: np.ndarray, point: Point, connectivity: int = 2) -> np.ndarray:
    """The mask without the component under `point` (unchanged if the point is on background or off-image)."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    r, c = round(point[0]), round(point[1])
    if not (0 <= r < h and 0 <= c < w) or not mask[r, c]:
        return mask.copy()
    return mask & ~connected_region(mask, (r, c), connectivity)


def morphology(mask: np.ndarray, operation: str, radius: int) -> np.ndarray:
    """Binary open / close / dilate / erode with a disc footprint of `radius` px.

    Pixels outside the image are ignored (an erosion does not eat a lesion touching the border; a closing does not
    shrink it either). Computed on the foreground's bounding box plus a margin, so small lesions on big images are
    cheap; the result equals the whole-image operation.
    """
    if operation not in MORPHOLOGY_OPERATIONS:
        raise ValueError(f"unknown morphology operation {operation!r}; expected one of {MORPHOLOGY_OPERATIONS}")
    mask = np.asarray(mask, dtype=bool)
    r = int(radius)
    out = mask.copy()
    box = bbox_of(mask)
    if box is None or r <= 0:
        return out
    h, w = mask.shape
    pad = 2 * r + 2
    r0, r1, c0, c1 = max(box[0] - pad, 0), min(box[1] + pad, h), max(box[2] - pad, 0), min(box[3] + pad, w)
    crop = mask[r0:r1, c0:c1]
    fp = disc(r)
    func = {"open": _opening, "close": _closing, "dilate": _dilate, "erode": _erode}[operation]
    # The margin (2r+2) keeps every intermediate result away from the crop edges that lie inside the image, so
    # 'ignore' at those edges never matters; at the image's own edges it is exactly the whole-image behaviour.
    res = func(crop, fp)
    out[r0:r1, c0:c1] = res
    return out


def morphology_along(
    mask: np.ndarray, points: Sequence[Point], size: int, operation: str, radius: int
) -> tuple[np.ndarray, BBox] | None:
    """`operation` (see :func:`morphology`) applied only under a brush of radius `size` dragged through `points`.

    Returns (new values of the bbox, bbox) of what changes, or None when nothing under the brush changes. The
    operation runs on the brushed area plus a margin of 2·radius + 2, so the pixels under the brush get exactly the
    whole-image result while the rest of the mask is untouched and the cost follows the drag, not the image.
    """
    if operation not in MORPHOLOGY_OPERATIONS:
        raise ValueError(f"unknown morphology operation {operation!r}; expected one of {MORPHOLOGY_OPERATIONS}")
    if len(points) == 0:
        return None
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    pts = np.asarray(points, dtype=np.float64)
    reach = int(size) + 2 * int(radius) + 2
    r0, r1 = max(int(np.floor(pts[:, 0].min())) - reach, 0), min(int(np.ceil(pts[:, 0].max())) + reach + 1, h)
    c0, c1 = max(int(np.floor(pts[:, 1].min())) - reach, 0), min(int(np.ceil(pts[:, 1].max())) + reach + 1, w)
    if r0 >= r1 or c0 >= c1:
        return None
    area = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    segments = list(itertools.pairwise(points)) or [(points[0], points[0])]
    for a, b in segments:
        hit = capsule_modifier(a, b, size, (h, w))
        if hit is not None:
            mod, (a0, a1, b0, b1) = hit
            area[a0 - r0 : a1 - r0, b0 - c0 : b1 - c0] |= mod
    crop = mask[r0:r1, c0:c1]
    new = np.where(area, morphology(crop, operation, radius), crop)
    box = changed_bbox(crop, new)
    if box is None:
        return None
    b0, b1, d0, d1 = box
    return new[b0:b1, d0:d1], (r0 + b0, r0 + b1, c0 + d0, c0 + d1)


def _dilate(m: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return _ndi().binary_dilation(m, structure=fp, border_value=0)


def _erode(m: np.ndarray, fp: np.ndarray) -> np.ndarray:
    # outside pixels count as foreground: a lesion touching the border is not eaten from the border side
    return _ndi().binary_erosion(m, structure=fp, border_value=1)


def _opening(m: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return _dilate(_erode(m, fp), fp)


def _closing(m: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return _erode(_dilate(m, fp), fp)


def changed_bbox(before: np.ndarray, after: np.ndarray) -> BBox | None:
    """Bounding box of the pixels that differ, or None when the masks are equal."""
    return bbox_of(before != after)


# --------------------------------------------------------------------------- units


def radius_mm(radius_px: float, pixel_spacing: tuple[float, float] | None) -> float | None:
    """Brush radius in mm for display (mean of row/col spacing); None when the image has no PixelSpacing."""
    if not pixel_spacing:
        return None
    return float(radius_px) * (float(pixel_spacing[0]) + float(pixel_spacing[1])) / 2.0


def radius_px_from_mm(radius: float, pixel_spacing: tuple[float, float] | None) -> int | None:
    """Inverse of :func:`radius_mm`, rounded to whole pixels (≥ 1); None without spacing."""
    if not pixel_spacing:
        return None
    mean = (float(pixel_spacing[0]) + float(pixel_spacing[1])) / 2.0
    if mean <= 0:
        return None
    return max(1, round(float(radius) / mean))
