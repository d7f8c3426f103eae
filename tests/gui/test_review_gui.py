"""The review store behind the real window: autosave per stroke, A / N / F keys, worklist statuses and filter,
reopen restores masks + statuses + position, export from the dialog round-trips, import errors name file + line."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.gui.worklist import COL_STATUS
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.review import ReviewStore

from .conftest import open_and_wait
from .test_editing_gui import drag, key


@pytest.fixture
def folder(phantom_dataset: Any, tmp_path: Path) -> Path:
    dst = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, dst)
    return dst


def open_window(make_window: Any, qtbot: Any, folder: Path, **kwargs: Any) -> Any:
    kwargs.setdefault("run_ai", False)
    w = make_window(**kwargs)
    open_and_wait(qtbot, w, folder)
    qtbot.waitUntil(lambda: w.parts.editor.document is not None and w.parts.nav.shown == w.parts.session.current)
    w.parts.viewer.graphics.setFocus()
    return w


def status_cell(w: Any, image_id: str) -> str:
    row = w.parts.worklist_model.row_for(image_id)
    return str(w.parts.worklist_model.data(w.parts.worklist_model.index(row, COL_STATUS)))


def paint_stroke(w: Any, qtbot: Any, row: int) -> None:
    key(w, qtbot, Qt.Key.Key_1)
    w.parts.editor.set_option("radius", 6)
    drag(w, (row, 40), (row, 200))


def test_strokes_autosave_as_corrected_and_reopen_restores(make_window, qtbot, folder):
    w = open_window(make_window, qtbot, folder)
    session = w.parts.session
    first = w.parts.session.current
    paint_stroke(w, qtbot, 100)
    session.flush()
    with ReviewStore(session.store.path) as other:  # a second connection sees the committed write
        saved = other.final_mask(first)
        assert saved is not None and np.array_equal(saved, w.parts.editor.document.mask)
        assert other.status(first) is ReviewStatus.CORRECTED
    assert status_cell(w, first) == "corrected"
    # undo is saved too
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    session.flush()
    assert not session.store.final_mask(first)[100, 100]
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    # second image: mark negative; third: flag with a comment; stay on the third
    w.parts.review.ask_comment = lambda _id: "apex unclear"  # the Shift+F dialog, answered
    key(w, qtbot, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: w.parts.nav.shown == w.parts.worklist.visible_image_ids()[1])
    second = w.parts.nav.shown
    key(w, qtbot, Qt.Key.Key_N)
    assert status_cell(w, second) == "negative"
    key(w, qtbot, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: w.parts.nav.shown == w.parts.worklist.visible_image_ids()[2])
    third = w.parts.nav.shown
    key(w, qtbot, Qt.Key.Key_F)  # F flags at once, no dialog
    assert status_cell(w, third) == "flagged"
    assert session.comment(third) is None
    key(w, qtbot, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)  # Shift+F asks why
    assert session.comment(third) == "apex unclear"
    painted = session.document(first)
    first_mask = painted.mask.copy() if painted is not None else None
    w.close()

    w2 = open_window(make_window, qtbot, folder)
    qtbot.waitUntil(lambda: w2.parts.session.current == third)  # position restored
    assert status_cell(w2, first) == "corrected"
    assert status_cell(w2, second) == "negative"
    assert status_cell(w2, third) == "flagged"
    w2.parts.worklist.select_image(first)
    qtbot.waitUntil(lambda: w2.parts.nav.shown == first)
    assert first_mask is not None and np.array_equal(w2.parts.editor.document.mask, first_mask)
    assert w2.parts.editor.document.mask[100, 100]
    # the status filter shows only those images
    w2.parts.worklist.status_filter.setCurrentText("negative")
    assert w2.parts.worklist.visible_image_ids() == [second]
    w2.parts.worklist.status_filter.setCurrentText("All")


def test_accept_ai_sets_final_to_the_prediction(make_window, qtbot, folder, engine_factory):
    w = open_window(make_window, qtbot, folder, run_ai=True, inference_mode="thread", engine_factory=engine_factory())
    session = w.parts.session
    image_id = w.parts.session.current
    qtbot.waitUntil(lambda: w.parts.session.prediction(image_id) is not None, timeout=30000)
    pred = w.parts.session.prediction(image_id)
    ai_mask = w.parts.session.ai_mask(image_id)
    w.parts.editor.document.replace(np.zeros(w.parts.editor.document.shape, bool))
    key(w, qtbot, Qt.Key.Key_A)
    assert np.array_equal(w.parts.editor.document.mask, ai_mask)
    assert status_cell(w, image_id) == "accepted"
    session.flush()
    assert session.store.status(image_id) is ReviewStatus.ACCEPTED
    assert np.array_equal(session.store.final_mask(image_id), ai_mask)
    stored = session.store.ai_result(image_id)  # the prediction is kept as `original`
    assert stored is not None and np.array_equal(stored.mask, ai_mask)
    # Ctrl+Z undoes the accept: the mask before it, and the status before it (nobody decided anything else)
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    session.flush()
    assert not w.parts.editor.document.mask.any()
    assert status_cell(w, image_id) == "unreviewed"
    assert session.store.status(image_id) is ReviewStatus.UNREVIEWED
    w.close()
    # reopened without running the AI: the stored probabilities fill the worklist's AI column
    w2 = open_window(make_window, qtbot, folder)
    row = w2.parts.worklist_model.row_for(image_id)
    assert w2.parts.worklist_model.rows()[row].probability == pytest.approx(pred.probability)


def test_export_dialog_writes_a_csv_that_reads_back_to_the_masks(make_window, qtbot, folder, tmp_path):
    w = open_window(make_window, qtbot, folder)
    ids = w.parts.worklist.visible_image_ids()
    paint_stroke(w, qtbot, 80)
    drag(w, (180, 60), (180, 120))  # a second component
    expected = {ids[0]: w.parts.editor.document.mask.copy()}
    key(w, qtbot, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: w.parts.nav.shown == ids[1])
    key(w, qtbot, Qt.Key.Key_N)
    expected[ids[1]] = np.zeros(w.parts.editor.document.shape, bool)
    dialog = w.parts.exporter.open_export()
    out = tmp_path / "out.csv"
    dialog.csv_path.setText(str(out))
    dialog.png_check.setChecked(True)
    dialog.png_dir.setText(str(tmp_path / "png"))
    dialog.seg_check.setChecked(True)
    dialog.seg_dir.setText(str(tmp_path / "seg"))
    with qtbot.waitSignal(dialog.finished_export, timeout=20000) as done:
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert done.args[0]["csv"]["images"] == 2
    table = read_rle_csv(out)
    assert set(table.image_ids) == set(expected)
    for image_id, mask in expected.items():
        h, w_ = mask.shape
        assert np.array_equal(table.union_mask(image_id, h, w_), mask)
    assert len(table.rows(ids[0])) == 2  # training style: one row per component
    assert table.rows(ids[1]) == ["-1"]
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")) == sorted(f"{i}.png" for i in expected)
    from pneumoviewer.io.seg import read_seg_mask

    src, seg_mask = read_seg_mask(tmp_path / "seg" / f"{ids[0]}.dcm")  # references its source, same mask
    assert src == ids[0] and np.array_equal(seg_mask, expected[ids[0]])
    assert "Done" in dialog.result_label.text()
    dialog.close()


def test_import_refuses_a_malformed_csv_naming_file_and_line(make_window, qtbot, folder, tmp_path):
    w = open_window(make_window, qtbot, folder)
    ids = w.parts.worklist.visible_image_ids()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"ImageId,EncodedPixels\n{ids[0]},-1\n{ids[1]},12 x 4\n", encoding="utf-8")
    exporter = w.parts.exporter
    with qtbot.waitSignal(exporter.importFailed, timeout=10000) as failed:
        exporter.import_labels(bad, layer="final")
    assert "bad.csv" in failed.args[0] and ":3" in failed.args[0]
    assert exporter.message_box is not None and "bad.csv" in exporter.message_box.text()
    exporter.message_box.close()
    assert w.parts.session.store.final_mask(ids[0]) is None  # nothing imported
    # a good file imports as starting masks and the editor shows it
    good = tmp_path / "good.csv"
    h, width = w.parts.session.document().shape
    m = np.zeros((h, width), bool)
    m[10:30, 20:40] = True
    from pneumoviewer.io.rle import encode

    good.write_text(f"ImageId,EncodedPixels\n{ids[0]},{encode(m)}\n", encoding="utf-8")
    with qtbot.waitSignal(exporter.imported, timeout=10000):
        exporter.import_labels(good, layer="final")
    qtbot.waitUntil(lambda: np.array_equal(w.parts.session.document(ids[0]).mask, m))


def test_import_as_reference_layer_is_shown_alongside(make_window, qtbot, folder, tmp_path):
    from pneumoviewer.io.rle import encode

    w = open_window(make_window, qtbot, folder)
    image_id = w.parts.nav.shown
    h, width = w.parts.editor.document.shape
    m = np.zeros((h, width), bool)
    m[40:90, 30:70] = True
    ref = tmp_path / "truth.csv"
    ref.write_text(f"ImageId,EncodedPixels\n{image_id},{encode(m)}\n", encoding="utf-8")
    before = w.parts.editor.document.mask.copy()
    with qtbot.waitSignal(w.parts.exporter.imported, timeout=10000):
        w.parts.exporter.import_labels(ref, layer="reference")
    qtbot.waitUntil(lambda: w.parts.layers.reference.mask is not None)
    assert np.array_equal(w.parts.layers.reference.mask, m) and w.parts.layers.reference.isVisible()
    assert np.array_equal(w.parts.editor.document.mask, before)  # the reviewer's mask is untouched
    w.parts.actions["reference_layer"].trigger()
    assert not w.parts.layers.reference.isVisible()


def test_undo_brings_back_the_label_not_only_the_mask(make_window, qtbot, folder):
    """Issue 11: Ctrl+Z after N (or after every stroke) returns the image to the status it had, so nobody's
    undecided image is exported as a reviewed label; editing a flagged image keeps the flag."""
    w = open_window(make_window, qtbot, folder)
    session = w.parts.session
    first = session.current
    ctrl_z = (Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    paint_stroke(w, qtbot, 100)
    assert status_cell(w, first) == "corrected"
    key(w, qtbot, *ctrl_z)
    assert status_cell(w, first) == "unreviewed" and not w.parts.editor.document.mask.any()
    key(w, qtbot, Qt.Key.Key_N)
    assert status_cell(w, first) == "negative"
    assert w.parts.actions["undo"].text() == "&Undo mark negative"
    key(w, qtbot, *ctrl_z)
    assert status_cell(w, first) == "unreviewed"
    session.flush()
    assert session.store.status(first) is ReviewStatus.UNREVIEWED
    assert first not in {e.image_id for e in session.store.final_entries(only_reviewed=True)}
    # flag, then edit: still flagged, with its comment
    w.parts.review.ask_comment = lambda _id: "apex unclear"
    key(w, qtbot, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    paint_stroke(w, qtbot, 120)
    assert status_cell(w, first) == "flagged" and session.comment(first) == "apex unclear"
    session.flush()
    assert session.store.status(first) is ReviewStatus.FLAGGED and session.store.comment(first) == "apex unclear"
