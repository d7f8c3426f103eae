"""Issue 10 in the window: AI ▸ Model…, the per-folder default bundle, the synthetic-model guard, the domain note;
issue 14: View ▸ Dataset… (the dashboard computed in the background, a row opens its image)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from pneumoviewer.core.paths import source_root
from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.gui.domain_guard import UNTRUSTED_COLOR
from pneumoviewer.gui.model_picker import ModelPickerDialog
from pneumoviewer.gui.settings import Settings
from pneumoviewer.gui.worklist import COL_PROB
from pneumoviewer.inference.domain import OUTSIDE_DOMAIN, SYNTHETIC_WARNING

from .conftest import open_and_wait


@pytest.fixture
def shipped(tmp_path, monkeypatch, make_window):
    """A shipped models folder with the demo bundle and a fake real one (the demo's files, `synthetic: false`)."""
    root = tmp_path / "shipped"
    shutil.copytree(source_root() / "models" / "demo", root / "demo", ignore=shutil.ignore_patterns(".*"))
    shutil.copytree(root / "demo", root / "siim")
    manifest = root / "siim" / "manifest.json"
    data = json.loads(manifest.read_text())
    data.update(name="siim", synthetic=False)
    data["thresholds"]["classifier_probability"] = 0.7
    manifest.write_text(json.dumps(data))
    monkeypatch.setenv("PNEUMOVIEWER_MODELS", str(root))  # after make_window's own "no models" setting
    monkeypatch.setenv("PNEUMOVIEWER_USER_MODELS", str(tmp_path / "user-models"))
    return root


def real_folder(root: Path, n: int = 3, side: int = 320, modality: str = "CR") -> Path:
    """`n` DICOMs that are not our phantoms (no phantom mark in the header)."""
    from pneumoviewer.io.dicom.write import build_dataset, dataset_bytes

    root.mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(n):
        pixels = rng.integers(0, 4096, (side, side), dtype=np.uint16)
        ds = build_dataset(pixels, bits_stored=12, attrs={"Modality": modality, "ViewPosition": "PA"})
        (root / f"film{i}.dcm").write_bytes(dataset_bytes(ds))
    return root


def pick(qtbot, w, name: str) -> None:
    """AI ▸ Model…, choose the bundle called `name`, OK."""
    w.parts.actions["choose_model"].trigger()
    def shown() -> list[ModelPickerDialog]:  # an earlier, closed picker may await its deferred delete
        return [d for d in w.findChildren(ModelPickerDialog, "modelPicker") if d.isVisible()]

    qtbot.waitUntil(lambda: len(shown()) == 1)
    dlg = shown()[0]
    row = next(i for i in range(dlg.list.count()) if dlg.list.item(i).text().startswith(name))
    dlg.list.setCurrentRow(row)
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert not dlg.isVisible()


def test_model_menu_switches_the_bundle_and_remembers_it_per_folder(make_window, qtbot, shipped, phantom_dataset,
                                                                    tmp_path):
    w = make_window(run_ai=False)
    ai_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&AI")
    assert w.parts.actions["choose_model"] in ai_menu.actions()
    open_and_wait(qtbot, w, phantom_dataset.root)
    assert w.parts.ai.bundle_dir == shipped / "demo"  # a phantom folder opens with the demo bundle
    pick(qtbot, w, "siim")
    assert w.parts.ai.bundle_dir == shipped / "siim" and w.parts.ai.worker is None
    assert w.parts.ai.model_info().name == "siim" and not w.parts.ai.model_info().synthetic
    assert "siim" in w.parts.ai_status.device_label.text()
    assert w.parts.ai.classifier_threshold() == pytest.approx(0.7)  # the dashboard's AI labels use it
    assert Settings().folder_model(phantom_dataset.root) == str(shipped / "siim")
    other = real_folder(tmp_path / "other")
    open_and_wait(qtbot, w, other)
    assert w.parts.ai.bundle_dir == shipped / "siim"  # the default for real films, not the other folder's choice
    pick(qtbot, w, "demo")
    w.close()
    again = make_window(run_ai=False)
    open_and_wait(qtbot, again, phantom_dataset.root)
    assert again.parts.ai.bundle_dir == shipped / "siim"  # reopened: the folder's own choice
    open_and_wait(qtbot, again, other)
    assert again.parts.ai.bundle_dir == shipped / "demo"


def test_per_folder_default_phantoms_get_the_demo_real_films_the_real_bundle(make_window, qtbot, shipped,
                                                                             phantom_dataset, tmp_path):
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, real_folder(tmp_path / "films"))
    assert w.parts.ai.bundle_dir == shipped / "siim"
    open_and_wait(qtbot, w, phantom_dataset.root)
    assert w.parts.ai.bundle_dir == shipped / "demo"
    assert Settings().folder_model(phantom_dataset.root) == ""  # a default is not written down as a choice
    forced = make_window(run_ai=False, bundle_dir=shipped / "demo")  # --model wins over the default
    open_and_wait(qtbot, forced, real_folder(tmp_path / "films2"))
    assert forced.parts.ai.bundle_dir == shipped / "demo"


def test_synthetic_model_on_real_films_banner_grey_no_prefill_and_a_asks_once(make_window, qtbot, engine_factory,
                                                                             tmp_path, monkeypatch):
    folder = real_folder(tmp_path / "films", n=3)
    w = make_window(inference_mode="thread", engine_factory=engine_factory())  # the test engine: synthetic
    open_and_wait(qtbot, w, folder)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    session, model = w.parts.session, w.parts.worklist_model
    ids = w.parts.worklist.visible_image_ids()
    assert set(session.predictions()) == set(ids)
    qtbot.waitUntil(lambda: w.parts.guard.banner.isVisible())
    assert SYNTHETIC_WARNING in w.parts.guard.banner.text()
    assert w.centralWidget().isAncestorOf(w.parts.guard.banner)  # over the viewer, not a status-bar line
    current = session.current
    assert session.ai_mask(current).any()
    assert not session.document(current).mask.any()  # the reviewer's mask is not pre-filled
    assert not w.parts.editor.document.mask.any()
    idx = model.index(model.row_for(current), COL_PROB)
    assert model.data(idx, Qt.ItemDataRole.ForegroundRole).color().name() == UNTRUSTED_COLOR
    assert model.data(idx, Qt.ItemDataRole.FontRole) is None  # never bold
    assert SYNTHETIC_WARNING in model.data(idx, Qt.ItemDataRole.ToolTipRole)
    assert SYNTHETIC_WARNING in w.parts.metadata.domain_note.text()
    assert UNTRUSTED_COLOR in w.parts.metadata.probability.styleSheet()

    asked: list[str] = []
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]

    def question(_parent, title, _text, *_args):
        asked.append(title)
        return answers[len(asked) - 1]

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    target = w.parts.viewer.graphics
    qtbot.keyClick(target, Qt.Key.Key_A)  # asked, No: nothing taken
    assert len(asked) == 1 and session.status(current) is ReviewStatus.UNREVIEWED
    qtbot.keyClick(target, Qt.Key.Key_A)  # asked again, Yes: taken
    assert len(asked) == 2 and session.status(current) is ReviewStatus.ACCEPTED
    assert np.array_equal(session.document(current).mask, session.ai_mask(current))
    qtbot.keyClick(target, Qt.Key.Key_J)
    qtbot.waitUntil(lambda: session.current == ids[1])
    qtbot.keyClick(target, Qt.Key.Key_A)  # the folder's answer is kept: not asked again
    assert len(asked) == 2 and session.status(ids[1]) is ReviewStatus.ACCEPTED
    assert Settings().synthetic_accept_confirmed(folder)


def test_phantoms_with_the_synthetic_model_have_no_banner_and_are_prefilled(make_window, qtbot, engine_factory,
                                                                           phantom_dataset):
    w = make_window(inference_mode="thread", engine_factory=engine_factory())
    open_and_wait(qtbot, w, phantom_dataset.root)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    current = w.parts.session.current
    assert not w.parts.guard.banner.isVisible() and w.parts.guard.banner.isHidden()
    assert np.array_equal(w.parts.session.document(current).mask, w.parts.session.ai_mask(current))
    assert w.parts.metadata.domain_note.text() == ""


def test_a_real_model_marks_images_outside_its_training_domain(make_window, qtbot, engine_factory, tmp_path):
    folder = real_folder(tmp_path / "small", n=2, side=128)  # 128 px: far below a chest film's size
    w = make_window(inference_mode="thread", engine_factory=engine_factory(synthetic=False))
    open_and_wait(qtbot, w, folder)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    model, current = w.parts.worklist_model, w.parts.session.current
    idx = model.index(model.row_for(current), COL_PROB)
    qtbot.waitUntil(lambda: str(model.data(idx)).startswith("⚠ "))
    assert OUTSIDE_DOMAIN in model.data(idx, Qt.ItemDataRole.ToolTipRole)
    assert OUTSIDE_DOMAIN in model.data(model.index(model.row_for(current), 0), Qt.ItemDataRole.ToolTipRole)
    assert OUTSIDE_DOMAIN in w.parts.metadata.domain_note.text() and "128" in w.parts.metadata.domain_note.text()
    assert not w.parts.guard.banner.isVisible()
    assert UNTRUSTED_COLOR not in w.parts.metadata.probability.styleSheet()  # a real model's P keeps its colour


def test_dataset_dashboard_opens_computes_in_the_background_and_a_row_opens_its_image(
    make_window, qtbot, engine_factory, phantom_dataset, tmp_path
):
    w = make_window(inference_mode="thread", engine_factory=engine_factory())
    open_and_wait(qtbot, w, phantom_dataset.root)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    session = w.parts.session
    ids = w.parts.worklist.visible_image_ids()
    target = w.parts.viewer.graphics
    qtbot.keyClick(target, Qt.Key.Key_N)  # two reviewer labels against the AI's
    qtbot.keyClick(target, Qt.Key.Key_J)
    qtbot.keyClick(target, Qt.Key.Key_N)
    dataset = w.parts.dataset
    view_menu = next(a.menu() for a in w.menuBar().actions() if a.text() == "&View")
    assert w.parts.actions["dataset"] in view_menu.actions()
    with qtbot.waitSignal(dataset.statsReady, timeout=30000) as ready:
        w.parts.actions["dataset"].trigger()
    stats = ready.args[0]
    assert dataset.dock.isVisible() and dataset.dashboard.stats is stats
    assert stats.n_images == len(ids) and stats.n_labelled == 2
    table = dataset.dashboard.disagree
    assert table.rowCount() == 2
    chosen = table.item(1, 0).data(Qt.ItemDataRole.UserRole)
    assert chosen in ids[:2]
    qtbot.keyClick(target, Qt.Key.Key_J)  # move away, then choose the row
    qtbot.waitUntil(lambda: session.current == ids[2])
    rect = table.visualItemRect(table.item(1, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: session.current == chosen)
    qtbot.waitUntil(lambda: w.parts.viewer.image is not None and w.parts.viewer.image.meta.image_id == chosen)
    with qtbot.waitSignal(dataset.statsReady, timeout=30000) as again:  # another folder, the dock still open
        open_and_wait(qtbot, w, real_folder(tmp_path / "films", n=3))
    assert again.args[0].n_images == 3 and dataset.dashboard.stats is again.args[0]


def test_worklist_filter_lists_where_ai_and_reviewer_disagree_most_worst_first(make_window, qtbot, engine_factory,
                                                                                phantom_dataset):
    from pneumoviewer.gui.worklist import DISAGREE

    w = make_window(inference_mode="thread", engine_factory=engine_factory())
    open_and_wait(qtbot, w, phantom_dataset.root)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    session, worklist = w.parts.session, w.parts.worklist
    ids = worklist.visible_image_ids()
    target = w.parts.viewer.graphics
    for key in (Qt.Key.Key_N, Qt.Key.Key_J, Qt.Key.Key_N, Qt.Key.Key_J, Qt.Key.Key_A):
        qtbot.keyClick(target, key)
    assert session.status(ids[2]) is ReviewStatus.ACCEPTED  # AI and reviewer agree exactly here
    with qtbot.waitSignal(w.parts.dataset.statsReady, timeout=30000) as ready:
        worklist.status_filter.setCurrentText(DISAGREE)  # computes the ranking in the background
    ranked = [i for i, _ in ready.args[0].disagree_most()]
    assert set(ranked) == set(ids[:3])
    scores = dict(ready.args[0].disagree_most())
    assert scores[ids[2]] == min(scores.values())
    qtbot.waitUntil(lambda: worklist.visible_image_ids() == ranked)
    worklist.status_filter.setCurrentText("All")
    assert sorted(worklist.visible_image_ids()) == sorted(ids)


def test_switching_models_stops_the_worker_and_keeps_results_and_the_reviewers_mask(
    make_window, qtbot, engine_factory, shipped, phantom_dataset
):
    w = make_window(inference_mode="thread", engine_factory=engine_factory())
    open_and_wait(qtbot, w, phantom_dataset.root)
    with qtbot.waitSignal(w.parts.ai.inferenceIdle, timeout=60000):
        pass
    session, ai = w.parts.session, w.parts.ai
    current = session.current
    qtbot.keyClick(w.parts.viewer.graphics, Qt.Key.Key_N)
    before = dict(session.predictions())
    old = ai.worker
    assert old is not None and old.isRunning()
    pick(qtbot, w, "siim")
    assert not old.isRunning() and ai.bundle_dir == shipped / "siim"
    assert ai.worker is not old  # the next run starts a worker on the new bundle
    assert session.predictions() == before  # results already in the session stay
    assert session.status(current) is ReviewStatus.NEGATIVE and not session.document(current).mask.any()
