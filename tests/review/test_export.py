"""Exports (CSV, PNG, DICOM SEG) and imports round-trip through the review store."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from pneumoviewer.core.types import ModelInfo, Prediction, ReviewStatus
from pneumoviewer.io import rle
from pneumoviewer.io.dicom.deidentify import DeidOptions
from pneumoviewer.io.folder import EXPORT_MARKER, scan_folder
from pneumoviewer.io.seg import read_seg_mask
from pneumoviewer.io.siim_csv import CsvError, read_rle_csv
from pneumoviewer.review import ReviewStore
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


# ------------------------------------------------------------------------------------------ issue 11: safety

# Identifying attributes of PS3.15 Table E.1-1 (string VRs), each filled with a value that must never be written.
_IDENTIFYING = {
    "PatientName": "SECRET01^Jane", "PatientID": "SECRET02", "IssuerOfPatientID": "SECRET03",
    "PatientBirthDate": "19370102", "PatientBirthTime": "101112", "OtherPatientIDs": "SECRET04",
    "OtherPatientNames": "SECRET05^Other", "PatientBirthName": "SECRET06^Birth",
    "PatientMotherBirthName": "SECRET07^Mother", "PatientAddress": "SECRET08 Street",
    "PatientTelephoneNumbers": "SECRET09", "MilitaryRank": "SECRET10", "EthnicGroup": "SECRET11",
    "Occupation": "SECRET12", "AdditionalPatientHistory": "SECRET13", "PatientComments": "SECRET14",
    "PatientReligiousPreference": "SECRET15", "MedicalRecordLocator": "SECRET16", "PatientWeight": "87.6543",
    "PatientSize": "1.8765", "AccessionNumber": "SECRET17", "ReferringPhysicianName": "SECRET18^Doc",
    "StudyID": "SECRET19", "StudyDescription": "SECRET20", "SeriesDescription": "SECRET21",
    "StudyDate": "19380203", "StudyTime": "121314", "SeriesDate": "19390304", "AcquisitionDate": "19400405",
    "ContentDate": "19410506", "AcquisitionDateTime": "19420607080910", "InstitutionName": "SECRET22",
    "InstitutionAddress": "SECRET23", "InstitutionalDepartmentName": "SECRET24", "StationName": "SECRET25",
    "PerformingPhysicianName": "SECRET26^Perf", "OperatorsName": "SECRET27^Op",
    "NameOfPhysiciansReadingStudy": "SECRET28^Read", "PhysiciansOfRecord": "SECRET29^Rec",
    "RequestingPhysician": "SECRET30^Req", "AdmittingDiagnosesDescription": "SECRET31",
    "DeviceSerialNumber": "SECRET32", "ProtocolName": "SECRET33", "ImageComments": "SECRET34",
    "RequestedProcedureDescription": "SECRET35", "PerformedProcedureStepDescription": "SECRET36",
    "CountryOfResidence": "SECRET37", "RegionOfResidence": "SECRET38", "ResponsiblePerson": "SECRET39^Resp",
    "CurrentPatientLocation": "SECRET40", "DerivationDescription": "SECRET41", "PatientAge": "38",
    "PatientSex": "F", "PatientOrientation": ["L", "F"], "PixelSpacing": [0.2, 0.2],
}


def _identified_source(folder, name="src.dcm", size=(48, 40), uid=None):
    """A DICOM image whose every identifying attribute is filled (plus a private tag)."""
    from pydicom.uid import ComputedRadiographyImageStorage

    from pneumoviewer.io.dicom.write import build_dataset, dataset_bytes

    pixels = np.arange(size[0] * size[1], dtype=np.uint16).reshape(size) % 4096
    fixed = {"StudyInstanceUID": f"{uid}.1", "SeriesInstanceUID": f"{uid}.2"} if uid else {}  # same-length files
    ds = build_dataset(pixels, bits_stored=12, sop_class_uid=ComputedRadiographyImageStorage,
                       sop_instance_uid=uid, attrs={**_IDENTIFYING, "Modality": "CR", **fixed})
    ds.add_new(0x00091010, "LO", "SECRET42 private")
    ds.file_meta.SourceApplicationEntityTitle = "SECRET43"
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dataset_bytes(ds))
    return path, ds.SOPInstanceUID


def _secrets():
    out = []
    for key, value in _IDENTIFYING.items():
        if key in ("PatientAge", "PatientSex", "PatientOrientation", "PixelSpacing"):
            continue  # kept on purpose (Retain Patient Characteristics; geometry)
        out.append(str(value).split("^")[0].encode())
    return [*out, b"SECRET42", b"SECRET43"]


def test_no_identifying_attribute_reaches_any_byte_the_app_writes(tmp_path, capsys):
    """Issue 11: every identifying attribute of the source filled; grep every byte the CLI export writes."""
    import os

    from pneumoviewer.cli import main

    study = tmp_path / "study"
    path, uid = _identified_source(study)
    mask = np.zeros((48, 40), bool)
    mask[5:20, 6:30] = True
    with ReviewStore.open(study) as store:
        store.set_final_mask(uid, mask)
    out = tmp_path / "out"
    code = main(["export", str(study), "--csv", str(out / "m.csv"), "--png", str(out / "png"),
                 "--seg", str(out / "seg"), "--json"])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    written = [p for root in (out, study, Path(os.environ["PNEUMOVIEWER_DATA"]), Path(os.environ["PNEUMOVIEWER_CACHE"]))
               for p in root.rglob("*") if p.is_file() and p != path]
    assert any(p.suffix == ".dcm" for p in written) and any(p.suffix == ".png" for p in written)
    blobs = [p.read_bytes() for p in written] + [printed.out.encode(), printed.err.encode()]
    for secret in _secrets():
        for p, blob in zip([*written, "stdout", "stderr"], blobs, strict=True):
            assert secret not in blob, (secret, p)
    seg = pydicom.dcmread(out / "seg" / f"{uid}.dcm")
    assert seg.PatientIdentityRemoved == "YES" and seg.PatientAge == "038Y" and seg.PatientSex == "F"
    assert seg.PatientID == "" and str(seg.PatientName) == "" and seg.StudyInstanceUID  # Retain UIDs


def _exported_segs(tmp_path: Path, phantom_copy: Path) -> list[Path]:
    """SEGs of two positives (a phantom, and a crafted source with PatientAge '38') and one negative."""
    _, uid = _identified_source(phantom_copy / "crafted")
    index = scan_folder(phantom_copy)
    phantoms = [img for img in index.images if img.image_id != uid]
    with ReviewStore.open(phantom_copy) as store:
        for iid in (phantoms[0].image_id, uid):
            img = index.by_id(iid)
            m = np.zeros((img.meta.rows, img.meta.columns), bool)
            m[10:30, 5:25] = True
            store.set_final_mask(iid, m)
        store.mark_negative(phantoms[1].image_id, shape=(phantoms[1].meta.rows, phantoms[1].meta.columns))
        res = export(store, ExportPlan(seg=tmp_path / "seg"), index)["seg"]
    assert res.files == 3 and not res.skipped
    return sorted((tmp_path / "seg").glob("*.dcm"))


# Type 1 attributes of the Segmentation IOD's modules that dciodvfy reported missing or malformed in earlier builds,
# or that a reader needs to place the segment on its source image
_SEG_TYPE1 = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality", "SegmentationType",
              "ContentLabel", "SegmentSequence", "ReferencedSeriesSequence", "SharedFunctionalGroupsSequence",
              "PerFrameFunctionalGroupsSequence", "DimensionIndexSequence", "DimensionOrganizationSequence",
              "NumberOfFrames", "Rows", "Columns", "BitsAllocated", "ImageType")


def test_every_exported_seg_has_the_iods_required_attributes_in_their_form(tmp_path, phantom_copy):
    """Issue 11, always run (CI has no dicom3tools): what dciodvfy found is checked here attribute by attribute —
    PatientAge in the AS form ('38' → '038Y'), PatientOrientation present (Type 2C for projection images), every
    Type 1 attribute above present and non-empty, one binary segment whose algorithm is named."""
    import re

    from pydicom.uid import SegmentationStorage

    ages = set()
    for path in _exported_segs(tmp_path, phantom_copy):
        ds = pydicom.dcmread(path)
        ages.add(ds.get("PatientAge", ""))
        missing = [k for k in _SEG_TYPE1 if k not in ds or ds.get(k) in (None, "")]
        assert not missing, (path.name, missing)
        assert ds.SOPClassUID == SegmentationStorage and ds.Modality == "SEG" and ds.SegmentationType == "BINARY"
        assert "PatientOrientation" in ds, path.name
        assert ds.get("PatientAge", "") == "" or re.fullmatch(r"\d{3}[DWMY]", ds.PatientAge), ds.PatientAge
        (segment,) = ds.SegmentSequence
        assert segment.SegmentNumber == 1 and segment.SegmentAlgorithmType in ("MANUAL", "SEMIAUTOMATIC", "AUTOMATIC")
        assert len(ds.PerFrameFunctionalGroupsSequence) == int(ds.NumberOfFrames)
    assert "038Y" in ages  # the crafted source's '38' really went through the normalisation


def test_seg_passes_dciodvfy_with_no_errors(tmp_path, phantom_copy):
    """Issue 11: the full IOD check by dicom3tools' dciodvfy where it is installed (a developer machine; CI lacks
    it, and the test above checks what dciodvfy found there)."""
    import subprocess

    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed")
    for path in _exported_segs(tmp_path, phantom_copy):
        run = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (run.stdout + run.stderr).splitlines() if line.startswith("Error")]
        assert not errors, (path.name, errors)


def test_seg_export_refuses_a_source_replaced_in_place_with_size_and_mtime_kept(tmp_path):
    """Issue 11: `cp -p` of another patient's image over a reviewed one: the SEG is refused, the rest written."""
    import os

    study = tmp_path / "study"
    a, uid_a = _identified_source(study, "a.dcm", uid="1.2.826.0.1.3680043.8.498.1111")
    b, uid_b = _identified_source(tmp_path / "elsewhere", "b.dcm", uid="1.2.826.0.1.3680043.8.498.2222")
    _, uid_c = _identified_source(study, "c.dcm", uid="1.2.826.0.1.3680043.8.498.3333")
    assert a.stat().st_size == b.stat().st_size
    index = scan_folder(study)  # what the reviewer opened
    mask = np.zeros((48, 40), bool)
    mask[1:9, 1:9] = True
    with ReviewStore.open(study) as store:
        store.set_final_mask(uid_a, mask)
        store.set_final_mask(uid_c, mask)
        st = a.stat()
        shutil.copyfile(b, a)  # patient B's file, same size ...
        os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the same mtime (cp -p, rsync -a)
        res = export(store, ExportPlan(seg=tmp_path / "seg"), index)["seg"]
    assert sorted(p.name for p in (tmp_path / "seg").glob("*.dcm")) == [f"{uid_c}.dcm"]
    assert "changed since the folder was indexed" in res.skipped[uid_a] and str(a) in res.skipped[uid_a]
    assert scan_folder(study).by_id(uid_a) is None  # a new scan sees patient B's file, not the stale entry
    assert uid_b not in {p.stem for p in (tmp_path / "seg").iterdir()}


def test_one_unsafe_image_id_is_skipped_and_the_rest_written(tmp_path):
    """Issue 11: an ImageId with a comma, quote, newline, slash or 300 characters never blocks an export."""
    bad_ids = ["1.2,3", '1.2"3', "1.2\n3", "../1.2.3", "1" * 300]
    m = np.zeros((8, 8), bool)
    m[2:4, 2:4] = True
    with ReviewStore.open(tmp_path) as store:
        for iid in [*bad_ids, "1.2.3.4"]:
            store.set_final_mask(iid, m)
        res = export(store, ExportPlan(csv=tmp_path / "o.csv", png=tmp_path / "png"))
    assert read_rle_csv(tmp_path / "o.csv").image_ids == ["1.2.3.4"]
    assert sorted(p.name for p in (tmp_path / "png").glob("*.png")) == ["1.2.3.4.png"]
    for part in ("csv", "png"):
        assert len(res[part].skipped) == len(bad_ids)
        assert all("\n" not in k for k in res[part].skipped)  # reported printable


def test_image_resaved_at_another_size_skips_only_its_seg(tmp_path):
    """Issue 11: the same UID re-saved at another size: a clear reason for that image; the others export."""
    study = tmp_path / "study"
    _, uid_a = _identified_source(study, "a.dcm", size=(48, 40))
    _, uid_b = _identified_source(study, "b.dcm", size=(48, 40))
    index = scan_folder(study)
    with ReviewStore.open(study) as store:
        store.set_final_mask(uid_a, np.zeros((30, 30), bool))  # the mask was drawn on an older, other-size copy
        store.set_final_mask(uid_b, np.ones((48, 40), bool))
        res = export(store, ExportPlan(seg=tmp_path / "seg"), index)["seg"]
    assert res.files == 1 and (tmp_path / "seg" / f"{uid_b}.dcm").is_file()
    assert "30x30" in res.skipped[uid_a] and "48x40" in res.skipped[uid_a]


def test_disk_full_png_export_keeps_the_previous_export_and_names_the_file(tmp_path, monkeypatch):
    """Issue 11: a write failure part-way leaves the previous PNG export whole (no mix of new and old)."""
    import errno

    from pneumoviewer.review.export import ExportError

    masks = _masks()
    with ReviewStore.open(tmp_path) as store:
        for iid, m in masks.items():
            store.set_final_mask(iid, m)
        export(store, ExportPlan(png=tmp_path / "png"))
        before = {p.name: p.read_bytes() for p in (tmp_path / "png").iterdir()}
        for iid in masks:
            store.set_final_mask(iid, ~masks[iid])
        real_write = Path.write_bytes
        calls = []

        def full_disk(self, data):
            calls.append(self)
            if len(calls) == 3:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_write(self, data)

        monkeypatch.setattr(Path, "write_bytes", full_disk)
        with pytest.raises(ExportError) as info:
            export(store, ExportPlan(png=tmp_path / "png"))
    assert calls[2].name in str(info.value) and "No space left" in str(info.value)
    assert {p.name: p.read_bytes() for p in (tmp_path / "png").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".png")) == []


def test_export_folders_are_never_indexed(tmp_path, phantom_copy):
    """Issue 11: a SEG export written into the study folder adds no worklist rows and no failures."""
    index = scan_folder(phantom_copy)
    img = index.images[0]
    with ReviewStore.open(phantom_copy) as store:
        store.mark_negative(img.image_id, shape=(img.meta.rows, img.meta.columns))
        export(store, ExportPlan(seg=phantom_copy / "masks-seg"), index)
    assert (phantom_copy / "masks-seg" / f"{img.image_id}.dcm").is_file()
    again = scan_folder(phantom_copy)
    assert len(again.images) == len(index.images) and len(again.failures) == len(index.failures)


def test_export_cancel_leaves_nothing_half_written(tmp_path):
    from pneumoviewer.core.types import Cancelled

    masks = _masks()
    with ReviewStore.open(tmp_path) as store:
        for iid, m in masks.items():
            store.set_final_mask(iid, m)
        with pytest.raises(Cancelled):
            export(store, ExportPlan(png=tmp_path / "png"), progress=None, cancel=lambda: True)
    assert not (tmp_path / "png").exists() and not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_a_mask_recorded_against_other_file_content_is_refused_in_every_part(tmp_path, capsys):
    """Issue 11: the store keeps the source identity with the mask; a file now holding other content under the same
    SOPInstanceUID (a fresh index sees it as it is) exports nothing for that image, the rest goes on."""
    from pneumoviewer.cli import main

    study = tmp_path / "study"
    a, uid_a = _identified_source(study, "a.dcm", uid="1.2.826.0.1.3680043.8.498.4444")
    _, uid_b = _identified_source(study, "b.dcm", uid="1.2.826.0.1.3680043.8.498.5555")
    mask = np.zeros((48, 40), bool)
    mask[2:9, 3:7] = True
    index = scan_folder(study)  # what the reviewer had open
    with ReviewStore.open(study) as store:
        for uid in (uid_a, uid_b):
            store.set_final_mask(uid, mask, source=index.by_id(uid).source_identity())
    ds = pydicom.dcmread(a)
    ds.PatientID = "SOMEONE-ELSE"  # same SOPInstanceUID, other content
    ds.save_as(a, enforce_file_format=True)
    out = tmp_path / "out"
    code = main(["export", str(study), "--csv", str(out / "m.csv"), "--png", str(out / "png"),
                 "--seg", str(out / "seg")])
    err = capsys.readouterr().err
    assert code == 1 and err.count(uid_a) == 3 and "changed since" in err
    assert read_rle_csv(out / "m.csv").image_ids == [uid_b]
    assert sorted(p.name for p in (out / "png").glob("*.png")) == [f"{uid_b}.png"]
    assert sorted(p.name for p in (out / "seg").glob("*.dcm")) == [f"{uid_b}.dcm"]


def test_stored_component_rows_export_exactly_what_labelling_gives(tmp_path):
    """Issue 13: every saved mask keeps its component rows and the training export reads them; the rows are the ones
    labelling the decoded mask gives (byte for byte), and an image without stored rows is labelled at export."""
    import sqlite3
    from dataclasses import replace

    from pneumoviewer.io.siim_csv import mask_to_rows

    masks = _masks()
    with ReviewStore.open(tmp_path) as store:
        for iid, m in masks.items():
            store.set_final_mask(iid, m)
        store.mark_negative("1.2.3.0")
        entries = store.final_entries()
        assert all(e.components is not None for e in entries)
        labelled = [row for iid, m in masks.items() for row in mask_to_rows(iid, m)]
        assert csv_rows(entries) == labelled
        assert csv_rows([replace(e, components=None) for e in entries]) == labelled  # labelled here instead
        export(store, ExportPlan(csv=tmp_path / "stored.csv"))
        conn = sqlite3.connect(store.path)  # rows written by another tool: none stored
        with conn:
            conn.execute("UPDATE images SET final_components=NULL WHERE image_id='1.2.3.4'")
        conn.close()
        assert store.final_entries()[4].components is None
        export(store, ExportPlan(csv=tmp_path / "labelled.csv"))
    assert (tmp_path / "stored.csv").read_bytes() == (tmp_path / "labelled.csv").read_bytes()
