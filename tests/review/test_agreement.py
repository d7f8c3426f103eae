"""Agreement: Dice of AI vs reviewer (and vs an imported reference) straight from the store."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.types import ModelInfo, Prediction
from pneumoviewer.io import rle
from pneumoviewer.review import ReviewStore
from pneumoviewer.review.agreement import agreement

H, W = 40, 60


def _box(r0, r1, c0, c1):
    m = np.zeros((H, W), bool)
    m[r0:r1, c0:c1] = True
    return m


def test_agreement_per_image_and_by_status(tmp_path):
    ai = _box(0, 10, 0, 10)  # 100 px
    with ReviewStore.open(tmp_path) as store:
        for iid in ("acc", "half", "neg", "ai-only"):
            store.set_ai_result(Prediction(iid, 0.7, ai, ModelInfo("m", "1")))
        store.accept_ai("acc")
        store.set_final_mask("half", _box(0, 10, 5, 15))  # overlap 50 → dice 0.5
        store.mark_negative("neg")
        store.set_final_mask("manual-only", _box(1, 2, 1, 2))
        res = agreement(store)
    assert res["per_image"] == {"acc": 1.0, "half": pytest.approx(0.5), "neg": 0.0}
    assert res["n_images"] == 3 and res["mean_dice"] == pytest.approx(0.5)
    assert res["unchanged"] == 1
    assert res["by_status"]["accepted"] == {"n": 1, "mean_dice": 1.0}
    assert res["by_status"]["corrected"]["mean_dice"] == pytest.approx(0.5)
    assert "reference" not in res


def test_agreement_with_reference_layer(tmp_path):
    truth = _box(0, 10, 0, 20)  # 200 px
    with ReviewStore.open(tmp_path) as store:
        store.set_ai_result(Prediction("a", 0.9, _box(0, 10, 0, 10), ModelInfo("m", "1")))
        store.set_final_mask("a", truth)
        store.import_reference_rows({"a": [rle.encode(truth)]}, {"a": (H, W)}, "truth.csv")
        res = agreement(store)
    ref = res["reference"]
    assert ref["source"] == "truth.csv" and ref["n_images"] == 1
    assert ref["final_mean_dice"] == 1.0
    assert ref["ai_mean_dice"] == pytest.approx(2 * 100 / 300)


def test_agreement_empty_store(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        res = agreement(store)
    assert res["n_images"] == 0 and res["mean_dice"] is None
