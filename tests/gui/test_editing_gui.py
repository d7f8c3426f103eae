"""Every editing tool driven through the real main window: mouse drags/clicks on the canvas, keys, the tool panel."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import textwrap
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


def double_click(w: Any, pos: QPoint) -> None:
    """What a real double-click delivers: press, release, double-click, release (QTest's mouseDClick is not it)."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    vp = w.parts.viewer.graphics.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    for kind, held in ((QMouseEvent.Type.MouseButtonPress, left), (QMouseEvent.Type.MouseButtonRelease, none),
                       (QMouseEvent.Type.MouseButtonDblClick, left), (QMouseEvent.Type.MouseButtonRelease, none)):
        ev = QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), left, held, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)


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


def test_lasso_drag_fills_the_outline_as_one_lasso_step(make_window, qtbot, folder):
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
    assert doc.undo_label == "Lasso" and doc.history.undo_levels == 1
    assert w.parts.tool_panel.undo_button.text() == "Undo Lasso"
    assert w.parts.actions["undo"].text().replace("&", "") == "Undo Lasso"


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


def _expected_polygon(vertices: list[tuple[float, float]], shape: tuple[int, int]) -> np.ndarray:
    from skimage.draw import polygon

    want = np.zeros(shape, bool)
    rr, cc = polygon([v[0] for v in vertices], [v[1] for v in vertices], shape=shape)
    want[rr, cc] = True
    return want


def _placed(w: Any, qtbot: Any, at: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Click each pixel; all the vertices the tool now holds (the new ones within a screen pixel of those asked)."""
    tool = w.parts.editor.tool
    for p in at:
        click(w, qtbot, p)
    got = list(tool.handles())
    tol = 1.0 / w.parts.viewer.zoom() + 0.01
    assert len(got) >= len(at)
    assert all(abs(g[0] - a[0]) <= tol and abs(g[1] - a[1]) <= tol for g, a in zip(got[-len(at) :], at, strict=True))
    return got


def test_polygon_vertices_backspace_enter_fill_one_polygon_step(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc, ctl = doc_of(w), w.parts.editor
    doc.replace(np.zeros(doc.shape, bool))
    key(w, qtbot, Qt.Key.Key_5)
    assert ctl.tool_name == "polygon" and w.parts.tool_panel.buttons["polygon"].isChecked()
    _placed(w, qtbot, [(40, 50), (45, 200), (190, 220), (120, 120)])
    key(w, qtbot, Qt.Key.Key_Backspace)  # the wrong fourth vertex goes
    assert len(ctl.tool.handles()) == 3
    vertices = _placed(w, qtbot, [(170, 60)])
    qtbot.mouseMove(w.parts.viewer.graphics.viewport(), screen(w, 150, 30))  # the rubber band follows the mouse
    assert ctl.tool.preview()[0][-1] != vertices[-1]
    assert not ctl.preview_item.path().isEmpty()
    assert not doc.mask.any() and doc.history.undo_levels == 0  # nothing written before it is closed
    key(w, qtbot, Qt.Key.Key_Return)
    assert np.array_equal(doc.mask, _expected_polygon(vertices, doc.shape))
    assert doc.history.undo_levels == 1 and doc.undo_label == "Polygon"
    assert w.parts.tool_panel.undo_button.text() == "Undo Polygon"
    assert ctl.preview_item.path().isEmpty() and not ctl.tool.pending
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not doc.mask.any()


def test_polygon_escape_drops_it_and_double_click_or_first_vertex_closes(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc, ctl = doc_of(w), w.parts.editor
    doc.replace(np.zeros(doc.shape, bool))
    key(w, qtbot, Qt.Key.Key_5)
    _placed(w, qtbot, [(40, 40), (40, 120), (120, 120)])
    key(w, qtbot, Qt.Key.Key_Escape)
    assert not ctl.tool.pending and not doc.mask.any() and doc.history.undo_levels == 0
    assert ctl.tool_name == "polygon"  # Esc dropped the polygon, not the tool
    # a click on the first vertex closes it
    square = _placed(w, qtbot, [(40, 40), (40, 120), (120, 120), (120, 40)])
    click(w, qtbot, (40, 40))
    assert not ctl.tool.pending
    assert np.array_equal(doc.mask, _expected_polygon(square, doc.shape)) and doc.history.undo_levels == 1
    # a double-click places its vertex and closes; in Remove mode the polygon is cut out
    ctl.set_option("mode", "remove")
    vertices = _placed(w, qtbot, [(60, 60), (60, 100), (100, 100)])
    last = screen(w, 100, 60)
    double_click(w, last)
    assert not ctl.tool.pending
    viewer = w.parts.viewer
    vertices.append(ctl._pt(*viewer.scene_to_image(viewer.graphics.mapToScene(last))))
    want = _expected_polygon(square, doc.shape) & ~_expected_polygon(vertices, doc.shape)
    assert np.array_equal(doc.mask, want)
    assert doc.history.undo_levels == 2 and doc.undo_label == "Polygon"


def test_smooth_stray_click_leaves_mask_and_history_alone(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc = doc_of(w)
    m = np.zeros(doc.shape, bool)
    m[60:140, 60:140] = True
    m[100, 60:100] = False  # a slit a closing fills
    doc.replace(m)
    key(w, qtbot, Qt.Key.Key_7)
    assert w.parts.editor.tool_name == "morphology"
    for at in ((100, 100), (10, 200)):  # on the mask, then far from it
        click(w, qtbot, at)
        assert np.array_equal(doc.mask, m) and doc.history.undo_levels == 0 and not doc.can_undo
    assert "Drag" in w.parts.tool_panel.message.text()
    drag(w, (10, 200), (20, 240))  # a drag that touches no mask pixel: nothing either
    assert np.array_equal(doc.mask, m) and doc.history.undo_levels == 0
    w.parts.editor.set_option("size", 5)
    assert w.parts.editor.radius == 5  # the outline cursor shows the brushed area
    drag(w, (100, 62), (100, 80))  # over the slit's open end: closed there only
    assert doc.history.undo_levels == 1 and doc.undo_label == "close 3 px"
    assert doc.mask[100, 62:75].all() and not doc.mask[100, 90:100].any()


WARM_CHILD = textwrap.dedent(
    """
    import json, sys, threading, time
    watched = {"scipy.ndimage": None, "skimage.draw": None}

    class Spy:  # records which thread first imports each watched module, and when
        def find_spec(self, name, path=None, target=None):
            if name in watched and watched[name] is None:
                watched[name] = [threading.current_thread().name, time.perf_counter()]
            return None

    sys.meta_path.insert(0, Spy())
    from PySide6.QtCore import QTimer
    from pneumoviewer.app import create_app

    app, w = create_app([sys.argv[1], "--no-ai"])
    seen = {}
    w.parts.nav.imagePainted.connect(lambda i: seen.setdefault("painted", time.perf_counter()))

    def check():
        if "painted" in seen and all(watched.values()):
            app.quit()

    timer = QTimer(); timer.timeout.connect(check); timer.start(20)
    QTimer.singleShot(30000, app.quit)
    app.exec()
    w.close()
    print("RESULT" + json.dumps({"painted": seen.get("painted"), "imports": watched}))
    """
)


def test_the_editing_libraries_are_imported_off_the_gui_thread_after_the_first_paint(folder):
    """No edit is made: the first Fill's libraries arrive by themselves, in the warm-up thread, once painted."""
    from pneumoviewer.gui.editing_controller import WARM_UP_THREAD

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run([sys.executable, "-c", WARM_CHILD, str(folder)], env=env, capture_output=True, text=True,
                          timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line is not None, proc.stdout + proc.stderr
    seen = json.loads(line[len("RESULT") :])
    assert seen["painted"] is not None
    for module, (thread, when) in seen["imports"].items():
        assert thread == WARM_UP_THREAD, (module, thread)
        assert when > seen["painted"], module


def test_every_key_is_bound_once_and_the_polygon_keys_come_from_the_table():
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent, QKeySequence

    from pneumoviewer.gui.shortcuts import SHORTCUTS, matches

    keys = [QKeySequence(k).toString() for s in SHORTCUTS for k in s.keys]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    assert {f"tool_{name}" for name in TOOLS} <= {s.action for s in SHORTCUTS}
    press = QEvent.Type.KeyPress
    none, keypad = Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier
    assert matches("polygon_close", QKeyEvent(press, Qt.Key.Key_Return, none))
    assert matches("polygon_close", QKeyEvent(press, Qt.Key.Key_Enter, keypad))  # the keypad's Enter
    assert matches("polygon_back", QKeyEvent(press, Qt.Key.Key_Backspace, none))
    assert not matches("polygon_back", QKeyEvent(press, Qt.Key.Key_Backspace, Qt.KeyboardModifier.ControlModifier))


def test_shift_on_the_first_vertex_cuts_the_whole_polygon_out(make_window, qtbot, folder):
    w = editing_window(make_window, qtbot, folder)
    doc, ctl = doc_of(w), w.parts.editor
    doc.replace(np.ones(doc.shape, bool))
    key(w, qtbot, Qt.Key.Key_5)
    vp = w.parts.viewer.graphics.viewport()
    qtbot.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, screen(w, 30, 30))
    assert ctl.tool.mode == "remove"
    vertices = _placed(w, qtbot, [(30, 150), (150, 150)])  # no Shift: still the same polygon, still removing
    assert ctl.tool.mode == "remove"
    key(w, qtbot, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert np.array_equal(~doc.mask, _expected_polygon(vertices, doc.shape))
    assert ctl.tool.mode == "add"  # the flip lasted one polygon


def test_an_open_polygon_survives_the_ai_result_and_is_dropped_by_another_image(make_window, qtbot, folder):
    from pneumoviewer.core.types import ModelInfo, Prediction

    w = editing_window(make_window, qtbot, folder)
    ctl, session = w.parts.editor, w.parts.session
    key(w, qtbot, Qt.Key.Key_5)
    vertices = _placed(w, qtbot, [(40, 40), (40, 160), (160, 160)])
    first_doc = doc_of(w)
    ai = np.zeros(first_doc.shape, bool)
    ai[300:340, 300:340] = True
    session.add_prediction(Prediction(session.current, 0.9, ai, ModelInfo("rect-test", "0.1"), device="CPU"))
    qtbot.waitUntil(lambda: np.array_equal(doc_of(w).mask, ai))  # the untouched document follows the AI mask
    assert ctl.tool.pending and ctl.tool.handles() == vertices  # the reader's polygon is still there
    key(w, qtbot, Qt.Key.Key_Return)
    assert np.array_equal(doc_of(w).mask, ai | _expected_polygon(vertices, ai.shape))
    _placed(w, qtbot, [(40, 40), (40, 160)])
    w.parts.nav.step(+1)  # another image: the open polygon is dropped, nothing is written anywhere
    qtbot.waitUntil(lambda: w.parts.nav.shown == session.current and doc_of(w) is not None
                    and doc_of(w) is not first_doc)
    assert not ctl.tool.pending
