"""`pneumoviewer import` and `pneumoviewer export` through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pydicom
import pytest

from pneumoviewer.cli import main
from pneumoviewer.core.types import ReviewStatus
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.review import ReviewStore


@pytest.fixture
def folder(phantom_dataset, tmp_path):
    dst = tmp_path / "study"
    shutil.copytree(phantom_dataset.root, dst)
    return dst


def test_import_then_export_round_trip(folder, tmp_path, capsys):
    src = folder / "train-rle.csv"
    assert main(["import", str(folder), str(src), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    truth = read_rle_csv(src)
    assert summary["images"] == len(truth) and summary["not_in_folder"] == 0
    out = tmp_path / "out" / "labels.csv"
    png = tmp_path / "png"
    seg = tmp_path / "seg"
    code = main(["export", str(folder), "--csv", str(out), "--png", str(png), "--seg", str(seg), "--json"])
    assert code == 0
    info = json.loads(capsys.readouterr().out)
    assert info["csv"]["images"] == len(truth) and info["csv"]["kept_import_rows"] == len(truth)
    back = read_rle_csv(out)
    for iid in truth.image_ids:
        assert Counter(back.rows(iid)) == Counter(truth.rows(iid))
    assert len(list(png.glob("*.png"))) == len(truth)
    segs = sorted(seg.glob("*.dcm"))
    assert len(segs) == len(truth)
    ds = pydicom.dcmread(segs[0])
    assert ds.Modality == "SEG"
    text = out.read_text()
    assert "Patient" not in text


def test_export_after_edits_only_reviewed_submission(folder, tmp_path, capsys):
    ids = read_rle_csv(folder / "train-rle.csv").image_ids
    with ReviewStore.open(folder) as store:
        m = np.zeros((256, 256), bool)
        m[10:50, 20:70] = True
        m[100:120, 150:200] = True
        store.set_final_mask(ids[0], m)
        store.mark_negative(ids[1], shape=(256, 256))
        store.set_final_mask(ids[2], m)
        store.set_status(ids[2], ReviewStatus.FLAGGED, comment="?")
    out = tmp_path / "sub.csv"
    assert main(["export", str(folder), "--csv", str(out), "--style", "submission", "--only-reviewed"]) == 0
    assert "2 image(s)" in capsys.readouterr().out
    table = read_rle_csv(out)
    assert table.image_ids == [ids[0], ids[1]]
    assert len(table.rows(ids[0])) == 1 and np.array_equal(table.union_mask(ids[0], 256, 256), m)
    assert table.rows(ids[1]) == ["-1"]
    out2 = tmp_path / "train.csv"
    assert main(["export", str(folder), "--csv", str(out2)]) == 0
    assert len(read_rle_csv(out2).rows(ids[0])) == 2  # one row per component


def test_import_malformed_reports_file_and_line(folder, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    ids = read_rle_csv(folder / "train-rle.csv").image_ids
    bad.write_text(f"ImageId,EncodedPixels\n{ids[0]},-1\n{ids[1]},12 x\n")
    assert main(["import", str(folder), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv:3" in err and "nothing imported" in err
    with ReviewStore.open(folder) as store:
        assert store.final_entries() == []


def test_export_errors(folder, tmp_path, capsys):
    assert main(["export", str(folder), "--csv", str(tmp_path / "x.csv")]) == 2
    assert "no review store" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()
    assert not (folder / ".pneumoviewer").exists()  # a failed export creates nothing in the folder
    with ReviewStore.open(folder) as store:
        store.mark_negative("a", shape=(4, 4))
    assert main(["export", str(folder)]) == 2
    assert "nothing to do" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), "--csv", "x.csv"]) == 2


def test_ai_layer_export_scores_like_agreement(folder, tmp_path, capsys):
    from pneumoviewer.core.types import ModelInfo, Prediction
    from pneumoviewer.review.agreement import agreement

    ids = read_rle_csv(folder / "train-rle.csv").image_ids[:5]
    rng = np.random.default_rng(0)
    with ReviewStore.open(folder) as store:
        for k, iid in enumerate(ids):
            ai = np.zeros((256, 256), bool)
            r, c = rng.integers(0, 200, 2)
            ai[r : r + 40, c : c + 30] = True
            store.set_ai_result(Prediction(iid, 0.9, ai, ModelInfo("demo", "7")))
            if k == 0:
                store.accept_ai(iid)
            elif k == 1:
                store.mark_negative(iid)
            else:
                final = ai.copy()
                final[r : r + 20, :] = False
                final[10:30, 10:30] = True
                store.set_final_mask(iid, final)
        expected = agreement(store)
    ai_csv, final_csv = tmp_path / "ai.csv", tmp_path / "final.csv"
    assert main(["export", str(folder), "--csv", str(ai_csv), "--layer", "original", "--style", "submission"]) == 0
    assert main(["export", str(folder), "--csv", str(final_csv)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(ai_csv), "--truth", str(final_csv), "--data", str(folder), "--json"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert scored["n_images"] == 5
    assert scored["mean_dice"] == pytest.approx(expected["mean_dice"])
    assert expected["per_image"][ids[0]] == 1.0 and expected["per_image"][ids[1]] == 0.0


def test_cli_and_gui_exports_are_byte_identical(folder, tmp_path, capsys):
    """The CLI and File ▸ Export both run `review.export.export`: the same store gives the same bytes (a SEG
    differs only in the moments it was made: InstanceCreation, Content and ContributionDateTime)."""
    from pneumoviewer.io.folder import scan_folder
    from pneumoviewer.review.export import ExportPlan, export

    assert main(["import", str(folder), str(folder / "train-rle.csv")]) == 0
    cli, gui = tmp_path / "cli", tmp_path / "gui"
    assert main(["export", str(folder), "--csv", str(cli / "m.csv"), "--png", str(cli / "png"),
                 "--seg", str(cli / "seg")]) == 0
    assert main(["export", str(folder), "--csv", str(cli / "all.csv"), "--style", "submission"]) == 0
    capsys.readouterr()
    # what ExportDialog.start builds from its widgets (CSV + PNG + SEG checked; the submission style)
    with ReviewStore.open(folder) as store:
        index = scan_folder(folder)
        export(store, ExportPlan(csv=gui / "m.csv", png=gui / "png", seg=gui / "seg"), index)
        export(store, ExportPlan(csv=gui / "all.csv", style="submission"), index)
    assert (cli / "all.csv").read_bytes() == (gui / "all.csv").read_bytes()
    assert (cli / "m.csv").read_bytes() == (gui / "m.csv").read_bytes()
    names = sorted(p.name for p in (cli / "png").iterdir())
    assert names == sorted(p.name for p in (gui / "png").iterdir())
    for name in names:
        assert (cli / "png" / name).read_bytes() == (gui / "png" / name).read_bytes()
    segs = sorted(p.name for p in (cli / "seg").glob("*.dcm"))
    assert segs and segs == sorted(p.name for p in (gui / "seg").glob("*.dcm"))
    for name in segs:
        a, b = (pydicom.dcmread(root / "seg" / name) for root in (cli, gui))
        for ds in (a, b):
            ds.ContentDate = ds.ContentTime = ds.InstanceCreationDate = ds.InstanceCreationTime = ""
            for item in ds.ContributingEquipmentSequence:
                item.ContributionDateTime = ""
        assert a == b and a.SOPInstanceUID == b.SOPInstanceUID
