"""The AI worker inside the window: results and errors via signals, triage sort, cancel, close while running.

The threading is driven with a small TensorFlow-free engine (conftest.ThresholdEngine, same interface as
InferenceEngine) in both worker modes: a child process (default) and a QThread.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from pneumoviewer.core.types import ReviewStatus

from .conftest import open_and_wait

MODES = ["process", "thread"]


@pytest.mark.parametrize("mode", MODES)
def test_every_image_gets_a_result_or_its_error_and_the_worker_goes_on(
    make_window, qtbot, phantom_dataset, engine_factory, mode
):
    bad = phantom_dataset.image_ids[4]
    w = make_window(inference_mode=mode, engine_factory=engine_factory(fail_ids=[bad]))
    open_and_wait(qtbot, w, phantom_dataset.root)
    errors: list[tuple[str, str]] = []
    w.parts.ai.predictionFailed.connect(lambda i, m: errors.append((i, m)))
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    ids = set(phantom_dataset.image_ids)
    assert set(w.parts.session.predictions()) == ids - {bad}
    assert errors and errors[0][0] == bad and "refused by the test engine" in errors[0][1]
    # the worklist shows the probabilities and the error; the model is named next to the result
    row = w.parts.worklist_model.row_for(bad)
    assert w.parts.worklist_model.data(w.parts.worklist_model.index(row, 4)) == "error"
    assert w.parts.ai.model_info().name == "threshold-test"
    device = w.parts.ai_status.device_label.text()
    assert "threshold-test v0.1" in device and "CPU" in device
    assert "not for clinical use" in w.parts.metadata.disclaimer.text()
    assert "not for clinical use" in w.parts.view.disclaimer_label.text()
    # the image on screen shows its AI mask (same shape) and probability
    current = w.parts.session.current
    if current != bad:
        pred = w.parts.session.prediction(current)
        assert w.parts.ai_overlay.mask is not None
        assert w.parts.ai_overlay.mask.shape == w.parts.session.ai_mask(current).shape
        assert w.parts.metadata.probability.text() == f"P = {pred.probability:.2f}"
    # accept AI now works; the status lands in the worklist
    w.parts.worklist.select_image(next(i for i in w.parts.worklist.visible_image_ids() if i != bad))
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_A)
    assert w.parts.session.status(w.parts.session.current) is ReviewStatus.ACCEPTED


def test_current_image_first_then_triage_sort(make_window, qtbot, phantom_dataset, engine_factory):
    w = make_window(inference_mode="thread", engine_factory=engine_factory(delay=0.02, load_delay=1.0))
    open_and_wait(qtbot, w, phantom_dataset.root)
    order: list[str] = []
    w.parts.ai.predictionArrived.connect(lambda i, _p: order.append(i))
    # jump to the last image before the model is ready: it must be predicted first
    last = w.parts.worklist.visible_image_ids()[-1]
    w.parts.worklist.select_image(last)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    assert order[0] == last
    w.parts.worklist.sort_by_probability()
    probs = [w.parts.session.prediction(i).probability for i in w.parts.worklist.visible_image_ids()]
    assert probs == sorted(probs, reverse=True)
    assert len(probs) == len(phantom_dataset.image_ids)
    assert len(set(probs)) > 1  # the sort is not vacuous


@pytest.mark.parametrize("mode", MODES)
def test_cancel_stops_the_rest_and_run_resumes(make_window, qtbot, phantom_dataset, engine_factory, mode):
    w = make_window(inference_mode=mode, engine_factory=engine_factory(delay=0.3))
    open_and_wait(qtbot, w, phantom_dataset.root)
    qtbot.waitUntil(lambda: len(w.parts.session.predictions()) >= 1, timeout=60000)
    with qtbot.waitSignal(w.parts.ai.inferenceCancelled, timeout=10000):
        w.parts.actions["cancel_ai"].trigger()
    qtbot.waitUntil(lambda: w.parts.ai.worker.pending() == 0, timeout=10000)  # in flight: finished or dropped
    n = len(w.parts.session.predictions())
    total = len(phantom_dataset.image_ids)
    assert n < total
    arrived: list[str] = []
    w.parts.ai.predictionArrived.connect(lambda i, _p: arrived.append(i))
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        w.parts.actions["run_ai"].trigger()  # resumes: only what has no result yet
    assert len(w.parts.session.predictions()) == total
    assert len(arrived) == total - n and len(set(arrived)) == len(arrived)  # nothing predicted twice


@pytest.mark.parametrize("mode", MODES)
def test_close_while_the_worker_runs_is_clean_and_quick(
    make_window, qtbot, phantom_dataset, engine_factory, mode, capfd
):
    w = make_window(inference_mode=mode, engine_factory=engine_factory(delay=0.4))
    open_and_wait(qtbot, w, phantom_dataset.root)
    qtbot.waitUntil(lambda: w.parts.ai.worker is not None and w.parts.ai.worker.isRunning(), timeout=10000)
    qtbot.waitUntil(lambda: w.parts.ai.worker.model_ready, timeout=60000)
    worker = w.parts.ai.worker
    proc = worker.client.proc
    t0 = time.perf_counter()
    w.close()
    elapsed = time.perf_counter() - t0
    assert not worker.isRunning()
    assert worker.pending() == 0
    assert elapsed < 5.0
    if mode == "process":
        assert proc is not None and not proc.is_alive()
    out, err = capfd.readouterr()
    assert "QThread: Destroyed while thread is still running" not in out + err


def test_close_while_the_model_is_still_loading(make_window, qtbot, phantom_dataset, engine_factory):
    w = make_window(inference_mode="process", engine_factory=engine_factory(load_delay=30.0))
    open_and_wait(qtbot, w, phantom_dataset.root)
    qtbot.waitUntil(lambda: w.parts.ai.worker is not None and w.parts.ai.worker.client.proc is not None, timeout=10000)
    qtbot.waitUntil(lambda: w.parts.ai.model_info() is not None, timeout=20000)  # the child runs; the load sleeps
    assert not w.parts.ai.worker.model_ready
    proc = w.parts.ai.worker.client.proc
    t0 = time.perf_counter()
    w.close()
    assert time.perf_counter() - t0 < 8.0  # the child is told to quit, then terminated: no 30 s wait
    assert not proc.is_alive()


def test_a_broken_bundle_leaves_the_app_usable(make_window, qtbot, phantom_dataset, tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "manifest.json").write_text("{not json")
    w = make_window(bundle_dir=bundle, inference_mode="thread")
    with qtbot.waitSignal(w.parts.ai.modelFailed, timeout=60000) as failed:
        open_and_wait(qtbot, w, phantom_dataset.root)
    assert failed.args[0]
    assert w.parts.ai_status.device_label.text() == "AI: no model"
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_J)
    assert w.parts.session.current == w.parts.worklist.visible_image_ids()[1]


def test_a_second_folder_gets_its_own_predictions(make_window, qtbot, phantom_dataset, engine_factory, tmp_path):
    from pneumoviewer.phantom import generate_dataset

    other = generate_dataset(tmp_path / "other", n=3, seed=99, size=128)
    w = make_window(inference_mode="thread", engine_factory=engine_factory())
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        open_and_wait(qtbot, w, phantom_dataset.root)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        open_and_wait(qtbot, w, other.root)
    assert set(w.parts.session.predictions()) == set(other.image_ids)
    assert w.parts.worklist_model.image_count() == 3
