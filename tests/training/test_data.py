"""The tf.data pipeline: augmentation alignment, determinism, positive-rate sampling, decoding through io."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from pneumoviewer.training import data


def _shape_mask(size=64):
    m = np.zeros((size, size, 1), np.float32)
    m[8:30, 10:20] = 1.0  # an asymmetric "L" so flips and rotations are visible
    m[26:30, 20:40] = 1.0
    return m


@pytest.mark.parametrize("seed", range(8))
def test_augmentation_moves_mask_with_image(seed):
    mask = _shape_mask()
    image = mask.copy()  # the image IS the mask: any misalignment shows
    img, msk = data.augment_pair(tf.constant(image), tf.constant(mask), tf.constant([seed, 99], tf.int64),
                                 data.AugmentConfig(), with_mask=True)
    img, msk = img.numpy(), msk.numpy()
    assert set(np.unique(msk)) <= {0.0, 1.0}
    seg = img >= 0.5
    inter = (seg & (msk > 0)).sum()
    assert 2 * inter / (seg.sum() + msk.sum()) > 0.97


def test_augmentation_is_seeded_and_actually_varies():
    mask = tf.constant(_shape_mask())
    outs = []
    for seed in range(6):
        _, m = data.augment_pair(mask, mask, tf.constant([seed, 1], tf.int64), data.AugmentConfig(), True)
        outs.append(m.numpy())
    _, again = data.augment_pair(mask, mask, tf.constant([0, 1], tf.int64), data.AugmentConfig(), True)
    assert np.array_equal(outs[0], again.numpy())
    assert sum(not np.array_equal(o, _shape_mask()) for o in outs) >= 5
    assert len({o.tobytes() for o in outs}) == 6


def test_flip_only_mirrors_exactly():
    mask = _shape_mask()
    cfg = data.AugmentConfig(flip=True, rotate_deg=0, shift=0, scale=0, brightness=0, contrast=0, elastic_p=0)
    seen = set()
    for seed in range(12):
        _, m = data.augment_pair(tf.constant(mask), tf.constant(mask), tf.constant([seed, 5], tf.int64), cfg, True)
        m = m.numpy()
        if np.array_equal(m, mask):
            seen.add("same")
        else:
            assert np.array_equal(m, mask[:, ::-1]), "a flip must be an exact left-right mirror"
            seen.add("flipped")
    assert seen == {"same", "flipped"}


def test_brightness_contrast_touch_image_only():
    ramp = np.linspace(0, 0.3, 32, dtype=np.float32)[:, None, None]
    image = tf.constant(np.full((32, 32, 1), 0.5, np.float32) + ramp)
    label = tf.constant([1.0])
    cfg = data.AugmentConfig(flip=False, rotate_deg=0, shift=0, scale=0, brightness=0.2, contrast=0.3)
    img, lab = data.augment_pair(image, label, tf.constant([3, 4], tf.int64), cfg, with_mask=False)
    assert lab.numpy().tolist() == [1.0]
    assert not np.allclose(img.numpy(), image.numpy())
    assert img.numpy().min() >= 0.0 and img.numpy().max() <= 1.0


@pytest.fixture(scope="module")
def labelled(phantom_dataset_readonly):
    return data.collect_examples(phantom_dataset_readonly.root, phantom_dataset_readonly.csv_path)


def test_collect_examples_joins_folder_and_csv(labelled, phantom_dataset):
    assert len(labelled.examples) == 12 and not labelled.missing and not labelled.failures
    assert {e.image_id for e in labelled.examples if e.positive} == set(phantom_dataset.positive_ids)
    assert all(e.patient_key for e in labelled.examples)


def test_load_example_decodes_mask_like_the_csv(labelled, phantom_dataset):
    from pneumoviewer.inference.preprocess import preprocess_mask

    pos = next(e for e in labelled.examples if e.positive)
    x, y = data.load_example(pos, labelled.table, 64, with_mask=True)
    assert x.shape == (64, 64, 1) and y.shape == (64, 64, 1)
    truth = labelled.table.union_mask(pos.image_id, 256, 256)
    assert truth.any()
    np.testing.assert_array_equal(y, preprocess_mask(truth, 64))
    neg = next(e for e in labelled.examples if not e.positive)
    _, label = data.load_example(neg, labelled.table, 64, with_mask=False)
    assert label.tolist() == [0.0]


def test_training_batches_follow_positive_rate_schedule(labelled):
    steps, batch = 60, 4
    ds = data.training_dataset(labelled.examples, labelled.table, task="classifier", size=64, batch=batch, epochs=2,
                               steps_per_epoch=steps, seed=1, augment=data.AugmentConfig(), start_positive_rate=0.9)
    labels = []
    for x, y in ds.take(2 * steps):
        assert x.shape == (batch, 64, 64, 1)
        labels.append(float(y.numpy().mean()))
    first, last = np.mean(labels[:steps]), np.mean(labels[steps:])
    assert first == pytest.approx(0.9, abs=0.07)  # epoch 1: the schedule's start
    assert last == pytest.approx(0.5, abs=0.09)  # last epoch: the dataset's own rate (6 of 12)


def test_segmenter_positives_only_and_validation_order(labelled):
    ds = data.training_dataset(labelled.examples, labelled.table, task="segmenter", size=64, batch=3, epochs=1,
                               steps_per_epoch=4, seed=0, augment=None, positives_only=True)
    pos_masks = [data.load_example(e, labelled.table, 64, True)[1] for e in labelled.examples if e.positive]
    for _, y in ds.take(4):
        for m in y.numpy():  # every sample is one of the positive images (its mask, unaugmented)
            assert any(np.array_equal(m, p) for p in pos_masks)
    val = data.validation_dataset(labelled.examples[:5], labelled.table, task="classifier", size=64, batch=2)
    got = np.concatenate([y.numpy()[:, 0] for _, y in val])
    assert got.tolist() == [1.0 if e.positive else 0.0 for e in labelled.examples[:5]]


def test_file_cache_is_written_and_reused(labelled, tmp_path):
    prefix = str(tmp_path / "cache")
    first = [y.numpy() for _, y in data.validation_dataset(labelled.examples[:4], labelled.table, task="segmenter",
                                                           size=32, batch=2, cache=prefix)]
    assert any(p.name.startswith("cache-segmenter-32-val") for p in tmp_path.iterdir())
    again = [y.numpy() for _, y in data.validation_dataset(labelled.examples[:4], labelled.table, task="segmenter",
                                                           size=32, batch=2, cache=prefix)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_submission_style_csv_gives_same_labels(labelled, phantom_dataset, tmp_path):
    from pneumoviewer.io.siim_csv import mask_to_rows, write_rle_csv

    rows = []
    for iid in phantom_dataset.image_ids:  # one merged row per image, as `pneumoviewer predict` writes
        rows += mask_to_rows(iid, labelled.table.union_mask(iid, 256, 256), style="submission")
    csv_path = tmp_path / "submission.csv"
    write_rle_csv(csv_path, rows)
    sub = data.collect_examples(phantom_dataset.root, csv_path)
    assert {e.image_id: e.positive for e in sub.examples} == {e.image_id: e.positive for e in labelled.examples}
    pos = next(e for e in sub.examples if e.positive)
    np.testing.assert_array_equal(data.load_example(pos, sub.table, 64, True)[1],
                                  data.load_example(pos, labelled.table, 64, True)[1])
