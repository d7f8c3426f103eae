"""Shared preprocessing, post-processing and the model config (numpy only, no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from pneumoviewer.core.components import remove_small_components
from pneumoviewer.inference.config import ModelConfig
from pneumoviewer.inference.postprocess import binarize
from pneumoviewer.inference.preprocess import preprocess_image, preprocess_mask, resize_probability


def test_preprocess_shape_range_and_content():
    img = np.zeros((300, 200), np.float32)
    img[:150] = 1.0  # top half bright
    x = preprocess_image(img, 64)
    assert x.shape == (64, 64, 1) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert x[:30].mean() > 0.99 and x[34:].mean() < 0.01  # stretched, not cropped or padded


def test_preprocess_cleans_nan_and_out_of_range():
    img = np.full((32, 32), 2.0, np.float32)
    img[0, 0] = np.nan
    x = preprocess_image(img, 32)
    assert np.isfinite(x).all() and x.max() == 1.0


def test_preprocess_rejects_bad_input():
    with pytest.raises(ValueError):
        preprocess_image(np.zeros((4, 4, 3), np.float32), 32)
    with pytest.raises(ValueError):
        preprocess_image(np.zeros((4, 4), np.float32), 0)


def test_preprocess_antialiases_when_shrinking():
    # a 1-pixel checkerboard averages to grey; a naive nearest-neighbour shrink would keep 0s and 1s
    img = (np.indices((512, 512)).sum(0) % 2).astype(np.float32)
    x = preprocess_image(img, 64)
    assert abs(float(x.mean()) - 0.5) < 0.02 and float(x.std()) < 0.05


def test_mask_and_probability_round_trip():
    mask = np.zeros((1024, 1024), bool)
    mask[100:400, 600:900] = True
    m = preprocess_mask(mask, 256)
    assert set(np.unique(m)) == {0.0, 1.0} and m.shape == (256, 256, 1)
    back = resize_probability(m, 1024, 1024) >= 0.5
    inter = (back & mask).sum()
    assert 2 * inter / (back.sum() + mask.sum()) > 0.98


def test_remove_small_components_keeps_large_only():
    m = np.zeros((50, 50), bool)
    m[5:15, 5:15] = True  # 100 px
    m[30:33, 30:33] = True  # 9 px
    out = remove_small_components(m, 50)
    assert out[10, 10] and not out[31, 31] and out.sum() == 100
    assert remove_small_components(m, 0).sum() == 109
    assert not m is out  # noqa: E714 (a new array, input untouched)
    assert m.sum() == 109


def test_binarize_threshold_and_area():
    prob = np.zeros((20, 20), np.float32)
    prob[2:12, 2:12] = 0.7
    prob[15, 15] = 0.9
    out = binarize(prob, 0.5, 4)
    assert out.sum() == 100 and not out[15, 15]
    assert binarize(prob, 0.8, 1).sum() == 1


def test_config_min_area_scales_with_pixels_and_round_trips():
    cfg = ModelConfig(min_area_px_1024=1024, classifier_size=128, segmenter_size=256)
    assert cfg.min_area_for(1024, 1024) == 1024
    assert cfg.min_area_for(512, 512) == 256
    assert cfg.input_size("segmenter") == 256
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("bad", [{"classifier_size": 100}, {"mask_threshold": 1.5}, {"min_area_px_1024": -1}])
def test_config_validates(bad):
    with pytest.raises(ValueError):
        ModelConfig(**bad)
    with pytest.raises(ValueError):
        ModelConfig.from_dict({"nmae": "typo"})


def test_manifest_and_engine_do_not_import_tensorflow(rule_bundle):
    code = (
        "import sys\n"
        "from pneumoviewer.inference.engine import InferenceEngine\n"
        f"e = InferenceEngine({str(rule_bundle)!r})\n"
        "info = e.model_info\n"
        "assert info.name == 'rule' and info.synthetic, info\n"
        "assert e.device == 'not loaded'\n"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]\n"
        "print('LOADED', bad)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "LOADED []" in proc.stdout
