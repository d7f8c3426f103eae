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


def _window_with_ai_mask(make_window, qtbot, phantom_dataset, tmp_path):
    """The window on the first image of a private phantom copy, with an AI result whose mask is a rectangle."""
    import shutil

    import numpy as np

    from pneumoviewer.core.types import ModelInfo, Prediction

    folder = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, folder)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    qtbot.waitUntil(lambda: w.parts.editor.document is not None and w.parts.nav.shown == w.parts.session.current)
    image_id = w.parts.session.current
    h, wd = w.parts.editor.document.shape
    ai = np.zeros((h, wd), bool)
    ai[h // 4 : h // 2, wd // 4 : wd // 2] = True
    w.parts.session.add_prediction(Prediction(image_id, 0.9, ai, ModelInfo("rect-test", "0.1"), device="CPU"))
    qtbot.waitUntil(lambda: w.parts.ai_overlay.mask is not None)
    qtbot.waitUntil(lambda: np.array_equal(w.parts.editor.document.mask, ai))  # untouched: it follows the AI
    w.parts.viewer.graphics.setFocus()
    return w, ai


def test_an_untouched_copy_of_the_ai_mask_is_drawn_once_and_layers_toggle(make_window, qtbot, phantom_dataset,
                                                                          tmp_path):
    import numpy as np

    w, ai = _window_with_ai_mask(make_window, qtbot, phantom_dataset, tmp_path)
    layers, metadata = w.parts.layers, w.parts.metadata
    assert w.parts.ai_overlay.isVisible() and not w.parts.review_overlay.isVisible()  # no teal copy on the amber
    assert "Dice 1.00" in metadata.agreement.text()
    mine = ai.copy()
    mine[ai.shape[0] // 4 : ai.shape[0] // 3, :] = False  # remove a band, add a block
    mine[-20:-10, -20:-10] = True
    w.parts.editor.document.set_mask(mine, label="test edit")
    assert w.parts.review_overlay.isVisible()
    expected = 2 * np.count_nonzero(ai & mine) / (np.count_nonzero(ai) + np.count_nonzero(mine))
    assert f"Dice {expected:.2f}" in metadata.agreement.text() and "+100 /" in metadata.agreement.text()
    # Alt+1 hides the AI layer; the legend box and the menu action follow
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert not w.parts.ai_overlay.isVisible() and w.parts.review_overlay.isVisible()
    assert not metadata.layer_boxes["ai"].isChecked() and not w.parts.actions["layer_ai"].isChecked()
    # a click on the legend entry hides my layer
    metadata.layer_boxes["mine"].click()
    assert not w.parts.review_overlay.isVisible() and not w.parts.actions["layer_mine"].isChecked()
    metadata.layer_boxes["mine"].click()
    # M hides everything; M again restores what the per-layer toggles say (AI still off)
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_M)
    assert not w.parts.review_overlay.isVisible()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_M)
    assert w.parts.review_overlay.isVisible() and not w.parts.ai_overlay.isVisible()
    assert layers.shown == {"ai": False, "mine": True, "reference": True}
    # Alt+3 toggles the reference layer's action (its mask comes from an import: see test_review_gui)
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert not w.parts.actions["reference_layer"].isChecked() and not metadata.layer_boxes["reference"].isChecked()


def test_difference_view_shows_added_and_removed_pixels_in_their_colours(make_window, qtbot, phantom_dataset,
                                                                          tmp_path):
    import numpy as np
    from PySide6.QtGui import QColor

    from pneumoviewer.gui import theme

    w, ai = _window_with_ai_mask(make_window, qtbot, phantom_dataset, tmp_path)
    layers = w.parts.layers
    mine = ai.copy()
    mine[ai.shape[0] // 4 : ai.shape[0] // 3, :] = False
    mine[-20:-10, -20:-10] = True
    w.parts.editor.document.set_mask(mine, label="test edit")
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_D)
    assert w.parts.actions["difference"].isChecked() and w.parts.metadata.layer_boxes["difference"].isChecked()
    assert np.array_equal(layers.added.mask, mine & ~ai) and np.array_equal(layers.removed.mask, ai & ~mine)
    assert layers.added.isVisible() and layers.removed.isVisible()
    assert not w.parts.ai_overlay.isVisible() and not w.parts.review_overlay.isVisible()
    assert layers.added.color == QColor(theme.ADDED_MASK_COLOR)
    assert layers.removed.color == QColor(theme.REMOVED_MASK_COLOR)
    r, c = np.argwhere(mine & ~ai)[0]
    assert tuple(layers.added.image[r, c, :3]) == QColor(theme.ADDED_MASK_COLOR).getRgb()[:3]
    # back to the AI mask: nothing differs, and mine is drawn once again, under the AI layer
    w.parts.editor.document.set_mask(ai, label="back to the AI mask")
    assert not layers.added.mask.any() and not layers.removed.mask.any()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_D)
    assert w.parts.ai_overlay.isVisible() and not layers.added.isVisible()
    assert not w.parts.review_overlay.isVisible()  # equal to the AI mask again: drawn once, in amber


def test_auto_advance_after_a_decision_is_on_by_default_and_can_be_turned_off(make_window, qtbot, phantom_dataset,
                                                                              tmp_path):
    import shutil

    from pneumoviewer.gui.settings import Settings

    assert Settings().auto_advance()  # a fresh profile: on
    folder = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, folder)
    w = make_window(run_ai=False, auto_advance=True)
    open_and_wait(qtbot, w, folder)
    ids = w.parts.worklist.visible_image_ids()
    qtbot.waitUntil(lambda: w.parts.nav.shown == ids[0] and w.parts.editor.document is not None)
    assert w.parts.actions["auto_advance"].isChecked()
    graphics = w.parts.viewer.graphics
    graphics.setFocus()
    qtbot.keyClick(graphics, Qt.Key.Key_N)
    qtbot.waitUntil(lambda: w.parts.nav.shown == ids[1])
    assert w.parts.session.status(ids[0]).value == "negative"
    qtbot.keyClick(graphics, Qt.Key.Key_A)  # no AI result: refused, so nothing was decided and it stays
    assert w.parts.session.current == ids[1] and w.parts.session.status(ids[1]).value == "unreviewed"
    qtbot.keyClick(graphics, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: w.parts.nav.shown == ids[2])
    assert w.parts.session.status(ids[1]).value == "flagged"
    w.parts.actions["auto_advance"].trigger()  # off: the decision stays on screen
    qtbot.keyClick(graphics, Qt.Key.Key_N)
    assert w.parts.session.status(ids[2]).value == "negative" and w.parts.session.current == ids[2]
    w.close()
    w2 = make_window(run_ai=False, auto_advance=None)  # the choice is remembered
    assert not w2.parts.actions["auto_advance"].isChecked() and not w2.parts.review.auto_advance


def test_t_sorts_by_ai_probability_and_goes_to_the_top(make_window, qtbot, phantom_dataset, tmp_path):
    import shutil

    import numpy as np

    from pneumoviewer.core.types import ModelInfo, Prediction

    folder = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, folder)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    ids = w.parts.worklist.visible_image_ids()
    qtbot.waitUntil(lambda: w.parts.nav.shown == ids[0])
    shape = w.parts.editor.document.shape if w.parts.editor.document is not None else (256, 256)
    top = ids[len(ids) // 2]
    for i, image_id in enumerate(ids):  # the middle image gets the highest probability
        p = 0.99 if image_id == top else 0.1 + 0.01 * i
        w.parts.session.add_prediction(Prediction(image_id, p, np.zeros(shape, bool), ModelInfo("t", "0.1")))
    qtbot.waitUntil(lambda: w.parts.worklist_model.rowCount() == len(ids))
    w.parts.viewer.graphics.setFocus()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_T)
    assert w.parts.worklist.visible_image_ids()[0] == top
    qtbot.waitUntil(lambda: w.parts.nav.shown == top)


def test_review_record_in_the_details_and_the_comment_edited_through_the_session(make_window, qtbot,
                                                                                  phantom_dataset, tmp_path):
    import shutil

    folder = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, folder)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    qtbot.waitUntil(lambda: w.parts.editor.document is not None and w.parts.nav.shown == w.parts.session.current)
    session, metadata = w.parts.session, w.parts.metadata
    image_id = session.current
    assert metadata.record_text.text() == "not reviewed yet" and metadata.comment_text.text() == "No comment"
    w.parts.viewer.graphics.setFocus()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_N)
    session.flush()  # saves queued together coalesce into one (the newest state): here both reach the journal
    w.parts.review.ask_comment = lambda _id: "apex unclear"
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    session.flush()
    reviewer = session.store.reviewer
    qtbot.waitUntil(lambda: "flagged" in metadata.record_text.text())
    text = metadata.record_text.text()
    assert f"by {reviewer}" in text and text.index("negative") < text.index("flagged")
    assert metadata.comment_text.text() == "Comment: apex unclear"
    # Edit comment… goes through the session: same status, new comment, saved, one undo step
    w.parts.review.ask_comment = lambda _id: "  small apical rim  "
    qtbot.mouseClick(metadata.edit_comment, Qt.MouseButton.LeftButton)
    assert session.comment(image_id) == "small apical rim" and session.status(image_id).value == "flagged"
    assert metadata.comment_text.text() == "Comment: small apical rim"
    session.flush()
    assert session.store.comment(image_id) == "small apical rim"
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert session.comment(image_id) == "apex unclear" and metadata.comment_text.text() == "Comment: apex unclear"
    w.close()
    w2 = make_window(run_ai=False)  # the record comes back with the folder
    open_and_wait(qtbot, w2, folder)
    qtbot.waitUntil(lambda: w2.parts.nav.shown == image_id)
    assert "flagged" in w2.parts.metadata.record_text.text()
    assert w2.parts.metadata.comment_text.text() == "Comment: apex unclear"
