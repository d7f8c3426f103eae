"""Every editing tool driven through the real main window: mouse drags/clicks on the canvas, keys, the tool panel."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from pneumoviewer.editing.tools import TOOLS

from .conftest import open_and_wait, send_drag


@pytest.fixture
def folder(phantom_dataset: Any, tmp_path: Path) -> Path:
    """A private copy of the phantom folder (the review store writes into `<folder>/.pneumoviewer/`)."""
    dst = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, dst)
    return dst


def editing_window(make_window: Any, qtbot: Any, folder: Path) -> Any:
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    qtbot.waitUntil(lambda: w.parts.editor.document is not None)
    w.parts.viewer.graphics.setFocus()
    return w


def screen(w: Any, row: float, col: float) -> QPoint:
    """Viewport pixel of image (row, col) (pixel centre)."""
    scene = w.parts.viewer.image_to_scene(row + 0.5, col + 0.5)
    p = w.parts.viewer.graphics.mapFromScene(scene)
    return QPoint(p.x(), p.y())


def drag(w: Any, a: tuple[float, float], b: tuple[float, float], steps: int = 12) -> None:
    send_drag(w.parts.viewer.graphics.viewport(), Qt.MouseButton.LeftButton, screen(w, *a), screen(w, *b), steps)


def click(w: Any, qtbot: Any, at: tuple[float, float]) -> None:
    qtbot.mouseClick(w.parts.viewer.graphics.viewport(), Qt.MouseButton.LeftButton, pos=screen(w, *at))


def key(w: Any, qtbot: Any, k: Any, mod: Any = Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(w.parts.viewer.graphics, k, mod)


def doc_of(w: Any) -> Any:
    return w.parts.editor.document


def test_number_keys_pick_tools_and_panel_follows(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    ctl, panel = w.parts.editor, w.parts.tool_panel
    assert ctl.tool is None and w.parts.viewer.tool_handler is None  # starts in pan mode
    for i, name in enumerate(TOOLS, start=1):
        key(w, qtbot, getattr(Qt.Key, f"Key_{i}"))
        assert ctl.tool_name == name
        assert panel.buttons[name].isChecked()
        assert w.parts.viewer.tool_handler is ctl
    key(w, qtbot, Qt.Key.Key_0)
    assert ctl.tool is None and w.parts.viewer.tool_handler is None
    qtbot.mouseClick(panel.buttons["fill"], Qt.MouseButton.LeftButton)
    assert ctl.tool_name == "fill"


def test_brush_stroke_paints_one_undo_step_and_undo_redo_keys(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    doc.replace(np.zeros(doc.shape, bool))
    before = doc.mask.copy()
    key(w, qtbot, Qt.Key.Key_1)
    w.parts.editor.set_option("radius", 5)
    drag(w, (100, 60), (100, 180), steps=5)  # big jumps between events: the stroke must still be gap-free
    after = doc.mask.copy()
    assert after[100, 60:181].all()  # the whole segment, no gaps
    assert after[95, 120] and not after[90, 120]  # radius 5
    assert doc.undo_label == "Brush"
    # the overlay shows the document's pixels (the partial repaint wrote the RGBA slice)
    rgba = w.parts.review_overlay._rgba
    assert (rgba[..., 3] > 0).sum() == after.sum()
    assert w.parts.tool_panel.undo_button.text() == "Undo Brush"
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(doc.mask, before)
    assert (w.parts.editor.overlay._rgba[..., 3] > 0).sum() == 0
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert np.array_equal(doc.mask, after)
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(w, qtbot, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(doc.mask, after)


def test_bracket_keys_resize_and_cursor_outline_follows(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    ctl = w.parts.editor
    key(w, qtbot, Qt.Key.Key_1)
    r0 = ctl.radius
    key(w, qtbot, Qt.Key.Key_BracketRight)
    assert ctl.radius > r0
    spin = w.parts.tool_panel.option_widgets[("brush", "radius")]
    assert spin.value() == ctl.radius  # the panel follows the key
    key(w, qtbot, Qt.Key.Key_BracketLeft)
    key(w, qtbot, Qt.Key.Key_BracketLeft)
    assert ctl.radius < r0
    ctl.hover(50.2, 70.7)
    rect = ctl.cursor_item.rect()
    assert ctl.cursor_item.isVisible()
    assert rect.width() == pytest.approx(2 * ctl.radius + 1)
    assert rect.center().x() == pytest.approx(70.5) and rect.center().y() == pytest.approx(50.5)
    spacing = w.parts.nav.current_image().meta.pixel_spacing
    if spacing:
        assert "mm" in ctl.radius_text()
        assert "mm" in w.parts.tool_panel.size_labels["brush"].text()


def test_eraser_and_shift_flip(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    start = np.zeros(doc.shape, bool)
    start[80:160, 80:160] = True
    doc.replace(start)
    key(w, qtbot, Qt.Key.Key_2)  # eraser
    w.parts.editor.set_option("radius", 4)
    drag(w, (120, 70), (120, 170))
    assert not doc.mask[116:125, 85:155].any() and doc.mask[100, 120]
    # brush with Shift held at the press removes
    key(w, qtbot, Qt.Key.Key_1)
    w.parts.editor.set_option("radius", 4)
    vp = w.parts.viewer.graphics.viewport()
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    def ev(kind, pos, button, held, mods):
        e = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, held, mods)
        QApplication.sendEvent(vp, e)

    shift, left, none = Qt.KeyboardModifier.ShiftModifier, Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    a, b = screen(w, 95, 90), screen(w, 95, 150)
    ev(QMouseEvent.Type.MouseButtonPress, a, left, left, shift)
    for i in range(1, 11):
        p = QPoint(round(a.x() + (b.x() - a.x()) * i / 10), a.y())
        ev(QMouseEvent.Type.MouseMove, p, none, left, shift)
    ev(QMouseEvent.Type.MouseButtonRelease, b, left, none, shift)
    assert not doc.mask[95, 95:145].any()
    assert w.parts.editor.tool.mode == "add"  # the flip lasts one stroke


def test_escape_cancels_the_stroke(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    doc.replace(np.zeros(doc.shape, bool))
    key(w, qtbot, Qt.Key.Key_1)
    vp = w.parts.viewer.graphics.viewport()
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def ev(kind, pos, button, held):
        e = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, held, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, e)

    a = screen(w, 100, 60)
    ev(QMouseEvent.Type.MouseButtonPress, a, left, left)
    for i in range(1, 8):
        ev(QMouseEvent.Type.MouseMove, QPoint(a.x() + 10 * i, a.y()), none, left)
    assert doc.mask.any()
    key(w, qtbot, Qt.Key.Key_Escape)
    assert not doc.mask.any()
    ev(QMouseEvent.Type.MouseMove, QPoint(a.x() + 90, a.y()), none, left)  # the rest of the drag is ignored
    ev(QMouseEvent.Type.MouseButtonRelease, QPoint(a.x() + 90, a.y()), left, none)
    assert not doc.mask.any() and not doc.can_undo


def test_space_drag_still_pans_with_a_tool(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    doc.replace(np.zeros(doc.shape, bool))
    key(w, qtbot, Qt.Key.Key_1)
    before = w.parts.viewer.view_box.viewRange()
    qtbot.keyPress(w.parts.viewer.graphics, Qt.Key.Key_Space)
    drag(w, (100, 60), (100, 160))
    qtbot.keyRelease(w.parts.viewer.graphics, Qt.Key.Key_Space)
    assert not doc.mask.any()
    assert w.parts.viewer.view_box.viewRange() != before


def test_fill_click_fills_a_hole(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    ring = np.zeros(doc.shape, bool)
    ring[60:140, 60:140] = True
    ring[80:120, 80:120] = False
    doc.replace(ring)
    key(w, qtbot, Qt.Key.Key_3)
    click(w, qtbot, (100, 100))
    assert doc.mask[60:140, 60:140].all()
    assert doc.undo_label == "Fill"
    click(w, qtbot, (10, 10))  # outside: reaches the border, nothing filled, a message says why
    assert doc.mask.sum() == 80 * 80
    assert "border" in w.parts.tool_panel.message.text()


def test_polygon_drag_fills_the_outline(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    doc.replace(np.zeros(doc.shape, bool))
    key(w, qtbot, Qt.Key.Key_4)
    vp = w.parts.viewer.graphics.viewport()
    pts = [(60, 60), (60, 180), (180, 180), (180, 60), (62, 60)]
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def ev(kind, pos, button, held):
        e = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, held, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, e)

    ev(QMouseEvent.Type.MouseButtonPress, screen(w, *pts[0]), left, left)
    for (r0, c0), (r1, c1) in itertools.pairwise(pts):
        for i in range(1, 9):
            t = i / 8
            ev(QMouseEvent.Type.MouseMove, screen(w, r0 + (r1 - r0) * t, c0 + (c1 - c0) * t), none, left)
    assert not doc.mask.any()  # nothing until release; the preview line shows the outline
    assert not w.parts.editor.preview_item.path().isEmpty()
    ev(QMouseEvent.Type.MouseButtonRelease, screen(w, *pts[-1]), left, none)
    assert doc.mask[70:170, 70:170].all() and not doc.mask[:50].any()
    assert w.parts.editor.preview_item.path().isEmpty()


def test_islands_click_and_apply(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    m = np.zeros(doc.shape, bool)
    m[40:100, 40:100] = True  # big
    m[150:160, 150:160] = True  # small
    m[200:205, 30:35] = True  # tiny
    doc.replace(m)
    key(w, qtbot, Qt.Key.Key_6)  # islands, default: remove clicked
    click(w, qtbot, (155, 155))
    assert not doc.mask[150:160, 150:160].any() and doc.mask[200:205, 30:35].all()
    panel = w.parts.tool_panel
    combo = panel.option_widgets[("islands", "action")]
    combo.setCurrentIndex(combo.findData("keep_largest"))
    assert panel.apply_button.isVisible()
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert doc.mask.sum() == 60 * 60


def test_morphology_apply_and_clear(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    m = np.zeros(doc.shape, bool)
    m[50:150, 50:150] = True
    doc.replace(m)
    key(w, qtbot, Qt.Key.Key_7)  # morphology
    panel = w.parts.tool_panel
    combo = panel.option_widgets[("morphology", "operation")]
    combo.setCurrentIndex(combo.findData("erode"))
    panel.option_widgets[("morphology", "radius")].setValue(5)
    qtbot.mouseClick(panel.apply_button, Qt.MouseButton.LeftButton)
    assert doc.mask.sum() < 100 * 100 and doc.mask[100, 100] and not doc.mask[52, 100]
    assert "erode" in panel.undo_button.text()
    key(w, qtbot, Qt.Key.Key_8)  # clear: a click on the image clears, Ctrl+Z brings it back
    click(w, qtbot, (10, 10))
    assert not doc.mask.any()
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert doc.mask[100, 100]
    qtbot.mouseClick(panel.undo_button, Qt.MouseButton.LeftButton)
    assert doc.mask.sum() == 100 * 100


def test_partial_repaint_reaches_the_screen_and_matches_a_full_redraw(make_window, qtbot, folder):
    """The brush repaints only the dirty rectangle, and what the window shows equals a full redraw."""
    from pneumoviewer.gui.overlay import _shares_buffer

    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    doc.replace(np.zeros(doc.shape, bool))
    overlay = w.parts.editor.overlay
    qtbot.waitUntil(lambda: overlay.qimage is not None)  # the first paint built the layer's QImage
    assert _shares_buffer(overlay.qimage, overlay._rgba)  # the fast path is the one in use
    key(w, qtbot, Qt.Key.Key_1)
    w.parts.editor.set_option("radius", 8)
    vp = w.parts.viewer.graphics.viewport()

    def shot() -> Any:
        qtbot.wait(30)  # let the queued paint of the dirty region happen
        return w.screen().grabWindow(vp.winId()).toImage()

    before = shot()
    drag(w, (60, 40), (60, 200))
    after = shot()
    p = vp.mapTo(w.window(), screen(w, 60, 120)) if vp.winId() == w.winId() else screen(w, 60, 120)
    assert before.pixelColor(p) != after.pixelColor(p)  # the stroke reached the screen
    w.parts.editor.set_option("radius", 3)
    for c in (10, 20, 30):
        drag(w, (150, c), (230, c + 40))
    incremental = shot()
    overlay.set_mask(doc.mask)  # full rebuild + full repaint
    w.parts.viewer.graphics.viewport().update()
    full = shot()
    assert incremental == full
    # contour mode: the partial slice (grown by the contour width) equals a full rebuild of the RGBA layer
    overlay.set_style(mode="contour")
    drag(w, (100, 100), (120, 180))
    partial_rgba = overlay._rgba.copy()
    overlay.set_mask(doc.mask)
    assert np.array_equal(partial_rgba, overlay._rgba)
