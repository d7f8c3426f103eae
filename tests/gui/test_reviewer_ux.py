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


def test_first_window_fits_the_available_screen(qtbot):
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QGuiApplication

    from pneumoviewer.gui.main_window import MainWindow, first_window_geometry

    laptop = QRect(0, 0, 1366, 728)  # a 1366×768 screen less a 40 px task bar
    g = first_window_geometry(laptop)
    assert laptop.contains(g) and (g.width(), g.height()) != (1500, 950)
    assert g.width() >= 1300 and g.height() >= 660  # fitted, not shrunk to a postage stamp
    big = first_window_geometry(QRect(1920, 0, 2560, 1400))  # a second, larger screen: the full size, centred on it
    assert (big.width(), big.height()) == (1500, 950) and big.center().x() == 1920 + 1280 - 1
    w = MainWindow()  # the offscreen platform's screen is smaller than 1500×950
    qtbot.addWidget(w)
    assert QGuiApplication.primaryScreen().availableGeometry().contains(w.geometry())


def test_a_long_undo_label_is_elided_and_the_dock_keeps_its_width(make_window, qtbot, phantom_dataset, tmp_path):
    import shutil

    import numpy as np

    folder = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, folder)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    qtbot.waitUntil(lambda: w.parts.editor.document is not None)
    dock = w.docks["edit"]
    before = dock.minimumSizeHint().width()
    doc = w.parts.editor.document
    mask = np.zeros(doc.shape, bool)
    mask[20:40, 20:40] = True
    label = "Islands: remove every island smaller than 250 px (8-connected)"
    doc.set_mask(mask, label=label)
    button = w.parts.tool_panel.undo_button
    qtbot.waitUntil(lambda: button.isEnabled())
    assert button.text() != f"Undo {label}" and button.text().startswith("Undo Islands")
    assert label in button.toolTip() and "Ctrl+Z" in button.toolTip()
    assert dock.minimumSizeHint().width() <= before
