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
    from pneumoviewer.gui.review_bridge import install

    kwargs.setdefault("run_ai", False)
    w = make_window(**kwargs)
    review = install(w)
    open_and_wait(qtbot, w, folder)
    qtbot.waitUntil(lambda: review.bridge.document() is not None and review.bridge.image_id == w.current_image_id())
    w.viewer.graphics.setFocus()
    return w


def status_cell(w: Any, image_id: str) -> str:
    row = w.worklist_model.row_for(image_id)
    return str(w.worklist_model.data(w.worklist_model.index(row, COL_STATUS)))


def paint_stroke(w: Any, qtbot: Any, row: int) -> None:
    key(w, qtbot, Qt.Key.Key_1)
    w.review.controller.set_option("radius", 6)
    drag(w, (row, 40), (row, 200))


def test_strokes_autosave_as_corrected_and_reopen_restores(make_window, qtbot, folder):
    w = open_window(make_window, qtbot, folder)
    bridge = w.review.bridge
    first = w.current_image_id()
    paint_stroke(w, qtbot, 100)
    bridge.flush()
    with ReviewStore(bridge.store.path) as other:  # a second connection sees the committed write
        saved = other.final_mask(first)
        assert saved is not None and np.array_equal(saved, bridge.document().mask)
        assert other.status(first) is ReviewStatus.CORRECTED
    assert status_cell(w, first) == "corrected"
    # undo is saved too
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    bridge.flush()
    assert not bridge.store.final_mask(first)[100, 100]
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    # second image: mark negative; third: flag with a comment; stay on the third
    bridge.ask_comment = lambda _id: "apex unclear"  # the Shift+F dialog, answered
    key(w, qtbot, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: bridge.image_id == w.image_ids()[1])
    second = bridge.image_id
    key(w, qtbot, Qt.Key.Key_N)
    assert status_cell(w, second) == "negative"
    key(w, qtbot, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: bridge.image_id == w.image_ids()[2])
    third = bridge.image_id
    key(w, qtbot, Qt.Key.Key_F)  # F flags at once, no dialog
    assert status_cell(w, third) == "flagged"
    assert bridge.comment(third) is None
    key(w, qtbot, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)  # Shift+F asks why
    assert bridge.comment(third) == "apex unclear"
    painted = bridge.document(first) if bridge.document(first) is not None else None
    first_mask = painted.mask.copy() if painted is not None else None
    w.close()

    w2 = open_window(make_window, qtbot, folder)
    b2 = w2.review.bridge
    qtbot.waitUntil(lambda: w2.current_image_id() == third)  # position restored
    assert status_cell(w2, first) == "corrected"
    assert status_cell(w2, second) == "negative"
    assert status_cell(w2, third) == "flagged"
    w2.select_image(first)
    qtbot.waitUntil(lambda: b2.image_id == first)
    assert first_mask is not None and np.array_equal(b2.document().mask, first_mask)
    assert b2.document().mask[100, 100]
    # the status filter shows only those images
    w2.worklist.status_filter.setCurrentText("negative")
    assert w2.image_ids() == [second]
    w2.worklist.status_filter.setCurrentText("All")


def test_accept_ai_sets_final_to_the_prediction(make_window, qtbot, folder, engine_factory):
    w = open_window(make_window, qtbot, folder, run_ai=True, inference_mode="thread", engine_factory=engine_factory())
    bridge = w.review.bridge
    image_id = w.current_image_id()
    qtbot.waitUntil(lambda: w.prediction(image_id) is not None, timeout=30000)
    pred = w.prediction(image_id)
    bridge.document().replace(np.zeros(bridge.document().shape, bool))
    key(w, qtbot, Qt.Key.Key_A)
    assert np.array_equal(bridge.document().mask, pred.mask)
    assert status_cell(w, image_id) == "accepted"
    bridge.flush()
    assert bridge.store.status(image_id) is ReviewStatus.ACCEPTED
    assert np.array_equal(bridge.store.final_mask(image_id), pred.mask)
    stored = bridge.store.ai_result(image_id)  # the prediction is kept as `original`
    assert stored is not None and np.array_equal(stored.mask, pred.mask)
    # Ctrl+Z undoes the accept in the editor and the reverted mask is saved as a correction
    key(w, qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    bridge.flush()
    assert not bridge.document().mask.any()
    qtbot.waitUntil(lambda: status_cell(w, image_id) == "corrected")
    w.close()
    # reopened without running the AI: the stored probabilities fill the worklist's AI column
    w2 = open_window(make_window, qtbot, folder)
    row = w2.worklist_model.row_for(image_id)
    assert w2.worklist_model.rows()[row].probability == pytest.approx(pred.probability)


def test_export_dialog_writes_a_csv_that_reads_back_to_the_masks(make_window, qtbot, folder, tmp_path):
    w = open_window(make_window, qtbot, folder)
    bridge = w.review.bridge
    ids = w.image_ids()
    paint_stroke(w, qtbot, 80)
    drag(w, (180, 60), (180, 120))  # a second component
    expected = {ids[0]: bridge.document().mask.copy()}
    key(w, qtbot, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: bridge.image_id == ids[1])
    key(w, qtbot, Qt.Key.Key_N)
    expected[ids[1]] = np.zeros(bridge.document().shape, bool)
    dialog = w.review.exporter.open_export()
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
    ids = w.image_ids()
    bad = tmp_path / "bad.csv"
    bad.write_text(f"ImageId,EncodedPixels\n{ids[0]},-1\n{ids[1]},12 x 4\n", encoding="utf-8")
    exporter = w.review.exporter
    with qtbot.waitSignal(exporter.importFailed, timeout=10000) as failed:
        exporter.import_labels(bad, layer="final")
    assert "bad.csv" in failed.args[0] and ":3" in failed.args[0]
    assert exporter.message_box is not None and "bad.csv" in exporter.message_box.text()
    exporter.message_box.close()
    assert w.review.bridge.store.final_mask(ids[0]) is None  # nothing imported
    # a good file imports as starting masks and the editor shows it
    good = tmp_path / "good.csv"
    h, width = w.review.bridge.document().shape
    m = np.zeros((h, width), bool)
    m[10:30, 20:40] = True
    from pneumoviewer.io.rle import encode

    good.write_text(f"ImageId,EncodedPixels\n{ids[0]},{encode(m)}\n", encoding="utf-8")
    with qtbot.waitSignal(exporter.imported, timeout=10000):
        exporter.import_labels(good, layer="final")
    qtbot.waitUntil(lambda: np.array_equal(w.review.bridge.document(ids[0]).mask, m))


def test_store_writer_keeps_order_and_coalesces_queued_saves():
    import threading

    from pneumoviewer.gui.review_bridge import StoreWriter

    done: list[tuple[str, str]] = []
    ran: list[str] = []
    gate = threading.Event()
    writer = StoreWriter(on_done=lambda i, k: done.append((i, k)))
    writer.submit(gate.wait, "x", "block")  # hold the thread so the rest queues up
    for n in range(5):
        writer.submit(lambda n=n: ran.append(f"final{n}"), "a", "final", coalesce="final:a")
    writer.submit(lambda: ran.append("negative"), "a", "negative")
    writer.submit(lambda: ran.append("final5"), "a", "final", coalesce="final:a")
    writer.submit(lambda: ran.append("b"), "b", "final", coalesce="final:b")
    assert writer.pending("a") == 7 and not writer.idle()
    gate.set()
    writer.flush()
    assert ran == ["negative", "final5", "b"]  # older queued saves of "a" skipped, order kept
    assert writer.idle() and writer.pending("a") == 0
    writer.submit(lambda: 1 / 0, "c", "final")
    writer.flush()
    assert len(writer.errors) == 1 and "division by zero" in writer.errors[0]  # reported, the writer goes on
    writer.close()
    assert ("a", "final") in done and ("a", "negative") in done


def test_import_as_reference_layer_is_shown_alongside(make_window, qtbot, folder, tmp_path):
    from pneumoviewer.io.rle import encode

    w = open_window(make_window, qtbot, folder)
    bridge = w.review.bridge
    image_id = bridge.image_id
    h, width = bridge.document().shape
    m = np.zeros((h, width), bool)
    m[40:90, 30:70] = True
    ref = tmp_path / "truth.csv"
    ref.write_text(f"ImageId,EncodedPixels\n{image_id},{encode(m)}\n", encoding="utf-8")
    before = bridge.document().mask.copy()
    with qtbot.waitSignal(w.review.exporter.imported, timeout=10000):
        w.review.exporter.import_labels(ref, layer="reference")
    qtbot.waitUntil(lambda: bridge.reference_overlay.mask is not None)
    assert np.array_equal(bridge.reference_overlay.mask, m) and bridge.reference_overlay.isVisible()
    assert np.array_equal(bridge.document().mask, before)  # the reviewer's mask is untouched
    w.review.reference_action.trigger()
    assert not bridge.reference_overlay.isVisible()
