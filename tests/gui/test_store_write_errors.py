"""Issue 11: a write the disk refuses is kept, said in a dialog (not a status-bar line), retried, never dropped."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.review import ReviewStore

from .test_review_gui import open_window, paint_stroke


@pytest.fixture
def folder(phantom_dataset: Any, tmp_path: Path) -> Path:
    dst = tmp_path / "studies"
    shutil.copytree(phantom_dataset.dicom_dir, dst)
    return dst


def _fill_the_disk(store: ReviewStore) -> None:
    """The store's file cannot grow any more: sqlite answers SQLITE_FULL, as on a full disk (test-only access)."""
    conn = store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _free_the_disk(store: ReviewStore) -> None:
    store._conn.execute("PRAGMA max_page_count = 1073741823")


def _save_dialog() -> QMessageBox | None:
    return next((w for w in QApplication.topLevelWidgets()
                 if isinstance(w, QMessageBox) and w.isVisible() and w.windowTitle() == "Review not saved"), None)


def test_a_refused_write_opens_a_dialog_and_retry_saves_it(make_window, qtbot, folder):
    w = open_window(make_window, qtbot, folder)
    session = w.parts.session
    first = session.current
    session.flush()
    _fill_the_disk(session.store)
    for row in range(60, 200, 14):  # a few strokes: enough pages to overflow the file
        paint_stroke(w, qtbot, row)
    session.flush()
    qtbot.waitUntil(lambda: _save_dialog() is not None, timeout=10000)
    assert session.unsaved() > 0
    box = _save_dialog()
    assert "kept in memory" in box.text()
    retry = next(b for b in box.buttons() if b.text() == "Retry")
    retry.click()  # still full: refused again, a new dialog, nothing dropped
    session.flush()
    qtbot.waitUntil(lambda: _save_dialog() is not None, timeout=10000)
    assert session.unsaved() > 0
    _free_the_disk(session.store)
    next(b for b in _save_dialog().buttons() if b.text() == "Retry").click()
    session.flush()
    qtbot.waitUntil(lambda: session.unsaved() == 0, timeout=10000)
    mask = w.parts.editor.document.mask.copy()
    with ReviewStore(session.store.path) as other:
        assert np.array_equal(other.final_mask(first), mask)
        assert other.status(first) is ReviewStatus.CORRECTED


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(make_window, qtbot, folder, monkeypatch):
    w = open_window(make_window, qtbot, folder)
    session = w.parts.session
    session.flush()
    _fill_the_disk(session.store)
    for row in range(60, 200, 14):
        paint_stroke(w, qtbot, row)
    session.flush()
    qtbot.waitUntil(lambda: session.unsaved() > 0, timeout=10000)
    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Retry]
    asked: list[str] = []

    def answer(_parent, _title, text, *_args):
        asked.append(text)
        if len(asked) == 2:
            _free_the_disk(session.store)  # space came back before the reviewer pressed Retry
        return answers.pop(0)

    monkeypatch.setattr(QMessageBox, "warning", staticmethod(answer))
    w.close()
    assert w.isVisible() and len(asked) == 1 and "could not be saved" in asked[0]  # Cancel: still open
    box = _save_dialog()
    if box is not None:
        box.reject()
    w.close()
    assert not w.isVisible() and len(asked) == 2 and session.store is None
