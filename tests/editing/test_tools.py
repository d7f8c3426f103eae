"""Tools driven as the canvas drives them (press/move/release), undo/redo exactness over tools and sizes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pneumoviewer.editing import MaskDocument
from pneumoviewer.editing.algorithms import keep_largest_island
from pneumoviewer.editing.tools import (
    TOOLS,
    BrushTool,
    ClearTool,
    EraserTool,
    FillTool,
    IslandsTool,
    LassoTool,
    MorphologyTool,
    PolygonTool,
    Tool,
    create_tool,
)

SIZES = [(64, 64), (300, 517), (517, 300), (1024, 1024)]


def _start_mask(shape):
    """A lesion-like start: a ring (with a hole), a blob, and specks, scaled to the image."""
    h, w = shape
    m = np.zeros(shape, bool)
    rr, cc = np.ogrid[:h, :w]
    cy, cx, r = h * 0.4, w * 0.4, min(h, w) * 0.2
    d2 = (rr - cy) ** 2 + (cc - cx) ** 2
    m |= (d2 <= r**2) & (d2 > (r * 0.5) ** 2)
    m[int(h * 0.75) : int(h * 0.9), int(w * 0.7) : int(w * 0.85)] = True
    m[int(h * 0.85), int(w * 0.7) : int(w * 0.78)] = False  # a 1-px slit (closing fills it)
    m[int(h * 0.1), int(w * 0.9)] = True
    m[int(h * 0.95), int(w * 0.05)] = True
    return m


def _drive(tool: Tool, doc: MaskDocument, shape):
    h, w = shape
    hole = (round(h * 0.4), round(w * 0.4))
    if isinstance(tool, BrushTool):  # brush and eraser
        pts = [(h * 0.1, w * 0.1), (h * 0.5, w * 0.3), (h * 0.8, w * 0.9), (h * 0.85, w * 0.75)]
        tool.press(doc, pts[0])
        for p in pts[1:]:
            tool.move(doc, p)
        tool.release(doc)
    elif isinstance(tool, LassoTool):
        tool.press(doc, (h * 0.3, w * 0.2))
        for p in [(h * 0.3, w * 0.8), (h * 0.9, w * 0.8), (h * 0.6, w * 0.5)]:
            tool.move(doc, p)
        tool.release(doc)
    elif isinstance(tool, PolygonTool):
        for p in [(h * 0.3, w * 0.2), (h * 0.3, w * 0.8), (h * 0.9, w * 0.8), (h * 0.6, w * 0.5)]:
            tool.press(doc, p)
            tool.release(doc)
        assert doc.history.undo_levels == 1 and tool.pending  # nothing written until it closes
        assert tool.finish(doc)
    elif isinstance(tool, MorphologyTool):  # a drag over the lesion and the slit below it
        tool.set_option("size", max(3, round(min(h, w) * 0.12)))
        tool.press(doc, (h * 0.7, w * 0.65))
        for p in [(h * 0.8, w * 0.75), (h * 0.85, w * 0.8), (h * 0.92, w * 0.9)]:
            tool.move(doc, p)
        tool.release(doc)
    elif isinstance(tool, FillTool):
        tool.press(doc, hole if tool.mode == "add" else (round(h * 0.8), round(w * 0.75)))
        tool.release(doc)
    elif isinstance(tool, IslandsTool):
        tool.press(doc, (round(h * 0.8), round(w * 0.75)))
        tool.release(doc)
    else:
        tool.press(doc, (0, 0))
        tool.release(doc)


TOOL_CASES = [
    ("brush", {"radius": 6}),
    ("brush", {"radius": 20, "mode": "remove"}),
    ("eraser", {"radius": 9}),
    ("fill", {"mode": "add"}),
    ("fill", {"mode": "remove"}),
    ("lasso", {"mode": "add"}),
    ("lasso", {"mode": "remove"}),
    ("polygon", {"mode": "add"}),
    ("polygon", {"mode": "remove"}),
    ("islands", {"action": "keep_largest"}),
    ("islands", {"action": "remove_small", "min_size": 2}),
    ("islands", {"action": "remove_clicked"}),
    ("morphology", {"operation": "open", "radius": 2}),
    ("morphology", {"operation": "close", "radius": 4}),
    ("morphology", {"operation": "dilate", "radius": 3}),
    ("morphology", {"operation": "erode", "radius": 1}),
    ("clear", {}),
]


@pytest.mark.parametrize("shape", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize(
    ("name", "options"), TOOL_CASES, ids=lambda x: x if isinstance(x, str) else "-".join(map(str, x.values()))
)
def test_undo_redo_exact(name, options, shape):
    start = _start_mask(shape)
    doc = MaskDocument.from_mask(start)
    # an earlier edit so undo must stop at the right place
    pre = create_tool("brush", radius=3)
    pre.press(doc, (2, 2))
    pre.release(doc)
    before = doc.mask.copy()
    tool = create_tool(name, **options)
    _drive(tool, doc, shape)
    after = doc.mask.copy()
    assert not np.array_equal(after, before), f"{name} {options} changed nothing"
    assert doc.history.undo_levels == 2  # the whole press→release is one item
    assert doc.undo()
    assert np.array_equal(doc.mask, before)
    assert doc.redo()
    assert np.array_equal(doc.mask, after)
    assert doc.undo() and doc.undo()
    assert np.array_equal(doc.mask, start)
    assert doc.redo() and doc.redo()
    assert np.array_equal(doc.mask, after)
    assert not doc.can_redo


def test_registry_metadata_complete_and_unique():
    assert list(TOOLS) == ["brush", "eraser", "fill", "lasso", "polygon", "islands", "morphology", "clear"]
    shortcuts = [cls.shortcut for cls in TOOLS.values()]
    assert len(set(shortcuts)) == len(shortcuts)
    for name, cls in TOOLS.items():
        tool = cls()
        assert tool.name == name and cls.label and cls.icon and cls.help and len(cls.shortcut) == 1
        for opt in cls.options:
            assert getattr(tool, opt.name) == opt.default or name == "eraser"
            assert opt.kind in ("int", "choice", "bool")
    assert EraserTool().mode == "remove" and BrushTool().mode == "add"


def test_options_are_validated():
    b = BrushTool(radius=20)
    b.set_option("radius", 0)
    assert b.radius == 1
    b.set_option("radius", 10_000)
    assert b.radius == BrushTool.options[0].maximum
    with pytest.raises(ValueError):
        b.set_option("mode", "xor")
    with pytest.raises(KeyError):
        b.set_option("nope", 1)
    assert b.cursor_radius == b.radius
    b.set_option("radius", 20)
    assert b.grow() > 20 and b.shrink() <= b.radius
    assert b.shrink(100) == 1


def test_brush_paints_exact_disc_and_fast_drag_has_no_gaps():
    doc = MaskDocument(300, 517)
    b = BrushTool(radius=4)
    b.press(doc, (50, 10))
    b.move(doc, (250, 500))  # one huge jump
    b.release(doc)
    m = doc.mask
    for s in np.linspace(0, 1, 500):
        r, c = round(50 + s * 200), round(10 + s * 490)
        assert m[r, c]
    # perpendicular width 2r+1 = 9; a row crosses the shallow line over 9 * |d| / drow ≈ 23.8 px
    assert 20 <= m[150, :].sum() <= 25


def test_brush_off_image_and_edges():
    doc = MaskDocument(40, 50)
    b = BrushTool(radius=5)
    b.press(doc, (-100, -100))
    b.move(doc, (-100, 200))  # entirely outside
    b.release(doc)
    assert not doc.mask.any() and not doc.can_undo
    b.press(doc, (0, 0))
    b.release(doc)
    assert doc.mask[0, 0] and doc.mask[5, 0] and not doc.mask[6, 0]


def test_eraser_erases():
    doc = MaskDocument.from_mask(np.ones((60, 60), bool))
    e = EraserTool(radius=5)
    e.press(doc, (30, 30))
    e.release(doc)
    assert not doc.mask[30, 30] and doc.mask[30, 36] and doc.mask.sum() == 3600 - 81


def test_fill_hole_and_border_refusal():
    m = _start_mask((100, 100))
    doc = MaskDocument.from_mask(m)
    f = FillTool()
    f.press(doc, (5, 5))  # outside: touches the border
    f.release(doc)
    assert np.array_equal(doc.mask, m) and "border" in f.message and not doc.can_undo
    f.press(doc, (40, 40))  # centre of the ring
    f.release(doc)
    assert doc.mask[40, 40] and doc.mask.sum() > m.sum() and f.message == ""
    f.set_option("allow_border", True)
    f.press(doc, (5, 5))
    assert doc.mask[5, 5]


def test_fill_remove_clears_clicked_region():
    m = _start_mask((100, 100))
    doc = MaskDocument.from_mask(m)
    f = FillTool(mode="remove")
    f.press(doc, (80, 75))
    assert not doc.mask[80, 75] and doc.mask[40, 21]


def test_lasso_needs_three_points_and_previews_points():
    doc = MaskDocument(100, 100)
    p = LassoTool()
    p.press(doc, (10, 10))
    p.move(doc, (10, 10.2))  # closer than min spacing: skipped
    p.move(doc, (10, 50))
    assert p.preview() == ([(10.0, 10.0), (10.0, 50.0)], True)
    p.release(doc)
    assert not doc.mask.any() and p.message and doc.history.undo_levels == 0
    p.press(doc, (10, 10))
    for q in [(10, 50), (50, 50), (50, 10)]:
        p.move(doc, q)
    p.release(doc)
    assert doc.mask[30, 30] and not doc.mask[60, 60]
    assert doc.undo_label == "Lasso"


def test_islands_tool_actions():
    m = _start_mask((120, 140))
    doc = MaskDocument.from_mask(m)
    t = IslandsTool(action="keep_largest")
    assert t.whole_mask
    assert t.apply(doc)
    assert np.array_equal(doc.mask, keep_largest_island(m))
    assert not t.apply(doc) and t.message  # already clean
    t2 = IslandsTool(action="remove_clicked")
    assert not t2.whole_mask and not t2.apply(doc)


def test_morphology_and_clear_apply_buttons():
    m = _start_mask((80, 90))
    doc = MaskDocument.from_mask(m)
    assert MorphologyTool(operation="dilate", radius=2).apply(doc)
    assert doc.mask.sum() > m.sum()
    assert ClearTool().apply(doc)
    assert not doc.mask.any()
    assert not ClearTool().apply(doc)
    doc.undo()
    doc.undo()
    assert np.array_equal(doc.mask, m)


def _expected_polygon(vertices, shape):
    from skimage.draw import polygon

    want = np.zeros(shape, bool)
    rr, cc = polygon([v[0] for v in vertices], [v[1] for v in vertices], shape=shape)
    want[rr, cc] = True
    return want


def test_polygon_click_by_click_backspace_enter_escape():
    doc = MaskDocument(120, 140)
    p = PolygonTool()
    vertices = [(10.0, 12.0), (15.0, 100.0), (90.0, 120.0), (70.0, 30.0)]
    for v in [*vertices[:3], (50.0, 50.0)]:  # a wrong fourth vertex, then Backspace
        p.press(doc, v)
        p.release(doc)
    assert p.pending and p.handles() == [*vertices[:3], (50.0, 50.0)]
    assert p.back() and p.handles() == vertices[:3]
    p.press(doc, vertices[3])
    p.release(doc)
    p.hover((80.0, 20.0))  # the rubber band follows the mouse; the mask is untouched until Enter
    assert p.preview() == ([*vertices, (80.0, 20.0)], False)
    assert not doc.mask.any() and doc.history.undo_levels == 0
    assert p.finish(doc)
    assert np.array_equal(doc.mask, _expected_polygon(vertices, doc.shape))
    assert doc.history.undo_levels == 1 and doc.undo_label == "Polygon" and not p.pending
    # Esc drops an open polygon; fewer than three vertices cannot close
    p.press(doc, (5, 5))
    p.press(doc, (5, 60))
    assert not p.finish(doc) and p.message and p.pending
    p.cancel(doc)
    assert not p.pending and doc.history.undo_levels == 1
    assert not p.back()


def test_polygon_closes_on_its_first_vertex_and_cuts_in_remove_mode():
    doc = MaskDocument.from_mask(np.ones((60, 60), bool))
    p = PolygonTool(mode="remove")
    p.snap_radius = 3.0
    vertices = [(10.0, 10.0), (10.0, 40.0), (40.0, 40.0), (40.0, 10.0)]
    for v in vertices:
        p.press(doc, v)
        p.release(doc)
    p.press(doc, (11.5, 9.0))  # within the snap radius of the first vertex: closes, adds no vertex
    p.release(doc)
    assert not p.pending
    assert np.array_equal(~doc.mask, _expected_polygon(vertices, doc.shape))
    p.press(doc, (0, 0))
    p.move(doc, (2.0, 3.0))  # dragging after the press moves the new vertex
    assert p.handles() == [(2.0, 3.0)]


def test_smooth_stray_click_or_drag_off_the_mask_changes_nothing():
    m = _start_mask((200, 220))
    doc = MaskDocument.from_mask(m)
    t = MorphologyTool(operation="dilate", radius=3)
    t.press(doc, (80, 88))  # on the ring: a click without a drag
    t.release(doc)
    assert np.array_equal(doc.mask, m) and doc.history.undo_levels == 0 and t.message
    t.press(doc, (5, 5))  # a drag far from any mask pixel
    t.move(doc, (5, 30))
    t.release(doc)
    assert np.array_equal(doc.mask, m) and doc.history.undo_levels == 0


def test_smooth_drag_changes_only_the_brushed_area_as_the_whole_image_would():
    from pneumoviewer.editing.algorithms import capsule_modifier, morphology

    m = _start_mask((200, 220))
    doc = MaskDocument.from_mask(m)
    t = MorphologyTool(operation="dilate", radius=3, size=15)
    path = [(50.0, 60.0), (80.0, 60.0), (110.0, 70.0)]
    t.press(doc, path[0])
    for q in path[1:]:
        t.move(doc, q)
    t.release(doc)
    area = np.zeros(m.shape, bool)
    for a, b in itertools.pairwise(path):
        mod, (r0, r1, c0, c1) = capsule_modifier(a, b, 15, m.shape)
        area[r0:r1, c0:c1] |= mod
    assert np.array_equal(doc.mask, np.where(area, morphology(m, "dilate", 3), m))
    assert doc.mask.sum() > m.sum() and doc.history.undo_levels == 1
    assert doc.undo_label == "dilate 3 px"


def test_bracket_keys_size_the_smooth_brush_too():
    t = MorphologyTool(size=25, radius=3)
    assert t.cursor_radius == 25
    assert t.grow() == 30 and t.size == 30 and t.radius == 3  # the brush, not the operation's radius
    assert t.shrink() == 25
    assert FillTool().grow() is None and FillTool().cursor_radius is None
