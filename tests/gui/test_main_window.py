"""The main window driven like a user: open a phantom folder, step with keys, set statuses, filter, search, drop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent

from pneumoviewer.core.types import ReviewStatus

from .conftest import open_and_wait


def test_builds_with_no_arguments_and_loads_nothing(make_window):
    w = make_window()
    assert w.parts.folders.folder is None
    assert w.parts.session.current is None
    assert w.parts.worklist_model.rowCount() == 0
    assert w.parts.viewer.image is None
    assert w.parts.ai_status.device_label.text() == "AI: no model"
    assert "no model" in w.parts.metadata.model_name.text()
    w.parts.nav.step(+1)  # nothing to step through: no error
    w.parts.review.accept_ai()


def test_open_folder_lists_images_and_shows_the_first(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    n, failed = open_and_wait(qtbot, w, phantom_dataset.root)
    assert (n, failed) == (len(phantom_dataset.image_ids), 0)
    assert w.parts.worklist_model.rowCount() == n
    first = w.parts.worklist.visible_image_ids()[0]
    assert w.parts.session.current == first
    qtbot.waitUntil(lambda: w.parts.viewer.image is not None and w.parts.viewer.image.meta.image_id == first)
    meta = w.parts.viewer.image.meta
    assert w.parts.metadata.value("Size") == f"{meta.columns} × {meta.rows}"
    assert w.parts.metadata.value("View") == meta.view_position
    assert w.parts.metadata.value("Transfer syntax").startswith("JPEG Baseline")
    assert w.settings.last_folder() == str(phantom_dataset.root)
    # the viewer holds modality values, default window from the pipeline
    assert w.parts.viewer.data.shape == (meta.rows, meta.columns)
    c, width = w.parts.viewer.window().center, w.parts.viewer.window().width
    dicom_c, dicom_w = w.parts.viewer.image.window
    assert (c, width) == pytest.approx((dicom_c - 0.5, dicom_w - 1), rel=1e-4)  # DICOM LINEAR as plain levels


def test_keys_step_through_the_worklist(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    ids = w.parts.worklist.visible_image_ids()
    w.parts.viewer.graphics.setFocus()
    for key, expected in (
        (Qt.Key.Key_J, ids[1]),
        (Qt.Key.Key_Down, ids[2]),
        (Qt.Key.Key_K, ids[1]),
        (Qt.Key.Key_Up, ids[0]),
        (Qt.Key.Key_Up, ids[0]),
    ):
        qtbot.keyClick(w.parts.viewer.graphics, key)
        assert w.parts.session.current == expected
        qtbot.waitUntil(lambda e=expected: w.parts.viewer.image is not None and w.parts.viewer.image.meta.image_id == e)
    # stepping to the end stops at the last image
    for _ in range(len(ids) + 2):
        qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_J)
    assert w.parts.session.current == ids[-1]


def test_prefetched_next_image_is_shown_without_waiting_for_the_decoder(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    ids = w.parts.worklist.visible_image_ids()
    qtbot.waitUntil(lambda: w.parts.nav.loaded_image(ids[1]) is not None)  # decoded ahead
    with qtbot.waitSignal(w.parts.nav.imageShown, timeout=100) as shown:  # synchronous: shown inside next_image()
        w.parts.nav.step(+1)
    assert shown.args == [ids[1]]
    assert w.parts.viewer.image.meta.image_id == ids[1]


def test_status_keys_and_status_filter(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    ids = w.parts.worklist.visible_image_ids()
    target = w.parts.viewer.graphics
    qtbot.keyClick(target, Qt.Key.Key_N)
    assert w.parts.session.status(ids[0]) is ReviewStatus.NEGATIVE
    qtbot.keyClick(target, Qt.Key.Key_J)
    qtbot.keyClick(target, Qt.Key.Key_F)
    assert w.parts.session.status(ids[1]) is ReviewStatus.FLAGGED
    qtbot.keyClick(target, Qt.Key.Key_J)
    qtbot.keyClick(target, Qt.Key.Key_A)  # no AI result yet: refused, status unchanged
    assert w.parts.session.status(ids[2]) is ReviewStatus.UNREVIEWED
    w.parts.worklist.status_filter.setCurrentText("flagged")
    assert w.parts.worklist.visible_image_ids() == [ids[1]]
    w.parts.worklist.status_filter.setCurrentText("negative")
    assert w.parts.worklist.visible_image_ids() == [ids[0]]
    w.parts.worklist.status_filter.setCurrentText("All")
    assert w.parts.worklist.visible_image_ids() == ids


def test_search_and_view_filter(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    ids = w.parts.worklist.visible_image_ids()
    tail = ids[3][-6:]
    qtbot.keyClicks(w.parts.worklist.search, tail)
    assert w.parts.worklist.visible_image_ids() == [i for i in ids if tail in i]
    w.parts.worklist.search.clear()
    views = {r.meta.view_position for r in w.parts.worklist_model.rows()}
    view = sorted(views)[0]
    w.parts.worklist.view_filter.setCurrentText(view)
    expected = [r.meta.image_id for r in w.parts.worklist_model.rows() if r.meta.view_position == view]
    assert sorted(w.parts.worklist.visible_image_ids()) == sorted(expected) and len(expected) > 0


def test_unreadable_files_are_listed_greyed_and_skipped(make_window, qtbot, phantom_dataset, tmp_path):
    import shutil

    folder = tmp_path / "mixed"
    shutil.copytree(phantom_dataset.dicom_dir, folder / "dicom")
    (folder / "dicom" / "broken.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x02\x00garbage")
    (folder / "notes.dcm").write_text("not a dicom file")
    w = make_window(run_ai=False)
    n, failed = open_and_wait(qtbot, w, folder)
    assert n == len(phantom_dataset.image_ids)
    assert failed == 2
    failed_rows = [r for r in w.parts.worklist_model.rows() if r.failed]
    assert {r.path.name for r in failed_rows} == {"broken.dcm", "notes.dcm"}
    assert all(r.reason for r in failed_rows)
    # greyed, not selectable, sorted last, and stepping never lands on them
    row = w.parts.worklist_model.rows().index(failed_rows[0])
    idx = w.parts.worklist_model.index(row, 0)
    assert not (w.parts.worklist_model.flags(idx) & Qt.ItemFlag.ItemIsSelectable)
    assert w.parts.worklist_model.data(idx, Qt.ItemDataRole.ForegroundRole).color().name() == "#5d6875"
    assert "broken.dcm" not in " ".join(w.parts.worklist.visible_image_ids())
    w.parts.worklist.sort_by_probability()
    proxy = w.parts.worklist.proxy
    last = [proxy.data(proxy.index(r, 0)) for r in range(proxy.rowCount())][-2:]
    assert set(last) == {"broken.dcm", "notes.dcm"}


def test_dropping_a_folder_opens_it(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(phantom_dataset.root))])
    args = (QPoint(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(*args)
    w.dragEnterEvent(enter)  # Qt only routes synthetic drops during a real drag, so call the handlers directly
    assert enter.isAccepted()
    junk = QMimeData()
    junk.setText("not a folder")
    refused = QDragEnterEvent(args[0], args[1], junk, args[3], args[4])
    refused.ignore()
    w.dragEnterEvent(refused)
    assert not refused.isAccepted()
    with qtbot.waitSignal(w.parts.folders.scanFinished, timeout=20000):
        w.dropEvent(QDropEvent(QPoint(50, 50).toPointF(), *args[1:]))
    assert w.parts.folders.folder == Path(phantom_dataset.root)


def test_settings_remember_folder_overlay_style_and_layout(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    w.parts.view.set_overlay_style(0.8, "contour")
    w.parts.actions["masks"].trigger()  # hide masks
    w.parts.view.apply_preset("Lung")
    w.close()
    w2 = make_window(run_ai=False)
    assert w2.settings.recent_folders()[0] == str(phantom_dataset.root)
    assert w2.parts.metadata.overlay_style() == (0.8, "contour")
    assert w2.parts.ai_overlay.mode == "contour" and w2.parts.ai_overlay.alpha == round(0.8 * 255)
    assert not w2.parts.view.masks_visible()
    assert w2.parts.view.preset_combo.currentText() == "Lung"


def test_custom_window_preset_is_saved_in_display_units(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    w.parts.viewer.apply_preset("Bone")
    center, width = w.parts.viewer.display_window()
    w.parts.viewer.set_window(w.parts.viewer.window().center + 5, w.parts.viewer.window().width * 0.8)
    wanted = w.parts.viewer.display_window()
    assert wanted != (center, width)
    assert w.parts.view.save_window_preset("Pleura") == "Pleura"
    w.close()
    w2 = make_window(run_ai=False)
    assert w2.parts.view.preset_combo.findText("Pleura") >= 0
    open_and_wait(qtbot, w2, phantom_dataset.root)
    w2.parts.view.apply_preset("Pleura")
    assert w2.parts.viewer.display_window() == pytest.approx(wanted, abs=1e-6)
    qtbot.keyClick(w2.parts.viewer.graphics, Qt.Key.Key_J)  # a chosen preset stays applied on the next image
    qtbot.waitUntil(lambda: w2.parts.viewer.image.meta.image_id == w2.parts.worklist.visible_image_ids()[1])
    assert w2.parts.viewer.display_window() == pytest.approx(wanted, abs=1e-6)
    assert w2.settings.window_state() is not None


def test_mask_toggle_key_and_contour_key(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    h, wd = w.parts.viewer.data.shape
    mask = np.zeros((h, wd), bool)
    mask[10:60, 20:90] = True
    w.parts.ai_overlay.set_mask(mask)
    assert w.parts.view.masks_visible()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_M)
    assert not w.parts.view.masks_visible() and not w.parts.ai_overlay.isVisible()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_M)
    assert w.parts.ai_overlay.isVisible()
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_C)
    assert w.parts.ai_overlay.mode == "contour"
    rgba = w.parts.ai_overlay.image
    assert rgba[35, 50, 3] == 0 and rgba[10, 50, 3] > 0  # interior empty, edge drawn


def test_shortcuts_sheet_lists_every_action(make_window, qtbot):
    from pneumoviewer.gui.shortcuts import SHORTCUTS, ShortcutsDialog, sheet_html

    w = make_window()
    dialog = ShortcutsDialog(w)
    qtbot.addWidget(dialog)
    html = sheet_html()
    for s in SHORTCUTS:
        assert s.text.replace("&", "&amp;") in html or s.text in html
    # every action with a shortcut says it in its tooltip
    for name, act in w.parts.actions.items():
        if act.shortcut().toString():
            assert "(" in act.toolTip(), name


def test_patient_key_hidden_unless_turned_on(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    assert not w.parts.metadata._values["Patient key"].isVisible()
    assert w.parts.metadata.value("Patient key") in ("", "—")
    w.parts.actions["show_ids"].trigger()
    assert w.parts.metadata._values["Patient key"].isVisible()
    assert w.parts.metadata.value("Patient key") == (w.parts.viewer.image.meta.patient_key or "—")


def test_status_bar_reads_out_position_value_and_mm(make_window, qtbot, phantom_dataset):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    image = w.parts.nav.current_image()
    r, c = 40, 77
    w.parts.viewer.cursorMoved.emit(r + 0.4, c + 0.7)
    assert w.parts.view.pos_label.text() == f"x {c}  y {r}"
    assert w.parts.view.value_label.text() == f"value {image.pixels[r, c]}"
    sr, sc = image.meta.pixel_spacing
    assert w.parts.view.mm_label.text() == f"{(r + 0.4) * sr:.1f}, {(c + 0.7) * sc:.1f} mm"
    w.parts.viewer.cursorLeft.emit()
    assert w.parts.view.pos_label.text() == ""
    # a real mouse move over the image gets there too
    from PySide6.QtTest import QTest

    vp = w.parts.viewer.graphics.viewport()
    center = vp.rect().center()
    QTest.mouseMove(vp, center - QPoint(7, 5))  # the pointer may already sit at the centre from an earlier test
    QTest.mouseMove(vp, center)
    qtbot.waitUntil(lambda: w.parts.view.pos_label.text().startswith("x "))


def test_opening_another_folder_during_a_scan_shows_only_the_new_one(make_window, qtbot, phantom_dataset, tmp_path):
    from pneumoviewer.phantom import generate_dataset

    other = generate_dataset(tmp_path / "other", n=2, seed=5, size=64)
    w = make_window(run_ai=False)
    w.parts.folders.open_folder(phantom_dataset.root)
    with qtbot.waitSignal(w.parts.folders.scanFinished, timeout=20000) as done:
        w.parts.folders.open_folder(other.root)  # replaces the first scan at once
    assert done.args == [2, 0]
    qtbot.waitUntil(lambda: w.parts.nav.shown in other.image_ids)  # queued events of the replaced scan delivered
    assert w.parts.folders.folder == other.root
    assert sorted(w.parts.worklist.visible_image_ids()) == sorted(other.image_ids)
