"""The engine: gating, post-processing at the image's own size, batching, device and OOM fallback."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.core.types import Prediction
from pneumoviewer.inference.engine import OOM_NOTE, InferenceEngine


@pytest.fixture(scope="module")
def engine(rule_bundle):
    e = InferenceEngine(rule_bundle)
    e.load()
    return e


def _bright_image(h: int, w: int) -> np.ndarray:
    """Mostly bright (classifier says positive) with a dark hole, a big dark region and a tiny bright speck."""
    img = np.full((h, w), 0.9, np.float32)
    img[: h // 4] = 0.0
    return img


def test_positive_image_gets_mask_at_own_size(engine):
    h, w = 400, 300
    img = _bright_image(h, w)
    pred = engine.predict_array(img, "img-1")
    assert isinstance(pred, Prediction)
    assert pred.image_id == "img-1" and pred.probability > 0.99
    assert pred.mask.shape == (h, w) and pred.mask.dtype == bool
    truth = img > 0.5
    dice = 2 * (pred.mask & truth).sum() / (pred.mask.sum() + truth.sum())
    assert dice > 0.97
    assert pred.mask_probability is not None and pred.mask_probability.shape == (h, w)
    assert pred.model.name == "rule" and pred.model.synthetic
    assert pred.device == "CPU"
    assert pred.timings["segmenter"] > 0 and pred.timings["total"] >= pred.timings["classifier"]


def test_gate_skips_segmenter_below_threshold(engine):
    img = np.full((256, 256), 0.1, np.float32)
    img[50:150, 50:150] = 1.0  # bright area the segmenter WOULD mask, but the mean stays far below 0.5
    pred = engine.predict_array(img, "neg")
    assert pred.probability < 0.5
    assert not pred.mask.any() and pred.mask.shape == (256, 256)
    assert pred.mask_probability is None and pred.timings["segmenter"] == 0.0


def test_small_components_removed_scaled_from_1024(engine):
    # min area 1024 px at 1024² → 64 px at 256². A 6x6 speck (≤ ~36 px after the round trip through 64²) must go
    # although the segmenter's probability there is high; the big region stays.
    img = np.full((256, 256), 0.9, np.float32)
    img[:, 192:] = 0.0
    img[200:206, 220:226] = 1.0
    pred = engine.predict_array(img)
    assert pred.probability >= 0.5
    speck = (slice(196, 210), slice(216, 230))
    assert pred.mask_probability[speck].max() >= 0.5
    assert not pred.mask[speck].any()
    assert pred.mask[:, :180].all()


def test_batch_matches_single_and_keeps_order(engine):
    imgs = [_bright_image(128, 128), np.zeros((100, 80), np.float32), _bright_image(200, 256)]
    ids = ["a", "b", "c"]
    batch = engine.predict_arrays(imgs, ids)
    assert [p.image_id for p in batch] == ids
    for img, iid, p in zip(imgs, ids, batch):
        single = engine.predict_array(img, iid)
        assert abs(single.probability - p.probability) < 1e-5
        assert np.array_equal(single.mask, p.mask)
        assert p.mask.shape == img.shape


def test_predict_takes_dicom_images(engine, phantom_dataset):
    from pneumoviewer.io.dicom import load_image

    images = [load_image(phantom_dataset.paths[i]) for i in phantom_dataset.image_ids[:3]]
    preds = engine.predict_batch(images)
    assert [p.image_id for p in preds] == [im.meta.image_id for im in images]
    for im, p in zip(images, preds):
        assert np.isfinite(p.probability) and 0.0 <= p.probability <= 1.0
        assert p.mask.shape == im.display.shape


def test_warm_up_runs_each_model_once_on_a_dummy_image(engine):
    """Warm-up traces both graphs (a dummy batch each) and reports the seconds it took."""
    import time

    assert engine.loaded and engine.device == "CPU"
    calls = []
    real = dict(engine._predictors)

    def spy(task):
        def run(batch):
            calls.append((task, tuple(batch.shape)))
            return real[task](batch)

        return run

    engine._predictors.update({task: spy(task) for task in real})
    try:
        t0 = time.perf_counter()
        seconds = engine.warm_up()
        elapsed = time.perf_counter() - t0
    finally:
        engine._predictors.update(real)
    sizes = {t: engine.config.input_size(t) for t in ("classifier", "segmenter")}
    expected = [(t, (1, s, s, 1)) for t, s in sizes.items()]
    assert calls == expected
    assert 0.0 < seconds <= elapsed


def test_gpu_oom_retries_on_cpu(rule_bundle):
    import tensorflow as tf

    e = InferenceEngine(rule_bundle)
    e.load(warm_up=False)
    real = e._predictors["segmenter"]
    calls = []

    def exploding(batch):
        calls.append(len(batch))
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    e._predictors["segmenter"] = exploding
    e._device = "GPU: pretend"
    pred = e.predict_array(_bright_image(64, 64))
    assert calls == [1] and e.oom_fallbacks == 1
    assert pred.device == OOM_NOTE and pred.mask.any()
    e._predictors["segmenter"] = real


def test_other_errors_are_not_swallowed(rule_bundle):
    e = InferenceEngine(rule_bundle)
    e.load(warm_up=False)

    def broken(batch):
        raise RuntimeError("boom")

    e._predictors["classifier"] = broken
    with pytest.raises(RuntimeError, match="boom"):
        e.predict_array(np.zeros((64, 64), np.float32))
