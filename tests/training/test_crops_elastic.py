"""Random training crops with whole-image validation and inference (``--crop``), and the elastic deformation."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from pneumoviewer.cli import main
from pneumoviewer.inference.bundle import load_bundle, read_manifest
from pneumoviewer.training import data
from pneumoviewer.training.loop import TrainConfig, weights_fingerprint

S, N = 64, 32
_ONLY_ELASTIC = dataclasses.replace(data.AugmentConfig.none(), elastic_p=1.0, elastic_alpha=0.05)


def _coded() -> np.ndarray:
    """Every pixel's value says where it is, so a window tells its own corner."""
    r, c = np.mgrid[0:S, 0:S]
    return ((r * S + c) / (S * S)).astype(np.float32)[..., None]


def _corner(window: np.ndarray) -> tuple[int, int]:
    code = round(float(window[0, 0, 0]) * S * S)
    return code // S, code % S


def _checker() -> np.ndarray:
    r, c = np.mgrid[0:S, 0:S]
    return (((r // 3) + (c // 5)) % 2).astype(np.float32)[..., None]


def _find(window: np.ndarray, image: np.ndarray) -> tuple[int, int] | None:
    n = window.shape[0]
    for r in range(image.shape[0] - n + 1):
        for c in range(image.shape[1] - n + 1):
            if np.array_equal(image[r:r + n, c:c + n], window):
                return r, c
    return None


def test_crop_cuts_the_same_window_from_image_and_mask_seeded_and_varied():
    image, mask = _coded(), _checker()
    corners = []
    for seed in range(12):
        x, y = data.random_crop(tf.constant(image), tf.constant(mask), tf.constant([seed, 4], tf.int64), N)
        x, y = x.numpy(), y.numpy()
        assert x.shape == y.shape == (N, N, 1)
        r, c = _corner(x)
        np.testing.assert_array_equal(x, image[r:r + N, c:c + N])
        np.testing.assert_array_equal(y, mask[r:r + N, c:c + N])  # the mask's window is the image's
        again, _ = data.random_crop(tf.constant(image), tf.constant(mask), tf.constant([seed, 4], tf.int64), N)
        np.testing.assert_array_equal(again.numpy(), x)
        corners.append((r, c))
    assert len(set(corners)) >= 10


def test_mask_guided_crops_hold_a_small_lesion_anywhere_in_the_window():
    image, mask = _coded(), np.zeros((S, S, 1), np.float32)
    mask[50:53, 6:9] = 1.0  # a 3x3 pneumothorax near a corner
    hits, where = {}, set()
    for p in (0.0, 1.0):
        hits[p] = 0
        for seed in range(40):
            x, y = data.random_crop(tf.constant(image), tf.constant(mask), tf.constant([seed, 1], tf.int64), N,
                                    on_mask_p=p)
            hits[p] += int(y.numpy().sum() > 0)
            if p == 1.0:
                r, c = _corner(x.numpy())
                where.add((50 - r, 6 - c))
    assert hits[1.0] == 40, "every guided window must contain the lesion"
    assert hits[0.0] < 30, hits  # uniform windows miss it often: why the guide exists
    assert len(where) >= 10  # the lesion is not pinned to one place in the window


@pytest.fixture(scope="module")
def labelled(phantom_dataset_readonly):
    return data.collect_examples(phantom_dataset_readonly.root, phantom_dataset_readonly.csv_path)


def _stream(labelled, crop, augment, seed=3, steps=3):
    ds = data.training_dataset(labelled.examples, labelled.table, task="segmenter", size=S, batch=2, epochs=1,
                               steps_per_epoch=steps, seed=seed, augment=augment, crop=crop)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(steps)]


@pytest.mark.parametrize("augment", [None, data.AugmentConfig()], ids=["plain", "augmented"])
def test_crops_are_windows_of_the_uncropped_stream(labelled, augment):
    whole = _stream(labelled, None, augment)
    assert all(x.shape == (2, S, S, 1) for x, _ in whole)
    np.testing.assert_array_equal(np.stack([x for x, _ in whole]),
                                  np.stack([x for x, _ in _stream(labelled, S, augment)]))  # crop = size: none
    cropped = _stream(labelled, N, augment)
    corners = set()
    for (xw, yw), (xc, yc) in zip(whole, cropped, strict=True):
        assert xc.shape == yc.shape == (2, N, N, 1)
        for i in range(2):  # element i of the cropped run is a window of element i of the whole-image run
            at = _find(xc[i], xw[i])
            assert at is not None
            r, c = at
            np.testing.assert_array_equal(yc[i], yw[i][r:r + N, c:c + N])
            corners.add(at)
    assert len(corners) >= 3
    again = _stream(labelled, N, augment)
    np.testing.assert_array_equal(np.stack([x for x, _ in cropped]), np.stack([x for x, _ in again]))
    other = _stream(labelled, N, augment, seed=4)
    assert not np.array_equal(np.stack([x for x, _ in cropped]), np.stack([x for x, _ in other]))


def test_crop_options_are_checked():
    assert TrainConfig(task="segmenter", size=64, crop=64).crop is None  # the whole image: today's run
    assert TrainConfig(task="segmenter", size=64, crop=32).train_size == 32
    for bad in (48, 96, 0):
        with pytest.raises(ValueError, match="--crop"):
            TrainConfig(task="segmenter", size=64, crop=bad)
    with pytest.raises(ValueError, match="segmenter only"):
        TrainConfig(task="classifier", size=64, crop=32)


def test_elastic_strength_zero_or_probability_zero_is_identity():
    image = np.random.default_rng(0).random((S, S, 1)).astype(np.float32)
    mask = _checker()
    for cfg in (dataclasses.replace(_ONLY_ELASTIC, elastic_alpha=0.0), dataclasses.replace(_ONLY_ELASTIC,
                                                                                            elastic_p=0.0)):
        x, y = data.augment_pair(tf.constant(image), tf.constant(mask), tf.constant([2, 3], tf.int64), cfg, True)
        np.testing.assert_allclose(x.numpy(), image, atol=1e-6)
        np.testing.assert_array_equal(y.numpy(), mask)


def test_elastic_moves_image_and_mask_by_one_field_and_keeps_the_mask_binary():
    mask = np.zeros((S, S, 1), np.float32)
    mask[10:40, 12:30] = 1.0
    mask[40:50, 30:55] = 1.0
    outs = []
    for seed in range(5):
        x, y = data.augment_pair(tf.constant(mask), tf.constant(mask), tf.constant([seed, 7], tf.int64),
                                 _ONLY_ELASTIC, True)
        x, y = x.numpy(), y.numpy()
        assert set(np.unique(y)) <= {0.0, 1.0}
        np.testing.assert_array_equal(y, (x >= 0.5).astype(np.float32))  # the image IS the mask: same warp
        assert not np.array_equal(y, mask)
        again, _ = data.augment_pair(tf.constant(mask), tf.constant(mask), tf.constant([seed, 7], tf.int64),
                                     _ONLY_ELASTIC, True)
        np.testing.assert_array_equal(again.numpy(), x)
        outs.append(y.tobytes())
    assert len(set(outs)) == 5


def test_elastic_resamples_through_the_same_affine_transform():
    """With a vanishing field the one-pass elastic warp is the affine augmentation (flip, rotation, zoom, shift)."""
    rng = np.random.default_rng(3)
    image = rng.random((S, S, 1)).astype(np.float32)
    mask = (rng.random((S, S, 1)) > 0.7).astype(np.float32)
    affine_only = dataclasses.replace(data.AugmentConfig(), jpeg_p=0.0, brightness=0.0, contrast=0.0, elastic_p=0.0)
    vanishing = dataclasses.replace(affine_only, elastic_p=1.0, elastic_alpha=1e-7)
    for seed in range(6):
        s = tf.constant([seed, 8], tf.int64)
        x0, y0 = data.augment_pair(tf.constant(image), tf.constant(mask), s, affine_only, True)
        x1, y1 = data.augment_pair(tf.constant(image), tf.constant(mask), s, vanishing, True)
        assert not np.allclose(x0.numpy(), image, atol=1e-3)  # the affine part did something
        np.testing.assert_allclose(x1.numpy(), x0.numpy(), atol=1e-4)
        assert (y1.numpy() != y0.numpy()).mean() < 0.002  # only pixels sitting on the 0.5 threshold may flip


@pytest.mark.parametrize("axis", [0, 1])
def test_elastic_displacement_is_smooth_and_bounded_by_alpha(axis):
    ramp = np.broadcast_to(np.arange(S, dtype=np.float32)[:, None] if axis == 0 else
                           np.arange(S, dtype=np.float32)[None, :], (S, S)) / (S - 1)
    alpha_px = _ONLY_ELASTIC.elastic_alpha * S
    biggest = 0.0
    for seed in range(6):
        x, _ = data.augment_pair(tf.constant(ramp[..., None].copy()), tf.constant([1.0]),
                                 tf.constant([seed, 0], tf.int64), _ONLY_ELASTIC, False)
        # bilinear sampling of a linear ramp is exact: the output says where each pixel was taken from (away from
        # the edges, where a source outside the image reads the zero fill)
        shift = x.numpy()[..., 0] * (S - 1) - np.arange(S, dtype=np.float32).reshape((S, 1) if axis == 0 else (1, S))
        m = int(np.ceil(alpha_px)) + 1
        shift = shift[m:-m, m:-m]
        assert np.abs(shift).max() <= alpha_px + 1e-3
        assert np.abs(np.diff(shift, axis=1 - axis)).max() < 0.5  # smooth: neighbours move alike
        biggest = max(biggest, float(np.abs(shift).max()))
    assert biggest > alpha_px / 3  # and it does move


def test_no_augment_and_no_elastic_turn_it_off():
    assert data.AugmentConfig().elastic_p > 0  # on with the other augmentations
    assert data.AugmentConfig.none().elastic_p == 0.0
    assert TrainConfig(task="segmenter", augment=False).augment_config() is None
    assert TrainConfig(task="segmenter", elastic=False).augment_config() == dataclasses.replace(
        data.AugmentConfig(), elastic_p=0.0)


@pytest.mark.slow
def test_crop_training_writes_a_whole_size_bundle_and_resumes(phantom_dataset_readonly, tmp_path, capsys):
    ds = phantom_dataset_readonly
    out = tmp_path / "b"
    whole = ["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out),
             "--size", str(S), "--batch", "2", "--steps-per-epoch", "2", "--width", "4", "--depth", "2",
             "--val-fraction", "0.3", "--seed", "1", "--no-elastic", "-q"]
    args = [*whole, "--crop", str(N)]
    assert main([*args, "--epochs", "1"]) == 0
    entry = read_manifest(out).models["segmenter"]
    assert entry.input_size == S
    assert entry.training["crop"] == {"window": N, "on_mask_p": data.CROP_ON_MASK_P}
    assert entry.training["augmentation"]["elastic_p"] == 0.0
    assert np.isfinite(entry.validation["loss"])  # validated on whole images
    bundle_model = load_bundle(out).models["segmenter"]  # safe mode
    assert bundle_model.input_shape == (None, S, S, 1)
    checkpoint = keras.models.load_model(out / ".train-segmenter" / "last.keras", compile=False, safe_mode=True)
    assert checkpoint.input_shape == (None, N, N, 1)  # the train step ran on windows
    assert weights_fingerprint(checkpoint) == weights_fingerprint(bundle_model)  # one set of weights
    capsys.readouterr()
    assert main([*whole, "--resume", "--epochs", "2"]) == 1
    assert "trained on --crop 32, not whole images" in capsys.readouterr().err
    assert main([*args, "--epochs", "2", "--resume"]) == 0
    assert read_manifest(out).models["segmenter"].training["epochs_run"] == 2


@pytest.mark.slow
def test_densenet_unet_trained_on_crops_runs_whole_images_with_the_same_weights():
    """The nested DenseNet121 encoder takes the larger side too, and gives what a model built at it gives."""
    from pneumoviewer.training import architectures
    from pneumoviewer.training.loop import _any_side, _build

    cfg = TrainConfig(task="segmenter", arch="unet-densenet121", size=S, crop=N)
    on_crops = _any_side(_build(cfg, size=cfg.train_size))  # what train() runs the train step on
    assert on_crops.input_shape == (None, N, N, 1)
    whole = architectures.build_segmenter("unet-densenet121", S)
    whole.set_weights(on_crops.get_weights())
    x = np.random.default_rng(2).random((1, S, S, 1)).astype(np.float32)
    np.testing.assert_allclose(on_crops(x, training=False).numpy(), whole(x, training=False).numpy(), atol=1e-5)
    assert on_crops(x[:, :N, :N], training=False).shape == (1, N, N, 1)


@pytest.mark.slow
def test_crop_training_with_the_empty_mask_branch(phantom_dataset_readonly, tmp_path):
    ds = phantom_dataset_readonly
    out = tmp_path / "b"
    assert main(["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out),
                 "--size", str(S), "--crop", str(N), "--empty-weight", "0.1", "--batch", "2", "--epochs", "1",
                 "--steps-per-epoch", "2", "--width", "4", "--depth", "2", "--val-fraction", "0.3", "-q"]) == 0
    entry = read_manifest(out).models["segmenter"]
    assert entry.input_size == S and "empty_auc" in entry.validation  # the branch validated on whole images
    assert load_bundle(out).models["segmenter"].input_shape == (None, S, S, 1)
    branch = keras.models.load_model(out / ".train-segmenter" / "best-with-empty-branch.keras", compile=False,
                                     safe_mode=True)
    assert branch.input_shape == (None, S, S, 1)
