"""AI ▸ Model…: the picker lists every bundle, marks synthetic ones, shows the card, and the choice per folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from pneumoviewer.core.paths import models_dir
from pneumoviewer.gui.model_picker import ModelPickerDialog
from pneumoviewer.gui.settings import Settings
from pneumoviewer.inference.catalog import find_bundles


def _bundle(src: Path, dst: Path, **changes: object) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*"))
    data = json.loads((dst / "manifest.json").read_text())
    data.update(changes)
    (dst / "manifest.json").write_text(json.dumps(data))
    (dst / "MODEL_CARD.md").write_text(f"# Card of {dst.name}\n\nReal training data.\n")
    return dst


@pytest.fixture
def bundles(tmp_path, monkeypatch):
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    shipped.mkdir()
    user.mkdir()
    shutil.copytree(models_dir() / "demo", shipped / "demo", ignore=shutil.ignore_patterns(".*"))
    _bundle(shipped / "demo", shipped / "siim", name="siim", synthetic=False)
    (user / "broken").mkdir()
    (user / "broken" / "manifest.json").write_text("[]")
    monkeypatch.setenv("PNEUMOVIEWER_MODELS", str(shipped))
    monkeypatch.setenv("PNEUMOVIEWER_USER_MODELS", str(user))
    return shipped, user


def test_picker_lists_marks_and_shows_the_card(qtbot, bundles):
    shipped, _ = bundles
    dlg = ModelPickerDialog(current=shipped / "siim")
    qtbot.addWidget(dlg)
    rows = [dlg.list.item(i).text() for i in range(dlg.list.count())]
    assert len(rows) == 3
    assert "SYNTHETIC" in rows[0] and rows[0].startswith("demo")
    assert "real radiographs" in rows[1] and rows[1].startswith("siim")
    assert "cannot be used" in rows[2]
    broken = dlg.list.item(2)
    assert not broken.flags() & Qt.ItemFlag.ItemIsEnabled and "manifest" in broken.toolTip()
    assert dlg.chosen() == shipped / "siim"  # the folder's current choice is pre-selected
    assert "Card of siim" in dlg.card.toPlainText()
    assert "real radiographs" in dlg.details.text() and "sha256" in dlg.details.text()
    dlg.list.setCurrentRow(0)
    assert "never seen a real" in dlg.details.text()
    with qtbot.waitSignal(dlg.bundle_chosen) as sig:
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert Path(sig.args[0]) == shipped / "demo"


def test_picker_adds_a_user_folder(qtbot, bundles, tmp_path):
    extra = _bundle(models_dir() / "demo", tmp_path / "elsewhere" / "mine", name="mine", version="3.1",
                    synthetic=False)
    dlg = ModelPickerDialog()
    qtbot.addWidget(dlg)
    n = dlg.list.count()
    dlg.add_bundle(extra)
    assert dlg.list.count() == n + 1
    assert dlg.chosen() == extra and dlg.list.currentItem().text().startswith("mine 3.1")


def test_choice_is_remembered_per_folder(tmp_path, bundles):
    shipped, _ = bundles
    a, b = tmp_path / "studies-a", tmp_path / "studies-b"
    a.mkdir()
    b.mkdir()
    s = Settings()
    s.set_folder_model(a, shipped / "siim")
    s.sync()
    again = Settings()
    assert again.folder_model(a) == str(shipped / "siim")
    assert again.folder_model(b) == ""
    assert not again.synthetic_accept_confirmed(a)
    again.set_synthetic_accept_confirmed(a)
    assert Settings().synthetic_accept_confirmed(a) and not Settings().synthetic_accept_confirmed(b)
    assert [e.path.name for e in find_bundles()][:2] == ["demo", "siim"]


def _own_identity(bundle: Path, card: str) -> str:
    """Give a bundle copy an identity of its own (another model card, listed with its sha256): its bundle sha256."""
    from pneumoviewer.inference.bundle import read_manifest, sha256_file

    (bundle / "MODEL_CARD.md").write_text(card)
    data = json.loads((bundle / "manifest.json").read_text())
    data["files"]["MODEL_CARD.md"] = {"sha256": sha256_file(bundle / "MODEL_CARD.md")}
    (bundle / "manifest.json").write_text(json.dumps(data))
    return read_manifest(bundle).sha256


@pytest.fixture
def two_bundles(tmp_path, monkeypatch, make_window):
    """The demo bundle and a real one, each with an identity of its own; set after make_window's "no models"."""
    from pneumoviewer.core.paths import source_root

    shipped = tmp_path / "two-bundles"
    shipped.mkdir()
    shutil.copytree(source_root() / "models" / "demo", shipped / "demo", ignore=shutil.ignore_patterns(".*"))
    _bundle(shipped / "demo", shipped / "siim", name="siim", synthetic=False)
    monkeypatch.setenv("PNEUMOVIEWER_MODELS", str(shipped))
    monkeypatch.setenv("PNEUMOVIEWER_USER_MODELS", str(tmp_path / "no-user-models"))
    return shipped, _own_identity(shipped / "demo", "# Demo\n"), _own_identity(shipped / "siim", "# Real\n")


def test_switching_models_in_the_picker_shows_each_models_stored_results(make_window, qtbot, two_bundles,
                                                                        phantom_dataset):
    """Issue 10: results of two models are kept apart; AI ▸ Model… shows the chosen model's stored probabilities
    (nothing re-run), switching back restores the first model's, and the reviewer's mask never changes."""
    import numpy as np

    from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
    from pneumoviewer.gui.worklist import COL_PROB

    from .conftest import open_and_wait

    shipped, sha_demo, sha_siim = two_bundles
    assert sha_demo != sha_siim
    w = make_window(run_ai=False)
    open_and_wait(qtbot, w, phantom_dataset.root)
    session, model = w.parts.session, w.parts.worklist_model
    assert w.parts.ai.bundle_dir == shipped / "demo"
    ids = session.image_ids()
    shape = session.document(ids[0]).shape
    mask = np.zeros(shape, bool)
    mask[10:40, 20:60] = True
    for i, image_id in enumerate(ids):  # the demo model's results arrive in this session
        session.add_prediction(Prediction(image_id, 0.1 + i / 100, mask, ModelInfo("demo", "1", True, sha_demo)))
    for image_id in ids[:-1]:  # the real model ran on all but the last image in an earlier session
        session.store.set_ai_result(Prediction(image_id, 0.9, ~mask, ModelInfo("siim", "1", False, sha_siim)))
    w.parts.worklist.select_image(ids[0])
    qtbot.waitUntil(lambda: w.parts.nav.shown == ids[0])
    doc = session.document(ids[0])
    doc.apply(np.ones((3, 20), bool), (100, 103, 5, 25))  # the reviewer corrects image 0
    mine = doc.mask.copy()

    def shown_p(image_id: str) -> float | None:
        return model.entry(model.row_for(image_id)).probability

    def pick(name: str) -> None:
        w.parts.actions["choose_model"].trigger()
        qtbot.waitUntil(lambda: any(d.isVisible() for d in w.findChildren(ModelPickerDialog, "modelPicker")))
        dlg = next(d for d in w.findChildren(ModelPickerDialog, "modelPicker") if d.isVisible())
        dlg.list.setCurrentRow(next(i for i in range(dlg.list.count()) if dlg.list.item(i).text().startswith(name)))
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()

    assert shown_p(ids[1]) == pytest.approx(0.11)
    pick("siim")
    qtbot.waitUntil(lambda: shown_p(ids[1]) == pytest.approx(0.9))
    assert shown_p(ids[-1]) is None  # the real model has no result for it yet: none shown, not the demo's
    assert w.parts.ai.worker is None  # nothing was re-run
    assert session.ai_queue(ids, sha_siim) == [ids[-1]]  # only what the real model lacks would be queued
    index = model.index(model.row_for(ids[1]), COL_PROB)
    assert model.data(index) == "0.90" and "siim" in str(model.data(index, Qt.ItemDataRole.ToolTipRole))
    assert np.array_equal(session.ai_mask(ids[1]), ~mask)
    pick("demo")
    qtbot.waitUntil(lambda: shown_p(ids[1]) == pytest.approx(0.11))
    assert [shown_p(i) for i in ids] == pytest.approx([0.1 + i / 100 for i in range(len(ids))])
    assert np.array_equal(session.ai_mask(ids[1]), mask)
    assert np.array_equal(session.document(ids[0]).mask, mine)  # the reviewer's mask never moved
    session.flush()
    assert session.store.status(ids[0]) is ReviewStatus.CORRECTED
    assert np.array_equal(session.store.final_mask(ids[0]), mine)
    assert session.store.ai_model() == sha_demo
