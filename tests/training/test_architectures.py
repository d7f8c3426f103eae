"""Architectures: output shapes, DenseNet121 skip names (build only: never trained in tests), safe-mode round trip."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pneumoviewer.training import architectures as A


@pytest.mark.parametrize(("task", "arch", "size"), [("classifier", "small", 64), ("segmenter", "unet-small", 64),
                                                     ("segmenter", "unet", 64), ("classifier", "small", 96)])
def test_small_models_shapes_and_predict(task, arch, size):
    m = A.builder(task)(arch, size, None)
    assert m.input_shape == (None, size, size, 1)
    expected = (None, 1) if task == "classifier" else (None, size, size, 1)
    assert m.output_shape == expected
    y = m.predict_on_batch(np.random.default_rng(0).random((2, size, size, 1), dtype=np.float32))
    assert np.all((y >= 0) & (y <= 1))


def test_unet_width_depth_dropout_are_configurable():
    m = A.build_segmenter("unet", 64, A.arch_options("unet", width=4, depth=3, dropout=0.3))
    convs = [la for la in m.layers if isinstance(la, keras.layers.Conv2D)]
    assert convs[0].filters == 4
    assert max(c.filters for c in convs) == 4 * 2**3
    assert any(isinstance(la, keras.layers.Dropout) and la.rate == 0.3 for la in m.layers)
    assert sum(isinstance(la, keras.layers.MaxPooling2D) for la in m.layers) == 3
    with pytest.raises(ValueError, match="divisible"):
        A.build_segmenter("unet", 72, A.arch_options("unet", depth=4))


@pytest.mark.slow
def test_densenet_models_build_with_expected_skips():
    """DenseNet121 classifier and U-Net: build and check shapes only (a training step would trace for ~70 s)."""
    cls = A.build_classifier("densenet121", 64)
    assert cls.output_shape == (None, 1)
    assert cls.get_layer("gray_to_rgb") is not None  # grayscale → 3 channels inside the model
    seg = A.build_segmenter("unet-densenet121", 64)
    assert seg.output_shape == (None, 64, 64, 1)
    encoder = seg.get_layer("densenet121")
    assert all(o is encoder.get_layer(n).output for o, n in zip(encoder.outputs, A.DENSENET_SKIPS, strict=True))
    strides = [64 // encoder.get_layer(n).output.shape[1] for n in A.DENSENET_SKIPS]
    assert strides == [2, 4, 8, 16, 32]
    assert [encoder.get_layer(n).output.shape[-1] for n in A.DENSENET_SKIPS] == [64, 256, 512, 1024, 1024]


@pytest.mark.slow
def test_densenet_starts_from_a_local_imagenet_weights_file(tmp_path):
    """A standard DenseNet121 "notop" weights file (here a random one) loads into the grayscale models."""
    ref = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(64, 64, 3))
    kernel = ref.get_layer("conv1_conv").get_weights()[0]
    path = tmp_path / "densenet121_notop.weights.h5"
    ref.save_weights(path)
    cls = A.build_classifier("densenet121", 64, A.arch_options("densenet121", imagenet_weights=str(path)))
    np.testing.assert_array_equal(cls.get_layer("densenet121").get_layer("conv1_conv").get_weights()[0], kernel)


def test_densenet_weights_never_downloaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        A.build_classifier("densenet121", 64, A.arch_options("densenet121", imagenet_weights=str(tmp_path / "x.h5")))


def test_unknown_arch_is_an_error():
    with pytest.raises(ValueError, match="unknown"):
        A.build_classifier("resnet", 64)
    with pytest.raises(ValueError, match="unknown"):
        A.build_segmenter("small", 64)


def test_models_use_no_lambda_and_reload_in_safe_mode(tmp_path):
    for task, arch in (("classifier", "small"), ("segmenter", "unet-small")):
        m = A.builder(task)(arch, 64, None)
        assert not any(isinstance(la, keras.layers.Lambda) for la in m.layers)
        path = tmp_path / f"{task}.keras"
        m.save(path)
        again = keras.models.load_model(path, safe_mode=True, compile=False)
        x = np.random.default_rng(1).random((1, 64, 64, 1), dtype=np.float32)
        np.testing.assert_allclose(again.predict_on_batch(x), m.predict_on_batch(x), rtol=1e-5, atol=1e-6)


def test_unet_mil_classifier_starts_from_segmenter():
    seg = A.build_segmenter("unet-small", 64)
    cls = A.build_classifier("unet-mil", 64)
    assert cls.output_shape == (None, 1)
    assert A.init_from(cls, seg) == sum(1 for la in seg.layers if la.weights)
    x = np.random.default_rng(2).random((3, 64, 64, 1), dtype=np.float32)
    # the classifier's probability is the segmenter's highest pixel probability
    np.testing.assert_allclose(cls.predict_on_batch(x)[:, 0], seg.predict_on_batch(x).reshape(3, -1).max(axis=1),
                               rtol=1e-5)
    assert A.init_from(A.build_classifier("small", 64), seg) == 0  # nothing matches: nothing copied


@pytest.mark.slow
def test_densenet_unet_empty_branch_is_the_unet_densenet121_empty_classifier():
    """Build only: the branch sits on DenseNet121's stride-32 output; the classifier copies every layer of it."""
    opts = A.arch_options("unet-densenet121", dropout=0.2)
    seg = A.build_segmenter("unet-densenet121", 64, opts, empty_branch=True)
    assert [tuple(o.shape) for o in seg.outputs] == [(None, 64, 64, 1), (None, 1)]
    gap = seg.get_layer("empty_gap")
    assert gap.input is seg.get_layer("bottleneck_dropout").output  # what the decoder starts from
    assert tuple(gap.input.shape) == (None, 2, 2, 1024)  # DenseNet121's stride-32 output
    cls = A.build_classifier("unet-densenet121-empty", 64, A.arch_options("unet-densenet121-empty", dropout=0.2))
    assert A.init_from(cls, seg) == sum(1 for la in cls.layers if la.weights)
    x = np.random.default_rng(5).random((2, 64, 64, 1), dtype=np.float32)
    np.testing.assert_allclose(np.asarray(cls(x)), np.asarray(seg(x)[1]), rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(A.mask_only(seg)(x)), np.asarray(seg(x)[0]), rtol=0, atol=0)
