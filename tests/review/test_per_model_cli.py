"""Issue 10 at the command line: `evaluate --store` and `export --layer original` say whose AI masks they read (the
folder's current model by default) and take `--ai-model SHA256` to choose another."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.io import rle
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.review import ReviewStore

SHA_A, SHA_B = "a1" * 32, "b2" * 32


def _box(r0, r1, c0, c1):
    m = np.zeros((40, 60), bool)
    m[r0:r1, c0:c1] = True
    return m


@pytest.fixture
def two_models(tmp_path):
    """Two images reviewed; model A drew exactly the reviewer's masks, model B something else; B is current."""
    mine = {"x": _box(0, 10, 0, 10), "y": _box(20, 30, 20, 30)}
    with ReviewStore.open(tmp_path) as store:
        for iid, m in mine.items():
            store.set_final_mask(iid, m)
            store.set_ai_result(Prediction(iid, 0.9, m, ModelInfo("unet", "1", sha256=SHA_A)))
            store.set_ai_result(Prediction(iid, 0.2, _box(35, 40, 50, 60), ModelInfo("dense", "2", sha256=SHA_B)))
        store.set_ai_model(SHA_B)  # what the app records when the reviewer picks B in AI ▸ Model…
    return tmp_path, mine


def test_evaluate_names_the_model_and_takes_another(two_models, capsys):
    folder, _ = two_models
    assert main(["evaluate", "--store", str(folder), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mean_dice"] == pytest.approx(0.0)  # B: the current model
    assert [(m["name"], m["sha256"], m["images"]) for m in out["models"]] == [("dense", SHA_B, 2)]
    assert main(["evaluate", "--store", str(folder), "--ai-model", SHA_A[:8]]) == 0
    text = capsys.readouterr().out
    assert f"AI model: unet v1 (sha256 {SHA_A[:12]}…): 2 image(s)" in text
    assert "mean Dice AI vs reviewer:       1.0000" in text
    assert main(["evaluate", "--store", str(folder), "--ai-model", "c" * 64]) == 2
    assert "matches no model" in capsys.readouterr().err
    assert main(["evaluate", "--pred", "p.csv", "--truth", "t.csv", "--ai-model", SHA_A]) == 2
    assert "needs --store" in capsys.readouterr().err


def test_export_of_the_ai_layer_names_the_model_and_takes_another(two_models, capsys):
    folder, mine = two_models
    out_b, out_a = folder / "b.csv", folder / "a.csv"
    assert main(["export", str(folder), "--layer", "original", "--csv", str(out_b), "--style", "submission"]) == 0
    assert f"AI masks of: dense v2 (sha256 {SHA_B[:12]}…): 2 image(s)" in capsys.readouterr().out
    assert set(read_rle_csv(out_b).rows("x")) == {rle.encode(_box(35, 40, 50, 60))}
    assert main(["export", str(folder), "--layer", "original", "--csv", str(out_a), "--style", "submission",
                 "--ai-model", SHA_A, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ai_models"][0]["sha256"] == SHA_A and summary["csv"]["images"] == 2
    assert read_rle_csv(out_a).rows("y") == [rle.encode(mine["y"])]
    assert main(["export", str(folder), "--csv", str(out_a), "--ai-model", SHA_A]) == 2  # final layer: refused
    assert "needs --layer original" in capsys.readouterr().err
