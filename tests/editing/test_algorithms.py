"""Pure mask algorithms: shapes, regions, islands, morphology, unit helpers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pneumoviewer.editing import algorithms as alg


def test_disc_is_hard_edged_and_symmetric():
    d = alg.disc(5)
    assert d.shape == (11, 11)
    assert d.dtype == bool
    assert d[5, 0] and d[0, 5] and not d[0, 0]
    assert np.array_equal(d, d.T) and np.array_equal(d, d[::-1])
    # area close to πr²
    assert abs(d.sum() - np.pi * 25) < 12
    assert alg.disc(0).sum() == 1
    with pytest.raises(ValueError):
        d[0, 0] = True  # cached: must be read-only


@pytest.mark.parametrize("center", [(0, 0), (3, 50), (99, 99), (50, 120)])
def test_disc_modifier_clips_to_image(center):
    shape = (100, 110)
    hit = alg.disc_modifier(center, 7, shape)
    ref = np.zeros(shape, bool)
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    ref[(rr - center[0]) ** 2 + (cc - center[1]) ** 2 <= 49] = True
    full = np.zeros(shape, bool)
    if hit is not None:
        mod, (r0, r1, c0, c1) = hit
        full[r0:r1, c0:c1] = mod
    assert np.array_equal(full, ref)


def test_disc_modifier_outside_is_none():
    assert alg.disc_modifier((-50, -50), 5, (20, 20)) is None


def test_capsule_equals_union_of_dense_discs():
    shape = (120, 90)
    a, b = (10, 5), (100, 80)
    mod, (r0, r1, c0, c1) = alg.capsule_modifier(a, b, 6, shape)
    got = np.zeros(shape, bool)
    got[r0:r1, c0:c1] = mod
    # reference: exact distance to segment on the full grid
    rr, cc = np.mgrid[: shape[0], : shape[1]].astype(float)
    d = np.array(b, float) - np.array(a, float)
    t = np.clip(((rr - a[0]) * d[0] + (cc - a[1]) * d[1]) / (d @ d), 0, 1)
    ref = (rr - a[0] - t * d[0]) ** 2 + (cc - a[1] - t * d[1]) ** 2 <= 36
    assert np.array_equal(got, ref)
    # gap-free: every point on the centre line is painted, and the end discs are included
    for s in np.linspace(0, 1, 200):
        p = np.round(np.array(a) + s * d).astype(int)
        assert got[p[0], p[1]]
    for p in (a, b):
        m2, (q0, q1, s0, s1) = alg.disc_modifier(p, 6, shape)
        assert np.all(got[q0:q1, s0:s1][m2])


def test_capsule_zero_length_is_disc():
    m1, b1 = alg.capsule_modifier((20, 20), (20.2, 19.9), 4, (50, 50))
    m2, b2 = alg.disc_modifier((20, 20), 4, (50, 50))
    assert b1 == b2 and np.array_equal(m1, m2)


def test_polygon_modifier_square():
    mod, box = alg.polygon_modifier([(10, 10), (10, 30), (30, 30), (30, 10)], (64, 48))
    full = np.zeros((64, 48), bool)
    full[box[0] : box[1], box[2] : box[3]] = mod
    assert full[20, 20] and not full[5, 5] and not full[40, 20]
    assert 350 <= full.sum() <= 450
    assert alg.polygon_modifier([(1, 1), (2, 2)], (10, 10)) is None


def test_bbox_of():
    m = np.zeros((10, 12), bool)
    assert alg.bbox_of(m) is None
    m[2:4, 5:9] = True
    assert alg.bbox_of(m) == (2, 4, 5, 9)


def _ring(shape=(60, 70), center=(30, 35), r_out=15, r_in=8):
    rr, cc = np.ogrid[: shape[0], : shape[1]]
    d2 = (rr - center[0]) ** 2 + (cc - center[1]) ** 2
    return (d2 <= r_out**2) & (d2 > r_in**2)


def _full(hit, shape):
    out = np.zeros(shape, bool)
    r0, r1, c0, c1 = hit[1]
    out[r0:r1, c0:c1] = hit[0]
    return out


def test_enclosed_region_inside_ring_and_not_outside():
    ring = _ring()
    hole = alg.region_at(ring, (30, 35), 1, enclosed=True)
    assert hole is not None
    assert np.array_equal(ring | _full(hole, ring.shape), ndimage.binary_fill_holes(ring))
    assert alg.region_at(ring, (2, 2), 1, enclosed=True) is None  # background touching the border is not a hole
    assert alg.region_at(ring, (30, 35 + 12), 1, enclosed=True) is not None  # the ring itself does not touch it
    assert alg.region_at(ring, (-1, 3)) is None


@pytest.mark.parametrize("seed", range(6))
def test_region_at_equals_labelling_the_whole_image(seed):
    """The growing window gives what one label pass over the whole image gives, for both connectivities."""
    rng = np.random.default_rng(seed)
    m = ndimage.binary_opening(rng.random((300, 257)) < 0.45)
    for _ in range(20):
        p = (int(rng.integers(0, 300)), int(rng.integers(0, 257)))
        for conn in (1, 2):
            same = m if m[p] else ~m
            labels, _ = ndimage.label(same, structure=ndimage.generate_binary_structure(2, conn))
            want = labels == labels[p]
            assert np.array_equal(_full(alg.region_at(m, p, conn), m.shape), want)
            touches = want[0].any() or want[-1].any() or want[:, 0].any() or want[:, -1].any()
            enclosed = alg.region_at(m, p, conn, enclosed=True)
            assert (enclosed is None) == touches
            if enclosed is not None:
                assert np.array_equal(_full(enclosed, m.shape), want)


def test_connected_region_value_of_click():
    m = np.zeros((20, 20), bool)
    m[2:5, 2:5] = True
    m[10:15, 10:15] = True
    reg = alg.connected_region(m, (3, 3), connectivity=2)
    assert reg.sum() == 9
    bg = alg.connected_region(m, (0, 0))
    assert bg.sum() == 400 - 9 - 25


def _blobs():
    m = np.zeros((80, 90), bool)
    m[5:25, 5:25] = True  # 400
    m[40:46, 40:46] = True  # 36
    m[60:62, 70:72] = True  # 4
    m[70, 10] = True  # 1
    return m


def test_keep_largest_island():
    m = _blobs()
    out = alg.keep_largest_island(m)
    assert out.sum() == 400 and out[10, 10]
    assert not alg.keep_largest_island(np.zeros((5, 5), bool)).any()
    assert m.sum() == 441  # input untouched


def test_remove_small_islands():
    m = _blobs()
    assert alg.remove_small_islands(m, 5).sum() == 436
    assert alg.remove_small_islands(m, 37).sum() == 400
    assert alg.remove_small_islands(m, 1).sum() == 441


def test_islands_use_8_connectivity():
    m = np.zeros((6, 6), bool)
    m[1, 1] = m[2, 2] = m[3, 3] = True  # diagonal chain: one SIIM instance
    assert alg.keep_largest_island(m).sum() == 3


def test_remove_island_at():
    m = _blobs()
    out = alg.remove_island_at(m, (42, 42))
    assert out.sum() == 441 - 36 and not out[42, 42]
    assert np.array_equal(alg.remove_island_at(m, (0, 89)), m)


@pytest.mark.parametrize("op", alg.MORPHOLOGY_OPERATIONS)
@pytest.mark.parametrize("shape", [(64, 64), (50, 97)])
def test_morphology_matches_whole_image_operation(op, shape):
    rng = np.random.default_rng(3)
    m = np.zeros(shape, bool)
    m[10:30, 12:40] = True
    m[rng.integers(0, shape[0], 30), rng.integers(0, shape[1], 30)] = True
    m[0:6, 0:8] = True  # touches the border
    fp = alg.disc(3)
    pad = 20

    # reference on the whole image: pixels outside the image are ignored, i.e. background for a dilation and
    # foreground for an erosion (explicit padding, plain scipy)
    def dil(x):
        return ndimage.binary_dilation(np.pad(x, pad, constant_values=False), fp)[pad:-pad, pad:-pad]

    def ero(x):
        return ndimage.binary_erosion(np.pad(x, pad, constant_values=True), fp)[pad:-pad, pad:-pad]

    ref = {"open": lambda x: dil(ero(x)), "close": lambda x: ero(dil(x)), "dilate": dil, "erode": ero}[op](m)
    assert np.array_equal(alg.morphology(m, op, 3), ref)


def test_morphology_semantics():
    m = np.zeros((40, 40), bool)
    m[10:30, 10:30] = True
    m[5, 5] = True  # speck
    m[20, 20] = False  # pinhole
    assert not alg.morphology(m, "open", 2)[5, 5]
    assert alg.morphology(m, "close", 2)[20, 20]
    assert alg.morphology(m, "dilate", 2).sum() > m.sum()
    assert alg.morphology(m, "erode", 2).sum() < m.sum()
    # a lesion touching the border is not eaten from the border side
    edge = np.zeros((40, 40), bool)
    edge[:, :10] = True
    assert alg.morphology(edge, "erode", 2)[:, :8].all()
    assert alg.morphology(edge, "close", 2)[:, :10].all()
    with pytest.raises(ValueError, match="unknown"):
        alg.morphology(m, "blur", 2)


def test_radius_units():
    assert alg.radius_mm(20, (0.2, 0.2)) == pytest.approx(4.0)
    assert alg.radius_mm(20, None) is None
    assert alg.radius_px_from_mm(4.0, (0.2, 0.2)) == 20
    assert alg.radius_px_from_mm(0.01, (0.2, 0.2)) == 1
