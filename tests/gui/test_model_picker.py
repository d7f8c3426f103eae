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
