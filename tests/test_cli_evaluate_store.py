"""`pneumoviewer evaluate --store FOLDER`: AI-vs-reviewer agreement straight from a folder's review store."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.review import ReviewStore


def _box(r0, r1, c0, c1):
    m = np.zeros((40, 60), bool)
    m[r0:r1, c0:c1] = True
    return m


def test_evaluate_store_json(tmp_path, capsys):
    with ReviewStore.open(tmp_path) as store:
        for iid in ("acc", "half"):
            store.set_ai_result(Prediction(iid, 0.8, _box(0, 10, 0, 10), ModelInfo("m", "1")))
        store.accept_ai("acc")
        store.set_final_mask("half", _box(0, 10, 5, 15))
    assert main(["evaluate", "--store", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_images"] == 2
    assert out["mean_dice"] == pytest.approx(0.75)
    assert out["per_image"]["half"] == pytest.approx(0.5)


def test_evaluate_store_text_and_errors(tmp_path, capsys):
    with ReviewStore.open(tmp_path) as store:
        store.set_ai_result(Prediction("a", 0.8, _box(0, 10, 0, 10), ModelInfo("m", "1")))
        store.mark_negative("a")
    assert main(["evaluate", "--store", str(tmp_path)]) == 0
    assert "mean Dice AI vs reviewer:       0.0000" in capsys.readouterr().out
    assert main(["evaluate", "--store", str(tmp_path / "nope")]) == 2
    assert main(["evaluate", "--store", str(tmp_path), "--pred", "x.csv"]) == 2
    assert main(["evaluate"]) == 2
    assert "--pred and --truth" in capsys.readouterr().err
