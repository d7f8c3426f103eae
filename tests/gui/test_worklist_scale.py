"""The worklist at scale (issue 13): sorts and filters without Python work per pair; results re-placed in batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from pneumoviewer.core.types import ImageMeta, ReviewStatus
from pneumoviewer.gui.worklist import COL_AGE, COL_ID, COL_PROB, COLUMNS, WorklistModel, WorklistPanel, WorklistRow


class CountingList(list):
    """A list that counts how many of its items are read (iteration or indexing)."""

    reads = 0

    def __iter__(self) -> Any:
        for item in super().__iter__():
            CountingList.reads += 1
            yield item

    def __getitem__(self, i: Any) -> Any:
        CountingList.reads += 1
        return super().__getitem__(i)


class CountingModel(WorklistModel):
    """The real model, counting the Qt `data()` calls a sort or filter makes."""

    calls = 0

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        CountingModel.calls += 1
        return super().data(index, role)

    def lower_ids(self) -> list[str]:
        return CountingList(super().lower_ids())


def _rows(n: int, seed: int = 0) -> list[WorklistRow]:
    rng = np.random.default_rng(seed)
    rows = [
        WorklistRow(Path(f"/f/{i}.dcm"), ImageMeta(f"1.2.{i}", patient_age=int(rng.integers(20, 30)),
                                                   view_position="PA" if i % 3 else "AP"),
                    probability=None if i % 7 == 0 else round(float(rng.random()), 1))
        for i in range(n)
    ]
    rows.insert(5, WorklistRow(Path("/f/broken.dcm"), reason="not DICOM"))
    return rows


def _panel(qtbot: Any, rows: list[WorklistRow]) -> tuple[CountingModel, WorklistPanel]:
    model = CountingModel()
    panel = WorklistPanel(model)
    qtbot.addWidget(panel)
    model.set_rows(rows)
    return model, panel


def _expected(rows: list[WorklistRow], key: Any, descending: bool) -> list[str]:
    """Images by `key` (ties in scan order whichever the direction); what the worklist must show."""
    images = [(i, r) for i, r in enumerate(rows) if not r.failed]
    ordered = sorted(images, key=lambda ir: (-key(ir[1]) if descending else key(ir[1]), ir[0]))
    return [r.image_id for _, r in ordered]


def test_sorting_makes_no_python_call_per_pair_and_keeps_failed_last_ties_in_scan_order(qtbot: Any) -> None:
    rows = _rows(3000)
    _model, panel = _panel(qtbot, rows)
    CountingModel.calls = 0
    panel.table.sortByColumn(COL_AGE, Qt.SortOrder.DescendingOrder)
    panel.table.sortByColumn(COL_PROB, Qt.SortOrder.AscendingOrder)
    panel.table.sortByColumn(COL_ID, Qt.SortOrder.AscendingOrder)
    assert CountingModel.calls < 100  # a comparison sort through data() would make > 2 · n · log2(n) ≈ 69,000
    CountingModel.calls = 0
    assert len(panel.visible_image_ids()) == 3000 and CountingModel.calls == 0  # Run AI's order: no call per row
    prob = lambda r: -1.0 if r.probability is None else r.probability  # noqa: E731
    panel.table.sortByColumn(COL_PROB, Qt.SortOrder.DescendingOrder)
    assert panel.visible_image_ids() == _expected(rows, prob, descending=True)
    panel.table.sortByColumn(COL_AGE, Qt.SortOrder.AscendingOrder)
    assert panel.visible_image_ids() == _expected(rows, lambda r: r.meta.patient_age, descending=False)
    last = panel.proxy.index(panel.proxy.rowCount() - 1, COL_ID)
    assert panel.proxy.data(last) == "broken.dcm"  # failed files after every image, either direction
    panel.table.sortByColumn(COL_ID, Qt.SortOrder.AscendingOrder)
    assert panel.visible_image_ids() == sorted(r.image_id for r in rows if not r.failed)
    assert panel.proxy.headerData(COL_PROB, Qt.Orientation.Horizontal) == COLUMNS[COL_PROB]


def test_a_burst_of_results_while_sorted_is_re_placed_once(qtbot: Any) -> None:
    rows = _rows(2000)
    model, panel = _panel(qtbot, rows)
    panel.sort_by_probability()
    layouts: list[int] = []
    panel.proxy.layoutChanged.connect(lambda *_: layouts.append(1))
    rng = np.random.default_rng(1)
    fresh = {r.image_id: float(rng.random()) for r in rows if not r.failed}
    for image_id, p in fresh.items():
        model.set_probability(image_id, p)
    assert layouts == []  # not one re-sort per result
    qtbot.waitUntil(lambda: len(layouts) == 1, timeout=5000)
    want = sorted(fresh, key=lambda i: (-fresh[i], model.row_for(i)))
    shown = [panel.proxy.data(panel.proxy.index(r, COL_ID), Qt.ItemDataRole.UserRole + 2)
             for r in range(panel.proxy.rowCount() - 1)]
    assert shown == want and len(layouts) == 1


def test_reading_the_order_applies_a_pending_re_sort(qtbot: Any) -> None:
    rows = _rows(50)
    model, panel = _panel(qtbot, rows)
    panel.sort_by_probability()
    bottom = panel.visible_image_ids()[-1]
    model.set_probability(bottom, 2.0)  # above every other: goes to the top
    assert panel.visible_image_ids()[0] == bottom


def test_a_narrowing_search_keystroke_re_tests_only_the_rows_still_shown(qtbot: Any) -> None:
    rows = _rows(3000)
    _model, panel = _panel(qtbot, rows)
    panel.search.setText("1.2.1")
    shown = panel.proxy.rowCount()
    assert 0 < shown < 3000
    CountingList.reads = 0
    panel.search.setText("1.2.12")
    assert CountingList.reads == shown  # the matches of "1.2.1" only, not every row
    assert panel.visible_image_ids() == [r.image_id for r in rows if not r.failed and "1.2.12" in r.image_id]
    panel.search.setText("")
    assert len(panel.visible_image_ids()) == 3000


def test_selection_follows_its_row_through_sorts_filters_and_status_changes(qtbot: Any) -> None:
    rows = _rows(300)
    statuses: dict[str, ReviewStatus] = {}
    model, panel = _panel(qtbot, rows)
    model.set_status_source(lambda i: statuses.get(i, ReviewStatus.UNREVIEWED))
    target = rows[40].image_id
    assert panel.select_image(target)
    panel.sort_by_probability()
    panel.view_filter.setCurrentText(rows[40].meta.view_position)
    assert panel.current_image_id() == target
    panel.status_filter.setCurrentText(ReviewStatus.UNREVIEWED.value)
    statuses[rows[41].image_id] = ReviewStatus.NEGATIVE
    model.status_changed(rows[41].image_id)
    assert rows[41].image_id not in panel.visible_image_ids()
    assert panel.current_image_id() == target


def test_a_burst_of_results_unsorted_is_repainted_once_and_a_status_change_at_once(qtbot: Any) -> None:
    rows = _rows(2000)
    model, panel = _panel(qtbot, rows)
    changed: list[int] = []
    panel.proxy.dataChanged.connect(lambda *_: changed.append(1))
    for r in rows:
        if not r.failed:
            model.set_probability(r.image_id, 0.5)
    qtbot.waitUntil(lambda: len(changed) == 1, timeout=5000)
    assert panel.proxy.data(panel.proxy.index(0, COL_PROB)) == "0.50"
    model.status_changed(rows[0].image_id)
    assert len(changed) == 2  # the reviewer's own change is not delayed
