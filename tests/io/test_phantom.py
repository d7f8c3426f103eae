"""The phantom generator: SIIM layout, SIIM-like headers, determinism, masks that match the pictures."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

from pneumoviewer.io import rle
from pneumoviewer.io.siim_csv import read_rle_csv
from pneumoviewer.phantom import generate_dataset, render_case, sample_instances


def test_layout_and_csv(phantom_dataset) -> None:
    ds = phantom_dataset
    assert ds.dicom_dir == ds.root / "dicom-images-train"
    files = sorted(ds.dicom_dir.rglob("*.dcm"))
    assert len(files) == 12 == len(ds.image_ids)
    for f in files:
        rel = f.relative_to(ds.dicom_dir)
        assert len(rel.parts) == 3  # study / series / sop.dcm
        hdr = pydicom.dcmread(f, stop_before_pixels=True)
        assert rel.parts[0] == hdr.StudyInstanceUID
        assert rel.parts[1] == hdr.SeriesInstanceUID
        assert f.stem == hdr.SOPInstanceUID
    text = ds.csv_path.read_text(encoding="utf-8")
    assert text.startswith("ImageId, EncodedPixels\n")
    assert ", -1\n" in text
    table = read_rle_csv(ds.csv_path)
    assert table.image_ids == list(ds.image_ids)
    assert set(table.positive_ids()) == set(ds.positive_ids)
    assert len(ds.positive_ids) == 6  # exactly round(12 * 0.5)


def test_siim_like_headers(phantom_dataset) -> None:
    patients = []
    for image_id in phantom_dataset.image_ids:
        d = pydicom.dcmread(phantom_dataset.paths[image_id])
        assert d.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
        assert d.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
        assert d.Modality == "CR"
        assert d.BodyPartExamined == "CHEST"
        assert d.PhotometricInterpretation == "MONOCHROME2"
        assert (d.SamplesPerPixel, d.BitsAllocated, d.BitsStored, d.HighBit) == (1, 8, 8, 7)
        assert d.SeriesDescription == f"view: {d.ViewPosition}"
        assert d.ViewPosition in ("PA", "AP")
        assert d.PatientSex in ("M", "F")
        assert str(d.PatientAge).isdigit()  # SIIM style '38', not '038Y'
        assert "WindowCenter" not in d and "WindowWidth" not in d
        assert (d.Rows, d.Columns) == (256, 256)
        pixels = d.pixel_array
        assert pixels.shape == (256, 256) and pixels.dtype == np.uint8
        assert pixels.std() > 20  # an image, not a blank
        patients.append(d.PatientID)
    assert len(set(patients)) < len(patients)  # some patients have several images (patient-level splits)


def test_masks_decode_to_the_rendered_crescents(phantom_dataset) -> None:
    table = read_rle_csv(phantom_dataset.csv_path)
    for image_id in phantom_dataset.positive_ids:
        masks = table.instance_masks(image_id, 256, 256)
        assert masks and all(m.any() for m in masks)
        union = table.union_mask(image_id, 256, 256)
        assert union.sum() == sum(int(m.sum()) for m in masks)  # instances are disjoint
        pixels = pydicom.dcmread(phantom_dataset.paths[image_id]).pixel_array
        rows = np.nonzero(union)[0]
        assert rows.mean() < 256 * 0.85  # inside the chest, not below the diaphragm
        assert pixels[union].mean() < np.median(pixels)  # air: darker than the typical pixel


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(root.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(root)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = generate_dataset(tmp_path / "a", n=3, seed=11, size=128, positive_rate=0.67)
    b = generate_dataset(tmp_path / "b", n=3, seed=11, size=128, positive_rate=0.67)
    c = generate_dataset(tmp_path / "c", n=3, seed=12, size=128, positive_rate=0.67)
    assert a.image_ids == b.image_ids
    assert _digest(a.root) == _digest(b.root)
    assert set(a.image_ids).isdisjoint(c.image_ids)


def test_progress_and_rates(tmp_path: Path) -> None:
    calls = []
    ds = generate_dataset(tmp_path, n=5, seed=1, size=64, positive_rate=0.0, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    assert not ds.positive_ids
    with pytest.raises(ValueError):
        generate_dataset(tmp_path / "x", n=2, positive_rate=1.5)


def test_pneumothorax_is_darker_air_without_markings() -> None:
    """Same seed with and without pneumothorax: same patient; inside the crescent the film is darker and smoother."""
    from scipy.ndimage import binary_erosion

    darker = smoother = judged = 0
    n = 8
    for seed in range(n):
        pos = render_case(seed, 256, True)
        neg = render_case(seed, 256, False)
        m = pos.mask
        assert m.any() and pos.positive and not neg.positive
        far = binary_erosion(~m, iterations=24)  # the collapsed-lung rim reaches 0.06 of the width inwards
        assert (pos.image[far] == neg.image[far]).all()
        if pos.image[m].mean() < neg.image[m].mean() - 2:
            darker += 1
        core = binary_erosion(m, iterations=2)  # away from the pleural line
        if core.sum() >= 20:
            judged += 1
            gp = np.hypot(*np.gradient(pos.image.astype(float)))[core].mean()
            gn = np.hypot(*np.gradient(neg.image.astype(float)))[core].mean()
            smoother += gp < gn
    assert darker == n
    assert judged >= 5 and smoother == judged


def test_render_case_sizes_and_instances() -> None:
    for size in (64, 300, 512):
        case = render_case(3, size, True)
        assert case.image.shape == (size, size) and case.image.dtype == np.uint8
        for m in case.instances:
            assert m.shape == (size, size) and m.dtype == bool
            assert len(rle.encode_instances(m)) == 1  # each instance is one 8-connected component
    inst = sample_instances(5, 256)
    assert inst and all(m.any() for m in inst)
    rendered = render_case(5, 256, True).instances
    assert len(inst) == len(rendered) and all((a == b).all() for a, b in zip(inst, rendered))
