"""`pneumoviewer predict`: CSVs, unreadable files, exit codes (uses the rule bundle: no training)."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.io.rle import decode

pytestmark = pytest.mark.slow


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.reader(fh))


@pytest.fixture
def folder_with_junk(phantom_dataset, tmp_path):
    dst = tmp_path / "studies"
    shutil.copytree(phantom_dataset.root, dst)
    (dst / "broken.dcm").write_bytes(b"DICM" + b"\0" * 50)  # not a DICOM at all
    victim = dst / "truncated.dcm"
    data = phantom_dataset.paths[phantom_dataset.image_ids[0]].read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # header fine, pixels cut
    return dst


def test_predict_writes_submission_and_probabilities(folder_with_junk, rule_bundle, phantom_dataset, tmp_path,
                                                      capsys):
    pred, probs = tmp_path / "out" / "pred.csv", tmp_path / "out" / "probs.csv"
    rc = main(["predict", str(folder_with_junk), "--out", str(pred), "--probs", str(probs),
               "--model", str(rule_bundle), "--batch", "5", "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "broken.dcm" in err and "unreadable" in err
    rows = _rows(pred)
    assert rows[0] == ["ImageId", "EncodedPixels"]
    ids = [r[0] for r in rows[1:]]
    assert sorted(ids) == sorted(phantom_dataset.image_ids)  # one row per readable image, no duplicates
    for _, rle in rows[1:]:
        assert rle == "-1" or decode(rle, 256, 256).any()
    p = _rows(probs)
    assert p[0] == ["ImageId", "probability"]
    vals = {r[0]: float(r[1]) for r in p[1:]}
    assert set(vals) == set(ids) and all(np.isfinite(v) and 0 <= v <= 1 for v in vals.values())
    assert "synthetic data only" in err


def test_nothing_readable_is_an_error(tmp_path, rule_bundle, capsys):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(b"garbage")
    rc = main(["predict", str(folder), "--out", str(tmp_path / "p.csv"), "--model", str(rule_bundle), "--no-cache"])
    assert rc == 1
    assert "no readable DICOM" in capsys.readouterr().err
    assert not (tmp_path / "p.csv").exists()


def test_bad_bundle_is_a_clear_error(phantom_dataset, tmp_path, capsys):
    rc = main(["predict", str(phantom_dataset.root), "--out", str(tmp_path / "p.csv"), "--model", str(tmp_path)])
    assert rc == 2
    assert "manifest" in capsys.readouterr().err


def test_workers_give_the_same_bytes_as_one(phantom_dataset, rule_bundle, tmp_path, capsys):
    outs = {}
    for n in (1, 2):
        pred, probs = tmp_path / f"pred{n}.csv", tmp_path / f"probs{n}.csv"
        rc = main(["predict", str(phantom_dataset.root), "--out", str(pred), "--probs", str(probs),
                   "--model", str(rule_bundle), "--batch", "5", "--workers", str(n), "--no-cache"])
        err = capsys.readouterr().err
        assert rc == 0, err
        outs[n] = (pred.read_bytes(), probs.read_bytes())
    assert "2 worker processes" in err
    assert outs[1] == outs[2]
    assert len(_rows(tmp_path / "pred2.csv")) == 1 + len(phantom_dataset.image_ids)


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize("bad_uid", ["1.2.3,4", '1.2."5"', "1.2.\n6"])
def test_unwritable_image_id_is_skipped_and_reported(phantom_dataset, rule_bundle, tmp_path, capsys, bad_uid):
    import pydicom

    victim = phantom_dataset.paths[phantom_dataset.image_ids[0]]
    ds = pydicom.dcmread(victim)
    ds.SOPInstanceUID = bad_uid
    ds.file_meta.MediaStorageSOPInstanceUID = bad_uid
    ds.save_as(victim)
    pred = tmp_path / "pred.csv"
    rc = main(["predict", str(phantom_dataset.root), "--out", str(pred), "--model", str(rule_bundle), "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert f"skipped: {victim}" in err and "cannot be written" in err and "1 skipped" in err
    ids = [r[0] for r in _rows(pred)[1:]]
    assert sorted(ids) == sorted(phantom_dataset.image_ids[1:])  # the rest is written
