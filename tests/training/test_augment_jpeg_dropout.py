"""JPEG re-encoding augmentation (against codec confounds) and the DenseNet U-Net's dropout variant."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from pneumoviewer.training import architectures, data

_ONLY_JPEG = dict(flip=False, rotate_deg=0, shift=0, scale=0, brightness=0, contrast=0, elastic_p=0)


def _texture() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = np.clip(0.5 + 0.25 * rng.standard_normal((64, 64)), 0, 1).astype(np.float32)
    return img[..., None]


def test_jpeg_reencoding_changes_image_not_mask():
    image, mask = _texture(), np.zeros((64, 64, 1), np.float32)
    mask[20:40, 10:30] = 1.0
    cfg = data.AugmentConfig(**_ONLY_JPEG, jpeg_p=1.0, jpeg_min=20, jpeg_max=40)
    img, m = data.augment_pair(tf.constant(image), tf.constant(mask), tf.constant([1, 2], tf.int64), cfg, True)
    img = img.numpy()
    assert np.array_equal(m.numpy(), mask), "the codec must never touch the mask"
    assert img.shape == image.shape and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    diff = np.abs(img - image).mean()
    assert 0.005 < diff < 0.2, diff  # re-encoded at quality 20-40: visibly lossy, still the same picture


def test_jpeg_probability_zero_is_identity_and_one_always_applies():
    image = _texture()
    off = data.AugmentConfig(**_ONLY_JPEG, jpeg_p=0.0)
    on = data.AugmentConfig(**_ONLY_JPEG, jpeg_p=1.0, jpeg_min=30, jpeg_max=31)
    for seed in range(4):
        s = tf.constant([seed, 9], tf.int64)
        same, _ = data.augment_pair(tf.constant(image), tf.constant([1.0]), s, off, False)
        coded, _ = data.augment_pair(tf.constant(image), tf.constant([1.0]), s, on, False)
        np.testing.assert_allclose(same.numpy(), image, atol=1e-6)
        assert not np.allclose(coded.numpy(), image, atol=1e-3)


def test_no_augment_config_turns_jpeg_off():
    assert data.AugmentConfig.none().jpeg_p == 0.0


@pytest.mark.slow
def test_densenet_unet_dropout_is_built_for_real():
    with_dropout = architectures.build_segmenter("unet-densenet121", 64, architectures.arch_options(
        "unet-densenet121", dropout=0.3))
    plain = architectures.build_segmenter("unet-densenet121", 64)
    layer = with_dropout.get_layer("bottleneck_dropout")
    assert abs(layer.rate - 0.3) < 1e-9
    assert "bottleneck_dropout" not in {la.name for la in plain.layers}
    x = np.random.default_rng(1).random((2, 64, 64, 1)).astype(np.float32)
    a = with_dropout(x, training=True).numpy()
    b = with_dropout(x, training=True).numpy()
    assert not np.allclose(a, b), "dropout must be active in training mode"
    np.testing.assert_allclose(with_dropout(x, training=False).numpy(), with_dropout(x, training=False).numpy())
