"""``--no-augment`` turns augmentation off and changes nothing else: the same images in the same order, the same
training record except the augmentation entry (the seed table's "without augmentation" run relies on it)."""

from __future__ import annotations

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.inference.bundle import read_manifest
from pneumoviewer.training import data

pytestmark = pytest.mark.slow

TINY = ["--size", "32", "--batch", "2", "--epochs", "1", "--steps-per-epoch", "2", "--width", "4", "--depth", "2",
        "--seed", "1", "--val-fraction", "0.3", "-q"]


def _batches(examples, table, augment):
    ds = data.training_dataset(examples, table, task="segmenter", size=32, batch=2, epochs=1, steps_per_epoch=3,
                               seed=3, augment=augment)
    return [(x.numpy(), y.numpy()) for x, y in ds.take(3)]


def test_no_augmentation_streams_the_augmented_runs_images_untouched(phantom_dataset_readonly):
    ds = phantom_dataset_readonly
    labelled = data.collect_examples(ds.root, ds.csv_path)
    plain = _batches(labelled.examples, labelled.table, None)  # what --no-augment trains on
    identity = _batches(labelled.examples, labelled.table, data.AugmentConfig.none())
    augmented = _batches(labelled.examples, labelled.table, data.AugmentConfig())
    # the same images, in the same order, as a run whose augmentation does nothing: only augmentation differs
    for (x0, y0), (x1, y1) in zip(plain, identity, strict=True):
        np.testing.assert_allclose(x0, x1, atol=1e-6)
        np.testing.assert_array_equal(y0, y1)
    # every un-augmented image is a decoded training image as it is
    decoded = [data.load_example(e, labelled.table, 32, True)[0] for e in labelled.examples]
    for x, _ in plain:
        for img in x:
            assert min(float(np.abs(img - d).max()) for d in decoded) < 1e-6
    assert any(not np.allclose(x0, x1, atol=1e-3) for (x0, _), (x1, _) in zip(plain, augmented, strict=True))


def test_no_augment_flag_changes_only_the_augmentation_record(phantom_dataset_readonly, tmp_path):
    ds = phantom_dataset_readonly
    data_args = ["--data", str(ds.root), "--labels", str(ds.csv_path)]
    on, off = tmp_path / "on", tmp_path / "off"
    assert main(["train", "segmenter", *data_args, "--out", str(on), *TINY]) == 0
    assert main(["train", "segmenter", *data_args, "--out", str(off), *TINY, "--no-augment"]) == 0
    t_on = read_manifest(on).models["segmenter"].training
    t_off = read_manifest(off).models["segmenter"].training
    assert t_off["augmentation"] is None
    assert t_on["augmentation"] == {k: v for k, v in data.AugmentConfig().__dict__.items()}
    assert {k for k in t_on.keys() | t_off.keys() if t_on.get(k) != t_off.get(k)} == {"augmentation"}
