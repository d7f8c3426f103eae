"""MaskDocument: the one edit routine, strokes as undo items, compact history, listeners."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.editing import MaskDocument, Mode
from pneumoviewer.editing.history import Atom, History
from pneumoviewer.editing.tools import BrushTool, EraserTool


def test_new_document_is_empty_and_mask_read_only():
    doc = MaskDocument(30, 40)
    assert doc.mask.shape == (30, 40) and doc.mask.dtype == bool and not doc.mask.any()
    assert not doc.can_undo and not doc.can_redo and doc.history_nbytes == 0
    with pytest.raises(ValueError):
        doc.mask[0, 0] = True
    with pytest.raises(ValueError):
        MaskDocument(0, 5)


def test_from_mask_copies_and_has_no_history():
    m = np.zeros((10, 12), bool)
    m[2:5, 3:7] = True
    doc = MaskDocument.from_mask(m)
    m[:] = False
    assert doc.mask.sum() == 12 and not doc.can_undo


@pytest.mark.parametrize("mode", list(Mode))
def test_apply_modes_and_single_undo(mode):
    base = np.zeros((20, 20), bool)
    base[5:10, 5:10] = True
    doc = MaskDocument.from_mask(base)
    mod = np.zeros((8, 8), bool)
    mod[2:6, :] = True
    box = (3, 11, 3, 11)
    assert doc.apply(mod, box, mode)
    expected = base.copy()
    region = expected[3:11, 3:11]
    if mode is Mode.ADD:
        region |= mod
    elif mode is Mode.REMOVE:
        region &= ~mod
    else:
        region[...] = mod
    assert np.array_equal(doc.mask, expected)
    assert doc.can_undo
    doc.undo()
    assert np.array_equal(doc.mask, base)
    doc.redo()
    assert np.array_equal(doc.mask, expected)


def test_apply_validates_shape_and_bbox():
    doc = MaskDocument(10, 10)
    with pytest.raises(ValueError, match="shape"):
        doc.apply(np.ones((2, 2), bool), (0, 3, 0, 3))
    with pytest.raises(ValueError, match="outside"):
        doc.apply(np.ones((3, 3), bool), (8, 11, 0, 3))


def test_stroke_is_one_undo_item_and_noop_records_nothing():
    doc = MaskDocument(100, 100)
    brush = BrushTool(radius=5)
    brush.press(doc, (10, 10))
    for c in range(10, 90, 3):
        brush.move(doc, (10 + c // 2, c))
    brush.release(doc)
    assert doc.history.undo_levels == 1
    painted = doc.mask.copy()
    # erasing where nothing is painted changes nothing and records nothing, and keeps redo
    doc.undo()
    assert doc.can_redo
    eraser = EraserTool(radius=5)
    eraser.press(doc, (80, 10))
    eraser.move(doc, (90, 20))
    eraser.release(doc)
    assert doc.history.undo_levels == 0 and doc.can_redo
    doc.redo()
    assert np.array_equal(doc.mask, painted)


def test_paint_then_erase_same_pixels_in_one_stroke_records_nothing():
    doc = MaskDocument(50, 50)
    doc.begin_stroke()
    mod = np.ones((5, 5), bool)
    doc.apply(mod, (10, 15, 10, 15), Mode.ADD)
    doc.apply(mod, (10, 15, 10, 15), Mode.REMOVE)
    assert not doc.end_stroke()
    assert not doc.can_undo


def test_new_edit_clears_redo():
    doc = MaskDocument(40, 40)
    doc.apply(np.ones((4, 4), bool), (0, 4, 0, 4))
    doc.apply(np.ones((4, 4), bool), (10, 14, 10, 14))
    doc.undo()
    assert doc.can_redo
    doc.apply(np.ones((4, 4), bool), (20, 24, 20, 24))
    assert not doc.can_redo


def test_history_keeps_at_least_100_levels_and_is_bounded():
    doc = MaskDocument(64, 64, max_levels=150)
    for i in range(200):
        doc.apply(np.ones((1, 1), bool), (i % 64, i % 64 + 1, i // 64, i // 64 + 1), Mode.SET if i % 2 else Mode.ADD)
    assert 100 <= doc.history.undo_levels <= 150
    n = 0
    while doc.undo():
        n += 1
    assert n == doc.history.redo_levels >= 100


def test_history_byte_cap_drops_oldest():
    h = History(max_levels=1000, max_bytes=2000)
    for _ in range(50):
        h.push(Atom.from_diff(np.ones((20, 20), bool), (0, 0)))
    assert h.nbytes <= 2000 and h.undo_levels >= 1


def test_atom_chooses_compact_encoding():
    sparse = np.zeros((500, 500), bool)
    sparse[3, 4] = sparse[400, 300] = True
    a = Atom.from_diff(sparse, (10, 20))
    assert not a.packed and a.count == 2
    assert a.bbox == (13, 411, 24, 321)
    small = np.ones((30, 30), bool)
    b = Atom.from_diff(small, (0, 0))
    assert b.packed and not b.compressed and b.data.nbytes == (900 + 7) // 8
    # a thin curved band in a big bbox (a brush stroke) compresses well
    rr, cc = np.mgrid[:400, :400]
    band = np.abs(np.hypot(rr, cc) - 300) < 10
    c = Atom.from_diff(band, (5, 5))
    assert c.packed and c.compressed and c.nbytes < (band.size // 8) / 4
    for atom, diff in ((a, sparse[3:401, 4:301]), (b, small)):
        assert np.array_equal(atom.flips(), diff)
    m = np.zeros((420, 420), bool)
    c.apply(m)
    assert np.array_equal(m[5:405, 5:405], band) and m.sum() == band.sum()
    assert Atom.from_diff(np.zeros((5, 5), bool), (0, 0)) is None


def test_change_listener_reports_bbox_and_commit_listener_once_per_stroke():
    doc = MaskDocument(200, 300)
    boxes, commits = [], []
    unsub = doc.subscribe(boxes.append)
    doc.subscribe_committed(commits.append)
    brush = BrushTool(radius=10)
    brush.press(doc, (50, 50))
    brush.move(doc, (60, 80))
    brush.move(doc, (60, 80))  # same point: no event
    brush.release(doc)
    assert len(boxes) == 2
    assert boxes[0] == (40, 61, 40, 61)
    assert boxes[1] == (40, 71, 40, 91)
    # every changed pixel lies inside the union of reported boxes
    cover = np.zeros(doc.shape, bool)
    for r0, r1, c0, c1 in boxes:
        cover[r0:r1, c0:c1] = True
    assert not (doc.mask & ~cover).any()
    assert commits == ["Brush"]
    v = doc.version
    doc.undo()
    assert commits == ["Brush", "undo"] and doc.version == v + 1
    assert boxes[-1][0] >= 40 and boxes[-1][1] <= 71
    unsub()
    doc.redo()
    assert len(boxes) == 3


def test_cancel_stroke_restores_pixels():
    base = np.zeros((128, 200), bool)
    base[60:70, :] = True
    doc = MaskDocument.from_mask(base)
    brush = BrushTool(radius=15)
    brush.press(doc, (20, 20))
    brush.move(doc, (110, 190))
    assert doc.mask.sum() > base.sum()
    brush.cancel(doc)
    assert np.array_equal(doc.mask, base) and not doc.can_undo


def test_set_mask_is_undoable_and_replace_clears_history():
    doc = MaskDocument(30, 30)
    doc.apply(np.ones((3, 3), bool), (0, 3, 0, 3))
    target = np.zeros((30, 30), bool)
    target[10:20, 10:20] = True
    assert doc.set_mask(target)
    assert np.array_equal(doc.mask, target)
    assert not doc.set_mask(target)  # no-op records nothing
    doc.undo()
    assert doc.mask.sum() == 9
    doc.replace(target)
    assert np.array_equal(doc.mask, target) and not doc.can_undo and not doc.can_redo
    with pytest.raises(ValueError):
        doc.set_mask(np.zeros((3, 3), bool))


def test_undo_during_stroke_ends_it_first():
    doc = MaskDocument(50, 50)
    brush = BrushTool(radius=3)
    brush.press(doc, (10, 10))
    assert doc.can_undo
    assert doc.undo()
    assert not doc.mask.any()
    brush.release(doc)  # harmless after undo
    assert doc.can_redo


def test_history_for_1000_strokes_is_small():
    rng = np.random.default_rng(1)
    doc = MaskDocument(1024, 1024, max_levels=1000)
    commits = []
    doc.subscribe_committed(commits.append)
    brush = BrushTool(radius=20)
    for i in range(1000):
        brush.mode = "add" if i % 3 else "remove"  # keep strokes changing pixels on a busy mask
        p = rng.uniform(50, 974, 2)
        brush.press(doc, tuple(p))
        for _ in range(10):
            p = np.clip(p + rng.normal(0, 8, 2), 0, 1023)
            brush.move(doc, tuple(p))
        brush.release(doc)
    assert doc.history.undo_levels == len(commits) >= 900
    assert doc.history_nbytes <= 8 * 1024 * 1024


def test_apply_accepts_non_bool_modifier():
    doc = MaskDocument.from_mask(np.ones((6, 6), bool))
    mod = np.zeros((6, 6), np.uint8)
    mod[2:4, 2:4] = 255
    assert doc.apply(mod, (0, 6, 0, 6), "remove")
    assert doc.mask.sum() == 32 and not doc.mask[2, 2]
