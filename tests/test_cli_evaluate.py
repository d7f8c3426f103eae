"""`pneumoviewer evaluate` and `pneumoviewer demo-data` end to end through the real CLI entry point."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from pneumoviewer.cli import main
from pneumoviewer.io.rle import decode, encode
from pneumoviewer.io.siim_csv import read_rle_csv, write_rle_csv


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_perfect_and_empty_predictions(phantom_dataset, tmp_path: Path, capsys) -> None:
    truth = phantom_dataset.csv_path
    rc, out, _ = _run(capsys, "evaluate", "--pred", str(truth), "--truth", str(truth), "--size", "256x256", "--json")
    assert rc == 0
    r = json.loads(out)
    assert r["mean_dice"] == 1.0 and r["n_images"] == 12 and r["n_positive_truth"] == 6
    # An empty prediction file: negatives score 1, positives 0 -> 0.5 with 6/12 positive.
    empty = tmp_path / "empty.csv"
    write_rle_csv(empty, [])
    rc, out, _ = _run(capsys, "evaluate", "--pred", str(empty), "--truth", str(truth), "--size", "256x256", "--json")
    r = json.loads(out)
    assert r["mean_dice"] == pytest.approx(0.5) and r["n_missing_from_pred"] == 12


def test_partial_prediction_with_probs_and_table(phantom_dataset, tmp_path: Path, capsys) -> None:
    table = read_rle_csv(phantom_dataset.csv_path)
    ids = table.image_ids
    pos = [i for i in ids if table.is_positive(i)]
    rows = []
    for i in ids:
        m = table.union_mask(i, 256, 256)
        if i == pos[0]:
            # keep exactly half of the pixels (every other column-major pixel would break runs; drop a block)
            rr, cc = np.nonzero(m)
            half = np.zeros_like(m)
            keep = np.argsort(cc * 256 + rr)[: len(rr) // 2]
            half[rr[keep], cc[keep]] = True
            m = half
        rows.append((i, encode(m)))
    pred = tmp_path / "pred.csv"
    write_rle_csv(pred, rows)
    probs = tmp_path / "probs.csv"
    with open(probs, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ImageId", "probability"])
        for i in ids:
            w.writerow([i, 0.8 if table.is_positive(i) else 0.3])
    per = tmp_path / "out" / "per_image.csv"
    rc, out, _ = _run(
        capsys, "evaluate", "--pred", str(pred), "--truth", str(phantom_dataset.csv_path), "--data",
        str(phantom_dataset.root), "--probs", str(probs), "--per-image", str(per), "--json",
    )  # fmt: skip
    assert rc == 0
    r = json.loads(out)
    n = table.union_mask(pos[0], 256, 256).sum()
    expected_dice = 2 * (n // 2) / (n + n // 2)
    assert r["mean_dice"] == pytest.approx((11 + expected_dice) / 12)
    assert r["auc"] == 1.0 and r["sensitivity"] == 1.0 and r["specificity"] == 1.0
    lines = list(csv.DictReader(per.read_text().splitlines()))
    assert [ln["image_id"] for ln in lines] == ids
    assert float(next(ln for ln in lines if ln["image_id"] == pos[0])["dice"]) == pytest.approx(expected_dice, abs=1e-6)


def test_text_output(phantom_dataset, capsys) -> None:
    truth = str(phantom_dataset.csv_path)
    rc, out, _ = _run(capsys, "evaluate", "--pred", truth, "--truth", truth, "--size", "256x256")
    assert rc == 0 and "mean Dice (Kaggle):   1.0000" in out


def test_errors_name_file_and_line(phantom_dataset, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageId,EncodedPixels\n1.2.3,-1\n1.2.4,5 x\n")
    rc, _, err = _run(capsys, "evaluate", "--pred", str(bad), "--truth", str(phantom_dataset.csv_path))
    assert rc == 2 and f"{bad}:3" in err and "whole number" in err
    rc, _, err = _run(
        capsys, "evaluate", "--pred", str(bad.with_name("none.csv")), "--truth", str(phantom_dataset.csv_path)
    )
    assert rc == 2 and "cannot read" in err
    # runs past a too-small image size: named with the truth file and line
    rc, _, err = _run(
        capsys, "evaluate", "--pred", str(phantom_dataset.csv_path), "--truth", str(phantom_dataset.csv_path),
        "--size", "16x16",
    )  # fmt: skip
    assert rc == 2 and "past the end" in err and str(phantom_dataset.csv_path) in err
    probs = tmp_path / "p.csv"
    probs.write_text("ImageId,probability\n1.2.3,0.5\n")
    rc, _, err = _run(
        capsys, "evaluate", "--pred", str(phantom_dataset.csv_path), "--truth", str(phantom_dataset.csv_path),
        "--size", "256x256", "--probs", str(probs),
    )  # fmt: skip
    assert rc == 2 and "no probability" in err
    with pytest.raises(SystemExit):
        main(["evaluate", "--pred", "a", "--truth", "b", "--size", "abc"])


def test_demo_data_command(tmp_path: Path, capsys) -> None:
    out = tmp_path / "demo"
    rc, text, _ = _run(capsys, "demo-data", str(out), "--n", "4", "--seed", "2", "--size", "96", "--positive", "0.5")
    assert rc == 0
    assert "wrote 4 synthetic DICOMs (2 with pneumothorax" in text
    files = list((out / "dicom-images-train").rglob("*.dcm"))
    assert len(files) == 4
    t = read_rle_csv(out / "train-rle.csv")
    assert len(t) == 4 and len(t.positive_ids()) == 2
    for i in t.positive_ids():
        assert decode(t.rows(i)[0], 96, 96).any()
    with pytest.raises(SystemExit):
        main(["demo-data", str(out), "--positive", "2"])
    # A second run into the same folder refuses, unless --force replaces the old dataset (no stale files left).
    rc, _, err = _run(capsys, "demo-data", str(out), "--n", "2", "--size", "64")
    assert rc == 2 and "--force" in err
    assert len(list((out / "dicom-images-train").rglob("*.dcm"))) == 4
    rc, _, _ = _run(capsys, "demo-data", str(out), "--n", "2", "--size", "64", "--seed", "5", "--force")
    assert rc == 0
    assert len(list((out / "dicom-images-train").rglob("*.dcm"))) == 2 and len(read_rle_csv(out / "train-rle.csv")) == 2


@pytest.mark.slow
def test_evaluate_with_a_model_runs_predict_and_scores_it(phantom_dataset, tmp_path: Path, capsys) -> None:
    """Issue 10: `evaluate --model` = `predict` with that bundle, then the same score as `evaluate --pred`."""
    from pneumoviewer.core.paths import models_dir

    bundle, data, truth = models_dir() / "demo", phantom_dataset.root, phantom_dataset.csv_path
    rc, out, _ = _run(capsys, "evaluate", "--model", str(bundle), "--data", str(data), "--truth", str(truth),
                      "--json")
    assert rc == 0
    direct = json.loads(out)
    pred, probs = tmp_path / "pred.csv", tmp_path / "probs.csv"
    assert main(["predict", str(data), "--out", str(pred), "--probs", str(probs), "--model", str(bundle)]) == 0
    rc, out, _ = _run(capsys, "evaluate", "--pred", str(pred), "--probs", str(probs), "--truth", str(truth),
                      "--data", str(data), "--threshold", "0.5", "--json")
    assert rc == 0 and json.loads(out) == direct and direct["n_images"] == 12
    rc, _, err = _run(capsys, "evaluate", "--model", str(bundle), "--truth", str(truth))
    assert rc == 2 and "--model needs --data" in err
