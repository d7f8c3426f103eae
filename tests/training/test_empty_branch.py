"""The SIIM 4th-place deep-supervision empty-mask branch (``train segmenter --empty-weight``), the ``unet-empty``
classifier that starts from it, and ``train classifier --init-from X --epochs 0`` (the source model as it is,
evaluated on the validation split)."""

from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace

import keras
import numpy as np
import pytest
import tensorflow as tf

from pneumoviewer.cli import main
from pneumoviewer.inference.bundle import load_bundle, read_manifest
from pneumoviewer.metrics import roc_auc
from pneumoviewer.training import architectures as A
from pneumoviewer.training import data, loop, losses
from pneumoviewer.training.split import patient_split

RUN = ["--size", "32", "--batch", "2", "--steps-per-epoch", "2", "--seed", "1", "--val-fraction", "0.3", "-q"]
TINY = [*RUN, "--width", "4", "--depth", "2"]
EMPTY_WEIGHT = 0.1


def _np_bce(t, p):
    p = np.clip(p.astype(np.float64), 1e-7, 1 - 1e-7)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def _np_loss(y, mask, p_non_empty, bce_w, dice_w, empty_w):
    """The 4th-place loss per sample, in numpy: bce_w·BCE(mask) + dice_w·(1 − soft Dice) + empty_w·BCE(empty)."""
    n = len(y)
    y2, m2 = y.reshape(n, -1).astype(np.float64), mask.reshape(n, -1).astype(np.float64)
    bce = _np_bce(y2, m2).mean(axis=1)
    dice = (2 * (y2 * m2).sum(axis=1) + 1) / (y2.sum(axis=1) + m2.sum(axis=1) + 1)
    present = (y2.max(axis=1) >= 0.5).astype(np.float64)
    return bce_w * bce + dice_w * (1 - dice) + empty_w * _np_bce(present, p_non_empty.reshape(n))


def _fixed_batch(rng, n=4, size=8):
    y = np.zeros((n, size, size, 1), np.float32)
    y[1, 2:5, 3:6] = 1
    y[2, 0, 0] = 1  # one pixel is "not empty"
    y[3, 4:, :] = 1
    mask = rng.uniform(0.02, 0.98, y.shape).astype(np.float32)
    p = np.array([[0.2], [0.7], [0.4], [0.9]], np.float32)[:n]
    return y, mask, p


def test_empty_branch_loss_is_bce_dice_plus_weighted_bce_of_the_branch():
    y, mask, p = _fixed_batch(np.random.default_rng(0))
    cfg = loop.TrainConfig(task="segmenter", bce_weight=2.7, dice_weight=0.9, empty_weight=EMPTY_WEIGHT)
    got = np.asarray(loop.per_sample_loss(cfg)(y, (mask, p)))
    np.testing.assert_allclose(got, _np_loss(y, mask, p, 2.7, 0.9, EMPTY_WEIGHT), rtol=1e-5)
    np.testing.assert_array_equal(np.asarray(losses.mask_present(y))[:, 0], [0, 1, 1, 1])
    # the branch term is really there: a weight of 0 loses exactly it
    plain = np.asarray(loop.per_sample_loss(replace(cfg, empty_weight=0.0))(y, mask))
    np.testing.assert_allclose(got - plain, EMPTY_WEIGHT * _np_bce(np.array([0, 1, 1, 1]), p[:, 0]), rtol=1e-4)


def _names(model):
    return [la.name for la in model.layers]


@pytest.mark.parametrize("arch", ["unet-small", "unet"])
def test_zero_empty_weight_builds_todays_segmenter_and_the_branch_reaches_only_the_encoder(arch):
    cfg = loop.TrainConfig(task="segmenter", arch=arch, size=32, width=4, depth=2)
    today = A.build_segmenter(arch, 32, cfg.arch_options())
    plain = loop._build(cfg)
    assert _names(plain) == _names(today) and len(plain.outputs) == 1
    assert [w.shape for w in plain.get_weights()] == [w.shape for w in today.get_weights()]
    assert not any("empty" in n for n in _names(plain))

    branched = loop._build(replace(cfg, empty_weight=EMPTY_WEIGHT))
    assert sorted(_names(branched)) == sorted([*_names(today), "empty_gap", "empty"]) and len(branched.outputs) == 2
    assert len(branched.get_weights()) == len(today.get_weights()) + 2
    x = tf.constant(np.random.default_rng(1).random((2, 32, 32, 1), np.float32))
    var_names = [v.path for v in branched.trainable_variables]
    with tf.GradientTape(persistent=True) as tape:
        mask, p = branched(x, training=True)
        mask_term, branch_term = tf.reduce_mean(mask), tf.reduce_mean(p)
    from_mask = dict(zip(var_names, tape.gradient(mask_term, branched.trainable_variables)))
    from_branch = dict(zip(var_names, tape.gradient(branch_term, branched.trainable_variables)))
    assert all(g is None for n, g in from_mask.items() if n.startswith("empty/"))  # the mask never trains it
    assert all(g is None for n, g in from_branch.items() if n.startswith(("dec", "mask/")))  # nor it the decoder
    assert all(g is not None for n, g in from_branch.items() if n.startswith(("enc", "mid_", "empty/")))


def test_validation_logs_the_branch_auc_and_a_loss_with_the_branch_term():
    """DistributedSteps' validation figures of a two-output segmenter, padding blanks excluded, recomputed in numpy."""
    cfg = loop.TrainConfig(task="segmenter", arch="unet-small", size=32, width=4, depth=2, bce_weight=2.7,
                           dice_weight=0.9, empty_weight=0.5)
    model = loop._build(cfg)
    rng = np.random.default_rng(3)
    x = rng.random((6, 32, 32, 1), np.float32)
    y = np.zeros((6, 32, 32, 1), np.float32)
    y[[0, 2, 3], 8:20, 4:16] = 1
    # spread the branch's outputs over known logits (distinct AUC buckets, some ranked wrongly): solve its kernel
    feats = np.asarray(keras.Model(model.inputs[0], model.get_layer("empty_gap").output)(x))
    logits, bias = np.array([1.5, -0.4, 0.3, -1.2, 0.9, -2.0]), -3.0  # a blank image's features are 0: logit -3
    kernel = np.linalg.lstsq(feats.astype(np.float64), logits - bias, rcond=None)[0]
    model.get_layer("empty").set_weights([kernel[:, None].astype(np.float32), np.array([bias], np.float32)])
    mask, p = (np.asarray(t) for t in model(x, training=False))
    present = [1, 0, 1, 1, 0, 0]
    assert roc_auc(present, p[:, 0]) == pytest.approx(6 / 9)  # the logits set above, really in the model
    blank = np.asarray(model(np.zeros((1, 32, 32, 1), np.float32), training=False)[1])[0, 0]
    assert roc_auc([*present, 0, 0], [*p[:, 0], blank, blank]) == pytest.approx(12 / 15)  # if blanks counted

    placement = loop.choose_placement("off")
    runner = loop.DistributedSteps(model, cfg, placement, global_batch=4)  # 6 images: the last batch has 2 blanks
    val = loop.padded_validation(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), 4)
    runner.validate(placement.strategy.experimental_distribute_dataset(val))
    figures = runner.results(runner.val_metrics, "val_")
    assert set(figures) == {"val_loss", "val_dice", "val_empty_auc"}
    assert figures["val_empty_auc"] == pytest.approx(6 / 9, abs=1e-4)
    assert figures["val_loss"] == pytest.approx(float(_np_loss(y, mask, p, 2.7, 0.9, 0.5).mean()), rel=1e-4)


def test_epochs_zero_without_init_from_is_an_error(phantom_dataset_readonly, tmp_path, capsys):
    ds = phantom_dataset_readonly
    rc = main(["train", "classifier", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out",
               str(tmp_path / "b"), *TINY, "--epochs", "0"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "--epochs 0" in err and "give --init-from" in err
    assert not (tmp_path / "b").exists()
    with pytest.raises(ValueError, match="give --init-from"):
        loop.TrainConfig(task="segmenter", epochs=0)
    with pytest.raises(ValueError, match="segmenter option"):
        loop.TrainConfig(task="classifier", empty_weight=0.1)


@pytest.fixture(scope="module")
def branched_bundle(phantom_dataset_readonly, tmp_path_factory):
    """A 1-epoch segmenter with the branch (the 4th-place loss), then its branch as a unet-empty classifier (whose
    --width/--depth come from the segmenter's manifest entry)."""
    ds = phantom_dataset_readonly
    out = tmp_path_factory.mktemp("empty-branch") / "bundle"
    where = ["--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out)]
    assert main(["train", "segmenter", *where, *TINY, "--epochs", "1", "--bce-weight", "2.7", "--dice-weight", "0.9",
                 "--empty-weight", str(EMPTY_WEIGHT)]) == 0
    assert main(["train", "classifier", *where, *RUN, "--arch", "unet-empty", "--init-from", str(out),
                 "--epochs", "0"]) == 0
    return out, [*where, *TINY]


def _images(n=3, seed=4):
    return np.random.default_rng(seed).random((n, 32, 32, 1), np.float32)


@pytest.mark.slow
def test_branched_run_ships_a_mask_only_segmenter_equal_to_the_training_models_mask(branched_bundle):
    out, _ = branched_bundle
    m = read_manifest(out)
    seg_entry = m.models["segmenter"]
    assert seg_entry.training["loss"] == {"bce_weight": 2.7, "dice_weight": 0.9, "pos_weight": 1.0,
                                          "empty_weight": EMPTY_WEIGHT}
    assert "empty_auc" in seg_entry.validation
    with open(out / "segmenter-training-log.csv", newline="") as fh:
        assert {"empty_auc", "val_empty_auc", "val_loss"} <= set(next(csv.reader(fh)))

    seg = keras.models.load_model(out / "segmenter.keras", compile=False, safe_mode=True)
    assert len(seg.outputs) == 1 and not any("empty" in n for n in _names(seg))
    assert not any(isinstance(la, keras.layers.Lambda) for la in seg.layers)
    assert load_bundle(out).models["segmenter"].output_shape == (None, 32, 32, 1)  # the app's contract holds
    trained = keras.models.load_model(out / ".train-segmenter" / "last.keras", compile=False, safe_mode=True)
    assert len(trained.outputs) == 2  # 1 epoch: the last checkpoint is the best one
    x = _images()
    np.testing.assert_allclose(np.asarray(seg(x)), np.asarray(trained(x)[0]), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_unet_empty_from_that_segmenter_is_its_branch_with_manifest_figures(branched_bundle, phantom_dataset_readonly):
    out, _ = branched_bundle
    cls = keras.models.load_model(out / "classifier.keras", compile=False, safe_mode=True)
    trained = keras.models.load_model(out / ".train-segmenter" / "last.keras", compile=False, safe_mode=True)
    for la in cls.layers:  # every weight is the segmenter's: the classifier is written as it was initialised
        for a, b in zip(la.get_weights(), trained.get_layer(la.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    x = _images()
    np.testing.assert_allclose(np.asarray(cls(x)), np.asarray(trained(x)[1]), rtol=0, atol=1e-7)

    entry = read_manifest(out).models["classifier"]
    assert entry.arch == "unet-empty" and entry.training["epochs_run"] == 0 and entry.validation["epoch"] == 0
    assert entry.training["arch_options"] == {"width": 4, "depth": 2, "dropout": 0.0}  # the segmenter's, not 8/4
    assert "--epochs 0" in entry.training["note"]
    # the manifest's figures, recomputed on the validation split the run used (seed 1, fraction 0.3)
    ds = phantom_dataset_readonly
    labelled = data.collect_examples(ds.root, ds.csv_path)
    ex = {e.image_id: e for e in labelled.examples}
    split = patient_split(list(ex), {i: e.patient_key for i, e in ex.items()},
                          {i: e.positive for i, e in ex.items()}, 0.3, 1)
    xs, ys = zip(*(data.load_example(ex[i], labelled.table, 32, False) for i in split.val))
    p = np.asarray(cls(np.stack(xs)))[:, 0]
    y = np.stack(ys)[:, 0]
    assert entry.training["images_val"] == len(y) == 5
    assert entry.validation["loss"] == pytest.approx(float(_np_bce(y, p).mean()), abs=2e-5)
    auc = keras.metrics.AUC()
    auc.update_state(y, p)
    assert entry.validation["auc"] == pytest.approx(float(auc.result()), abs=2e-5)
    assert entry.validation["accuracy"] == pytest.approx(float(np.mean((p > 0.5) == (y > 0.5))), abs=2e-5)


@pytest.mark.slow
def test_unet_mil_as_is_from_the_mask_only_segmenter(branched_bundle, tmp_path):
    """The other untuned classifier: the shipped (mask-only) segmenter's map, max-pooled, with its own figures."""
    src, args = branched_bundle
    out = tmp_path / "mil"
    assert main(["train", "classifier", *args[:4], "--out", str(out), *RUN, "--arch", "unet-mil", "--init-from",
                 str(src), "--epochs", "0"]) == 0
    cls = keras.models.load_model(out / "classifier.keras", compile=False, safe_mode=True)
    seg = keras.models.load_model(src / "segmenter.keras", compile=False, safe_mode=True)
    x = _images()
    np.testing.assert_allclose(np.asarray(cls(x))[:, 0], np.asarray(seg(x)).reshape(len(x), -1).max(axis=1),
                               rtol=0, atol=1e-7)
    entry = read_manifest(out).models["classifier"]
    assert entry.validation["epoch"] == 0 and {"auc", "loss", "accuracy"} <= set(entry.validation)


@pytest.mark.slow
def test_unet_empty_needs_a_segmenter_trained_with_the_branch(rule_bundle, phantom_dataset_readonly, tmp_path,
                                                            capsys):
    ds = phantom_dataset_readonly
    rc = main(["train", "classifier", "--data", str(ds.root), "--labels", str(ds.csv_path), "--out",
               str(tmp_path / "b"), *TINY, "--arch", "unet-empty", "--init-from", str(rule_bundle), "--epochs", "0"])
    assert rc == 1 and "no empty-mask branch" in capsys.readouterr().err


@pytest.mark.slow
def test_resume_keeps_the_branch_setting(branched_bundle, tmp_path, capsys):
    out = tmp_path / "bundle"
    shutil.copytree(branched_bundle[0], out)
    args = [*branched_bundle[1][:4], "--out", str(out), *TINY]
    assert main(["train", "segmenter", *args, "--epochs", "2", "--resume"]) == 1
    assert "was trained with the empty-mask branch (--empty-weight 0.1)" in capsys.readouterr().err
    state = out / ".train-segmenter" / "state.json"
    assert json.loads(state.read_text())["epochs_done"] == 1  # refused before any training
    assert main(["train", "segmenter", *args, "--epochs", "2", "--resume", "--empty-weight", "0.1"]) == 0
    assert [r["epoch"] for r in json.loads(state.read_text())["history"]] == [1, 2]
    assert len(keras.models.load_model(out / "segmenter.keras", compile=False, safe_mode=True).outputs) == 1
