"""Property: any sequence of tool edits undoes back to the start and redoes back to the end, step by step."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pneumoviewer.editing import MaskDocument
from pneumoviewer.editing.tools import create_tool

H, W = 37, 53
coord = st.tuples(st.floats(-5, H + 5), st.floats(-5, W + 5))
op = st.one_of(
    st.tuples(
        st.just("brush"), st.integers(0, 9), st.sampled_from(["add", "remove"]), st.lists(coord, min_size=1, max_size=6)
    ),
    st.tuples(st.just("eraser"), st.integers(0, 9), st.just("remove"), st.lists(coord, min_size=1, max_size=6)),
    st.tuples(
        st.just("lasso"), st.just(0), st.sampled_from(["add", "remove"]), st.lists(coord, min_size=0, max_size=7)
    ),
    st.tuples(
        st.just("polygon"), st.just(0), st.sampled_from(["add", "remove"]), st.lists(coord, min_size=0, max_size=7)
    ),
    st.tuples(st.just("fill"), st.just(0), st.sampled_from(["add", "remove"]), st.lists(coord, min_size=1, max_size=1)),
    st.tuples(
        st.just("islands"),
        st.integers(1, 30),
        st.sampled_from(["keep_largest", "remove_small", "remove_clicked"]),
        st.lists(coord, min_size=1, max_size=1),
    ),
    st.tuples(
        st.just("morphology"),
        st.integers(1, 3),
        st.sampled_from(["open", "close", "dilate", "erode"]),
        st.lists(coord, min_size=1, max_size=5),
    ),
    st.tuples(st.just("clear"), st.just(0), st.just(""), st.just([(0.0, 0.0)])),
)


def _run(doc, name, n, choice, pts):
    if name in ("brush", "eraser"):
        tool = create_tool(name, radius=n, mode=choice)
    elif name in ("lasso", "polygon", "fill"):
        tool = create_tool(name, mode=choice)
    elif name == "islands":
        tool = create_tool(name, action=choice, min_size=n)
    elif name == "morphology":
        tool = create_tool(name, operation=choice, radius=n)
    else:
        tool = create_tool(name)
    if name == "polygon":  # click by click, then closed by finish (no click snaps: one polygon per op)
        tool.snap_radius = 0.0
        for p in pts:
            tool.press(doc, p)
            tool.release(doc)
        tool.finish(doc)
        return
    if pts:
        tool.press(doc, pts[0])
        for p in pts[1:]:
            tool.move(doc, p)
    tool.release(doc)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(op, min_size=1, max_size=12), seed=st.integers(0, 2**16))
def test_undo_redo_walks_every_state_exactly(ops, seed):
    start = np.random.default_rng(seed).random((H, W)) < 0.3
    doc = MaskDocument.from_mask(start)
    states = [doc.mask.copy()]
    for o in ops:
        before = doc.version
        levels = doc.history.undo_levels
        _run(doc, *o)
        if doc.history.undo_levels > levels:
            states.append(doc.mask.copy())
        else:  # no undo item recorded: the mask must be unchanged
            assert np.array_equal(doc.mask, states[-1]), (o, before, doc.version)
    for expected in reversed(states[:-1]):
        assert doc.undo()
        assert np.array_equal(doc.mask, expected)
    assert not doc.undo()
    for expected in states[1:]:
        assert doc.redo()
        assert np.array_equal(doc.mask, expected)
    assert not doc.redo()
