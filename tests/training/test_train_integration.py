"""End to end through the CLI: train both small models a few steps on a tiny phantom set, resume, Ctrl+C, predict."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.inference.bundle import load_bundle, read_manifest, verify_files
from pneumoviewer.io import rle
from pneumoviewer.io.siim_csv import read_probabilities_csv, read_rle_csv

pytestmark = pytest.mark.slow

COMMON = ["--size", "64", "--batch", "4", "--steps-per-epoch", "3", "--val-fraction", "0.25", "--seed", "1", "-q"]


def _csv_dicts(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _csv_rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture(scope="module")
def trained(phantom_dataset_readonly, tmp_path_factory):
    out = tmp_path_factory.mktemp("trained") / "bundle"
    ds = phantom_dataset_readonly
    data = ["--data", str(ds.root), "--labels", str(ds.csv_path), "--out", str(out)]
    assert main(["train", "classifier", *data, *COMMON, "--epochs", "2", "--synthetic", "--name", "tiny"]) == 0
    assert main(["train", "segmenter", *data, *COMMON, "--epochs", "2", "--min-area", "0"]) == 0
    return out, data


def test_bundle_holds_both_models_with_manifest(trained):
    out, _ = trained
    m = read_manifest(out)
    assert set(m.models) == {"classifier", "segmenter"}
    assert m.name == "tiny" and m.synthetic and m.config.min_area_px_1024 == 0  # settings kept across runs
    verify_files(m)
    for task, entry in m.models.items():
        assert entry.input_size == 64 and entry.training["images_train"] + entry.training["images_val"] == 12
        assert entry.training["epochs_run"] == 2
        assert "epoch" in entry.validation
        assert entry.training["imagenet_init"] is False  # no DenseNet here: nothing was loaded
        rows = _csv_dicts(out / f"{task}-training-log.csv")
        assert [r["epoch"] for r in rows] == ["1", "2"]
        assert float(rows[0]["positive_rate"]) == pytest.approx(0.8)
    assert "auc" in m.models["classifier"].validation and "dice" in m.models["segmenter"].validation
    b = load_bundle(out)
    assert b.models["segmenter"].output_shape == (None, 64, 64, 1)


def test_resume_continues_from_last_epoch(trained):
    out, data = trained
    assert main(["train", "classifier", *data, *COMMON, "--epochs", "3", "--resume"]) == 0
    rows = _csv_dicts(out / "classifier-training-log.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert read_manifest(out).models["classifier"].training["epochs_run"] == 3
    state = json.loads((out / ".train-classifier" / "state.json").read_text())
    assert state["epochs_done"] == 3


def test_resume_refuses_other_architecture(trained, capsys):
    _, data = trained
    rc = main(["train", "classifier", *data, *COMMON, "--epochs", "4", "--resume", "--size", "96"])
    assert rc == 1
    assert "--resume" in capsys.readouterr().err


def test_ctrl_c_keeps_best_checkpoint_loadable(trained, monkeypatch, tmp_path):
    import shutil

    from pneumoviewer.training import loop

    out, data = trained
    copy = tmp_path / "bundle"
    shutil.copytree(out, copy)
    before = read_manifest(copy).files["segmenter.keras"]
    real = loop.BundleWriter.on_epoch_end

    def interrupt_after_first(self, epoch, logs=None):
        real(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(loop.BundleWriter, "on_epoch_end", interrupt_after_first)
    data = [*data[:-1], str(copy)]
    rc = main(["train", "segmenter", *data, *COMMON, "--epochs", "5", "--min-area", "0"])
    assert rc == 130
    m = read_manifest(copy)
    verify_files(m)  # every file matches the manifest after the interrupt
    assert m.models["segmenter"].training["epochs_run"] == 1
    assert set(load_bundle(copy).models) == {"classifier", "segmenter"}
    assert m.files["segmenter.keras"] == before or m.models["segmenter"].validation["epoch"] == 1


def test_predict_cli_with_trained_bundle(trained, phantom_dataset, tmp_path, capsys):
    out, _ = trained
    pred, probs = tmp_path / "pred.csv", tmp_path / "probs.csv"
    rc = main(["predict", str(phantom_dataset.root), "--out", str(pred), "--probs", str(probs),
               "--model", str(out), "--batch", "5"])
    assert rc == 0
    rows = _csv_rows(pred)
    assert rows[0] == ["ImageId", "EncodedPixels"]
    assert sorted(r[0] for r in rows[1:]) == sorted(phantom_dataset.image_ids)  # one row per image
    p = {r[0]: float(r[1]) for r in _csv_rows(probs)[1:]}
    assert set(p) == set(phantom_dataset.image_ids)
    assert all(np.isfinite(v) and 0.0 <= v <= 1.0 for v in p.values())
    assert "synthetic" in capsys.readouterr().err


def _pixels(rows: list[str]) -> set[int]:
    """The pixel indices a list of SIIM RLE strings covers."""
    out: set[int] = set()
    for text in rows:
        starts, lengths = rle.parse(text)
        for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            out.update(range(start, start + length))
    return out


def test_predict_workers_match_one_worker(trained, phantom_dataset, tmp_path, capsys):
    """Real convolutions on cores / N threads per worker: the CSVs match the single-process ones (same images,
    labels and probabilities to 1e-4; masks to a few threshold pixels)."""
    out, _ = trained
    got = []
    for n in (1, 2):
        pred, probs = tmp_path / f"pred{n}.csv", tmp_path / f"probs{n}.csv"
        rc = main(["predict", str(phantom_dataset.root), "--out", str(pred), "--probs", str(probs),
                   "--model", str(out), "--batch", "4", "--workers", str(n)])
        assert rc == 0, capsys.readouterr().err
        got.append((read_rle_csv(pred), read_probabilities_csv(probs)))
    (masks1, probs1), (masks2, probs2) = got
    # the same images and labels, and the same figures up to float summation order: N workers run cores/N intra-op
    # threads each, and a convolution split over another number of threads may differ in the last bits (a pixel
    # whose probability sits on the mask threshold can then flip; byte-for-byte equality was a random draw)
    assert list(probs1) == list(probs2) and list(masks1) == list(masks2) and len(probs1) > 0
    assert all(abs(probs1[i] - probs2[i]) < 1e-4 for i in probs1)
    for image_id in masks1:
        assert masks1.is_positive(image_id) == masks2.is_positive(image_id)
        a, b = (_pixels(table.rows(image_id)) for table in (masks1, masks2))
        assert len(a ^ b) <= max(4, len(a | b) // 1000), image_id  # at most 0.1 % of the mask's pixels differ
