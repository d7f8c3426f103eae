"""Resume continues the data stream and the schedule; validation padding; stop messages say what was kept."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import tensorflow as tf

from pneumoviewer.cli import main
from pneumoviewer.training import data, loop

TINY = ["--size", "32", "--batch", "2", "--steps-per-epoch", "2", "--width", "4", "--depth", "2", "--seed", "1",
        "-q"]


@pytest.fixture(scope="module")
def labelled(phantom_dataset_readonly):
    return data.collect_examples(phantom_dataset_readonly.root, phantom_dataset_readonly.csv_path)


@pytest.mark.parametrize("task", ["classifier", "segmenter"])
def test_resumed_stream_continues_where_the_checkpoint_left_it(labelled, task):
    steps, batch = 3, 2
    kw = dict(task=task, size=32, batch=batch, epochs=3, steps_per_epoch=steps, seed=5, augment=data.AugmentConfig())
    whole = [(x.numpy(), y.numpy()) for x, y in data.training_dataset(labelled.examples, labelled.table,
                                                                       **kw).take(3 * steps)]
    resumed = [(x.numpy(), y.numpy()) for x, y in data.training_dataset(labelled.examples, labelled.table,
                                                                         initial_epoch=2, **kw).take(steps)]
    for (x, y), (rx, ry) in zip(whole[2 * steps:], resumed):  # epoch 3 of an uninterrupted run, not epoch 1 again
        np.testing.assert_array_equal(x, rx)
        np.testing.assert_array_equal(y, ry)
    assert not np.array_equal(whole[0][0], resumed[0][0])


@pytest.mark.parametrize(("n", "global_batch"), [(5, 4), (4, 4), (1, 4), (3, 2)])
def test_padded_validation_fills_every_batch_with_zero_weight_blanks(n, global_batch):
    x = np.arange(n * 4, dtype=np.float32).reshape(n, 2, 2, 1) + 1.0
    y = np.ones((n, 1), np.float32)
    ds = loop.padded_validation(tf.data.Dataset.from_tensor_slices((x, y)).batch(3), global_batch)
    batches = list(ds.as_numpy_iterator())
    assert all(bx.shape[0] == global_batch for bx, _, _ in batches)
    w = np.concatenate([bw for _, _, bw in batches])
    xs = np.concatenate([bx for bx, _, _ in batches])
    assert len(batches) == -(-n // global_batch) and w.sum() == n and w[:n].all()
    np.testing.assert_array_equal(xs[:n], x)
    assert not xs[n:].any()  # the padding is blank and weighs nothing


@pytest.fixture(scope="module")
def checkpointed(phantom_dataset_readonly, tmp_path_factory):
    """A segmenter trained 2 epochs (a bundle with a resume checkpoint)."""
    ds = phantom_dataset_readonly
    out = tmp_path_factory.mktemp("ckpt") / "bundle"
    data_args = ["--data", str(ds.root), "--labels", str(ds.csv_path)]
    assert main(["train", "segmenter", *data_args, "--out", str(out), *TINY, "--epochs", "2"]) == 0
    return out, data_args


def test_longer_resume_extends_the_cosine_schedule(checkpointed, tmp_path):
    import keras

    src, data_args = checkpointed
    out = tmp_path / "bundle"
    shutil.copytree(src, out)

    def decay_steps():
        model = keras.models.load_model(out / ".train-segmenter" / "last.keras", compile=True, safe_mode=True)
        return model.optimizer.get_config()["learning_rate"]["config"]["decay_steps"], model.optimizer

    assert decay_steps()[0] == 2 * 2
    assert main(["train", "segmenter", *data_args, "--out", str(out), *TINY, "--epochs", "4", "--resume"]) == 0
    steps, opt = decay_steps()
    assert steps == 4 * 2 and int(opt.iterations) == 4 * 2
    assert float(opt.learning_rate) == pytest.approx(1e-3 * 0.05, rel=1e-3)  # 8 of 8 steps: the floor, only now


def _failing_step(exc):
    def step(self, batch):
        raise exc
    return step


def test_failure_before_any_epoch_says_nothing_was_saved(phantom_dataset_readonly, tmp_path, monkeypatch, capsys):
    ds = phantom_dataset_readonly
    out = tmp_path / "new-bundle"
    monkeypatch.setattr(loop.DistributedSteps, "train_step", _failing_step(RuntimeError("disk on fire")))
    rc = main(["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert rc == 1
    assert "training stopped in epoch 1: RuntimeError: disk on fire" in err and "nothing was saved" in err
    assert "--resume" not in err and "best" not in err
    assert not out.exists()  # no empty --out left behind


def test_ctrl_c_in_first_epoch_does_not_claim_a_checkpoint(phantom_dataset_readonly, tmp_path, monkeypatch, capsys):
    ds = phantom_dataset_readonly
    out = tmp_path / "new-bundle"
    monkeypatch.setattr(loop.DistributedSteps, "train_step", _failing_step(KeyboardInterrupt()))
    rc = main(["train", "segmenter", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out), *TINY])
    err = capsys.readouterr().err
    assert rc == 130
    assert "interrupted in epoch 1: no epoch finished, nothing was saved" in err and "best" not in err
    assert not out.exists()


def test_failure_after_checkpoints_names_what_is_kept(checkpointed, tmp_path, monkeypatch, capsys):
    src, data_args = checkpointed
    out = tmp_path / "bundle"
    shutil.copytree(src, out)
    monkeypatch.setattr(loop.DistributedSteps, "train_step", _failing_step(RuntimeError("decoder died")))
    rc = main(["train", "segmenter", *data_args, "--out", str(out), *TINY, "--epochs", "5", "--resume"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "training stopped in epoch 3: RuntimeError: decoder died" in err
    assert "holds the best model so far (epoch" in err and "--resume to continue after epoch 2" in err


def test_imagenet_weights_checked_before_the_scan(tmp_path, capsys):
    data_dir, labels, out = tmp_path / "data", tmp_path / "labels.csv", tmp_path / "out"
    data_dir.mkdir()
    labels.write_text("ImageId,EncodedPixels\n")
    rc = main(["train", "classifier", "--data", str(data_dir), "--labels", str(labels), "--out", str(out),
               "--arch", "densenet121", "--imagenet-weights", str(tmp_path / "missing.h5")])
    err = capsys.readouterr().err
    assert rc == 2 and "missing.h5: no such file" in err and "indexing" not in err
    rc = main(["train", "classifier", "--data", str(data_dir), "--labels", str(labels), "--out", str(out),
               "--imagenet-weights", str(labels)])
    assert rc == 2 and "applies to densenet121 and unet-densenet121 only" in capsys.readouterr().err
    assert not out.exists()
