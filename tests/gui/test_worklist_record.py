"""Issue 14 in the worklist: the review record in the row tooltip, the comments column, the sort and filters kept
per folder, and a keyboard that never lands in the search box."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication, QToolTip

from pneumoviewer.core.types import ImageMeta, ReviewStatus
from pneumoviewer.gui.worklist import (
    ALL,
    COL_COMMENT,
    COL_ID,
    COL_PROB,
    COL_STATUS,
    COLUMNS,
    WorklistModel,
    WorklistPanel,
    WorklistRow,
)

from .conftest import open_and_wait


def _studies(phantom_dataset: Any, tmp_path: Path, name: str = "studies") -> Path:
    folder = tmp_path / name
    shutil.copytree(phantom_dataset.dicom_dir, folder)
    return folder


def _cell(panel: WorklistPanel, image_id: str, col: int) -> Any:
    row = panel.model.row_for(image_id)
    assert row is not None
    return panel.proxy.mapFromSource(panel.model.index(row, col))


def _hover_tooltip(qtbot: Any, panel: WorklistPanel, image_id: str, col: int = COL_ID) -> str:
    """What the pointer resting on the row's cell shows: a real tooltip event on the table's viewport."""
    idx = _cell(panel, image_id, col)
    panel.table.scrollTo(idx)
    pos = panel.table.visualRect(idx).center()
    viewport = panel.table.viewport()
    event = QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos))
    QApplication.sendEvent(viewport, event)
    qtbot.waitUntil(QToolTip.isVisible)
    return QToolTip.text()


def _flag_with_comment(w: Any, qtbot: Any, comment: str) -> str:
    """N, then Shift+F with `comment`, on the image on screen (auto-advance off); returns its id, saved."""
    qtbot.waitUntil(lambda: w.parts.editor.document is not None and w.parts.nav.shown == w.parts.session.current)
    image_id = w.parts.session.current
    graphics = w.parts.viewer.graphics
    graphics.setFocus()
    qtbot.keyClick(graphics, Qt.Key.Key_N)
    w.parts.session.flush()
    w.parts.review.ask_comment = lambda _id: comment
    qtbot.keyClick(graphics, Qt.Key.Key_F, Qt.KeyboardModifier.ShiftModifier)
    w.parts.session.flush()
    return image_id


def test_row_tooltip_shows_reviewer_time_status_history_and_comment(make_window, qtbot, phantom_dataset, tmp_path):
    folder = _studies(phantom_dataset, tmp_path)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    before = time.strftime("%Y-%m-%d %H:%M", time.localtime())
    image_id = _flag_with_comment(w, qtbot, "apex unclear, ask the consultant")
    panel, session = w.parts.worklist, w.parts.session
    text = _hover_tooltip(qtbot, panel, image_id)
    assert text.startswith(image_id)
    assert "Review: flagged" in text and f"by {session.store.reviewer}" in text
    stamps = {before, time.strftime("%Y-%m-%d %H:%M", time.localtime())}  # the minute may turn meanwhile
    assert any(f"{stamp} · negative" in text for stamp in stamps)
    assert text.index("· negative ·") < text.index("· flagged ·")  # the history, oldest first
    assert "Comment: apex unclear, ask the consultant" in text
    # the AI P cell keeps its own first line, with the same record under it; an untouched row says so
    assert "Review: flagged" in panel.proxy.data(_cell(panel, image_id, COL_PROB), Qt.ItemDataRole.ToolTipRole)
    other = next(i for i in panel.visible_image_ids() if i != image_id)
    tip = panel.proxy.data(_cell(panel, other, COL_STATUS), Qt.ItemDataRole.ToolTipRole)
    assert "Review: unreviewed" in tip and "No comment" in tip and "Last change" not in tip


def _rows(n: int) -> list[WorklistRow]:
    return [WorklistRow(Path(f"/f/{i}.dcm"), ImageMeta(f"1.2.{i}", view_position="PA" if i % 2 else "AP"))
            for i in range(n)]


def test_the_record_is_read_only_for_the_hovered_row_never_on_fill_sort_or_paint(qtbot):
    asked: list[str] = []
    comments = {f"1.2.{i}": f"note {i % 50}" for i in range(0, 12000, 3)}
    model = WorklistModel()
    model.set_status_source(lambda _i: ReviewStatus.FLAGGED, comments.get, lambda i: asked.append(i))
    panel = WorklistPanel(model)
    qtbot.addWidget(panel)
    panel.resize(600, 400)
    panel.show()
    qtbot.waitExposed(panel)
    model.set_rows(_rows(12000))
    for col in range(len(COLUMNS)):
        panel.table.sortByColumn(col, Qt.SortOrder.DescendingOrder)
    panel.search.setText("note 4")
    panel.grab()  # paints every visible cell (display, colours, fonts)
    assert asked == []
    first = panel.visible_image_ids()[0]
    assert "Comment: note 4" in _hover_tooltip(qtbot, panel, first, COL_COMMENT)
    assert asked == [first]


def test_comments_column_shows_sorts_searches_and_follows_an_edit(make_window, qtbot, phantom_dataset, tmp_path):
    folder = _studies(phantom_dataset, tmp_path)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    panel, session, model = w.parts.worklist, w.parts.session, w.parts.worklist_model
    flagged = _flag_with_comment(w, qtbot, "Zebra line near the apex")
    ids = panel.visible_image_ids()
    second = next(i for i in ids if i != flagged)
    assert session.set_comment("apical rim", second)  # a comment without a flag (the status stays)
    assert panel.proxy.headerData(COL_COMMENT, Qt.Orientation.Horizontal) == "Comment"
    assert panel.proxy.data(_cell(panel, flagged, COL_COMMENT)) == "Zebra line near the apex"
    assert panel.proxy.data(_cell(panel, second, COL_COMMENT)) == "apical rim"
    # sorted by comment: alphabetical whatever the case, images without one after them; reversed, they come first
    panel.table.sortByColumn(COL_COMMENT, Qt.SortOrder.AscendingOrder)
    assert panel.visible_image_ids()[:2] == [second, flagged]
    panel.table.sortByColumn(COL_COMMENT, Qt.SortOrder.DescendingOrder)
    assert panel.visible_image_ids()[-2:] == [flagged, second]
    # the search box finds comments too, any case
    panel.search.setText("ZEBRA")
    assert panel.visible_image_ids() == [flagged]
    # Details ▸ Edit comment… on the image on screen: the cell, the search and the sort follow at once
    panel.search.setText("")
    panel.table.sortByColumn(COL_COMMENT, Qt.SortOrder.AscendingOrder)
    assert panel.select_image(flagged)
    qtbot.waitUntil(lambda: w.parts.nav.shown == flagged)
    w.parts.review.ask_comment = lambda _id: "a small rim, left"
    panel.search.setText("rim")
    assert panel.visible_image_ids() == [second]
    qtbot.mouseClick(w.parts.metadata.edit_comment, Qt.MouseButton.LeftButton)
    assert session.comment(flagged) == "a small rim, left"
    assert panel.visible_image_ids() == [flagged, second]  # now matches "rim", and sorts before "apical rim"
    assert panel.proxy.data(_cell(panel, flagged, COL_COMMENT)) == "a small rim, left"
    assert model.data(model.index(model.row_for(flagged), COL_STATUS)) == "flagged"


def test_sort_and_filters_come_back_per_folder_after_closing_the_window(make_window, qtbot, phantom_dataset,
                                                                         tmp_path):
    folder = _studies(phantom_dataset, tmp_path)
    fresh = _studies(phantom_dataset, tmp_path, "other")
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    flagged = _flag_with_comment(w, qtbot, "second look")
    panel = w.parts.worklist
    views = [panel.view_filter.itemText(i) for i in range(panel.view_filter.count())]
    view = w.parts.session.meta(flagged).view_position
    assert view in views
    panel.table.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    panel.status_filter.setCurrentText(ReviewStatus.FLAGGED.value)
    panel.view_filter.setCurrentText(view)
    panel.search.setText("no such image")  # a search is a look-up: not kept
    w.close()

    w2 = make_window(run_ai=False)
    open_and_wait(qtbot, w2, folder)
    p2 = w2.parts.worklist
    assert (p2.proxy.sortColumn(), p2.proxy.sortOrder()) == (COL_PROB, Qt.SortOrder.DescendingOrder)
    header = p2.table.horizontalHeader()
    assert (header.sortIndicatorSection(), header.sortIndicatorOrder()) == (COL_PROB, Qt.SortOrder.DescendingOrder)
    assert p2.status_filter.currentText() == "flagged" and p2.view_filter.currentText() == view
    assert p2.search.text() == "" and p2.visible_image_ids() == [flagged]
    # another folder, never opened: the last sort, but nothing hidden
    open_and_wait(qtbot, w2, fresh)
    assert p2.proxy.sortColumn() == COL_PROB and p2.status_filter.currentText() == ALL
    assert p2.view_filter.currentText() == ALL and len(p2.visible_image_ids()) == len(phantom_dataset.image_ids)
    p2.table.sortByColumn(COL_ID, Qt.SortOrder.AscendingOrder)
    # and back to the first folder: its own state again
    open_and_wait(qtbot, w2, folder)
    assert p2.proxy.sortColumn() == COL_PROB and p2.visible_image_ids() == [flagged]


def test_keyboard_starts_on_the_list_and_never_lands_in_the_search_box(make_window, qtbot, phantom_dataset,
                                                                       tmp_path):
    folder = _studies(phantom_dataset, tmp_path)
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, folder)
    panel, session = w.parts.worklist, w.parts.session
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None)
    assert QApplication.focusWidget() is panel.table
    first = session.current
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_J)  # typed where the keyboard is: J works at once
    assert session.current != first and panel.search.text() == ""
    # a filter chosen from its box hands the keyboard back to the list
    panel.status_filter.setFocus()
    panel.status_filter.activated.emit(0)
    assert QApplication.focusWidget() is panel.table
    # Ctrl+F puts it in the search (letters are search text there); Esc returns it, the search kept
    qtbot.keyClick(panel.table, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert QApplication.focusWidget() is panel.search
    current = session.current
    qtbot.keyClicks(panel.search, "jk")
    assert panel.search.text() == "jk" and session.current == current
    qtbot.keyClick(panel.search, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is panel.table and panel.search.text() == "jk"
    panel.search.clear()
    # Enter too, opening the first match when the image on screen is not one of them
    target = panel.model.entry(panel.model.row_for(session.current) ^ 1).image_id
    panel.search.setFocus()
    panel.search.setText(target[-10:])
    assert panel.visible_image_ids() == [target]
    qtbot.keyClick(panel.search, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is panel.table and session.current == target
    # opening a folder while the canvas has the keyboard: never the search box, and J works at once
    panel.search.clear()
    w.parts.viewer.graphics.setFocus()
    open_and_wait(qtbot, w, folder)
    assert QApplication.focusWidget() is not panel.search
    shown = session.current
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_J)
    assert session.current != shown and panel.search.text() == ""
    assert panel.search.focusPolicy() == Qt.FocusPolicy.ClickFocus  # Tab passes it by; Ctrl+F or a click only


def test_a_saved_state_that_no_longer_fits_falls_back_to_the_defaults(qtbot, tmp_path):
    from pneumoviewer.gui.settings import Settings

    settings = Settings()
    a, b = tmp_path / "a", tmp_path / "b"
    settings.set_worklist_state(a, {"sort": "AI P", "order": "descending", "status": "flagged", "view": "PA"})
    assert settings.worklist_state(a)["status"] == "flagged"
    assert settings.worklist_state(b) == {"sort": "AI P", "order": "descending"}  # never opened: the last sort
    settings.qsettings.setValue(f"worklist/by_folder/{settings._folder_key(a)}", "{not json")
    assert settings.worklist_state(a) == {"sort": "AI P", "order": "descending"}
    model = WorklistModel()
    panel = WorklistPanel(model)
    qtbot.addWidget(panel)
    model.set_rows(_rows(10))
    saved: list[dict] = []
    panel.stateChanged.connect(saved.append)
    panel.restore_state({"sort": "Priority", "order": "sideways", "status": "archived", "view": "LL"})
    assert panel.proxy.sortColumn() == -1 and panel.status_filter.currentText() == ALL
    assert panel.view_filter.currentText() == ALL and len(panel.visible_image_ids()) == 10
    assert saved == []  # restoring is not a change of the reviewer's
    panel.restore_state({"sort": "View", "order": "descending", "view": "AP"})
    assert panel.visible_image_ids() == [f"1.2.{i}" for i in range(0, 10, 2)]
    assert panel.state() == {"sort": "View", "order": "descending", "status": ALL, "view": "AP"}


def test_every_column_fits_the_worklist_at_its_first_width(make_window, qtbot, phantom_dataset):
    """The comment column (last) fills what is left: no horizontal scrollbar at the dock's first width, and the
    comment still has room to show a few words (a reviewer widens the dock for more)."""
    from pneumoviewer.gui.worklist import COL_COMMENT

    w = make_window(run_ai=False)
    w.resize(1600, 1000)
    open_and_wait(qtbot, w, phantom_dataset.root)
    table = w.parts.worklist.table
    qtbot.waitUntil(lambda: table.viewport().width() > 0)
    QApplication.processEvents()
    header = table.horizontalHeader()
    assert header.length() <= table.viewport().width(), (header.length(), table.viewport().width())
    assert not table.horizontalScrollBar().isVisible()
    assert header.sectionSize(COL_COMMENT) >= 40
