"""Rows stream into the worklist while the folder is indexed; AI results reach the GUI thread in batches (issue 13).

The scan is held part-way by a gate in the header reader (the real scan, reading real files, waits on a
`threading.Event` the test sets), so "before the scan ends" is a fact of the test, not a race.
"""

from __future__ import annotations

import gc
import itertools
import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

import pneumoviewer.io.folder as folder_module
from pneumoviewer.gui.workers import EVENT_BATCH_MAX, Batches
from pneumoviewer.gui.worklist import COL_ID, COL_PROB

N_IMAGES = 150
HELD_AFTER = 40  # header reads let through before the gate


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from pneumoviewer.phantom import generate_dataset

    return generate_dataset(tmp_path_factory.mktemp("stream"), n=N_IMAGES, seed=3, size=32)


class Gate:
    """Lets `HELD_AFTER` header reads through, then holds the scan until `release` is set (bounded: 60 s)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.reads = 0

    def reset(self) -> None:
        self.release.clear()
        self.reads = 0

    def wait_until_held(self) -> None:
        """Block this (GUI) thread until the scan waits at the gate: every row before it is queued for the GUI,
        none taken yet, so they arrive as one batch (a bounded poll that lets no Qt event through)."""
        deadline = time.monotonic() + 60
        while self.reads <= HELD_AFTER and time.monotonic() < deadline:
            time.sleep(0.005)
        assert self.reads > HELD_AFTER


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Any:
    held = Gate()
    real = folder_module.read_header

    def read_header(path: Any) -> Any:
        held.reads += 1
        if held.reads > HELD_AFTER:
            held.release.wait(60)
        return real(path)

    monkeypatch.setattr(folder_module, "read_header", read_header)
    yield held
    held.release.set()


def _open(w: Any, root: Path) -> list[tuple[int, int]]:
    finished: list[tuple[int, int]] = []
    w.parts.folders.scanFinished.connect(lambda n, f: finished.append((n, f)))
    w.parts.folders.open_folder(root)
    return finished


def _open_held(w: Any, root: Path, gate: Any, qtbot: Any) -> list[tuple[int, int]]:
    """Open ``root`` and wait until the scan is held at the gate with the first HELD_AFTER rows in the worklist."""
    finished = _open(w, root)
    gate.wait_until_held()
    qtbot.waitUntil(lambda: w.parts.worklist_model.rowCount() == HELD_AFTER, timeout=20000)
    return finished


def test_rows_stream_in_and_the_first_image_opens_before_the_scan_ends(make_window, qtbot, folder, gate):
    w = make_window(run_ai=False)
    model, panel = w.parts.worklist_model, w.parts.worklist
    inserts: list[tuple[int, int]] = []
    model.rowsInserted.connect(lambda _p, first, last: inserts.append((first, last)))
    finished = _open_held(w, folder.root, gate, qtbot)
    assert inserts == [(0, HELD_AFTER - 1)]  # the rows read meanwhile came as one batch: one rowsInserted
    qtbot.waitUntil(lambda: w.parts.viewer.image is not None, timeout=20000)
    assert not finished and model.rowCount() < N_IMAGES  # the scan is still held
    first = panel.visible_image_ids()[0]
    assert w.parts.session.current == first == w.parts.viewer.image.meta.image_id
    assert w.parts.session.path(first) is not None and w.parts.session.index is None  # reviewable before the end
    gate.release.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    assert finished == [(N_IMAGES, 0)] and model.rowCount() == N_IMAGES
    assert sorted(panel.visible_image_ids()) == sorted(folder.image_ids)
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(inserts))  # appended in order
    assert w.parts.session.current == first  # the first image stayed open
    assert gc.get_freeze_count() > N_IMAGES  # the index's objects are out of the cyclic collector's way


def test_selection_stays_and_sorted_order_is_right_while_rows_stream_in(make_window, qtbot, folder, gate):
    w = make_window(run_ai=False)
    model, panel = w.parts.worklist_model, w.parts.worklist
    finished = _open_held(w, folder.root, gate, qtbot)
    panel.table.sortByColumn(COL_ID, Qt.SortOrder.DescendingOrder)
    chosen = panel.visible_image_ids()[7]
    panel.select_image(chosen)
    qtbot.waitUntil(lambda: w.parts.viewer.image is not None and w.parts.viewer.image.meta.image_id == chosen)
    layouts: list[int] = []
    inserts: list[int] = []
    panel.proxy.layoutChanged.connect(lambda *_: layouts.append(1))
    model.rowsInserted.connect(lambda _p, first, last: inserts.append(last - first + 1))
    gate.release.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    assert panel.visible_image_ids() == sorted(folder.image_ids, reverse=True)  # new rows in their sorted places
    assert panel.current_image_id() == chosen == w.parts.session.current  # the reviewer's row kept
    selected = panel.table.selectionModel().selectedRows()
    assert [panel.proxy.data(i, Qt.ItemDataRole.UserRole + 2) for i in selected] == [chosen]
    assert sum(inserts) == N_IMAGES - HELD_AFTER
    assert 1 <= len(layouts) <= 2 * len(inserts)  # re-placed per batch (and once per new view offered), not per row


def test_a_search_typed_while_rows_stream_in_filters_the_new_rows_too(make_window, qtbot, folder, gate):
    w = make_window(run_ai=False)
    panel = w.parts.worklist
    finished = _open_held(w, folder.root, gate, qtbot)
    tail = folder.image_ids[-1][-1]
    panel.search.setText(tail)
    gate.release.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    expected = [i for i in folder.image_ids if tail in i.lower()]
    assert sorted(panel.visible_image_ids()) == sorted(expected) and 0 < len(expected) < N_IMAGES


def test_the_last_position_opens_when_it_streams_in_unless_the_reviewer_moved(make_window, qtbot, folder, gate):
    gate.release.set()
    w = make_window(run_ai=False)
    finished = _open(w, folder.root)
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    late, other = w.parts.worklist.visible_image_ids()[-3], w.parts.worklist.visible_image_ids()[3]
    w.parts.worklist.select_image(late)  # indexed after the gate
    w.close()
    for moved in (False, True):
        gate.reset()
        folder_module.cache_path(folder.root).unlink()  # a cold index: the reads go through the gate again
        w2 = make_window(run_ai=False)
        finished2 = _open(w2, folder.root)
        gate.wait_until_held()
        qtbot.waitUntil(lambda w2=w2: w2.parts.session.current is not None, timeout=20000)
        assert w2.parts.session.current == w2.parts.worklist.visible_image_ids()[0] != late  # something at once
        if moved:
            w2.parts.worklist.select_image(other)  # the reviewer chose: the last position must not take over
        gate.release.set()
        qtbot.waitUntil(lambda f=finished2: bool(f), timeout=20000)
        assert w2.parts.session.current == w2.parts.worklist.current_image_id() == (other if moved else late)
        if not moved:
            w2.close()  # keeps `late` as the last position for the second round


def test_batches_hand_a_burst_over_in_turns_and_finish_after_the_last(qtbot):
    handled: list[list[int]] = []
    batches = Batches(lambda items: handled.append(items), interval_ms=100, max_items=100)
    done: list[int] = []

    def produce() -> None:
        for i in range(250):
            batches.put(i)

    t = threading.Thread(target=produce)
    t.start()
    t.join()  # the GUI thread handled nothing meanwhile: the whole burst waits in one buffer
    assert handled == [] and batches.pending() == 250
    batches.finish(lambda: done.append(sum(map(len, handled))))
    assert [len(b) for b in handled] == [100]  # one turn's worth at once, the rest in the next turns
    qtbot.waitUntil(lambda: bool(done), timeout=5000)
    assert [len(b) for b in handled] == [100, 100, 50] and [i for b in handled for i in b] == list(range(250))
    assert done == [250]


def test_a_burst_of_ai_results_while_sorted_is_applied_in_batches(make_window, qtbot, folder, engine_factory):
    w = make_window(run_ai=False, inference_mode="thread", engine_factory=engine_factory())
    finished = _open(w, folder.root)
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    panel = w.parts.worklist
    panel.sort_by_probability()
    w.parts.ai.start(panel.visible_image_ids())
    worker = w.parts.ai.worker
    batches: list[int] = []
    worker.results.connect(lambda results: batches.append(len(results)))
    layouts: list[int] = []
    panel.proxy.layoutChanged.connect(lambda *_: layouts.append(1))
    deadline = time.monotonic() + 60
    while (worker.pending() or not worker.model_ready) and time.monotonic() < deadline:
        time.sleep(0.01)  # a bounded poll that lets no Qt event through: the results pile up as a burst
    assert worker.pending() == 0
    qtbot.waitUntil(lambda: len(w.parts.session.predictions()) == N_IMAGES, timeout=20000)
    # every image and its progress is one event (+ model loading, ready, idle): EVENT_BATCH_MAX per turn
    turns = math.ceil((2 * N_IMAGES + 3) / EVENT_BATCH_MAX)
    assert sum(batches) == N_IMAGES and len(batches) <= turns < N_IMAGES / 10  # a signal per turn, not per result
    qtbot.waitUntil(lambda: panel.proxy.sortColumn() == COL_PROB and len(layouts) >= 1, timeout=5000)
    assert len(layouts) <= len(batches)  # re-placed per batch at most, never per result
    probs = [w.parts.session.prediction(i).probability for i in panel.visible_image_ids()]
    assert probs == sorted(probs, reverse=True) and len(set(probs)) > 1


def test_run_ai_pressed_while_rows_stream_in_covers_the_images_indexed_after(
    make_window, qtbot, folder, gate, engine_factory
):
    # the model takes long to load, so the run pressed mid-scan is still pending when the index completes
    w = make_window(run_ai=False, inference_mode="thread", engine_factory=engine_factory(load_delay=5.0))
    finished = _open_held(w, folder.root, gate, qtbot)
    w.parts.actions["run_ai"].trigger()
    assert w.parts.ai.worker.pending() == HELD_AFTER
    gate.release.set()
    qtbot.waitUntil(lambda: bool(finished), timeout=20000)
    assert w.parts.ai.worker.pending() == N_IMAGES  # the rest joined the running queue
    qtbot.waitUntil(lambda: len(w.parts.session.predictions()) == N_IMAGES, timeout=60000)
