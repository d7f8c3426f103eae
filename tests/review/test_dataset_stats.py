"""Dataset and model-QA statistics: numbers checked against hand-computed cases on crafted images and reviews."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.charts import render_chart
from pneumoviewer.core.types import ImageMeta, ModelInfo, Prediction
from pneumoviewer.io import rle
from pneumoviewer.io.folder import scan_folder
from pneumoviewer.metrics import dice
from pneumoviewer.review.dataset_stats import (
    NO_REVIEWS,
    StatsCancelled,
    _overlap,
    _runs,
    dataset_stats,
    iter_dataset_stats,
)
from pneumoviewer.review.store import ReviewStore

MODEL = ModelInfo("demo", "1.0.0", synthetic=True)


def _rows(*rows: int, size: int = 10) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    for r in rows:
        m[r, :] = True
    return m


def _cells(n: int, size: int = 10) -> np.ndarray:
    m = np.zeros((size, size), dtype=bool)
    m.flat[:n] = True
    return m


@pytest.fixture
def crafted(tmp_path: Path) -> tuple[list[ImageMeta], ReviewStore]:
    """Six images (a-e 10x10 in the store, f 12x8 unknown to it), reviewed as the docstrings of the tests say."""
    metas = [
        ImageMeta("a", patient_sex="M", patient_age=25, view_position="PA", rows=10, columns=10),
        ImageMeta("b", patient_sex="F", patient_age=35, view_position="AP", rows=10, columns=10),
        ImageMeta("c", patient_sex="O", patient_age=95, view_position="LL", rows=10, columns=10),
        ImageMeta("d", patient_sex="M", patient_age=25, view_position="PA", rows=10, columns=10),
        ImageMeta("e", patient_sex="F", patient_age=47, view_position="ap", rows=10, columns=10),
        ImageMeta("f", rows=8, columns=12),
    ]
    store = ReviewStore(tmp_path / "review.sqlite")
    for image_id, p, mask in (("a", 0.9, _rows(0, 1)), ("b", 0.8, _rows(0, 1)), ("c", 0.86, _rows(5)),
                              ("d", 0.2, _rows()), ("e", 0.6, _cells(5))):
        store.set_ai_result(Prediction(image_id, p, mask, MODEL))
    store.accept_ai("a")  # positive, Dice 1
    store.set_final_mask("b", _rows(1, 2))  # positive, overlap 10 of 20 + 20 → Dice 0.5
    store.mark_negative("c")  # negative, AI said 10 px → Dice 0
    store.mark_negative("d")  # negative, both empty → Dice 1
    store.flag("e", "look again")  # no label, no final mask
    yield metas, store
    store.close()


def test_dataset_numbers(crafted: tuple[list[ImageMeta], ReviewStore]) -> None:
    metas, store = crafted
    s = dataset_stats(metas, store, threshold=0.5)
    assert s.n_images == 6 and s.n_labelled == 4 and s.has_store
    assert s.class_balance() == {"reviewer": {"positive": 2, "negative": 2, "none": 2},
                                 "ai": {"positive": 4, "negative": 1, "none": 1}}
    assert s.sex_by_label() == {
        "positive": {"M": 1, "F": 1, "other": 0, "unknown": 0},
        "negative": {"M": 1, "F": 0, "other": 1, "unknown": 0},
        "unlabelled": {"M": 0, "F": 1, "other": 0, "unknown": 1},
    }
    assert s.view_by_label() == {
        "positive": {"PA": 1, "AP": 1, "other": 0, "unknown": 0},
        "negative": {"PA": 1, "AP": 0, "other": 1, "unknown": 0},
        "unlabelled": {"PA": 0, "AP": 1, "other": 0, "unknown": 1},
    }
    age = s.age_histogram()
    assert age["counts"]["positive"] == [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert age["counts"]["negative"] == [0, 0, 1, 0, 0, 0, 0, 0, 0, 1]  # 95 lands in the 90+ bin
    assert age["counts"]["unlabelled"] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert age["unknown"] == 1
    assert s.image_sizes() == {"10x10": 5, "12x8": 1}
    areas = s.mask_area_histogram()
    assert areas["reviewer"] == [0, 0, 0, 0, 0, 0, 0, 0, 2]  # a and b: 20 % each
    assert areas["ai"] == [0, 0, 0, 0, 0, 0, 1, 1, 2]  # e 5 %, c 10 %, a and b 20 %; d's empty mask left out
    assert s.models == ("demo 1.0.0",)


def test_model_qa_numbers(crafted: tuple[list[ImageMeta], ReviewStore]) -> None:
    metas, store = crafted
    s = dataset_stats(metas, store, threshold=0.5)
    roc = s.roc()
    assert roc is not None
    # positives 0.9, 0.8 vs negatives 0.86, 0.2: 3 of 4 pairs ranked right
    assert roc["auc"] == pytest.approx(0.75)
    assert (roc["n_pos"], roc["n_neg"]) == (2, 2)
    at = roc["at_threshold"]
    assert (at["tp"], at["fp"], at["tn"], at["fn"]) == (2, 1, 1, 0)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(0.75)
    hist = s.probability_histogram()
    assert np.flatnonzero(hist["positive"]).tolist() == [16, 18]
    assert np.flatnonzero(hist["negative"]).tolist() == [4, 17]
    by_status = s.dice_by_status()
    assert list(by_status) == ["accepted", "corrected", "negative"]
    assert by_status["accepted"]["mean"] == pytest.approx(1.0)
    assert by_status["corrected"]["mean"] == pytest.approx(0.5)
    assert by_status["negative"]["n"] == 2 and by_status["negative"]["mean"] == pytest.approx(0.5)
    assert by_status["negative"]["counts"][0] == 1 and by_status["negative"]["counts"][-1] == 1
    worst = s.disagree_most()
    assert [i for i, _ in worst] == ["c", "b", "d", "a"]  # e (flagged) and f (no AI result) have no label
    assert [round(v, 6) for _, v in worst] == [1.0, 0.5, 0.2, 0.1]
    assert s.disagree_most(limit=2) == worst[:2]


def test_threshold_moves_ai_labels_only(crafted: tuple[list[ImageMeta], ReviewStore]) -> None:
    metas, store = crafted
    s = dataset_stats(metas, store, threshold=0.5)
    strict = dataclasses.replace(s, threshold=0.88)
    assert strict.class_balance()["ai"] == {"positive": 1, "negative": 4, "none": 1}
    assert strict.class_balance()["reviewer"] == s.class_balance()["reviewer"]
    assert strict.roc()["auc"] == s.roc()["auc"]
    with pytest.raises(ValueError, match="threshold"):
        dataset_stats(metas, store, threshold=1.5)


def test_imported_labels_count_as_labels(tmp_path: Path) -> None:
    metas = [ImageMeta("g", rows=10, columns=10), ImageMeta("h", rows=10, columns=10)]
    with ReviewStore(tmp_path / "review.sqlite") as store:
        store.import_final_rows({"g": ["1 5"], "h": ["-1"]}, {"g": (10, 10), "h": (10, 10)}, "truth.csv")
        s = dataset_stats(metas, store, threshold=0.5)
    assert s.label.tolist() == [1, 0]
    assert s.to_dict()["labels_imported"] == 2
    assert s.final_area_pct[0] == pytest.approx(5.0)
    assert s.roc() is None  # labels but no AI results
    assert [f.message for f in s.figures() if f.key == "roc"] == ["no AI results yet"]


def test_dice_from_runs_matches_metrics_dice() -> None:
    rng = np.random.default_rng(3)
    for _ in range(60):
        shape = (int(rng.integers(1, 20)), int(rng.integers(1, 20)))
        a = rng.random(shape) < rng.random()
        b = rng.random(shape) < rng.random()
        ra, rb = _runs(rle.encode(a)), _runs(rle.encode(b))
        inter = _overlap(ra, rb)
        assert inter == int(np.count_nonzero(a & b))
        total = int(a.sum() + b.sum())
        assert (1.0 if total == 0 else 2 * inter / total) == pytest.approx(dice(a, b))


def test_progress_and_cancel() -> None:
    metas = [ImageMeta(f"i{k}", rows=4, columns=4) for k in range(1200)]
    seen: list[tuple[int, int]] = []
    s = dataset_stats(metas, None, 0.5, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(0, 1200), (500, 1200), (1000, 1200), (1200, 1200)]
    assert s.n_images == 1200 and not s.has_store
    calls: list[int] = []
    with pytest.raises(StatsCancelled, match="after 1000 of 1200"):  # asked after the 500 report: next step
        dataset_stats(metas, None, 0.5, progress=lambda d, t: calls.append(d), cancel=lambda: 500 in calls)
    assert calls == [0, 500]
    steps = iter_dataset_stats(metas, None, 0.5, step=100)
    assert next(steps) == (0, 1200)
    assert next(steps) == (100, 1200)
    steps.close()  # stopping a generator is the GUI's cancel


def test_phantom_folder_without_reviews(phantom_dataset) -> None:
    index = scan_folder(phantom_dataset.root)
    s = dataset_stats([img.meta for img in index.images], None, 0.5)
    assert s.n_images == 12 and s.n_labelled == 0
    sexes = s.sex_by_label()["unlabelled"]
    assert sum(sexes.values()) == 12 and sexes["unknown"] == 0
    assert s.image_sizes() == {"256x256": 12}
    assert np.isnan(s.disagreement_scores()).all()
    figures = {f.key: f for f in s.figures()}
    assert figures["roc"].message == NO_REVIEWS
    assert figures["probability_histogram"].message == NO_REVIEWS
    assert figures["class_balance"].message == NO_REVIEWS
    assert figures["sex_by_label"].message is None and NO_REVIEWS in figures["sex_by_label"].notes
    for spec in figures.values():
        img = np.asarray(render_chart(spec, (320, 220)).convert("L"))
        assert img.shape == (220, 320) and (img < 100).mean() > 0.003  # ink: axes, labels, the message
