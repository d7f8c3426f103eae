"""Writing a phantom data set in the exact SIIM-ACR layout (`generate_dataset`).

Layout (as the SIIM-ACR challenge files):

    OUT/dicom-images-train/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm
    OUT/train-rle.csv        header ``ImageId, EncodedPixels``; one row per instance; `` -1`` for negatives

The DICOMs are JPEG Baseline (1.2.840.10008.1.2.4.50), 8-bit MONOCHROME2, Secondary Capture with Modality CR, no
window tags, SIIM-like tags (PatientAge '38', SeriesDescription 'view: PA', anonymous UUID-like PatientID with some
patients owning several images). Everything derives from the seed: same seed, same bytes.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumoviewer.io.atomic import atomic_write_bytes
from pneumoviewer.io.dicom.header import PHANTOM_MODEL_NAME
from pneumoviewer.io.dicom.write import build_dataset, dataset_bytes, encode_jpeg_baseline
from pneumoviewer.io.rle import encode
from pneumoviewer.io.siim_csv import write_rle_csv
from pneumoviewer.phantom.anatomy import PhantomCase, render_case


@dataclass(frozen=True)
class PhantomDataset:
    """Where `generate_dataset` wrote things."""

    root: Path
    dicom_dir: Path
    csv_path: Path
    image_ids: tuple[str, ...]
    positive_ids: frozenset[str] = frozenset()
    paths: dict[str, Path] = field(default_factory=dict)  # image_id -> .dcm


# ----------------------------------------------------------------------------------------------------------------
# Files


def _uid(seed: int, index: int, what: str) -> str:
    """A deterministic UUID-derived UID (2.25 root, as DICOM PS3.5 B.2 allows) from the seed and position."""
    digest = hashlib.sha256(f"pneumoviewer-phantom|{seed}|{index}|{what}".encode()).digest()
    return f"2.25.{uuid.UUID(bytes=digest[:16], version=4).int}"


def dicom_bytes(
    case: PhantomCase, *, sop_uid: str, study_uid: str, series_uid: str, patient_id: str, quality: int = 90
) -> bytes:
    """A SIIM-style JPEG Baseline DICOM file for one case, as bytes (through the one DICOM writer)."""
    from pydicom.uid import SecondaryCaptureImageStorage

    size = case.image.shape[0]
    spacing = round(0.168 * 1024 / size, 6)
    attrs = {
        "SpecificCharacterSet": "ISO_IR 100",
        "StudyDate": "19010101",
        "StudyTime": "000000.00",
        "AccessionNumber": "",
        "Modality": "CR",
        "ConversionType": "WSD",
        "ReferringPhysicianName": "",
        "SeriesDescription": f"view: {case.view}",
        "PatientName": patient_id,
        "PatientID": patient_id,
        "PatientBirthDate": "",
        "PatientSex": case.sex,
        "PatientAge": str(case.age),  # SIIM writes '38', not the standard '038Y': kept (readers must cope)
        "BodyPartExamined": "CHEST",
        "ViewPosition": case.view,
        "StudyInstanceUID": study_uid,
        "SeriesInstanceUID": series_uid,
        "StudyID": "",
        "SeriesNumber": 1,
        "InstanceNumber": 1,
        "PatientOrientation": "",
        "PixelSpacing": [spacing, spacing],
        "LossyImageCompression": "01",
        "LossyImageCompressionMethod": "ISO_10918_1",
        # the mark the viewer checks before it lets the phantom-trained demo model look like it knows anything
        "Manufacturer": "PneumoViewer",
        "ManufacturerModelName": PHANTOM_MODEL_NAME,
        "ImageComments": "SYNTHETIC PHANTOM: drawn by a program, not a patient image",
    }
    ds = build_dataset(case.image, sop_class_uid=SecondaryCaptureImageStorage, sop_instance_uid=sop_uid,
                       attrs=attrs)
    encode_jpeg_baseline(ds, quality=quality)
    return dataset_bytes(ds)


def generate_dataset(
    out_dir: str | Path,
    n: int,
    seed: int = 0,
    size: int = 1024,
    positive_rate: float = 0.22,
    progress: Callable[[int, int], None] | None = None,
) -> PhantomDataset:
    """Write `n` phantom DICOMs in the SIIM layout plus ``train-rle.csv``; deterministic for (n, seed, size, rate).

    Exactly ``round(n * positive_rate)`` images are positive. About one patient in five owns two or more images.
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= positive_rate <= 1.0:
        raise ValueError(f"positive_rate must be in [0, 1], got {positive_rate}")
    root = Path(out_dir)
    dicom_dir = root / "dicom-images-train"
    dicom_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0x51])
    n_pos = round(n * positive_rate)
    positive = np.zeros(n, dtype=bool)
    positive[rng.permutation(n)[:n_pos]] = True
    n_patients = max(1, math.ceil(n * 0.8))
    owner = np.concatenate([np.arange(min(n, n_patients)), rng.integers(0, n_patients, max(0, n - n_patients))])
    owner = owner[rng.permutation(n)] if n else owner
    patients = [
        {
            "id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "sex": "M" if rng.random() < 0.55 else "F",
            "age": int(np.clip(rng.normal(47, 16), 10, 88)),
        }
        for _ in range(n_patients)
    ]
    children = np.random.SeedSequence([seed, 0x9E]).spawn(n)
    rows: list[tuple[str, str]] = []
    ids: list[str] = []
    paths: dict[str, Path] = {}
    for i in range(n):
        pat = patients[int(owner[i])]
        case = render_case(
            np.random.default_rng(children[i]), size, bool(positive[i]), sex=pat["sex"], age=pat["age"] + (i % 3)
        )
        sop, study, series = _uid(seed, i, "sop"), _uid(seed, i, "study"), _uid(seed, i, "series")
        path = dicom_dir / study / series / f"{sop}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = dicom_bytes(case, sop_uid=sop, study_uid=study, series_uid=series, patient_id=pat["id"])
        atomic_write_bytes(path, data)
        if case.instances:
            rows.extend((sop, encode(m)) for m in case.instances)
        else:
            rows.append((sop, "-1"))
        ids.append(sop)
        paths[sop] = path
        if progress is not None:
            progress(i + 1, n)
    csv_path = root / "train-rle.csv"
    write_rle_csv(csv_path, rows, siim_spacing=True)
    return PhantomDataset(
        root=root,
        dicom_dir=dicom_dir,
        csv_path=csv_path,
        image_ids=tuple(ids),
        positive_ids=frozenset(i for i, p in zip(ids, positive) if p),
        paths=paths,
    )
