"""Issue 14's reviewer experience, driven like a user: the preset box tells the truth, plain C/W numbers, a
read-out that follows the image."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from .conftest import open_and_wait, send_drag


def test_preset_box_says_custom_when_no_preset_applies(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    w.parts.view.apply_preset("Lung")
    assert w.parts.view.preset_combo.currentText() == "Lung"
    w.close()
    # reopened, the image shows its DICOM default window: the box says so, not the last preset's name
    w2 = make_window(run_ai=False)
    open_and_wait(qtbot, w2, phantom_dataset.root)
    combo = w2.parts.view.preset_combo
    assert combo.currentText() == "DICOM default"
    before = w2.parts.viewer.window()
    vp = w2.parts.viewer.graphics.viewport()
    centre = vp.rect().center()
    send_drag(vp, Qt.MouseButton.RightButton, centre, centre + QPoint(60, 40))
    qtbot.waitUntil(lambda: w2.parts.viewer.window() != before)
    assert combo.currentText() == "Custom"
    w2.parts.view.apply_preset("Bone")
    assert combo.currentText() == "Bone"
    w2.parts.viewer.apply_preset("Lung")  # F3 reaches the viewer directly: the box follows too
    assert combo.currentText() == "Lung"


def test_window_values_read_as_plain_numbers(make_window, qtbot, phantom_dataset):
    from pneumoviewer.gui.view_controls import plain_number

    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    w.parts.viewer.set_window(15000, 30000)  # a 15-bit CR's window
    assert w.parts.view.wl_label.text() == "C 15000  W 30000"
    assert w.parts.view.preset_combo.currentText() == "Custom"
    assert [plain_number(v) for v in (127.5, 0.36, -1024.0, 2.0)] == ["127.5", "0.36", "-1024", "2"]


def test_pixel_read_out_follows_the_image_under_a_still_cursor(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    first = w.parts.nav.current_image()
    r, c = 40, 77
    w.parts.viewer.cursorMoved.emit(r + 0.2, c + 0.2)
    assert w.parts.view.value_label.text() == f"value {first.pixels[r, c]}"
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: w.parts.nav.current_image() is not None and w.parts.nav.current_image() is not first)
    second = w.parts.nav.current_image()
    assert second.pixels[r, c] != first.pixels[r, c]  # the phantoms differ there, so a stale read-out would show
    assert w.parts.view.value_label.text() == f"value {second.pixels[r, c]}"
