"""Exports (CSV, PNG, DICOM SEG) and imports round-trip through the review store."""

from __future__ import annotations

import shutil
from collections import Counter

import numpy as np
import pydicom
import pytest
from PIL import Image

from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.io.folder import EXPORT_MARKER, scan_folder
from pneumoviewer.io.siim_csv import CsvError, read_rle_csv
from pneumoviewer.review import ReviewStore
from pneumoviewer.io.dicom.deidentify import DeidOptions
from pneumoviewer.io.seg import read_seg_mask
from pneumoviewer.review.export import ExportPlan, csv_rows, export
from pneumoviewer.review.import_csv import import_csv

SHAPE = (300, 517)


def _masks():
    rng = np.random.default_rng(5)
    out = {}
    for i in range(5):
        m = np.zeros(SHAPE, bool)
        for _ in range(i):  # 0..4 components, some touching the image edges
            r, c = rng.integers(0, SHAPE[0] - 40), rng.integers(0, SHAPE[1] - 60)
            m[r : r + rng.integers(5, 40), c : c + rng.integers(5, 60)] = True
        out[f"1.2.3.{i}"] = m
    out["1.2.3.9"] = np.zeros(SHAPE, bool)
    out["1.2.3.9"][-3:, -4:] = True  # a run ending on the very last pixel
    return out


@pytest.fixture
def phantom_copy(phantom_dataset, tmp_path):
    dst = tmp_path / "folder"
    shutil.copytree(phantom_dataset.root, dst)
    return dst


@pytest.mark.parametrize("style", ["train", "submission"])
def test_csv_export_reads_back_identical(tmp_path, style):
    masks = _masks()
    with ReviewStore.open(tmp_path) as store:
        for iid, m in masks.items():
            store.set_final_mask(iid, m)
        res = export(store, ExportPlan(csv=tmp_path / "out.csv", style=style))["csv"]
    table = read_rle_csv(tmp_path / "out.csv")
    assert set(table.image_ids) == set(masks)
    assert res.images == len(masks) and res.negatives == 1
    for iid, m in masks.items():
        assert np.array_equal(table.union_mask(iid, *SHAPE), m)
        n_rows = len(table.rows(iid))
        if style == "submission":
            assert n_rows == 1
        else:
            from scipy import ndimage

            assert n_rows == max(1, ndimage.label(m, structure=np.ones((3, 3)))[1])
    assert table.rows("1.2.3.0") == ["-1"]


def test_import_then_export_reproduces_rows(tmp_path, phantom_copy):
    src_csv = next(phantom_copy.glob("*.csv"))
    # add rows the way real SIIM files have them: overlapping instances, a multi-component row
    index = scan_folder(phantom_copy)
    sizes = {img.image_id: (img.meta.rows, img.meta.columns) for img in index.images}
    extra_id = index.images[0].image_id
    table0 = read_rle_csv(src_csv)
    h, w = sizes[extra_id]
    a = np.zeros((h, w), bool)
    a[10:60, 10:40] = True
    b = np.zeros((h, w), bool)
    b[40:90, 30:50] = True  # overlaps a
    b[200:210, 200:210] = True  # second component in the same row
    lines = ["ImageId, EncodedPixels"]
    for iid in table0.image_ids:
        rows = [rle.encode(a), rle.encode(b)] if iid == extra_id else table0.rows(iid)
        lines += [f"{iid}, {r}" for r in rows]
    crafted = tmp_path / "labels.csv"
    crafted.write_text("\n".join(lines) + "\n")

    with ReviewStore.open(phantom_copy) as store:
        res = import_csv(store, crafted, sizes)
        assert res.images == len(table0) and not res.not_in_folder
        assert np.array_equal(store.final_mask(extra_id), a | b)
        export(store, ExportPlan(csv=tmp_path / "out.csv"))["csv"]
    before = read_rle_csv(crafted)
    after = read_rle_csv(tmp_path / "out.csv")
    assert set(after.image_ids) == set(before.image_ids)
    for iid in before.image_ids:
        assert Counter(after.rows(iid)) == Counter(before.rows(iid)), iid


def test_edited_image_exports_new_rows_others_keep_theirs(tmp_path):
    h, w = 64, 48
    a = np.zeros((h, w), bool)
    a[5:20, 5:20] = True
    b = np.zeros((h, w), bool)
    b[10:30, 10:30] = True
    raw = {"x": [rle.encode(a), rle.encode(b)], "y": [rle.encode(a), rle.encode(b)]}
    with ReviewStore.open(tmp_path) as store:
        store.import_final_rows(raw, {"x": (h, w), "y": (h, w)}, "in.csv")
        store.set_final_mask("x", a)
        rows = csv_rows(store.final_entries())
    assert Counter(r for i, r in rows if i == "y") == Counter(raw["y"])
    assert [r for i, r in rows if i == "x"] == [rle.encode(a)]


def test_only_reviewed_filters(tmp_path):
    m = _masks()["1.2.3.2"]
    with ReviewStore.open(tmp_path) as store:
        store.set_final_mask("corr", m)
        store.set_final_mask("flag", m)
        store.flag("flag", "unsure")
        store.mark_negative("neg", shape=SHAPE)
        store.set_ai_result(Prediction("acc", 0.9, m, ModelInfo("demo", "1")))
        store.accept_ai("acc")
        store.set_ai_result(Prediction("unrev", 0.9, m, ModelInfo("demo", "1")))  # AI only: never exported
        store.import_final_rows({"imp": [rle.encode(m)]}, {"imp": SHAPE}, "x.csv")
        all_ids = {e.image_id for e in store.final_entries()}
        reviewed = {e.image_id for e in store.final_entries(only_reviewed=True)}
    assert all_ids == {"corr", "flag", "neg", "acc", "imp"}
    assert reviewed == {"corr", "neg", "acc"}


def test_png_export(tmp_path):
    masks = _masks()
    with ReviewStore.open(tmp_path) as store:
        for iid, m in masks.items():
            store.set_final_mask(iid, m)
        res = export(store, ExportPlan(png=tmp_path / "png"))["png"]
    assert res.images == len(masks)
    for iid, m in masks.items():
        img = Image.open(tmp_path / "png" / f"{iid}.png")
        assert img.mode == "L" and img.size == (SHAPE[1], SHAPE[0])
        arr = np.asarray(img)
        assert set(np.unique(arr)) <= {0, 255}
        assert np.array_equal(arr == 255, m)
    assert [p.name for p in (tmp_path / "png").glob(".*")] == [EXPORT_MARKER]  # no temp files left behind
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name or ".old-" in p.name]


def test_import_malformed_refused_with_line_and_nothing_imported(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("ImageId,EncodedPixels\na,1 5\nb,1 2 3\n")
    with ReviewStore.open(tmp_path) as store:
        with pytest.raises(CsvError) as exc:
            import_csv(store, bad, {"a": (10, 10), "b": (10, 10)})
        assert exc.value.line == 3 and "bad.csv" in str(exc.value)
        assert len(store) == 0
        # a run past the image end is caught with its line, too (size known only at import time)
        bad.write_text("ImageId,EncodedPixels\na,1 5\nb,95 10\n")
        with pytest.raises(CsvError) as exc:
            import_csv(store, bad, {"a": (10, 10), "b": (10, 10)})
        assert exc.value.line == 3
        assert len(store) == 0


def test_import_reference_layer_and_unknown_images(tmp_path):
    m = np.zeros((10, 10), bool)
    m[2:4, 2:4] = True
    p = tmp_path / "truth.csv"
    p.write_text(f"ImageId,EncodedPixels\na,{rle.encode(m)}\nzzz,-1\n")
    with ReviewStore.open(tmp_path) as store:
        res = import_csv(store, p, {"a": (10, 10)}, layer="reference")
        assert res.images == 1 and res.not_in_folder == ["zzz"]
        assert np.array_equal(store.reference_mask("a"), m)
        assert store.final_mask("a") is None


def _ai(iid, mask):
    return Prediction(iid, 0.8, mask, ModelInfo("demo-unet", "2026.11", synthetic=True))


def test_seg_export_reads_back_with_pydicom_and_highdicom(tmp_path, phantom_copy):
    import highdicom as hd

    index = scan_folder(phantom_copy)
    sources = {img.image_id: img.path for img in index.images}
    ids = [img.image_id for img in index.images][:4]
    rng = np.random.default_rng(2)
    expected = {}
    with ReviewStore.open(phantom_copy, reviewer="Dr Test") as store:
        h, w = index.images[0].meta.rows, index.images[0].meta.columns
        ai = np.zeros((h, w), bool)
        ai[50:120, 30:90] = True
        store.set_ai_result(_ai(ids[0], ai))
        expected[ids[0]] = store.accept_ai(ids[0])
        store.set_ai_result(_ai(ids[1], ai))
        corrected = ai.copy()
        corrected[rng.integers(0, h, 200), rng.integers(0, w, 200)] = True
        corrected[-1, -1] = True
        store.set_final_mask(ids[1], corrected)
        expected[ids[1]] = corrected
        store.mark_negative(ids[2], shape=(h, w))
        expected[ids[2]] = np.zeros((h, w), bool)
        manual = np.zeros((h, w), bool)
        manual[0:10, 0:w] = True
        store.set_final_mask(ids[3], manual)
        store.set_final_mask("not-in-folder", manual)
        expected[ids[3]] = manual
        res = export(store, ExportPlan(seg=tmp_path / "seg"), index)["seg"]
    assert res.images == 4 and set(res.skipped) == {"not-in-folder"}
    algo = {}
    for iid, mask in expected.items():
        path = tmp_path / "seg" / f"{iid}.dcm"
        ds = pydicom.dcmread(path)
        assert ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
        src = pydicom.dcmread(sources[iid], stop_before_pixels=True)
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        ref = ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
        assert ref.ReferencedSOPInstanceUID == iid
        seg_desc = ds.SegmentSequence[0]
        assert seg_desc.SegmentLabel == "Pneumothorax"
        assert seg_desc.SegmentedPropertyTypeCodeSequence[0].CodeValue == "36118008"
        assert seg_desc.SegmentedPropertyTypeCodeSequence[0].CodingSchemeDesignator == "SCT"
        algo[iid] = seg_desc.SegmentAlgorithmType
        measures = ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        assert float(measures.SliceThickness) > 0
        assert np.array_equal(ds.pixel_array.astype(bool), mask)
        seg = hd.seg.segread(path)
        got = seg.get_pixels_by_source_instance(source_sop_instance_uids=[iid], segment_numbers=[1])
        assert np.array_equal(got[0, :, :, 0].astype(bool), mask)
        ref_uid, back = read_seg_mask(path)
        assert ref_uid == iid and np.array_equal(back, mask)
        assert str(ds.ContentCreatorName) == "Dr Test"
    assert algo[ids[0]] == "AUTOMATIC" and algo[ids[1]] == "SEMIAUTOMATIC" and algo[ids[3]] == "MANUAL"
    ds0 = pydicom.dcmread(tmp_path / "seg" / f"{ids[0]}.dcm")
    alg_id = ds0.SegmentSequence[0].SegmentationAlgorithmIdentificationSequence[0]
    assert alg_id.AlgorithmName == "demo-unet" and alg_id.AlgorithmVersion == "2026.11"


def test_seg_is_anonymous_unless_the_user_keeps_the_patient(tmp_path, phantom_copy):
    index = scan_folder(phantom_copy)
    img = index.images[0]
    src = pydicom.dcmread(img.path, stop_before_pixels=True)
    with ReviewStore.open(phantom_copy) as store:
        store.mark_negative(img.image_id, shape=(img.meta.rows, img.meta.columns))
        export(store, ExportPlan(seg=tmp_path / "plain", deid=DeidOptions(keep_patient=True)), index)
        export(store, ExportPlan(seg=tmp_path / "anon"), index)
    plain = pydicom.dcmread(tmp_path / "plain" / f"{img.image_id}.dcm")
    anon = pydicom.dcmread(tmp_path / "anon" / f"{img.image_id}.dcm")
    assert plain.PatientID == src.PatientID  # kept only when asked for (--seg-keep-patient)
    assert anon.PatientID == "" and str(anon.PatientName) == "" and anon.PatientIdentityRemoved == "YES"
    assert str(src.PatientID) not in (tmp_path / "anon" / f"{img.image_id}.dcm").read_bytes().decode("latin-1")


def test_status_untouched_by_export(tmp_path):
    with ReviewStore.open(tmp_path) as store:
        store.set_final_mask("a", _masks()["1.2.3.1"])
        export(store, ExportPlan(csv=tmp_path / "o.csv"))["csv"]
        assert store.status("a") is ReviewStatus.CORRECTED


def test_seg_and_csv_of_the_ai_layer(tmp_path, phantom_copy):
    index = scan_folder(phantom_copy)
    img = index.images[0]
    h, w = img.meta.rows, img.meta.columns
    ai = np.zeros((h, w), bool)
    ai[20:60, 30:80] = True
    with ReviewStore.open(phantom_copy) as store:
        store.set_ai_result(_ai(img.image_id, ai))
        store.set_final_mask(img.image_id, np.zeros((h, w), bool))
        export(store, ExportPlan(seg=tmp_path / "seg", layer="original"), index)
        export(store, ExportPlan(csv=tmp_path / "ai.csv", layer="original"))["csv"]
        with pytest.raises(ValueError):
            store.final_entries(layer="nope")
    ds = pydicom.dcmread(tmp_path / "seg" / f"{img.image_id}.dcm")
    assert ds.SegmentSequence[0].SegmentAlgorithmType == "AUTOMATIC"
    assert np.array_equal(ds.pixel_array.astype(bool), ai)
    assert np.array_equal(read_rle_csv(tmp_path / "ai.csv").union_mask(img.image_id, h, w), ai)
